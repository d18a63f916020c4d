// Initial JS + CSS of the web app, gzipped: what a phone or TV downloads before the first screen.
// Reads the built dist/ui/index.html and tv.html, takes their module scripts, modulepreloads and
// stylesheets, follows the static imports between chunks, and leaves out what is only reached by
// a dynamic import() (hls.js). Build first: npx vite build --config src/web/ui/vite.config.ts
// Usage: node bench/ui-bundle.mjs [--out bench/results/ui-bundle.json]
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { REPO, codeInfo, runBench } from './lib.mjs';

const UI = path.join(REPO, 'dist', 'ui');
const TARGET_BYTES = 50_000;

function outArg() {
  const argv = process.argv.slice(2);
  const i = argv.indexOf('--out');
  return i >= 0 && argv[i + 1] ? argv[i + 1] : path.join('bench', 'results', 'ui-bundle.json');
}

/** `/assets/x.js` → the file in dist/ui (only files the build made; nothing outside it). */
function file(url) {
  const rel = url.replace(/^\//, '');
  const full = path.resolve(UI, rel);
  if (!full.startsWith(UI + path.sep) || !existsSync(full)) throw new Error(`${url}: not in ${UI}`);
  return full;
}

/** Static imports of an ES module chunk (`import … from "./x.js"`, `import "./x.js"`), not import(). */
function staticImports(code) {
  const out = new Set();
  const re = /(?:^|[;\n}])\s*(?:import|export)\s*(?:[\w$*{}\s,]+?\s*from\s*)?["'`](\.{1,2}\/[^"'`]+)["'`]/g;
  for (const m of code.matchAll(re)) out.add(m[1]);
  return [...out];
}

function dynamicImports(code) {
  return [...code.matchAll(/import\(\s*["'`](\.{1,2}\/[^"'`]+)["'`]\s*\)/g)].map((m) => m[1]);
}

function page(html) {
  const text = readFileSync(path.join(UI, html), 'utf8');
  const urls = { js: new Set(), css: new Set() };
  for (const m of text.matchAll(/<script\b[^>]*\bsrc="([^"]+)"[^>]*>/g)) urls.js.add(m[1]);
  for (const m of text.matchAll(/<link\b[^>]*>/g)) {
    const tag = m[0];
    const href = /\bhref="([^"]+)"/.exec(tag)?.[1];
    if (!href) continue;
    if (/\brel="modulepreload"/.test(tag)) urls.js.add(href);
    else if (/\brel="stylesheet"/.test(tag)) urls.css.add(href);
  }
  // follow static imports (the modulepreloads should already list them; this checks it)
  const queue = [...urls.js];
  const lazy = new Set();
  while (queue.length) {
    const u = queue.shift();
    const code = readFileSync(file(u), 'utf8');
    for (const d of dynamicImports(code)) lazy.add(path.posix.join(path.posix.dirname(u), d));
    for (const imp of staticImports(code)) {
      const abs = path.posix.join(path.posix.dirname(u), imp);
      if (!urls.js.has(abs)) {
        urls.js.add(abs);
        queue.push(abs);
      }
    }
  }
  const files = [...urls.js, ...urls.css].map((u) => {
    const buf = readFileSync(file(u));
    return { url: u, bytes: buf.length, gzip: gzipSync(buf, { level: 9 }).length };
  });
  const total = files.reduce((a, f) => a + f.gzip, 0);
  const lazyFiles = [...lazy]
    .filter((u) => !urls.js.has(u))
    .map((u) => {
      const buf = readFileSync(file(u));
      return { url: u, bytes: buf.length, gzip: gzipSync(buf, { level: 9 }).length };
    });
  return { html, files, initialGzipBytes: total, lazy: lazyFiles };
}

await runBench('ui-bundle', async () => {
  if (!existsSync(path.join(UI, 'index.html'))) throw new Error('dist/ui is missing: npx vite build --config src/web/ui/vite.config.ts');
  const pages = [page('index.html'), page('tv.html')];
  for (const p of pages) {
    if (p.files.some((f) => /hls/i.test(f.url))) throw new Error(`${p.html}: hls.js is in the initial load`);
  }
  const result = {
    date: new Date().toISOString(),
    code: codeInfo(),
    gzipLevel: 9,
    pages: pages.map((p) => ({ html: p.html, initialGzipBytes: p.initialGzipBytes, files: p.files, lazy: p.lazy })),
    indexInitialGzipKB: Math.round(pages[0].initialGzipBytes / 100) / 10,
    tvInitialGzipKB: Math.round(pages[1].initialGzipBytes / 100) / 10,
    target: 'initial JS+CSS gzip ≤ 50 kB per page, without the lazy hls.js chunk',
    pass: pages.every((p) => p.initialGzipBytes <= TARGET_BYTES),
  };
  const out = path.resolve(REPO, outArg());
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify({ bench: 'ui-bundle', ...result }, null, 2) + '\n');
  return result;
});
