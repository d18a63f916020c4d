#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { loadConfig } from './config/load.js';
import { AppError, describeError } from './core/errors.js';
import { runDoctor } from './doctor.js';
import { createKit } from './main.js';

const USAGE = `vht-kit — the software of a VHT home-visit recording kit

Usage:
  vht-kit serve            run the kit (camera, store, web server)
  vht-kit doctor           check this machine and the configuration; says how to fix what is wrong
  vht-kit help             this text

Configuration: the YAML file named by VHT_KIT_CONFIG (see config/example.yaml), then VHT_KIT_*
environment variables (VHT_KIT_DATA_DIR, VHT_KIT_PORT, VHT_KIT_PROFILE, VHT_KIT_PIN, …).
`;

function fail(err: unknown): never {
  const msg = err instanceof AppError ? err.message : describeError(err);
  process.stderr.write(`vht-kit: ${msg}\n`);
  process.exit(err instanceof AppError && err.code === 'CONFIG' ? 2 : 1);
}

async function serve(): Promise<void> {
  const { config } = loadConfig();
  const kit = await createKit(config);
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    kit.logger.info('stopping', { signal });
    const force = setTimeout(() => process.exit(1), 15_000);
    force.unref();
    kit.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        kit.logger.error('stop failed', { error: describeError(err) });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  try {
    await kit.start();
  } catch (err) {
    await kit.stop().catch(() => undefined);
    throw err;
  }
  process.stdout.write(`VHT Kit runs on http://localhost:${config.http.port} (profile ${kit.profile}, data ${config.dataDir})\n`);
}

function doctor(): void {
  const { config, file } = loadConfig();
  process.stdout.write(`config: ${file ?? '(defaults and VHT_KIT_* environment)'}\n`);
  const checks = runDoctor(config);
  for (const c of checks) {
    process.stdout.write(`${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}\n`);
    if (!c.ok && c.fix) process.stdout.write(`     fix: ${c.fix}\n`);
  }
  const bad = checks.filter((c) => !c.ok).length;
  process.stdout.write(bad ? `${bad} problem(s) found\n` : 'all checks passed\n');
  process.exitCode = bad ? 1 : 0;
}

async function main(argv: string[]): Promise<void> {
  const { positionals } = parseArgs({ args: argv, allowPositionals: true, strict: false });
  const cmd = positionals[0] ?? 'help';
  switch (cmd) {
    case 'serve':
      return serve();
    case 'doctor':
      return doctor();
    case 'help':
    case '--help':
      process.stdout.write(USAGE);
      return;
    default:
      process.stderr.write(`vht-kit: unknown command ${JSON.stringify(cmd)}\n\n${USAGE}`);
      process.exit(2);
  }
}

main(process.argv.slice(2)).catch(fail);
