import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { describe, expect, it } from 'vitest';
import { loadConfig, parseConfig } from '../src/config/load.js';
import { AppError } from '../src/core/errors.js';

const EXAMPLE = path.resolve(import.meta.dirname, '../config/example.yaml');

function configError(fn: () => unknown): AppError {
  try {
    fn();
  } catch (err) {
    if (err instanceof AppError) return err;
    throw err;
  }
  throw new Error('expected a config error');
}

describe('config', () => {
  it('config/example.yaml holds exactly the defaults', () => {
    const example = YAML.parse(readFileSync(EXAMPLE, 'utf8'));
    expect(parseConfig(example)).toEqual(parseConfig({}));
    // and names every key the schema has
    const keys = (o: object, prefix = ''): string[] =>
      Object.entries(o).flatMap(([k, v]) => (v && typeof v === 'object' && !Array.isArray(v) ? keys(v, `${prefix}${k}.`) : [`${prefix}${k}`]));
    expect(keys(example).sort()).toEqual(keys(parseConfig({})).sort());
  });

  it('a file with no keys gives the defaults; relative dataDir is taken from the file', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vht-cfg-'));
    const file = path.join(dir, 'kit.yaml');
    writeFileSync(file, '# nothing\n');
    const { config } = loadConfig({ file, env: {} });
    expect(config.http.port).toBe(8080);
    expect(config.capture.preRollSeconds).toBe(10);
    expect(config.dataDir).toBe(path.join(dir, 'data'));
  });

  it('VHT_KIT_* variables override the file', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vht-cfg-'));
    const file = path.join(dir, 'kit.yaml');
    writeFileSync(file, 'http:\n  port: 9000\ncapture:\n  profile: pi4\n');
    const { config } = loadConfig({
      env: {
        VHT_KIT_CONFIG: file,
        VHT_KIT_PORT: '18123',
        VHT_KIT_PROFILE: 'sim',
        VHT_KIT_PIN: '0042',
        VHT_KIT_DATA_DIR: '/srv/kit',
        VHT_KIT_PREROLL_SECONDS: '5.5',
      },
      cwd: '/',
    });
    expect(config.http.port).toBe(18123);
    expect(config.capture.profile).toBe('sim');
    expect(config.auth.pin).toBe('0042');
    expect(config.dataDir).toBe('/srv/kit');
    expect(config.capture.preRollSeconds).toBe(5.5);
  });

  it('names the key, the source and the value of a bad setting', () => {
    const e1 = configError(() => loadConfig({ env: { VHT_KIT_PROFILE: 'webcam' }, file: null }));
    expect(e1.message).toContain('capture.profile (from VHT_KIT_PROFILE)');
    expect(e1.message).toContain('"webcam"');
    expect(e1.field).toBe('capture.profile');

    const e2 = configError(() => loadConfig({ env: { VHT_KIT_PIN: '12' }, file: null }));
    expect(e2.message).toMatch(/auth\.pin \(from VHT_KIT_PIN\).*4 to 12 digits.*"12"/);

    const dir = mkdtempSync(path.join(os.tmpdir(), 'vht-cfg-'));
    const file = path.join(dir, 'kit.yaml');
    writeFileSync(file, 'capture:\n  fps: 500\n  colour: red\n');
    const e3 = configError(() => loadConfig({ file, env: {} }));
    expect(e3.message).toContain(`capture.fps (in ${file})`);
    expect(e3.message).toContain('500');
    expect(e3.message).toContain('unknown key(s) "colour"');

    const e4 = configError(() => loadConfig({ file: path.join(dir, 'missing.yaml'), env: {} }));
    expect(e4.message).toMatch(/missing\.yaml.*cannot be read: ENOENT/);

    writeFileSync(file, 'http: [1, 2\n');
    expect(configError(() => loadConfig({ file, env: {} })).message).toMatch(/not valid YAML/);

    const e6 = configError(() => loadConfig({ env: { VHT_KIT_SYNC_TARGET: 's3', VHT_KIT_S3_ENDPOINT: 'http://10.0.0.1:8080' }, file: null }));
    expect(e6.message).toMatch(
      /sync\.s3\.endpoint \(from VHT_KIT_S3_ENDPOINT\): plain http:\/\/ only with sync\.dock\.allowInsecure: true.*"http:\/\/10\.0\.0\.1:8080"/,
    );
    expect(e6.message).toMatch(/sync\.s3\.bucket: needed for sync\.target "s3" \(value: null\)/);
    const e5 = configError(() => parseConfig({ keys: { orgRecipient: 'age1short' } }));
    expect(e5.message).toMatch(/keys\.orgRecipient.*"age1short"/);
  });
});
