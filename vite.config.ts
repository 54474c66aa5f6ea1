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
    // The largest chunk, Try the model's (528 kB), is ONNX Runtime Web, loaded only when the panel
    // is used; the pages' own chunks stay far below this.
    chunkSizeWarningLimit: 600,
    rollupOptions: {
      onwarn(warning, warn) {
        // @prufed/onnx imports onnxruntime-web dynamically so that Node code that only exports or
        // runs onnxruntime-node (the server, the CLI) never loads it; in the app try-model.ts
        // imports it itself inside the same lazily loaded chunk, so no split is lost.
        if (warning.code === 'INEFFECTIVE_DYNAMIC_IMPORT' && warning.message.includes('onnxruntime-web'))
          return;
        warn(warning);
      },
      input: {
        volunteer: path.resolve(import.meta.dirname, 'apps/web/index.html'),
        dashboard: path.resolve(import.meta.dirname, 'apps/web/dashboard.html'),
      },
    },
  },
  worker: { format: 'es' },
});
