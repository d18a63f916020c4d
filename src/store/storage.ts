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

  /** True when a take may go on: more than one more segment fits above the reserve. */
  hasRoom(nextBytes: number): boolean {
    return this.info(1).usableBytes > nextBytes;
  }
}
