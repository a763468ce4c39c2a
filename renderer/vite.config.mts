// Vite for the renderer: root is this folder, output goes to dist/ui.
// base './' keeps asset URLs relative, so the page also loads from file:// in Electron.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

const here = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root: here,
  base: './',
  plugins: [react()],
  build: {
    outDir: fileURLToPath(new URL('../dist/ui', import.meta.url)),
    emptyOutDir: true,
    // Everything as files under 'self': the CSP allows no data: or inline content.
    assetsInlineLimit: 0,
    sourcemap: true,
  },
});
