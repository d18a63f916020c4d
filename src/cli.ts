#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { loadConfig } from './config/load.js';
import { AppError, describeError } from './core/errors.js';
import { changePin, enrol, keygen, verifyAudit } from './admin.js';
import { createLogger } from './core/logger.js';
import { runDoctor } from './doctor.js';
import { CAMERA_PROFILES, runCaptureTestCommand } from './doctor-capture.js';
import { PROFILES, type Profile } from './config/schema.js';
import { systemClock } from './core/clock.js';
import { hotspotTerminalQr } from './appliance/hotspot.js';
import { exportClip, listClips } from './sync/index.js';
import { runReviewExport } from './sync/export-review.js';
import { controlSocketPath, sendControl } from './web/control.js';
import { createKit } from './main.js';

const USAGE = `vht-kit — the software of a VHT home-visit recording kit

Usage:
  vht-kit serve            run the kit (camera, store, web server)
  vht-kit doctor [--qr]    check this machine and the configuration; says how to fix what is wrong;
                           --qr shows the kit's Wi-Fi join code (QR) for the trainer's phone
  vht-kit doctor --capture-test [--profiles pi4,pi5,uvc-h264,sim] [--seconds 10]
                           run each camera profile against the real camera and microphone and
                           recommend one (the running kit is asked to release the camera)
  vht-kit keygen --out org.key
                           at the office: make the organisation's age identity; prints its recipient
  vht-kit enrol --org-recipient age1… --kit-id kit-07 --trainer-pin 123456 [--current-pin …] [--config FILE]
              [--sync-target s3|dir --s3-endpoint URL --s3-bucket B --s3-region R --s3-prefix P
               --s3-access-key-id K --s3-secret-access-key S --sync-dir DIR --dock-ca-file F --dock-pin-sha256 H]
              [--tls-cert FILE --tls-key FILE]  the organisation's HTTPS certificate (else the kit makes its own)
                           write the kit's config (VHT_KIT_CONFIG or --config) and seal its key with the PIN
  vht-kit pin --current 123456 --new 654321
                           change the trainer PIN (clips stay playable)
  vht-kit audit verify     check the hash chain of the audit log; exit 0 when it is whole
  vht-kit export --identity org.key --from s3://BUCKET/PREFIX|DIR --clip ID --out clip.mp4
  vht-kit export --identity org.key --from s3://BUCKET/PREFIX|DIR --review ID --out DIR   (fragments as MP4, stills, notes and talk markers as CSV/ELAN)
                           at the office: verify, decrypt, join and remux a clip to MP4 (+ markers
                           as .csv and ELAN .eaf); --list lists the clips found. S3 settings from
                           AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT_URL
  vht-kit press [--long]   press the simulated record button of the running kit
  vht-kit dock [on|off]    put the running kit on its (simulated) dock, or take it off
  vht-kit network up|down  tell the running kit an office network came up (NetworkManager hook)
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
  const { config, origin } = loadConfig();
  const kit = await createKit(config, { origin });
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
  process.stdout.write(`VHT Kit runs on ${kit.listeners?.url ?? `http://localhost:${config.http.port}`} (profile ${kit.profile}, data ${config.dataDir})\n`);
}

async function doctor(qr = false): Promise<void> {
  const { config, file } = loadConfig();
  if (qr) {
    try {
      process.stdout.write(hotspotTerminalQr(config));
    } catch (err) {
      process.stdout.write(`no Wi-Fi join code: ${describeError(err)}\n`);
    }
  }
  process.stdout.write(`config: ${file ?? '(defaults and VHT_KIT_* environment)'}\n`);
  const checks = await runDoctor(config);
  for (const c of checks) {
    process.stdout.write(`${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}\n`);
    if (!c.ok && c.fix) process.stdout.write(`     fix: ${c.fix}\n`);
  }
  const bad = checks.filter((c) => !c.ok).length;
  process.stdout.write(bad ? `${bad} problem(s) found\n` : 'all checks passed\n');
  process.exitCode = bad ? 1 : 0;
}

/** `vht-kit doctor --capture-test`: checks the options, runs the test, exit 0 when a profile is recommended. */
async function captureTest(profiles: string | undefined, seconds: string | undefined): Promise<void> {
  const { config } = loadConfig();
  const list = profiles ? profiles.split(',').map((p) => p.trim()) : CAMERA_PROFILES;
  for (const p of list) {
    if (p === 'auto' || !(PROFILES as readonly string[]).includes(p)) {
      throw new AppError('VALIDATION', `--profiles: unknown profile ${JSON.stringify(p)} (sim, pi4, pi5, uvc-h264)`, { field: '--profiles' });
    }
  }
  const secs = seconds === undefined ? 10 : Number(seconds);
  if (!Number.isFinite(secs) || secs < 3 || secs > 120) {
    throw new AppError('VALIDATION', `--seconds must be 3 to 120 (got ${JSON.stringify(seconds)})`, { field: '--seconds' });
  }
  const report = await runCaptureTestCommand(config, {
    profiles: list as Profile[],
    seconds: secs,
    clock: systemClock,
    logger: createLogger({ level: 'warn' }),
    write: (line) => process.stdout.write(`${line}\n`),
  });
  process.exitCode = report.recommended ? 0 : 1;
}

/** The sync settings given to `vht-kit enrol`, as a config fragment. */
function syncFlags(values: Record<string, string | boolean | undefined>): Record<string, unknown> {
  const str = (k: string) => (typeof values[k] === 'string' ? values[k] : undefined);
  const s3: Record<string, string> = {};
  for (const [flag, key] of [
    ['s3-endpoint', 'endpoint'],
    ['s3-region', 'region'],
    ['s3-bucket', 'bucket'],
    ['s3-prefix', 'prefix'],
    ['s3-access-key-id', 'accessKeyId'],
    ['s3-secret-access-key', 'secretAccessKey'],
  ] as const) {
    const v = str(flag);
    if (v !== undefined) s3[key] = v;
  }
  const dock: Record<string, string> = {};
  if (str('dock-ca-file')) dock.caFile = str('dock-ca-file')!;
  if (str('dock-pin-sha256')) dock.pinSha256 = str('dock-pin-sha256')!;
  const out: Record<string, unknown> = {};
  if (str('sync-target')) out.target = str('sync-target');
  if (Object.keys(s3).length) out.s3 = s3;
  if (str('sync-dir')) out.dir = { path: str('sync-dir') };
  if (Object.keys(dock).length) out.dock = dock;
  return out;
}

function need(values: Record<string, string | boolean | undefined>, name: string): string {
  const v = values[name];
  if (typeof v !== 'string' || v === '') throw new AppError('VALIDATION', `--${name} is required`, { field: `--${name}` });
  return v;
}

async function main(argv: string[]): Promise<void> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      out: { type: 'string' },
      'org-recipient': { type: 'string' },
      'kit-id': { type: 'string' },
      'trainer-pin': { type: 'string' },
      'current-pin': { type: 'string' },
      config: { type: 'string' },
      current: { type: 'string' },
      new: { type: 'string' },
      long: { type: 'boolean' },
      qr: { type: 'boolean' },
      'capture-test': { type: 'boolean' },
      profiles: { type: 'string' },
      seconds: { type: 'string' },
      identity: { type: 'string' },
      from: { type: 'string' },
      clip: { type: 'string' },
      review: { type: 'string' },
      list: { type: 'boolean' },
      'sync-target': { type: 'string' },
      's3-endpoint': { type: 'string' },
      's3-region': { type: 'string' },
      's3-bucket': { type: 'string' },
      's3-prefix': { type: 'string' },
      's3-access-key-id': { type: 'string' },
      's3-secret-access-key': { type: 'string' },
      'sync-dir': { type: 'string' },
      'dock-ca-file': { type: 'string' },
      'dock-pin-sha256': { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
    },
  });
  const logger = createLogger({ level: 'warn' });
  const cmd = positionals[0] ?? 'help';
  switch (cmd) {
    case 'keygen': {
      const recipient = await keygen(need(values, 'out'));
      process.stdout.write(`${recipient}\n`);
      process.stderr.write(`identity written to ${values.out}; enrol kits with: vht-kit enrol --org-recipient ${recipient} …\n`);
      return;
    }
    case 'enrol': {
      const configFile = values.config ?? process.env.VHT_KIT_CONFIG;
      if (!configFile) throw new AppError('VALIDATION', 'name the kit config file: --config FILE or VHT_KIT_CONFIG', { field: '--config' });
      const r = await enrol(
        {
          configFile,
          orgRecipient: need(values, 'org-recipient'),
          kitId: need(values, 'kit-id'),
          trainerPin: need(values, 'trainer-pin'),
          ...(values['current-pin'] ? { currentPin: values['current-pin'] } : {}),
          sync: syncFlags(values),
          ...(values['tls-cert'] ? { tlsCert: values['tls-cert'] } : {}),
          ...(values['tls-key'] ? { tlsKey: values['tls-key'] } : {}),
        },
        logger,
      );
      process.stdout.write(`${r.reenrolled ? 're-enrolled' : 'enrolled'}: config ${configFile}, data ${r.dataDir}\n`);
      process.stdout.write('Wi-Fi passphrase made (kept on re-enrolment): `vht-kit doctor --qr` shows the join code\n');
      process.stdout.write(`HTTPS certificate ${r.tls.action === 'copied' ? 'installed' : r.tls.action}: ${r.tls.cert}\n`);
      return;
    }
    case 'pin': {
      const { config } = loadConfig();
      await changePin(config.dataDir, need(values, 'current'), need(values, 'new'), logger);
      process.stdout.write('PIN changed\n');
      return;
    }
    case 'export': {
      const from = need(values, 'from');
      if (values.list) {
        const clips = await listClips(from, values.identity ? { identityFile: values.identity } : {});
        for (const c of clips) {
          process.stdout.write(
            `${c.kitId}\t${c.clipId}${c.durationMs !== undefined ? `\t${(c.durationMs / 1000).toFixed(1)} s\t${c.caseCode ?? ''}\t${c.markers ?? 0} markers` : ''}\n`,
          );
        }
        process.stderr.write(`${clips.length} clip(s) in ${from}\n`);
        return;
      }
      if (values.review) {
        await runReviewExport({ identityFile: need(values, 'identity'), from, reviewId: values.review, outDir: need(values, 'out') });
        return;
      }
      const r = await exportClip({ identityFile: need(values, 'identity'), from, clipId: need(values, 'clip'), out: need(values, 'out') });
      process.stdout.write(
        `${r.mp4} (${(r.durationMs / 1000).toFixed(1)} s, ${r.segments} segments verified${r.hasAudio ? ', with sound' : ''})\n${r.csv}\n${r.eaf}\n${r.stills.map((f) => `${f}\n`).join('')}`,
      );
      return;
    }
    case 'press': {
      const { config } = loadConfig();
      const r = (await sendControl(controlSocketPath(config.dataDir), { cmd: 'press', long: values.long === true }, 15_000)) as {
        before: string;
        after: string;
        clipId: string | null;
      };
      process.stdout.write(`${values.long ? 'long' : 'short'} press: ${r.before} → ${r.after}${r.clipId ? ` (clip ${r.clipId})` : ''}\n`);
      return;
    }
    case 'dock': {
      const arg = positionals[1] ?? 'on';
      if (arg !== 'on' && arg !== 'off') throw new AppError('VALIDATION', `dock: say "on" or "off" (got ${JSON.stringify(arg)})`);
      const { config } = loadConfig();
      const r = (await sendControl(controlSocketPath(config.dataDir), { cmd: 'dock', on: arg === 'on' })) as { docked: boolean };
      process.stdout.write(`docked: ${r.docked ? 'yes' : 'no'}\n`);
      return;
    }
    case 'network': {
      const arg = positionals[1];
      if (arg !== 'up' && arg !== 'down') throw new AppError('VALIDATION', `network: say "up" or "down" (got ${JSON.stringify(arg ?? '')})`);
      const { config } = loadConfig();
      await sendControl(controlSocketPath(config.dataDir), { cmd: 'network', up: arg === 'up' });
      process.stdout.write(`network ${arg}: the kit checks for its office endpoint\n`);
      return;
    }
    case 'audit': {
      if (positionals[1] !== 'verify') throw new AppError('VALIDATION', 'usage: vht-kit audit verify');
      const { config } = loadConfig();
      const r = verifyAudit(config.dataDir);
      process.stdout.write(r.ok ? `audit log whole: ${r.count} entries\n` : `audit log BROKEN at entry ${r.brokenAt}: ${r.reason}\n`);
      process.exitCode = r.ok ? 0 : 1;
      return;
    }
    case 'serve':
      return serve();
    case 'doctor':
      if (values['capture-test']) return captureTest(values.profiles, values.seconds);
      return doctor(values.qr === true);
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
