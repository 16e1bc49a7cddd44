import { cache as euiCssCache } from '@elastic/eui/es/services/emotion/css';
import { cache as emotionCssCache } from '@emotion/css';
import { readCspNonce } from './csp-nonce';

/**
 * This response's CSP nonce, set on the Emotion caches that live outside the EuiProvider's: EUI's
 * own `@emotion/css` instance (key `css`, which some EUI components insert styles through
 * directly) and @emotion/css's shared one. Imported first by main.tsx, so it runs before anything
 * inserts a style: a style element without the nonce is refused by the server's CSP. (@emotion/react's
 * default cache is replaced by a CacheProvider in main.tsx.)
 */
export const cspNonce = readCspNonce();
if (cspNonce) {
  for (const cache of [euiCssCache, emotionCssCache]) {
    cache.nonce = cspNonce;
    cache.sheet.nonce = cspNonce;
  }
}
