import { statfsSync } from 'node:fs';

export interface StorageInfo {
  freeBytes: number;
  /** Bytes usable for footage: free space above the reserve. */
  usableBytes: number;
  /** Minutes of footage left at the current bitrate. */
  minutesLeft: number;
}

/** Free space on the data dir's file system, the reserve, and minutes left at a bitrate. */
export class StorageGuard {
  constructor(
    private readonly dataDir: string,
    private readonly reserveBytes: number,
  ) {}

  info(bytesPerSecond: number): StorageInfo {
    const st = statfsSync(this.dataDir);
    const freeBytes = Number(st.bavail) * Number(st.bsize);
    const usableBytes = Math.max(0, freeBytes - this.reserveBytes);
    const minutesLeft = bytesPerSecond > 0 ? Math.floor(usableBytes / bytesPerSecond / 60) : 0;
    return { freeBytes, usableBytes, minutesLeft };
  }

  /** The rule a refused take broke, in words (507): free space, the reserve, what a take needs. */
  refusal(nextBytes: number): string {
    const mb = (b: number) => Math.round(b / 1e6);
    const info = this.info(1);
    return `not enough free space to record: ${mb(info.freeBytes)} MB free on the data dir; a take needs more than the storage reserve `
      + `(storage.reserveMB = ${Math.round(this.reserveBytes / 1048576)} MB) plus ${mb(nextBytes)} MB for its first minute (opslag vol)`;
  }

  /** True when a take may go on: more than one more segment fits above the reserve. */
  hasRoom(nextBytes: number): boolean {
    return this.info(1).usableBytes > nextBytes;
  }
}
