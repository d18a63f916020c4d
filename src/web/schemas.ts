/**
 * The HTTP API's shapes, one place: the routes declare these as their schemas (validation,
 * response checks, the OpenAPI document), and the UI imports the types below (`import type`), so
 * that no shape is copied by hand.
 */
import { z } from 'zod';
import { ErrorCodes, type ErrorCode } from '../core/errors.js';
import { TV_ACTIONS, TV_SOURCES } from '../core/events.js';
import { CLIP_ID_PATTERN } from '../core/media.js';
import { REVIEW_LABEL_IDS } from '../core/vht-labels.js';
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
/** A fragment, kept still or review id (the same form as a clip id). */
export const fragmentId = z.string().regex(CLIP_ID_PATTERN, 'a fragment id (10–32 lower-case letters and digits)');
export const keptStillId = z.string().regex(CLIP_ID_PATTERN, 'a kept still id (10–32 lower-case letters and digits)');
export const reviewId = z.string().regex(CLIP_ID_PATTERN, 'a review id (10–32 lower-case letters and digits)');

export const emptyBody = z.object({}).strict();
export const pinBody = z.object({ pin: z.string().regex(/^[0-9]{4,12}$/, '4 to 12 digits') }).strict();
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

export const sessionReply = z.object({ role: z.enum(['trainer', 'viewer']), csrf: z.string(), locked: z.boolean(), trainerId: z.string().optional() });

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
export const startBody = z
  .object({
    caseCode: caseCodeSchema.nullable().optional(),
    /** The review talk (issue 19): the take records the review being presented (purpose supervision). */
    reviewId: reviewId.optional(),
  })
  .strict();
export const startReply = z.object({ clipId: z.string() });
export const stopReply = z.object({ clipId: z.string(), durationMs: z.number() });
export const markerReply = z.object({ markerId: z.number(), offsetMs: z.number() });

// --- clips ---

/** Where a clip is (issue 19): on the kit or not, at the organisation or not, and what of it is kept for a review. */
export const clipPlace = z
  .object({
    onKit: z.boolean().describe('the raw footage is on the kit'),
    atOrganisation: z.boolean().describe('the organisation confirmed the upload'),
    fragments: z.number().int().describe('fragments of this clip kept on the kit'),
    keptStills: z.number().int().describe('stills of this clip kept on the kit'),
  })
  .meta({ id: 'ClipPlace' });

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
    place: clipPlace,
  })
  .meta({ id: 'ClipSummary' });
export const clipListQuery = z
  .object({
    limit: z.coerce.number().int().min(1).max(1000).default(200),
    offset: z.coerce.number().int().min(0).default(0),
  })
  .strict();
/** A raw clip erased from the kit (at the organisation) of which fragments or kept stills are still here. */
export const removedClipSummary = z
  .object({
    id: z.string(),
    caseCode: z.string().nullable(),
    visitId: z.number().nullable(),
    createdAt: z.number(),
    durationMs: z.number(),
    place: clipPlace,
  })
  .meta({ id: 'RemovedClipSummary' });
export const clipListReply = z.object({ clips: z.array(clipSummary), removed: z.array(removedClipSummary) });
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

/** `{ clipId }` shows a whole clip; `{ reviewId, item }` shows item `item` (0-based) of a review. */
export const presentBody = z
  .object({
    clipId: clipId.optional(),
    reviewId: reviewId.optional(),
    item: z.number().int().min(0).max(999).optional(),
  })
  .strict()
  .superRefine((b, ctx) => {
    const issue = (path: string, message: string, reason: string) =>
      ctx.addIssue({ code: 'custom', path: [path], message, input: undefined, params: { reason } });
    if (b.clipId !== undefined && (b.reviewId !== undefined || b.item !== undefined))
      issue('clipId', 'either clipId, or reviewId with item', 'present_clip_or_review');
    else if (b.clipId !== undefined) return;
    else if (b.reviewId === undefined && b.item !== undefined) issue('reviewId', 'needed with item', 'review_needed_for_item');
    else if (b.reviewId === undefined) issue('clipId', 'give clipId, or reviewId with item', 'present_clip_or_review');
    else if (b.item === undefined) issue('item', 'needed with reviewId (0-based index of the item)', 'item_needed_for_review');
  });
/** The player state the TV follows (loop range and position in seconds of the presented playlist). */
export const playerState = z
  .object({
    playing: z.boolean(),
    rate: z.number(),
    positionS: z.number(),
    loop: z.tuple([z.number(), z.number()]).nullable(),
  })
  .meta({ id: 'PlayerState' });
/** What is presented of a review: the item, its footage and its range (the note stays on the phone). */
export const presentedItem = z
  .object({
    reviewId: z.string(),
    item: z.number().int(),
    count: z.number().int(),
    kind: z.enum(['fragment', 'still']),
    /** A fragment's id (play /api/fragments/:id/index.m3u8) or a kept still's id (/api/stills/:id/image.jpg). */
    refId: z.string(),
    label: z.string().nullable().describe('a label id of the VHT vocabulary (src/core/vht-labels.ts)'),
    /** Fragments: the range to loop, in seconds of the fragment's playlist. */
    range: z.tuple([z.number(), z.number()]).nullable(),
  })
  .meta({ id: 'PresentedItem' });
export const presentReply = z.object({
  clipId: z.string().nullable(),
  review: presentedItem.nullable().optional(),
  player: playerState.optional(),
});
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
  /** Issue 19: the presented review item (null for a whole clip or nothing), and the player state to follow. */
  review: presentedItem.nullable().optional(),
  player: playerState.optional(),
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

// --- issue 20: team kits (sign-in by trainer id) ---

/** A pseudonymous trainer id: `T-` and 3 to 6 digits, never a name (TRAINER_ID_PATTERN in src/store/keys.ts). */
export const trainerIdSchema = z.string().regex(/^T-[0-9]{3,6}$/, 'a trainer id like T-017 (T- and 3 to 6 digits)');
/**
 * Login: the trainer's id (none: the kit's first trainer, as on a one-PIN kit) and PIN, and the
 * phone's time (ms since 1970) for a kit whose clock is not synchronised (issue 18).
 */
export const loginBody = pinBody.extend({ trainerId: trainerIdSchema.optional(), clientTime: z.number().int().min(0).max(8.64e15).optional() }).strict();

// --- issue 19: fragments, kept stills, reviews (the review cycle) ---

export const fragmentIdParams = z.object({ id: fragmentId }).strict();
export const keptStillIdParams = z.object({ id: keptStillId }).strict();
export const reviewIdParams = z.object({ id: reviewId }).strict();
export const fragmentSegmentParams = z.object({ id: fragmentId, file: z.string().regex(/^(0|[1-9][0-9]{0,6})\.ts$/, 'a segment name like 0.ts') }).strict();
/** A label of the VHT vocabulary (src/core/vht-labels.ts), or null. */
export const reviewLabel = z.enum(REVIEW_LABEL_IDS);
/** Free text of the trainer (a question for the parents, a caption): stored only encrypted, never logged. */
export const noteText = z.string().trim().min(1, 'empty: send null to remove the note').max(1000, 'at most 1000 characters');
const msTime = z
  .number()
  .int()
  .min(0)
  .max(24 * 3600_000);

/** Save a fragment: from an in and out point, or from a marker (lead-in and lead-out from the config). */
export const fragmentCreateBody = z
  .object({
    inMs: msTime.optional(),
    outMs: msTime.optional(),
    markerId: z.number().int().min(1).optional(),
    label: reviewLabel.nullable().optional(),
    note: noteText.nullable().optional(),
  })
  .strict()
  .superRefine((b, ctx) => {
    const issue = (path: string, message: string, reason: string) =>
      ctx.addIssue({ code: 'custom', path: [path], message, input: undefined, params: { reason } });
    if (b.markerId !== undefined) {
      if (b.inMs !== undefined || b.outMs !== undefined) issue('markerId', 'either markerId, or inMs with outMs', 'fragment_marker_or_range');
      return;
    }
    if (b.inMs === undefined) issue('inMs', 'needed (or give markerId)', 'fragment_in_needed');
    else if (b.outMs === undefined) issue('outMs', 'needed with inMs', 'fragment_out_needed');
    else if (b.outMs <= b.inMs) issue('outMs', 'an out point after the in point', 'fragment_out_before_in');
    else if (b.outMs - b.inMs > 120_000) issue('outMs', 'a fragment of at most 120 s (a moment, usually ≤ 10 s)', 'fragment_too_long');
  });
export const fragmentPatchBody = z
  .object({ label: reviewLabel.nullable().optional(), note: noteText.nullable().optional() })
  .strict()
  .refine((b) => b.label !== undefined || b.note !== undefined, { message: 'give label or note', params: { reason: 'nothing_to_change' } });
/** What a fragment and a kept still both say of themselves; each reply adds its own fields. */
const keptItemFields = {
  id: z.string(),
  clipId: z.string(),
  caseCode: z.string(),
  createdAt: z.number(),
  /** When the organisation confirmed its metadata (null until then). */
  confirmedAt: z.number().nullable(),
  deleteRequested: z.boolean(),
  /** The reviews it is in (ids). */
  reviews: z.array(z.string()),
};
export const fragmentReply = z
  .object({
    ...keptItemFields,
    /** The range in ms from the source clip's first segment (as markers are). */
    inMs: z.number(),
    outMs: z.number(),
    /** The clip time (ms) where the fragment's playlist begins: play from inMs − playlistStartMs, loop to outMs − playlistStartMs. */
    playlistStartMs: z.number(),
    /** The playlist's length (ms): the copied segments that overlap the range. */
    playlistDurationMs: z.number(),
    label: reviewLabel.nullable(),
    /** The note (decrypted for the signed-in trainer); null when there is none. */
    note: z.string().nullable(),
    bytes: z.number(),
  })
  .meta({ id: 'Fragment' });
export const fragmentListReply = z.object({ fragments: z.array(fragmentReply) });

/** Keep a clip's still for a review (its own key), with an optional caption. */
export const keepStillBody = z.object({ stillId: z.number().int().min(1), caption: noteText.nullable().optional() }).strict();
export const keptStillPatchBody = z.object({ caption: noteText.nullable() }).strict();
export const keptStillReply = z
  .object({
    ...keptItemFields,
    /** The clip's still number it was kept from. */
    stillId: z.number(),
    timeMs: z.number(),
    caption: z.string().nullable(),
  })
  .meta({ id: 'KeptStill' });
export const keptStillListReply = z.object({ stills: z.array(keptStillReply) });

/** An item of a review as the phone sends it: a fragment or a kept still of any clip of the review's case. */
export const reviewItemRef = z.object({ kind: z.enum(['fragment', 'still']), id: fragmentId }).strict();
export const reviewItemsSchema = z.array(reviewItemRef).max(50, 'at most 50 items in a review');
export const reviewCreateBody = z
  .object({
    caseCode: caseCodeSchema,
    /** The visit it is planned for: a day (YYYY-MM-DD), optional. */
    plannedFor: z
      .string()
      .regex(/^\d{4}-\d{2}-\d{2}$/, 'a day as YYYY-MM-DD')
      .nullable()
      .optional(),
    items: reviewItemsSchema.optional(),
  })
  .strict();
/** Reorder = the whole item list in its new order (add and remove likewise). */
export const reviewPatchBody = z
  .object({
    plannedFor: z
      .string()
      .regex(/^\d{4}-\d{2}-\d{2}$/, 'a day as YYYY-MM-DD')
      .nullable()
      .optional(),
    items: reviewItemsSchema.optional(),
  })
  .strict()
  .refine((b) => b.plannedFor !== undefined || b.items !== undefined, { message: 'give items or plannedFor', params: { reason: 'nothing_to_change' } });
export const reviewListQuery = z.object({ caseCode: caseCodeSchema.optional() }).strict();
export const reviewItemReply = z
  .object({
    position: z.number().int(),
    kind: z.enum(['fragment', 'still']),
    id: z.string(),
    clipId: z.string(),
    /** The source clip's visit (local id) and its time, so visits can be shown side by side. */
    visitId: z.number().nullable(),
    clipCreatedAt: z.number(),
    label: reviewLabel.nullable(),
    inMs: z.number().nullable(),
    outMs: z.number().nullable(),
    timeMs: z.number().nullable(),
  })
  .meta({ id: 'ReviewItem' });
export const reviewReply = z
  .object({
    id: z.string(),
    caseCode: z.string(),
    plannedFor: z.string().nullable(),
    createdAt: z.number(),
    heldAt: z.number().nullable(),
    confirmedAt: z.number().nullable(),
    items: z.array(reviewItemReply),
  })
  .meta({ id: 'Review' });
export const reviewListReply = z.object({ reviews: z.array(reviewReply) });
/** A key on the TV (remote, HDMI-CEC) within a presented review: `marker` ±1 steps items, `rate` changes speed. */
export const tvKeyBody = z
  .object({
    action: z.enum(['play', 'pause', 'toggle', 'rate', 'marker']),
    rate: z.union([z.literal(0.25), z.literal(0.5), z.literal(1)]).optional(),
    direction: z.union([z.literal(-1), z.literal(1)]).optional(),
  })
  .strict()
  .superRefine((b, ctx) => {
    const key = b.action === 'rate' ? 'rate' : b.action === 'marker' ? 'direction' : null;
    if (key && b[key] === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: [key],
        message: `needed for action "${b.action}"`,
        input: undefined,
        params: { reason: `${key}_needed_for_action` },
      });
    }
  });

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
export type ClipPlace = z.infer<typeof clipPlace>;
export type RemovedClip = z.infer<typeof removedClipSummary>;
export type PlayerState = z.infer<typeof playerState>;
export type PresentedItem = z.infer<typeof presentedItem>;
export type PresentReply = z.infer<typeof presentReply>;
export type Fragment = z.infer<typeof fragmentReply>;
export type FragmentCreate = z.input<typeof fragmentCreateBody>;
export type FragmentPatch = z.input<typeof fragmentPatchBody>;
export type KeptStill = z.infer<typeof keptStillReply>;
export type Review = z.infer<typeof reviewReply>;
export type ReviewItem = z.infer<typeof reviewItemReply>;
export type ReviewItemRef = z.infer<typeof reviewItemRef>;
export type ReviewCreate = z.input<typeof reviewCreateBody>;
export type ReviewPatch = z.input<typeof reviewPatchBody>;
export type TvKey = z.input<typeof tvKeyBody>;
