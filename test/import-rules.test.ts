import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const REPO = path.resolve(import.meta.dirname, '..');
const DEPCRUISE = path.join(REPO, 'node_modules', '.bin', 'depcruise');

/**
 * A small tree with the kit's layout, checked with the project's own rule file by the same
 * command scripts/lint runs: each case adds one import and looks at what the check says.
 */
function check(imports: { from: string; to: string; typeOnly?: boolean }[]): { status: number | null; out: string } {
  const dir = mkdtempSync(path.join(root, 'tree-'));
  const files = new Set([
    'src/core/events.ts',
    'src/config/schema.ts',
    'src/store/catalogue.ts',
    'src/capture/ring.ts',
    'src/session/recorder.ts',
    'src/web/app.ts',
    'src/sync/service.ts',
    'src/wiring/lifecycle.ts',
    'src/main.ts',
  ]);
  for (const i of imports) files.add(i.from).add(i.to);
  for (const f of files) {
    mkdirSync(path.join(dir, path.dirname(f)), { recursive: true });
    const lines = imports
      .filter((i) => i.from === f)
      .map((i) => {
        const rel = path.relative(path.dirname(f), i.to).replace(/\.ts$/, '.js');
        const spec = rel.startsWith('.') ? rel : `./${rel}`;
        return i.typeOnly ? `import type { X } from '${spec}';\nexport type Y = X;` : `import { x } from '${spec}';\nexport const y = x;`;
      });
    writeFileSync(path.join(dir, f), [...lines, 'export const x = 1;', 'export type X = number;', ''].join('\n'));
  }
  copyFileSync(path.join(REPO, '.dependency-cruiser.cjs'), path.join(dir, '.dependency-cruiser.cjs'));
  writeFileSync(
    path.join(dir, 'tsconfig.json'),
    JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', strict: true }, include: ['src'] }),
  );
  const r = spawnSync(DEPCRUISE, ['src', '--config', '.dependency-cruiser.cjs', '--output-type', 'err-long'], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

const root = mkdtempSync(path.join(os.tmpdir(), 'vht-import-rules-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('the import direction (scripts/lint imports)', () => {
  it('passes imports that point down the layers, and the composition root importing anything', () => {
    const r = check([
      { from: 'src/config/schema.ts', to: 'src/core/events.ts' },
      { from: 'src/store/catalogue.ts', to: 'src/config/schema.ts' },
      { from: 'src/session/recorder.ts', to: 'src/store/catalogue.ts' },
      { from: 'src/web/app.ts', to: 'src/session/recorder.ts' },
      { from: 'src/sync/service.ts', to: 'src/store/catalogue.ts' },
      { from: 'src/wiring/lifecycle.ts', to: 'src/web/app.ts' },
      { from: 'src/main.ts', to: 'src/wiring/lifecycle.ts' },
      { from: 'src/main.ts', to: 'src/sync/service.ts' },
    ]);
    expect(r.out).toContain('no dependency violations');
    expect(r.status).toBe(0);
  });

  // one tree with every wrong arrow (one run of the check): each is reported on its own line, by rule
  it('reports each forbidden import by its rule and its two files, type-only imports and cycles too', () => {
    const wrong = [
      { case: 'core imports a layer above it', from: 'src/core/events.ts', to: 'src/web/app.ts', rule: 'layer-core' },
      { case: 'store imports capture (same level)', from: 'src/store/catalogue.ts', to: 'src/capture/ring.ts', rule: 'layer-store' },
      { case: 'sync imports web (same level)', from: 'src/sync/service.ts', to: 'src/web/app.ts', rule: 'layer-sync' },
      { case: 'session imports web (upward), as a type only', from: 'src/session/recorder.ts', to: 'src/web/app.ts', rule: 'layer-session', typeOnly: true },
      { case: 'web imports the composition root', from: 'src/web/app.ts', to: 'src/main.ts', rule: 'layer-web' },
      { case: 'appliance imports the wiring', from: 'src/appliance/health.ts', to: 'src/wiring/lifecycle.ts', rule: 'layer-appliance' },
    ];
    const cycle = [
      { from: 'src/store/clips.ts', to: 'src/store/durable.ts' },
      { from: 'src/store/durable.ts', to: 'src/store/clips.ts' },
    ];
    const r = check([...wrong, ...cycle]);
    expect(r.status).not.toBe(0);
    const lines = r.out.split('\n');
    for (const w of wrong) {
      const reported = lines.some((l) => l.includes(w.rule) && l.includes(`${w.from} → ${w.to}`));
      expect({ case: w.case, reported }).toEqual({ case: w.case, reported: true });
    }
    expect(lines.some((l) => l.includes('no-circular') && l.includes('src/store/clips.ts'))).toBe(true);
    expect(r.out).toMatch(new RegExp(`${wrong.length + 1} dependency violations|${wrong.length + 2} dependency violations`));
  });
});
