import { z } from 'zod';

/** The VHT labels a trainer can put on a marker (configurable; the UI shows them as buttons). */
/** An S3 bucket name, or null (sync.s3.bucket, sync.office.bucket). */
const s3BucketName = () =>
  z
    .string()
    .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'an S3 bucket name')
    .nullable()
    .default(null);
/** A key prefix in a bucket (sync.s3.prefix, sync.office.prefix). */
const s3KeyPrefix = () =>
  z
    .string()
    .regex(/^[A-Za-z0-9._/-]*$/, 'letters, digits, ".", "_", "-" and "/"')
    .default('');

export const DEFAULT_MARKER_LABELS = ['initiatief kind', 'ontvangen', 'beurt', 'benoemen', 'instemmen', 'leiding geven'] as const;

export const PROFILES = ['auto', 'sim', 'pi4', 'pi5', 'uvc-h264'] as const;
export type ProfileSetting = (typeof PROFILES)[number];
export type Profile = Exclude<ProfileSetting, 'auto'>;

const port = z.number().int().min(1).max(65535);

/**
 * The one schema of the kit's configuration: types, defaults and validation errors come from here.
 * config/example.yaml documents every key and is tested against these defaults.
 */
export const configSchema = z
  .object({
    kitId: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]{0,40}$/, 'lower-case letters, digits and dashes')
      .default('kit-dev'),
    dataDir: z.string().min(1).default('./data'),
    logLevel: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info'),
    http: z
      .object({
        host: z.string().min(1).default('0.0.0.0'),
        port: port.default(8080),
        tls: z.enum(['auto', 'on', 'off']).default('auto'),
        certFile: z.string().min(1).nullable().default(null),
        keyFile: z.string().min(1).nullable().default(null),
        redirectPort: port.nullable().default(null),
        loopbackPort: port.nullable().default(null),
        allowedHosts: z
          .array(z.string().regex(/^[A-Za-z0-9.-]{1,253}$/, 'a host name like kit-07.local (no port, no scheme)'))
          .max(20)
          .default([]),
      })
      .strict()
      .prefault({}),
    auth: z
      .object({
        pin: z
          .string()
          .regex(/^[0-9]{4,12}$/, '4 to 12 digits')
          .nullable()
          .default(null),
        sessionIdleMinutes: z
          .number()
          .int()
          .min(1)
          .max(24 * 60)
          .default(30),
        lockAfterIdleMinutes: z
          .number()
          .min(0.05)
          .max(24 * 60)
          .default(15),
      })
      .strict()
      .prefault({}),
    capture: z
      .object({
        profile: z.enum(PROFILES).default('auto'),
        device: z.string().min(1).default('/dev/video0'),
        audio: z.boolean().default(true),
        audioDevice: z.string().min(1).default('default'),
        aacEncoder: z.enum(['voaacenc', 'avenc_aac', 'fdkaacenc']).default('voaacenc'),
        width: z.number().int().min(160).max(3840).default(1280),
        height: z.number().int().min(120).max(2160).default(720),
        fps: z.number().int().min(5).max(60).default(25),
        bitrateKbps: z.number().int().min(200).max(20000).default(2500),
        segmentMs: z.number().int().min(500).max(4000).default(1000),
        preRollSeconds: z.number().min(0).max(120).default(10),
        ringDir: z.string().min(1).nullable().default(null),
        armAtStart: z.boolean().default(true),
        playingTimeoutMs: z.number().int().min(1000).max(120000).default(10000),
        restartMinMs: z.number().int().min(50).max(60000).default(500),
        restartMaxMs: z.number().int().min(100).max(600000).default(30000),
      })
      .strict()
      .prefault({}),
    keys: z
      .object({
        orgRecipient: z
          .string()
          .regex(/^age1[02-9ac-hj-np-z]{58}$/, 'an age X25519 recipient (age1… , 62 characters)')
          .nullable()
          .default(null),
      })
      .strict()
      .prefault({}),
    storage: z
      .object({
        reserveMB: z.number().min(0).max(1_000_000).default(512),
      })
      .strict()
      .prefault({}),
    button: z
      .object({
        backend: z.enum(['auto', 'gpio', 'controller', 'sim', 'none']).default('auto'),
        pin: z.number().int().min(0).max(57).default(17),
        activeLow: z.boolean().default(true),
        controllerId: z
          .string()
          .regex(/^[A-Za-z0-9]{1,8}$/)
          .default('1'),
        debounceMs: z.number().int().min(0).max(500).default(30),
        longPressMs: z.number().int().min(100).max(10000).default(1000),
        doublePressMs: z.number().int().min(0).max(2000).default(0),
        shortWhenIdle: z.enum(['start', 'none']).default('start'),
        doubleWhenRecording: z.enum(['stop', 'mark', 'none']).default('stop'),
      })
      .strict()
      .prefault({}),
    leds: z
      .object({
        backend: z.enum(['auto', 'gpio', 'controller', 'sim', 'none']).default('auto'),
        pin: z.number().int().min(0).max(57).default(27),
        activeLow: z.boolean().default(false),
        lowBatteryPercent: z.number().int().min(0).max(100).default(15),
      })
      .strict()
      .prefault({}),
    kitController: z
      .object({
        backend: z.enum(['auto', 'serial', 'sim', 'none']).default('auto'),
        port: z.string().min(1).nullable().default(null),
        baudRate: z.number().int().min(1200).max(1_000_000).default(115200),
        pingIntervalMs: z.number().int().min(500).max(600_000).default(5000),
        checksum: z.boolean().default(true),
      })
      .strict()
      .prefault({}),
    sync: z
      .object({
        target: z.enum(['s3', 'dir', 'off']).default('off'),
        s3: z
          .object({
            endpoint: z.string().url('a URL like https://s3.example.org').nullable().default(null),
            region: z.string().min(1).default('us-east-1'),
            bucket: s3BucketName(),
            prefix: s3KeyPrefix(),
            accessKeyId: z.string().min(1).nullable().default(null),
            secretAccessKey: z.string().min(1).nullable().default(null),
            forcePathStyle: z.boolean().default(true),
          })
          .strict()
          .prefault({}),
        dir: z
          .object({
            path: z.string().min(1).nullable().default(null),
            requireMountPoint: z.boolean().default(true),
          })
          .strict()
          .prefault({}),
        dock: z
          .object({
            caFile: z.string().min(1).nullable().default(null),
            pinSha256: z.string().min(1).nullable().default(null),
            allowInsecure: z.boolean().default(false),
          })
          .strict()
          .prefault({}),
        intervalSeconds: z.number().min(1).max(86_400).default(60),
        concurrency: z.number().int().min(1).max(8).default(2),
        requestTimeoutSeconds: z.number().min(1).max(600).default(60),
        // issue 20: a docked kit fetches what its signed-in trainer needs from the team's kits
        fetch: z
          .object({
            enabled: z.boolean().default(true),
            budgetMB: z.number().int().min(0).max(1_000_000).default(4096),
            /** Replaced by sync.office.bucket (issue 21): accepted only to name the new key in the error. */
            officeBucket: z.unknown().optional(),
          })
          .strict()
          .prefault({}),
        // issue 21: where the kit reads the organisation's erasure notices (before every upload)
        office: z
          .object({
            /** S3: the office bucket, on the same endpoint with the kit's credentials (read only). */
            bucket: s3BucketName(),
            prefix: s3KeyPrefix(),
            /** dir target: the office's directory on the share. */
            path: z.string().min(1).nullable().default(null),
            /** S3: the case inbox bucket (`cases/<tag>/<kit>` markers; the kit's credentials need write there, nothing else). */
            inbox: s3BucketName(),
            /** dir target: the case inbox directory on the share. */
            inboxPath: z.string().min(1).nullable().default(null),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    privacy: z
      .object({
        onWithdrawal: z.enum(['after-upload', 'immediately']).default('after-upload'),
        deleteAfterUploadHours: z
          .number()
          .min(0)
          .max(24 * 365)
          .default(336),
        unusedFragmentDays: z.number().min(1).max(365).default(30),
        afterReviewHeldDays: z.number().min(0).max(365).default(14),
        warnUnuploadedDays: z.number().int().min(1).max(365).default(14),
        retentionIntervalMinutes: z
          .number()
          .min(0.01)
          .max(24 * 60)
          .default(10),
      })
      .strict()
      .prefault({}),
    tv: z
      .object({
        pairingCodeMinutes: z.number().min(1).max(120).default(10),
      })
      .strict()
      .prefault({}),
    cec: z
      .object({
        mode: z.enum(['auto', 'on', 'off']).default('auto'),
        device: z.string().min(1).default('/dev/cec0'),
        osdName: z
          .string()
          .regex(/^[\x20-\x7e]{1,14}$/, '1 to 14 printable ASCII characters')
          .default('VHT Kit'),
      })
      .strict()
      .prefault({}),
    hotspot: z
      .object({
        enabled: z.boolean().default(false),
        ssid: z.string().min(1).max(32).nullable().default(null),
        interface: z
          .string()
          .regex(/^[A-Za-z0-9_.-]{1,15}$/, 'a network interface like wlan0')
          .default('wlan0'),
        security: z.enum(['wpa2', 'wpa3']).default('wpa2'),
      })
      .strict()
      .prefault({}),
    markers: z
      .object({
        labels: z
          .array(z.string().min(1).max(40))
          .min(1)
          .max(30)
          .default([...DEFAULT_MARKER_LABELS]),
      })
      .strict()
      .prefault({}),
    playback: z
      .object({
        markerLeadInMs: z.number().int().min(0).max(10_000).default(3000),
        fragmentLeadOutMs: z.number().int().min(0).max(10_000).default(7000),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.sync.target === 's3') {
      for (const key of ['endpoint', 'bucket', 'accessKeyId', 'secretAccessKey'] as const) {
        if (c.sync.s3[key] === null) ctx.addIssue({ code: 'custom', path: ['sync', 's3', key], message: 'needed for sync.target "s3"', input: null });
      }
      const ep = c.sync.s3.endpoint;
      if (ep?.startsWith('http://') && !c.sync.dock.allowInsecure) {
        ctx.addIssue({
          code: 'custom',
          path: ['sync', 's3', 'endpoint'],
          message: 'plain http:// only with sync.dock.allowInsecure: true (labs and tests)',
          input: ep,
        });
      }
    }
    if (c.sync.fetch.officeBucket !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['sync', 'fetch', 'officeBucket'],
        message: `was replaced by sync.office.bucket (one office bucket for the kit directory and the erasure notices): move ${JSON.stringify(c.sync.fetch.officeBucket)} there`,
        input: c.sync.fetch.officeBucket,
      });
    }
    if (c.sync.target === 'dir' && c.sync.dir.path === null) {
      ctx.addIssue({ code: 'custom', path: ['sync', 'dir', 'path'], message: 'needed for sync.target "dir"', input: null });
    }
  });

export type Config = z.infer<typeof configSchema>;

/** Environment variables that override one config key each (the value is read as a YAML scalar). */
export const ENV_KEYS: Record<string, string> = {
  VHT_KIT_ID: 'kitId',
  VHT_KIT_DATA_DIR: 'dataDir',
  VHT_KIT_LOG_LEVEL: 'logLevel',
  VHT_KIT_HOST: 'http.host',
  VHT_KIT_PORT: 'http.port',
  VHT_KIT_TLS: 'http.tls',
  VHT_KIT_REDIRECT_PORT: 'http.redirectPort',
  VHT_KIT_LOOPBACK_PORT: 'http.loopbackPort',
  VHT_KIT_CEC: 'cec.mode',
  VHT_KIT_HOTSPOT: 'hotspot.enabled',
  VHT_KIT_PIN: 'auth.pin',
  VHT_KIT_PROFILE: 'capture.profile',
  VHT_KIT_CAMERA: 'capture.device',
  VHT_KIT_RING_DIR: 'capture.ringDir',
  VHT_KIT_PREROLL_SECONDS: 'capture.preRollSeconds',
  VHT_KIT_ARM_AT_START: 'capture.armAtStart',
  VHT_KIT_ORG_RECIPIENT: 'keys.orgRecipient',
  VHT_KIT_STORAGE_RESERVE_MB: 'storage.reserveMB',
  VHT_KIT_SERIAL_PORT: 'kitController.port',
  VHT_KIT_SYNC_TARGET: 'sync.target',
  VHT_KIT_S3_ENDPOINT: 'sync.s3.endpoint',
  VHT_KIT_S3_REGION: 'sync.s3.region',
  VHT_KIT_S3_BUCKET: 'sync.s3.bucket',
  VHT_KIT_S3_PREFIX: 'sync.s3.prefix',
  VHT_KIT_S3_ACCESS_KEY_ID: 'sync.s3.accessKeyId',
  VHT_KIT_S3_SECRET_ACCESS_KEY: 'sync.s3.secretAccessKey',
  VHT_KIT_SYNC_DIR: 'sync.dir.path',
  VHT_KIT_DOCK_CA_FILE: 'sync.dock.caFile',
  VHT_KIT_DOCK_PIN_SHA256: 'sync.dock.pinSha256',
  VHT_KIT_DOCK_ALLOW_INSECURE: 'sync.dock.allowInsecure',
  VHT_KIT_BUTTON_PIN: 'button.pin',
};

/** Keys whose value is a string even when it looks like a number (a PIN of digits, say). */
export const STRING_KEYS = new Set([
  'auth.pin',
  'kitId',
  'dataDir',
  'http.host',
  'capture.device',
  'capture.ringDir',
  'kitController.port',
  'sync.s3.endpoint',
  'sync.s3.region',
  'sync.s3.bucket',
  'sync.s3.prefix',
  'sync.s3.accessKeyId',
  'sync.s3.secretAccessKey',
  'sync.dir.path',
  'sync.dock.caFile',
  'sync.dock.pinSha256',
  'http.certFile',
  'http.keyFile',
  'cec.device',
  'cec.osdName',
  'hotspot.ssid',
  'hotspot.interface',
]);
