// A "before" build for the CPU benches: the service as it was at an earlier commit, built from that
// commit's src/ into a temp dir inside the repo (so that node_modules resolves), beside the current
// dist/. Default commit: BEFORE_COMMIT below, the last commit before the main-process work of
// issue 16's second round (2026-12-07); `--before <commit>` picks another. The first round's
// "before" (age-encryption instead of node:crypto) was a shimmed copy of dist/; its figures stay in
// docs/performance.md and bench/results/main-cpu-round1.json.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { log, REPO, tempDir } from './lib.mjs';

/** The commit the second round of issue 16 started from. */
export const BEFORE_COMMIT = '455986f';

/** The commit given by `--before <commit>` (or `--before=<commit>`), else BEFORE_COMMIT. */
export function beforeCommitArg() {
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--before' && i + 1 < argv.length) return argv[i + 1];
    if (argv[i].startsWith('--before=')) return argv[i].slice('--before='.length);
  }
  return BEFORE_COMMIT;
}

/**
 * Builds `commit`'s src/ with tsc into a temp dir (git archive + tsconfig of that commit); the web
 * app (dist/ui) comes from the current build when there is one. Returns the path of its cli.js and
 * the full commit id.
 */
export function beforeBuild(commit = beforeCommitArg()) {
  const full = execFileSync('git', ['-C', REPO, 'rev-parse', '--verify', `${commit}^{commit}`], { encoding: 'utf8' }).trim();
  const root = tempDir('.bench-before-', REPO);
  const tar = execFileSync('git', ['-C', REPO, 'archive', full, 'src', 'tsconfig.json', 'tsconfig.build.json', 'package.json'], {
    maxBuffer: 256 * 1024 * 1024,
  });
  execFileSync('tar', ['-x', '-C', root], { input: tar });
  log(`building the "before" commit ${full.slice(0, 10)} in ${path.relative(REPO, root)}`);
  // tsconfig.json includes test/ and bench/ too; the build config names src/ only
  execFileSync(process.execPath, [path.join(REPO, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(root, 'tsconfig.build.json')], {
    cwd: root,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const ui = path.join(REPO, 'dist', 'ui');
  if (existsSync(ui)) {
    mkdirSync(path.join(root, 'dist'), { recursive: true });
    cpSync(ui, path.join(root, 'dist', 'ui'), { recursive: true });
  }
  return { cli: path.join(root, 'dist', 'cli.js'), commit: full };
}
