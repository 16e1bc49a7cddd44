import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

/** The console is served under /app/fleet/ (Kibana's path); assets are content-hashed, so cached for good. */
export default defineConfig({
  base: '/app/fleet/',
  plugins: [react()],
  // `npx vite` (development only): the API calls go to a running server (FLEET_CONSOLE_API, default
  // the all-in-one on plain HTTP: FLEET_TLS_MODE=off npm start).
  server: { proxy: { '/api': process.env.FLEET_CONSOLE_API ?? 'http://127.0.0.1:8220' } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 4096,
    reportCompressedSize: true,
  },
});
