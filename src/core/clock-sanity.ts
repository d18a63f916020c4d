/**
 * Clock sanity on a kit without a real-time clock: until NTP has set the time after boot, the Pi's
 * clock starts from the last shutdown (fake-hwclock) or from 1970. An S3 upload signed (SigV4) with
 * such a time is refused by the storage, and audit entries would carry wrong dates, so uploads wait
 * until the year is at least the one this software was built in.
 */

/** The year this release was built; any earlier clock is certainly wrong. Raised with each release. */
export const BUILD_YEAR = 2026;

/** Null when the time looks sane, else a message that says what is wrong and how to fix it. */
export function clockProblem(nowMs: number, buildYear = BUILD_YEAR): string | null {
  const d = new Date(nowMs);
  if (Number.isFinite(nowMs) && d.getUTCFullYear() >= buildYear) return null;
  const shown = Number.isFinite(nowMs) ? d.toISOString() : String(nowMs);
  return (
    `the kit's clock says ${shown}, before ${buildYear} when this software was built: the kit has no ` +
    'battery clock and has not synchronised its time yet. Uploads wait, because the storage refuses ' +
    'requests signed with a wrong time (SigV4). Connect the kit to a network with internet access so ' +
    'it can set its clock (check: timedatectl), then try again'
  );
}
