import { cache as euiCssCache } from '@elastic/eui/es/services/emotion/css';
import { cache as emotionCssCache } from '@emotion/css';
import { setNonce } from 'get-nonce';
import { readCspNonce } from './csp-nonce';

/**
 * This response's CSP nonce, given to every piece of code that injects style elements outside the
 * EuiProvider's Emotion cache: a style element without it is refused by the server's CSP.
 * - EUI's own `@emotion/css` instance (key `css`), which some EUI components insert through
 *   directly, and @emotion/css's shared one;
 * - react-style-singleton (via react-remove-scroll and react-focus-on: EUI's flyouts and modals lock
 *   scrolling and hide the page behind them with style elements of their own), which reads it from
 *   get-nonce.
 * Imported first by main.tsx, so it runs before anything inserts a style. (@emotion/react's default
 * cache is replaced by a CacheProvider in main.tsx; CodeMirror takes it via EditorView.cspNonce.)
 */
export const cspNonce = readCspNonce();
if (cspNonce) {
  for (const cache of [euiCssCache, emotionCssCache]) {
    cache.nonce = cspNonce;
    cache.sheet.nonce = cspNonce;
  }
  setNonce(cspNonce);
}
