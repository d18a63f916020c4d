import { readFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import type { z } from 'zod';
import { AppError, showValue } from '../core/errors.js';
import { configSchema, ENV_KEYS, STRING_KEYS, type Config } from './schema.js';

export interface LoadOptions {
  env?: NodeJS.ProcessEnv;
  /** Config file; default: env VHT_KIT_CONFIG, else none (defaults + env only). */
  file?: string | null;
  /** Base for relative paths; default: process.cwd(). */
  cwd?: string;
}

export interface LoadedConfig {
  config: Config;
  file: string | null;
  /** Where a key's value came from, for messages: "from VHT_KIT_DATA_DIR", "in FILE" or "the default". */
  origin: (key: string) => string;
}

/** Reads the YAML file (if any), applies VHT_KIT_* overrides and validates; throws AppError('CONFIG'). */
export function loadConfig(opts: LoadOptions = {}): LoadedConfig {
  const env = opts.env ?? process.env;
  const cwd = opts.cwd ?? process.cwd();
  const file = opts.file !== undefined ? opts.file : (env.VHT_KIT_CONFIG ?? null);
  let raw: Record<string, unknown> = {};
  const sources = new Map<string, string>();
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new AppError('CONFIG', `config file ${file} (VHT_KIT_CONFIG) cannot be read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, {
        field: 'VHT_KIT_CONFIG',
      });
    }
    let doc: unknown;
    try {
      doc = YAML.parse(text);
    } catch (err) {
      throw new AppError('CONFIG', `config file ${file} is not valid YAML: ${(err as Error).message}`);
    }
    if (doc !== null && doc !== undefined) {
      if (typeof doc !== 'object' || Array.isArray(doc)) {
        throw new AppError('CONFIG', `config file ${file} must hold a mapping of keys, got ${showValue(doc)}`);
      }
      raw = doc as Record<string, unknown>;
    }
  }
  const fileRaw = structuredClone(raw);
  const inFile = (key: string): boolean => {
    let cur: unknown = fileRaw;
    for (const part of key.split('.')) {
      if (typeof cur !== 'object' || cur === null) return false;
      cur = (cur as Record<string, unknown>)[part];
    }
    return cur !== undefined;
  };
  for (const [name, key] of Object.entries(ENV_KEYS)) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    setPath(raw, key, STRING_KEYS.has(key) ? value : parseScalar(value));
    sources.set(key, name);
  }
  const config = validate(raw, file, sources);
  config.dataDir = path.resolve(file && !sources.has('dataDir') ? path.dirname(file) : cwd, config.dataDir);
  if (config.capture.ringDir) {
    config.capture.ringDir = path.resolve(cwd, config.capture.ringDir);
  }
  const origin = (key: string): string => {
    const env = sources.get(key);
    if (env) return `from ${env}`;
    if (file && inFile(key)) return `in ${file}`;
    return 'the default';
  };
  return { config, file, origin };
}

/** Validates a raw config object (no env, no file); used by tests and the example check. */
export function parseConfig(raw: unknown): Config {
  return validate(raw, null, new Map());
}

function validate(raw: unknown, file: string | null, sources: Map<string, string>): Config {
  const result = configSchema.safeParse(raw, { reportInput: true });
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => describeIssue(issue, file, sources));
  const first = result.error.issues[0];
  throw new AppError('CONFIG', `invalid configuration:\n  ${lines.join('\n  ')}`, {
    field: first ? first.path.join('.') : undefined,
  });
}

function describeIssue(issue: z.core.$ZodIssue, file: string | null, sources: Map<string, string>): string {
  const key = issue.path.join('.') || '(top level)';
  const from = sources.get(key);
  const where = from ? `${key} (from ${from})` : file ? `${key} (in ${file})` : key;
  if (issue.code === 'unrecognized_keys') {
    return `${key === '(top level)' ? '' : key + ': '}unknown key(s) ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}`;
  }
  const value = 'input' in issue ? ` (value: ${showValue(issue.input)})` : '';
  return `${where}: ${issue.message}${value}`;
}

function parseScalar(value: string): unknown {
  try {
    const parsed: unknown = YAML.parse(value);
    return parsed === null || typeof parsed === 'object' ? value : parsed;
  } catch {
    return value;
  }
}

function setPath(obj: Record<string, unknown>, dotted: string, value: unknown): void {
  const parts = dotted.split('.');
  let cur: Record<string, unknown> = obj;
  for (const part of parts.slice(0, -1)) {
    const next = cur[part];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) {
      cur[part] = {};
    }
    cur = cur[part] as Record<string, unknown>;
  }
  cur[parts[parts.length - 1]!] = value;
}
