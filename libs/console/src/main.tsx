// First: the CSP nonce is on every Emotion cache before any module inserts a style.
import { cspNonce as nonce } from './style-nonce';
import createCache from '@emotion/cache';
import { CacheProvider } from '@emotion/react';
import { EuiProvider } from '@elastic/eui';
import { EuiThemeBorealis } from '@elastic/eui-theme-borealis';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { RouterProvider } from 'react-router-dom';
import { router } from './app-routes';
import { ThemeModeProvider } from './theme-context';

// The server's Content-Security-Policy allows no inline script, and inline styles only with this
// response's nonce: Emotion (EUI's styles) tags every style element it injects with it.
const euiCache = createCache({ key: 'eui', container: document.head, ...(nonce ? { nonce } : {}) });
euiCache.compat = true;

const root = document.getElementById('root');
if (!root) throw new Error('no #root element');
createRoot(root).render(
  <StrictMode>
    {/* Emotion's default cache has no nonce: whatever styles outside EuiProvider's caches uses this one. */}
    <CacheProvider value={euiCache}>
      <ThemeModeProvider>
        {(colorMode) => (
          <EuiProvider colorMode={colorMode} theme={EuiThemeBorealis} cache={euiCache}>
            <RouterProvider router={router} />
          </EuiProvider>
        )}
      </ThemeModeProvider>
    </CacheProvider>
  </StrictMode>,
);
