import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

/** The console is served under /app/fleet/ (Kibana's path); assets are content-hashed, so cached for good. */
export default defineConfig({
  base: '/app/fleet/',
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 4096,
    reportCompressedSize: true,
  },
});
