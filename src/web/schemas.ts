/**
 * The HTTP API's shapes, one place: the routes declare these as their schemas (validation,
 * response checks, the OpenAPI document), and the UI imports the types below (`import type`), so
 * that no shape is copied by hand.
 */
import { z } from 'zod';
import { ErrorCodes, type ErrorCode } from '../core/errors.js';
import { TV_ACTIONS, TV_SOURCES } from '../core/events.js';
import { CLIP_ID_PATTERN } from '../core/media.js';
import { TRAJECTORIES } from '../store/migrations.js';

// --- building blocks ---

/** A pseudonymous case code: letters, digits, dash, dot, underscore; no spaces (names do not fit). */
export const caseCodeSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{1,31}$/, 'a pseudonymous case code: 2–32 letters, digits, ".", "_" or "-", no spaces or names')
  .refine((c) => (c.match(/[0-9]/g) ?? []).length >= 2, {
    message: 'a pseudonymous case code with at least two digits (e.g. GZ-0042), never a name',
    params: { reason: 'case_code_needs_digits' },
  });

export const clipId = z.string().regex(CLIP_ID_PATTERN, 'a clip id (10–32 lower-case letters and digits)');
export const clipIdParams = z.object({ id: clipId }).strict();
export const emptyBody = z.object({}).strict();
export const pinBody = z.object({ pin: z.string().regex(/^[0-9]{4,12}$/, '4 to 12 digits') }).strict();
/** The login: the PIN, and the phone's time (ms since 1970) for a kit whose clock is not synchronised. */
export const loginBody = pinBody.extend({ clientTime: z.number().int().min(0).max(8.64e15).optional() }).strict();
export const trajectorySchema = z.enum(TRAJECTORIES);
export const consentSchema = z.object({ recording: z.boolean(), review: z.boolean(), supervision: z.boolean(), training: z.boolean() }).strict();
const consentScope = z.enum(['recording', 'review', 'supervision', 'training']);
/** An answer without a body (204). */
export const noContent = z.null().describe('no body');
/** A non-JSON answer (playlist text, MPEG-TS or JPEG bytes): documented, not serialized. */
export const mediaBody = (description: string) => z.string().describe(description);

/** `{ error: { code, message, field?, reason?, params? } }`: every error reply. */
export const errorReply = z
  .object({
    error: z.object({
      code: z.enum(Object.keys(ErrorCodes) as [ErrorCode, ...ErrorCode[]]),
      message: z.string(),
      field: z.string().optional(),
      reason: z.string().optional().describe('a stable, specific name of what is wrong, for translation'),
      params: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])).optional(),
    }),
  })
  .meta({ id: 'ErrorReply' });

/** The response map of a route: its own answers plus the kit's error body for 4xx and 5xx. */
export function replies<T extends Record<number, z.ZodType>>(ok: T): T & { '4xx': typeof errorReply; '5xx': typeof errorReply } {
  return { ...ok, '4xx': errorReply, '5xx': errorReply };
}

// --- session ---

export const sessionReply = z.object({ role: z.enum(['trainer', 'viewer']), csrf: z.string(), locked: z.boolean() });

// --- recorder ---

export const statusReply = z.object({
  state: z.enum(['idle', 'armed', 'recording', 'error']),
  clipId: z.string().optional(),
  elapsedMs: z.number().optional(),
  clipTimeMs: z.number().optional().describe("the take's position on the clip's time line (0 = first pre-roll frame), as markers count"),
  pressMs: z.number().optional().describe('where the press falls on the clip time line (the pre-roll the take got)'),
  preRollMs: z.number(),
  storage: z.object({ freeBytes: z.number(), minutesLeft: z.number() }),
  camera: z.object({ profile: z.string(), ok: z.boolean(), error: z.string().optional() }),
  locked: z.boolean(),
  uploads: z.object({ pending: z.number(), overdue: z.number() }),
  battery: z.object({ percent: z.number(), charging: z.boolean() }).nullable(),
  docked: z.boolean(),
  time: z
    .object({ source: z.enum(['system', 'phone']), offsetMs: z.number(), setAt: z.number().nullable() })
    .optional()
    .describe("where the kit's time comes from: the system clock, or a trainer's phone at login (offset added)"),
});
export const recorderStateReply = z.object({ state: z.enum(['idle', 'armed', 'recording', 'error']) });
export const startBody = z.object({ caseCode: caseCodeSchema.nullable().optional() }).strict();
export const startReply = z.object({ clipId: z.string() });
export const stopReply = z.object({ clipId: z.string(), durationMs: z.number() });
export const markerReply = z.object({ markerId: z.number(), offsetMs: z.number() });

// --- clips ---

export const clipSummary = z
  .object({
    id: z.string(),
    caseCode: z.string().nullable(),
    visitId: z.number().nullable(),
    state: z.enum(['recording', 'complete', 'recovered']),
    unassigned: z.boolean(),
    createdAt: z.number(),
    startedAt: z.number().nullable(),
    stoppedAt: z.number().nullable(),
    preRollMs: z.number(),
    pressMs: z.number().describe('where the press falls on the clip time line (the pre-roll the take got; 0 without pre-roll)'),
    durationMs: z.number(),
    segmentCount: z.number(),
    markerCount: z.number(),
    bytes: z.number(),
    stopReason: z.string().nullable(),
    consent: z.object({ recording: z.boolean(), review: z.boolean(), supervision: z.boolean(), training: z.boolean() }).nullable(),
    purposes: z.array(consentScope),
    uploaded: z.boolean(),
    deleteRequested: z.boolean(),
  })
  .meta({ id: 'ClipSummary' });
export const clipListQuery = z
  .object({
    limit: z.coerce.number().int().min(1).max(1000).default(200),
    offset: z.coerce.number().int().min(0).default(0),
  })
  .strict();
export const clipListReply = z.object({ clips: z.array(clipSummary) });
export const markerItem = z.object({ id: z.number(), offsetMs: z.number(), label: z.string().nullable(), createdAt: z.number() });
export const stillItem = z.object({ id: z.number(), timeMs: z.number(), createdAt: z.number(), bytes: z.number() });
export const clipDetail = clipSummary.extend({
  segments: z.array(
    z.object({
      seq: z.number(),
      startMs: z.number(),
      durationMs: z.number(),
      bytes: z.number(),
      sha256: z.string(),
      discontinuity: z.boolean(),
    }),
  ),
  markers: z.array(markerItem),
  stills: z.array(stillItem),
});
export const clipMarkerBody = (labels: readonly string[]) =>
  z
    .object({
      offsetMs: z
        .number()
        .int()
        .min(0)
        .max(24 * 3600_000),
      label: markerLabel(labels).nullable(),
    })
    .strict();
/** One of the configured marker labels (the config decides, so the schema is made per app). */
export function markerLabel(labels: readonly string[]) {
  return z.string().refine((l) => labels.includes(l), {
    message: `one of the configured marker labels (${labels.join(', ')})`,
    params: { reason: 'marker_label_unknown', labels: labels.join(',') },
  });
}
export const stillQuery = z
  .object({
    t: z.coerce
      .number()
      .int()
      .min(0)
      .max(24 * 3600_000),
  })
  .strict();
export const stillReply = z.object({ id: z.number(), timeMs: z.number(), createdAt: z.number() });
export const assignBody = z.object({ caseCode: caseCodeSchema }).strict();
export const deleteBody = z.object({ confirm: z.string() }).strict();
export const deleteReply = z.object({ deleted: z.boolean(), message: z.string() });
export const purposesBody = z.object({ supervision: z.boolean(), training: z.boolean() }).strict();
export const segmentParams = z.object({ id: clipId, file: z.string().regex(/^(0|[1-9][0-9]{0,6})\.ts$/, 'a segment name like 0.ts') }).strict();
export const stillParams = z.object({ id: clipId, file: z.string().regex(/^[1-9][0-9]{0,9}\.jpg$/, 'a still name like 1.jpg') }).strict();
export const liveParams = z.object({ name: z.string().regex(/^[0-9]{1,15}\.ts$/, 'a live segment name like 1234.ts') }).strict();

// --- presenting on the TV ---

export const presentBody = z.object({ clipId }).strict();
export const presentReply = z.object({ clipId: z.string().nullable() });
/** What a control command needs besides its action. */
const CONTROL_NEEDS = { rate: 'rate', seek: 'time', step: 'direction', marker: 'direction', loop: 'loop' } as const;
export const controlBody = z
  .object({
    action: z.enum(TV_ACTIONS),
    rate: z.union([z.literal(0.25), z.literal(0.5), z.literal(1)]).optional(),
    time: z
      .number()
      .min(0)
      .max(24 * 3600)
      .optional(),
    direction: z.union([z.literal(-1), z.literal(1)]).optional(),
    loop: z
      .tuple([z.number().min(0), z.number().min(0)])
      .refine(([a, b]) => b > a, { message: 'an end after the start', params: { reason: 'loop_end_before_start' } })
      .nullable()
      .optional(),
  })
  .strict()
  .superRefine((b, ctx) => {
    const key = CONTROL_NEEDS[b.action as keyof typeof CONTROL_NEEDS];
    if (key && b[key] === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: [key],
        message: `needed for action "${b.action}"`,
        input: undefined,
        params: { reason: `${key}_needed_for_action`, action: b.action },
      });
    }
  });
export const controlReply = z.object({ id: z.number() });
export const tvControlEvent = z.object({
  action: z.enum(TV_ACTIONS),
  rate: z.number().optional(),
  time: z.number().optional(),
  direction: z.union([z.literal(-1), z.literal(1)]).optional(),
  loop: z.tuple([z.number(), z.number()]).nullable().optional(),
  source: z.enum(TV_SOURCES),
  id: z.number(),
});

// --- the TV ---

export const pairingReply = z.object({ code: z.string(), expiresAt: z.number() });
export const pairBody = z.object({ code: z.string().regex(/^[0-9]{6}$/, '6 digits') }).strict();
export const tvStateReply = z.object({
  clipId: z.string().nullable(),
  durationMs: z.number(),
  markers: z.array(z.object({ offsetMs: z.number(), label: z.string().nullable() })),
  fps: z.number(),
});
export const hotspotReply = z.object({ ssid: z.string().nullable(), qrSvg: z.string().nullable() });
export const ackBody = z.object({ id: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER) }).strict();

// --- cases, sync, UI config ---

export const caseReply = z.object({
  code: z.string(),
  trajectory: z.string().nullable(),
  consent: consentSchema,
  createdAt: z.number(),
  consentUpdatedAt: z.number().nullable(),
});
export const caseListReply = z.object({ cases: z.array(caseReply) });
export const caseCreateBody = z.object({ code: caseCodeSchema, trajectory: trajectorySchema, consent: consentSchema }).strict();
export const caseCodeParams = z.object({ code: caseCodeSchema }).strict();
export const caseCloseReply = z.object({ closedAt: z.number(), erased: z.array(z.string()), waitingForUpload: z.array(z.string()) });
export const casePatchBody = z.object({ trajectory: trajectorySchema.optional(), consent: consentSchema.partial().optional() }).strict();
/** Office sync progress; the fields beyond `state` depend on the target (loose: none is dropped). */
export const syncReply = z
  .object({
    state: z.string(),
    pending: z.number().optional(),
    waitingForCase: z.number().optional(),
    bytesDone: z.number().optional(),
    bytesTotal: z.number().optional(),
    etaSeconds: z.number().optional(),
    lastError: z.string().optional(),
    docked: z.boolean().optional().describe('on the dock: the same answer as GET /api/status'),
    officeReachable: z.boolean().optional().describe("the last run's check of the office endpoint (absent before the first)"),
    dockReason: z.string().optional(),
    lastSuccessAt: z.number().optional(),
    target: z.string().optional(),
    insecure: z.boolean().optional(),
  })
  .loose();
export const uiConfigReply = z.object({
  markerLabels: z.array(z.string()),
  trajectories: z.array(z.string()),
  consentScopes: z.array(z.string()),
  kitId: z.string(),
  fps: z.number(),
  markerLeadInMs: z.number().describe('a jump to a marker lands this long before it (playback.markerLeadInMs)'),
  fragmentLeadOutMs: z.number().describe('a fragment made from a marker ends this long after it (playback.fragmentLeadOutMs)'),
});
export const healthReply = z.object({ ok: z.boolean() });

// --- the types the UI uses (derived, never copied) ---

export type ErrorReply = z.infer<typeof errorReply>;
export type Session = z.infer<typeof sessionReply>;
export type Status = z.infer<typeof statusReply>;
export type Consent = z.infer<typeof consentSchema>;
export type CaseRow = z.infer<typeof caseReply>;
export type ClipSummary = z.infer<typeof clipSummary>;
export type Marker = z.infer<typeof markerItem>;
export type Still = z.infer<typeof stillItem>;
export type ClipDetail = z.infer<typeof clipDetail>;
export type UiConfig = z.infer<typeof uiConfigReply>;
export type SyncStatus = z.infer<typeof syncReply>;
export type TvState = z.infer<typeof tvStateReply>;
export type ControlBody = z.input<typeof controlBody>;
export type TvControlEvent = z.infer<typeof tvControlEvent>;
export type PairingReply = z.infer<typeof pairingReply>;
export type HotspotReply = z.infer<typeof hotspotReply>;
export type DeleteReply = z.infer<typeof deleteReply>;
export type StillReply = z.infer<typeof stillReply>;
export type MarkerReply = z.infer<typeof markerReply>;
