// Turns the kit's JSON log lines (stdin) into short human lines for a terminal:
// "12:03:04 info  web  kit ready  profile=sim port=8080". Lines that are not JSON pass as they are.
import { createInterface } from 'node:readline';

const COLOUR = { debug: '\x1b[2m', info: '', warn: '\x1b[33m', error: '\x1b[31m' };
const tty = process.stdout.isTTY;

/** One log record as a line: time, level, component, message, then the other fields as key=value. */
function human(rec) {
  const { t, level, msg, component, ...rest } = rec;
  const time = typeof t === 'string' ? t.slice(11, 19) : '';
  const fields = Object.entries(rest)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  const line = `${time} ${String(level ?? '').padEnd(5)} ${component ? `${component}  ` : ''}${msg ?? ''}${fields ? `  ${fields}` : ''}`;
  return tty && COLOUR[level] ? `${COLOUR[level]}${line}\x1b[0m` : line;
}

for await (const line of createInterface({ input: process.stdin })) {
  let rec = null;
  try {
    rec = line.startsWith('{') ? JSON.parse(line) : null;
  } catch {
    rec = null; // not a log record: shown as it is
  }
  process.stdout.write(`${rec && typeof rec === 'object' ? human(rec) : line}\n`);
}
