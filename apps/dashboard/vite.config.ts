// Vite build of the dashboard; `vite dev` proxies the API to a running server (PAGODA_URL).
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

const target = process.env.PAGODA_URL ?? 'http://127.0.0.1:9997';

export default defineConfig({
  plugins: [react()],
  build: { outDir: 'dist', emptyOutDir: true, chunkSizeWarningLimit: 1024 },
  server: {
    proxy: { '/v1': target, '/api': { target, ws: true }, '/health': target, '/metrics': target },
  },
});
