import { cache as euiCssCache } from '@elastic/eui/es/services/emotion/css';
import { cache as emotionCssCache } from '@emotion/css';
import { readCspNonce } from './csp-nonce';

/**
 * This response's CSP nonce, given to every piece of code that injects style elements outside the
 * EuiProvider's Emotion cache: a style element without it is refused by the server's CSP.
 * - EUI's own `@emotion/css` instance (key `css`), which some EUI components insert through
 *   directly, and @emotion/css's shared one;
 * - react-style-singleton (via react-remove-scroll, under EUI's flyouts and modals), which reads the
 *   nonce from get-nonce, whose only way in from a non-webpack bundle is the `__webpack_nonce__` global.
 * Imported first by main.tsx, so it runs before anything inserts a style. (@emotion/react's default
 * cache is replaced by a CacheProvider in main.tsx; CodeMirror takes it via EditorView.cspNonce.)
 */
export const cspNonce = readCspNonce();
if (cspNonce) {
  for (const cache of [euiCssCache, emotionCssCache]) {
    cache.nonce = cspNonce;
    cache.sheet.nonce = cspNonce;
  }
  (globalThis as { __webpack_nonce__?: string }).__webpack_nonce__ = cspNonce;
}
