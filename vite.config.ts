// Builds the web app (apps/web) into dist/web, which the server serves next to public/: two pages,
// the volunteer page (index.html) and the researcher dashboard (dashboard.html, served at /dashboard).
import path from 'node:path';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

export default defineConfig({
  root: 'apps/web',
  publicDir: false,
  plugins: [react()],
  build: {
    outDir: '../../dist/web',
    emptyOutDir: true,
    target: 'es2022',
    rollupOptions: {
      input: {
        volunteer: path.resolve(import.meta.dirname, 'apps/web/index.html'),
        dashboard: path.resolve(import.meta.dirname, 'apps/web/dashboard.html'),
      },
    },
  },
  worker: { format: 'es' },
});
