import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

export interface StaticFile {
  file: string;
  type: string;
  cacheControl: string;
}

/** The Vite build of the UI: `dist/ui` of the package (found from this module, in src/ or dist/). */
export function findUiBuildDir(from = path.dirname(fileURLToPath(import.meta.url))): string {
  let dir = from;
  for (let i = 0; i < 6; i++) {
    const candidate = path.join(dir, 'dist', 'ui');
    if (existsSync(path.join(candidate, 'index.html'))) return candidate;
    dir = path.dirname(dir);
  }
  // Not built yet: where it will be (the package root is two levels above src/web or dist/web).
  return path.resolve(from, '..', '..', 'dist', 'ui');
}

/**
 * The URL → file allowlist of the built UI, made by listing the build directory once: a request
 * is looked up by its exact path, never joined onto a directory, so `..`, encoded dots or
 * backslashes cannot reach any other file. `/` is index.html, `/tv` tv.html. Hashed assets
 * (under assets/) are cached for a year; everything else is revalidated.
 */
export class UiFiles {
  private files = new Map<string, StaticFile>();
  private checkedAt = -Infinity;
  private indexMtime = -1;

  constructor(readonly dir: string) {
    this.scan();
  }

  get built(): boolean {
    return this.files.size > 0;
  }

  private mtimeOfIndex(): number {
    try {
      return statSync(path.join(this.dir, 'index.html')).mtimeMs;
    } catch {
      return -1;
    }
  }

  /** Lists the build (again when it was missing or rebuilt since: the UI may be built after the kit started). */
  private scan(): void {
    this.checkedAt = Date.now();
    this.indexMtime = this.mtimeOfIndex();
    const files = new Map<string, StaticFile>();
    if (this.indexMtime < 0) {
      this.files = files;
      return;
    }
    const walk = (rel: string, depth: number) => {
      if (depth > 4) return;
      for (const name of readdirSync(path.join(this.dir, rel))) {
        if (name.startsWith('.')) continue;
        const relPath = rel ? `${rel}/${name}` : name;
        const full = path.join(this.dir, relPath);
        const st = statSync(full);
        if (st.isDirectory()) walk(relPath, depth + 1);
        else if (st.isFile()) {
          const type = TYPES[path.extname(name).toLowerCase()];
          if (!type || name.endsWith('.map')) continue;
          const hashed = relPath.startsWith('assets/');
          files.set(`/${relPath}`, { file: full, type, cacheControl: hashed ? 'public, max-age=31536000, immutable' : 'no-cache' });
        }
      }
    };
    walk('', 0);
    const index = files.get('/index.html');
    if (index) files.set('/', index);
    const tv = files.get('/tv.html');
    if (tv) files.set('/tv', tv);
    this.files = files;
  }

  /** The file for an exact URL path (query stripped by the caller), or null. */
  lookup(urlPath: string): StaticFile | null {
    const hit = this.files.get(urlPath);
    if (hit) return hit;
    // A miss: list again at most once a second, and only when the build changed (a new index.html).
    if (Date.now() - this.checkedAt > 1000) {
      this.checkedAt = Date.now();
      if (this.mtimeOfIndex() !== this.indexMtime) {
        this.scan();
        return this.files.get(urlPath) ?? null;
      }
    }
    return null;
  }
}
