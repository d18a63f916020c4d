// Vite build of the web app: the trainer's app (index.html: remote, library, player) and the TV
// page (tv.html), into <repo>/dist/ui. Preact through Vite's own oxc JSX transform (automatic
// runtime, import source "preact"), no plugin. No CDN, no external fonts: everything is bundled.
// hls.js is only reached through a dynamic import(), so it is a lazy chunk that browsers with
// native HLS never load.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../../..');

export default defineConfig({
  root: here,
  base: '/',
  publicDir: path.join(here, 'public'),
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: path.join(repo, 'dist', 'ui'),
    emptyOutDir: true,
    target: 'es2020',
    sourcemap: false,
    assetsInlineLimit: 0,
    // hls.js (~580 kB, a lazy chunk for browsers without native HLS) is expected to be large.
    chunkSizeWarningLimit: 800,
    rolldownOptions: {
      input: { index: path.join(here, 'index.html'), tv: path.join(here, 'tv.html') },
    },
  },
});
