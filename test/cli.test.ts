import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const BIN = path.resolve(import.meta.dirname, '../bin/vht-kit');

function cli(args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, VHT_KIT_CONFIG: '' }, timeout: 60_000 });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

const COMMANDS = ['serve', 'doctor', 'keygen', 'enrol', 'pin', 'audit', 'export', 'press', 'dock', 'network'];

describe('vht-kit --help and vht-kit <command> --help', () => {
  it('lists every command with what it does', { timeout: 180_000 }, () => {
    for (const args of [['--help'], ['help'], []]) {
      const r = cli(args);
      expect(r.code).toBe(0);
      for (const c of COMMANDS) expect(r.out).toMatch(new RegExp(`^  vht-kit ${c}\\b`, 'm'));
      expect(r.out).toMatch(/<command> --help/);
    }
  });

  it('each command explains itself with --help and does nothing else', { timeout: 180_000 }, () => {
    for (const c of COMMANDS) {
      const r = cli([c, '--help']);
      expect(r.code, c).toBe(0);
      expect(r.out, c).toMatch(new RegExp(`^Usage: vht-kit ${c}\\b`, 'm'));
      expect(r.err, c).toBe('');
    }
    expect(cli(['enrol', '--help']).out).toMatch(/--dock-allow-insecure/);
    expect(cli(['doctor', '-h']).out).toMatch(/--capture-test/);
    expect(cli(['help', 'export']).out).toMatch(/^Usage: vht-kit export/m);
  });

  it('names an unknown option and an unknown command', { timeout: 180_000 }, () => {
    const bad = cli(['enrol', '--kit-idd', 'x']);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/enrol: Unknown option '--kit-idd'.*vht-kit enrol --help/);
    const unknown = cli(['enroll']);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/unknown command "enroll"/);
  });

  it('a missing required option is named', { timeout: 180_000 }, () => {
    const r = cli(['keygen']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/--out is required/);
  });
});
