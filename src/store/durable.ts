import { closeSync, fstatSync, fsyncSync, ftruncateSync, openSync, readdirSync, renameSync, writeSync, mkdirSync, rmSync, type Dirent } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';

/** How every temp file of the write paths here starts (`.tmp-<name>-<pid>…`): what recovery removes. */
export const TEMP_PREFIX = '.tmp-';

/** fsyncs a directory so that a rename or a new file in it survives a power cut. */
export function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes a file so that after a crash it is either absent or whole: temp file in the same
 * directory, fsync, rename into place, fsync of the directory.
 */
export async function writeFileDurable(target: string, data: Uint8Array | string, mode = 0o600): Promise<void> {
  const dir = path.dirname(target);
  const tmp = path.join(dir, `${TEMP_PREFIX}${path.basename(target)}-${process.pid}-${Date.now()}`);
  const fh = await open(tmp, 'w', mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (err) {
    await fh.close().catch(() => undefined);
    rmSync(tmp, { force: true });
    throw err;
  }
  await fh.close();
  try {
    renameSync(tmp, target);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  fsyncDir(dir);
}

/** Synchronous variant for small metadata files. */
export function writeFileDurableSync(target: string, data: string | Uint8Array, mode = 0o600): void {
  const dir = path.dirname(target);
  mkdirSync(dir, { recursive: true });
  const tmp = path.join(dir, `${TEMP_PREFIX}${path.basename(target)}-${process.pid}`);
  try {
    const fd = openSync(tmp, 'w', mode);
    try {
      writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, target);
  } catch (err) {
    // a full or failing card leaves no temp file behind
    rmSync(tmp, { force: true });
    throw err;
  }
  fsyncDir(dir);
}

/** Appends one line and fsyncs it (the clip journal). */
export function appendLineDurable(file: string, line: string): void {
  const fd = openSync(file, 'a', 0o600);
  const before = fstatSync(fd).size;
  try {
    writeSync(fd, line.endsWith('\n') ? line : line + '\n');
    fsyncSync(fd);
  } catch (err) {
    // A torn line would run into the next one: cut the file back to where it was.
    try {
      ftruncateSync(fd, before);
    } catch (cut) {
      (err as Error).message += ` (and the torn line could not be cut off: ${(cut as Error).message})`;
    }
    throw err;
  } finally {
    closeSync(fd);
  }
}

/**
 * Removes the temp files a crash left anywhere under `root` (the data dir, at start, while this
 * process holds its lock: no other writer can be half-way). A cut between the temp file's creation
 * and its rename leaves one beside any durable file: a clip's segment, but also a content key, a
 * trainer key during a rotation, the PIN lock-out count or the case list. Returns their paths.
 * Symbolic links are not followed; an entry that vanished meanwhile is skipped.
 */
export function removeTempFiles(root: string): string[] {
  const removed: string[] = [];
  let entries: Dirent[];
  try {
    entries = readdirSync(root, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return removed;
    throw err;
  }
  for (const e of entries) {
    const p = path.join(root, e.name);
    if (e.isDirectory()) removed.push(...removeTempFiles(p));
    else if (e.isFile() && e.name.startsWith(TEMP_PREFIX)) {
      rmSync(p, { force: true });
      removed.push(p);
    }
  }
  return removed;
}
