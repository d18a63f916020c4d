#!/usr/bin/env node
// Clip completeness and stop → ENDLIST latency.
//
//   node bench/completeness.mjs [--takes 5] [--take-seconds 10] [--long-seconds 300] [--port 18210]
//
// For each take: W = wall time from sending the start request to sending the stop request; the
// recorded duration (sum of the clip's segment durations) must be ≥ W + preRoll − 100 ms; the first
// segment must cover requestedAt − preRoll and start no more than one segment (+100 ms) before it;
// the last segment must cover the stop time and end no more than one segment (+100 ms) after it.
// ENDLIST latency = from sending POST /api/recording/stop until a GET of index.m3u8 (polled every
// 20 ms, in parallel with the stop request) contains #EXT-X-ENDLIST. Target: ≤ 1000 ms.
import { log, numArg, round, runBench, sleep, startService, machineInfo, waitForPreRoll, mean } from './lib.mjs';

const TAKES = numArg('takes', 5);
const TAKE_S = numArg('take-seconds', 10);
const LONG_S = numArg('long-seconds', 300);
const PORT = numArg('port', 18210);
const POLL_MS = 20;
const ENDLIST_TARGET_MS = 1000;
const TOL_MS = 100;

async function pollEndlist(api, clipId, since, timeoutMs = 30_000) {
  let polls = 0;
  for (;;) {
    const sent = Date.now();
    const text = await api.get(`/api/clips/${clipId}/index.m3u8`);
    polls += 1;
    const got = Date.now();
    if (text.includes('#EXT-X-ENDLIST')) return { latencyMs: got - since, polls, playlist: text };
    if (got - since > timeoutMs) throw new Error(`no #EXT-X-ENDLIST ${timeoutMs} ms after stop (clip ${clipId})`);
    await sleep(Math.max(0, POLL_MS - (Date.now() - sent)));
  }
}

async function take(svc, label, seconds, preRollMs, segmentMs) {
  const { api } = svc;
  const startSent = Date.now();
  const { clipId } = await api.post('/api/recording/start');
  const startAnswered = Date.now();
  log(`${label}: clip ${clipId} started (${startAnswered - startSent} ms), recording ${seconds} s`);
  await sleep(startSent + seconds * 1000 - Date.now());
  const stopSent = Date.now();
  const stopReq = api.post('/api/recording/stop').then((r) => ({ ...r, answeredAt: Date.now() }));
  const [endlist, stopRes] = await Promise.all([pollEndlist(api, clipId, stopSent), stopReq]);
  const clip = await api.get(`/api/clips/${clipId}`);
  const W = stopSent - startSent;
  const segs = clip.segments;
  const recordedMs = segs.reduce((a, s) => a + s.durationMs, 0);
  const first = segs[0];
  const last = segs[segs.length - 1];
  const requestedAt = clip.createdAt; // createdAt = requestedAt = the server's time of the start request
  const fromMs = requestedAt - preRollMs;
  const headLeadMs = fromMs - first.startMs; // ≥ 0: the pre-roll is covered; ≤ one segment: not more
  const lastEnd = last.startMs + last.durationMs;
  const tailOverMs = lastEnd - clip.stoppedAt; // ≥ 0 (service tolerance −40): stop covered; ≤ one segment
  let maxGapMs = 0;
  let maxOverlapMs = 0;
  for (let i = 1; i < segs.length; i++) {
    const d = segs[i].startMs - (segs[i - 1].startMs + segs[i - 1].durationMs);
    maxGapMs = Math.max(maxGapMs, d);
    maxOverlapMs = Math.max(maxOverlapMs, -d);
  }
  const playlistSegments = (endlist.playlist.match(/^#EXTINF:/gm) ?? []).length;
  const checks = {
    complete: clip.state === 'complete',
    recordedCoversWallPlusPreRoll: recordedMs >= W + preRollMs - TOL_MS,
    firstSegmentCoversPreRoll: headLeadMs >= 0,
    firstSegmentAtMostOneSegmentEarly: headLeadMs <= segmentMs + TOL_MS,
    lastSegmentCoversStop: tailOverMs >= -40,
    lastSegmentAtMostOneSegmentLate: tailOverMs <= segmentMs + TOL_MS,
    noGaps: maxGapMs <= 1, // startMs/durationMs are rounded to ms
    requestTimesConsistent: requestedAt >= startSent - 5 && requestedAt <= startAnswered + 5 && clip.stoppedAt >= stopSent - 5,
    playlistListsAllSegments: playlistSegments === segs.length,
    endlistWithinTarget: endlist.latencyMs <= ENDLIST_TARGET_MS,
  };
  const pass = Object.values(checks).every(Boolean);
  const r = {
    label,
    clipId,
    requestedSeconds: seconds,
    wallMs: W,
    preRollMs,
    recordedMs,
    recordedMinusWallMs: recordedMs - W,
    serviceDurationMs: clip.durationMs,
    segments: segs.length,
    firstSegmentMs: first.durationMs,
    lastSegmentMs: last.durationMs,
    headLeadMs,
    tailOverMs,
    maxGapMs,
    maxOverlapMs,
    startAnswerMs: startAnswered - startSent,
    stopAnswerMs: stopRes.answeredAt - stopSent,
    endlistMs: endlist.latencyMs,
    endlistPolls: endlist.polls,
    checks,
    pass,
  };
  log(
    `${label}: W=${W} recorded=${recordedMs} (+${recordedMs - W}) segs=${segs.length} head=${headLeadMs} tail=${tailOverMs} ` +
      `stop→answer=${r.stopAnswerMs} stop→ENDLIST=${endlist.latencyMs} ms ${pass ? 'PASS' : 'FAIL ' + JSON.stringify(checks)}`,
  );
  return r;
}

runBench('completeness', async () => {
  const machine = machineInfo();
  const svc = await startService({ port: PORT, name: 'completeness' });
  const preRollMs = svc.status.preRollMs;
  const segmentMs = 1000; // default capture.segmentMs
  const takes = [];
  const plan = [];
  for (let i = 0; i < TAKES; i++) plan.push([`short-${i + 1}`, TAKE_S]);
  if (LONG_S > 0) plan.push([`long-1`, LONG_S]);
  for (const [label, seconds] of plan) {
    // The ring must hold a full pre-roll that no earlier take has taken.
    await waitForPreRoll(preRollMs, segmentMs);
    takes.push(await take(svc, label, seconds, preRollMs, segmentMs));
  }
  const exit = await svc.stop();
  const short = takes.filter((t) => t.label.startsWith('short'));
  const long = takes.filter((t) => t.label.startsWith('long'));
  const summary = (ts) =>
    ts.length
      ? {
          takes: ts.length,
          endlistMsMax: Math.max(...ts.map((t) => t.endlistMs)),
          endlistMsMean: round(mean(ts.map((t) => t.endlistMs)), 1),
          stopAnswerMsMax: Math.max(...ts.map((t) => t.stopAnswerMs)),
          recordedMinusWallMsMin: Math.min(...ts.map((t) => t.recordedMinusWallMs)),
          allChecksPass: ts.every((t) => t.pass),
        }
      : null;
  return {
    machine,
    params: { takes: TAKES, takeSeconds: TAKE_S, longSeconds: LONG_S, preRollMs, segmentMs, pollMs: POLL_MS, toleranceMs: TOL_MS },
    targets: { endlistMs: ENDLIST_TARGET_MS, recorded: 'recordedMs ≥ W + preRoll − 100 ms' },
    short: summary(short),
    long: summary(long),
    takes,
    serviceExit: exit,
    pass: takes.every((t) => t.pass),
  };
});
