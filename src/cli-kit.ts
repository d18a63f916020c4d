import { loadConfig } from './config/load.js';
import { AppError, describeError } from './core/errors.js';
import type { CliCommand, CommandArgs } from './core/command.js';
import { changePin, enrol, keygen, verifyAudit } from './admin.js';
import { createLogger } from './core/logger.js';
import { runDoctor } from './doctor.js';
import { CAMERA_PROFILES, runCaptureTestCommand } from './doctor-capture.js';
import { PROFILES, type Profile } from './config/schema.js';
import { systemClock } from './core/clock.js';
import { hotspotTerminalQr } from './appliance/hotspot.js';
import { exportClip, listClips } from './sync/index.js';
import { recordExport } from './office/export-audit.js';
import { runReviewExport } from './sync/export-review.js';
import { controlSocketPath, sendControl } from './web/control.js';
import { createKit } from './main.js';

type Values = CommandArgs['values'];

/** The value of a required option, or an error naming it. */
export function need(values: Values, name: string): string {
  const v = values[name];
  if (typeof v !== 'string' || v === '') throw new AppError('VALIDATION', `--${name} is required`, { field: `--${name}` });
  return v;
}

const str = (values: Values, k: string): string | undefined => (typeof values[k] === 'string' ? values[k] : undefined);

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
export function syncFlags(values: Values): Record<string, unknown> {
  const s3: Record<string, string> = {};
  for (const [flag, key] of [
    ['s3-endpoint', 'endpoint'],
    ['s3-region', 'region'],
    ['s3-bucket', 'bucket'],
    ['s3-prefix', 'prefix'],
    ['s3-access-key-id', 'accessKeyId'],
    ['s3-secret-access-key', 'secretAccessKey'],
  ] as const) {
    const v = str(values, flag);
    if (v !== undefined) s3[key] = v;
  }
  const dock: Record<string, string | boolean> = {};
  if (str(values, 'dock-ca-file')) dock.caFile = str(values, 'dock-ca-file')!;
  if (str(values, 'dock-pin-sha256')) dock.pinSha256 = str(values, 'dock-pin-sha256')!;
  if (values['dock-allow-insecure'] === true) dock.allowInsecure = true;
  const out: Record<string, unknown> = {};
  if (str(values, 'sync-target')) out.target = str(values, 'sync-target');
  if (Object.keys(s3).length) out.s3 = s3;
  if (str(values, 'sync-dir')) out.dir = { path: str(values, 'sync-dir') };
  if (Object.keys(dock).length) out.dock = dock;
  return out;
}

const warnLogger = () => createLogger({ level: 'warn' });
const s = { type: 'string' } as const;
const b = { type: 'boolean' } as const;

const ENROL_OPTIONS = {
  'org-recipient': s,
  'kit-id': s,
  'trainer-pin': s,
  'current-pin': s,
  config: s,
  'sync-target': s,
  's3-endpoint': s,
  's3-region': s,
  's3-bucket': s,
  's3-prefix': s,
  's3-access-key-id': s,
  's3-secret-access-key': s,
  'sync-dir': s,
  'dock-ca-file': s,
  'dock-pin-sha256': s,
  'dock-allow-insecure': b,
  'tls-cert': s,
  'tls-key': s,
  'case-tag-key': s,
};

async function enrolCommand({ values }: CommandArgs): Promise<void> {
  const endpoint = str(values, 's3-endpoint');
  if (endpoint?.startsWith('http://') && values['dock-allow-insecure'] !== true) {
    throw new AppError(
      'VALIDATION',
      `--s3-endpoint ${endpoint}: plain http:// only with --dock-allow-insecure (a lab or test server; never for real footage)`,
      {
        field: '--s3-endpoint',
      },
    );
  }
  const configFile = str(values, 'config') ?? process.env.VHT_KIT_CONFIG;
  if (!configFile) throw new AppError('VALIDATION', 'name the kit config file: --config FILE or VHT_KIT_CONFIG', { field: '--config' });
  const r = await enrol(
    {
      configFile,
      orgRecipient: need(values, 'org-recipient'),
      kitId: need(values, 'kit-id'),
      trainerPin: need(values, 'trainer-pin'),
      ...(str(values, 'current-pin') ? { currentPin: str(values, 'current-pin')! } : {}),
      sync: syncFlags(values),
      ...(str(values, 'tls-cert') ? { tlsCert: str(values, 'tls-cert')! } : {}),
      ...(str(values, 'tls-key') ? { tlsKey: str(values, 'tls-key')! } : {}),
      ...(str(values, 'case-tag-key') ? { caseTagKey: str(values, 'case-tag-key')! } : {}),
    },
    warnLogger(),
  );
  process.stdout.write(`${r.reenrolled ? 're-enrolled' : 'enrolled'}: config ${configFile}, data ${r.dataDir}\n`);
  process.stdout.write('Wi-Fi passphrase made (kept on re-enrolment): `vht-kit doctor --qr` shows the join code\n');
  process.stdout.write(`HTTPS certificate ${r.tls.action === 'copied' ? 'installed' : r.tls.action}: ${r.tls.cert}\n`);
}

async function exportCommand({ values }: CommandArgs): Promise<void> {
  const from = need(values, 'from');
  if (values.list) {
    const clips = await listClips(from, str(values, 'identity') ? { identityFile: str(values, 'identity')! } : {});
    for (const c of clips) {
      process.stdout.write(
        `${c.kitId}\t${c.clipId}${c.durationMs !== undefined ? `\t${(c.durationMs / 1000).toFixed(1)} s\t${c.caseCode ?? ''}\t${c.markers ?? 0} markers` : ''}\n`,
      );
    }
    process.stderr.write(`${clips.length} clip(s) in ${from}\n`);
    return;
  }
  const r = await exportClip({ identityFile: need(values, 'identity'), from, clipId: need(values, 'clip'), out: need(values, 'out') });
  const audited = await recordExport(
    { kitId: r.kitId, clipId: r.clipId, identityFile: need(values, 'identity'), operator: str(values, 'operator') },
    process.env,
  );
  process.stderr.write(audited.key !== null ? `recorded in the office audit: ${audited.key}\n` : `${audited.reason}\n`);
  process.stdout.write(
    `${r.mp4} (${(r.durationMs / 1000).toFixed(1)} s, ${r.segments} segments verified${r.hasAudio ? ', with sound' : ''})\n${r.csv}\n${r.eaf}\n${r.stills.map((f) => `${f}\n`).join('')}`,
  );
}

/** The kit's own commands, in the order `vht-kit --help` lists them. */
export const KIT_COMMANDS: CliCommand[] = [
  { name: 'serve', usage: 'serve', summary: 'run the kit (camera, store, web server)', options: {}, run: serve },
  {
    name: 'doctor',
    usage: 'doctor [--qr]',
    summary: 'check this machine and the configuration; says how to fix what is wrong',
    details: "--qr  also print the kit's Wi-Fi join code (QR) for the trainer's phone (after enrolment)",
    options: { qr: b },
    run: ({ values }) => doctor(values.qr === true),
  },
  {
    name: 'doctor',
    flag: 'capture-test',
    usage: 'doctor --capture-test [--profiles pi4,pi5,uvc-h264,sim] [--seconds 10]',
    summary: 'run each camera profile against the real camera and microphone and recommend one',
    details: 'The running kit is asked to release the camera first. Exit 0 when a profile is recommended.',
    options: { 'capture-test': b, profiles: s, seconds: s },
    run: ({ values }) => captureTest(str(values, 'profiles'), str(values, 'seconds')),
  },
  {
    name: 'keygen',
    usage: 'keygen --out org.key',
    summary: "at the office: make the organisation's age identity; prints its recipient (age1…)",
    options: { out: s },
    run: async ({ values }) => {
      const out = need(values, 'out');
      const recipient = await keygen(out);
      process.stdout.write(`${recipient}\n`);
      process.stderr.write(`identity written to ${out}; enrol kits with: vht-kit enrol --org-recipient ${recipient} …\n`);
    },
  },
  {
    name: 'enrol',
    usage: 'enrol --org-recipient age1… --kit-id kit-07 --trainer-pin 123456 [--current-pin …] [--config FILE] [sync, dock and TLS options]',
    summary: "write the kit's config (VHT_KIT_CONFIG or --config) and seal its key with the PIN",
    details: `Sync:  --sync-target s3|dir  --s3-endpoint URL --s3-bucket B [--s3-region R] [--s3-prefix P]
       --s3-access-key-id K --s3-secret-access-key S   |   --sync-dir DIR
Dock:  --dock-ca-file F (the office CA, PEM) or --dock-pin-sha256 H (the endpoint's certificate);
       --dock-allow-insecure accepts a plain http:// endpoint (labs and tests only; refused without it)
TLS:   --tls-cert FILE --tls-key FILE  the organisation's HTTPS certificate (else the kit makes its own)
Case tags: --case-tag-key org.key.case-tag  the organisation's case-tag key (keygen writes it beside org.key)
Re-enrolling needs the current PIN (--current-pin); existing clips stay playable.`,
    options: ENROL_OPTIONS,
    run: enrolCommand,
  },
  {
    name: 'pin',
    usage: 'pin --current 123456 --new 654321',
    summary: 'change the trainer PIN (clips stay playable)',
    options: { current: s, new: s },
    run: async ({ values }) => {
      const { config } = loadConfig();
      await changePin(config.dataDir, need(values, 'current'), need(values, 'new'), warnLogger());
      process.stdout.write('PIN changed\n');
    },
  },
  {
    name: 'audit',
    usage: 'audit verify',
    summary: 'check the hash chain of the audit log; exit 0 when it is whole',
    options: {},
    run: async ({ positionals }) => {
      if (positionals[0] !== 'verify') throw new AppError('VALIDATION', 'usage: vht-kit audit verify');
      const { config } = loadConfig();
      const r = verifyAudit(config.dataDir);
      process.stdout.write(r.ok ? `audit log whole: ${r.count} entries\n` : `audit log BROKEN at entry ${r.brokenAt}: ${r.reason}\n`);
      process.exitCode = r.ok ? 0 : 1;
      return Promise.resolve();
    },
  },
  {
    name: 'export',
    usage: 'export --identity org.key --from s3://BUCKET/PREFIX|"s3://BUCKET-PREFIX*"|DIR (--clip ID --out clip.mp4 [--operator ID] | --list)',
    summary: 'at the office: verify, decrypt, join and remux a clip to MP4 (+ markers as .csv and ELAN .eaf)',
    details:
      'S3 settings from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT_URL.\nThe export is recorded in the office audit (VHT_OFFICE_PRIVATE) with the operator from --operator or VHT_OPERATOR.',
    options: { identity: s, from: s, clip: s, out: s, list: b, operator: s },
    run: exportCommand,
  },
  {
    name: 'export',
    flag: 'review',
    usage: 'export --identity org.key --from s3://BUCKET/PREFIX|"s3://BUCKET-PREFIX*"|DIR --review ID --out DIR',
    summary:
      "at the office: a review (nabespreking) as files: each fragment as an MP4 trimmed to its range, the stills as JPEG, notes and the review talk's markers as CSV and ELAN",
    options: { identity: s, from: s, review: s, out: s },
    run: ({ values }) =>
      runReviewExport({ identityFile: need(values, 'identity'), from: need(values, 'from'), reviewId: need(values, 'review'), outDir: need(values, 'out') }),
  },
  {
    name: 'press',
    usage: 'press [--long]',
    summary: 'press the simulated record button of the running kit',
    options: { long: b },
    run: async ({ values }) => {
      const { config } = loadConfig();
      const r = (await sendControl(controlSocketPath(config.dataDir), { cmd: 'press', long: values.long === true }, 15_000)) as {
        before: string;
        after: string;
        clipId: string | null;
      };
      process.stdout.write(`${values.long ? 'long' : 'short'} press: ${r.before} → ${r.after}${r.clipId ? ` (clip ${r.clipId})` : ''}\n`);
    },
  },
  {
    name: 'dock',
    usage: 'dock [on|off]',
    summary: 'put the running kit on its (simulated) dock, or take it off',
    options: {},
    run: async ({ positionals }) => {
      const arg = positionals[0] ?? 'on';
      if (arg !== 'on' && arg !== 'off') throw new AppError('VALIDATION', `dock: say "on" or "off" (got ${JSON.stringify(arg)})`);
      const { config } = loadConfig();
      const r = (await sendControl(controlSocketPath(config.dataDir), { cmd: 'dock', on: arg === 'on' })) as { docked: boolean };
      process.stdout.write(`docked: ${r.docked ? 'yes' : 'no'}\n`);
    },
  },
  {
    name: 'network',
    usage: 'network up|down',
    summary: 'tell the running kit an office network came up (NetworkManager hook)',
    options: {},
    run: async ({ positionals }) => {
      const arg = positionals[0];
      if (arg !== 'up' && arg !== 'down') throw new AppError('VALIDATION', `network: say "up" or "down" (got ${JSON.stringify(arg ?? '')})`);
      const { config } = loadConfig();
      await sendControl(controlSocketPath(config.dataDir), { cmd: 'network', up: arg === 'up' });
      process.stdout.write(`network ${arg}: the kit checks for its office endpoint\n`);
    },
  },
];
