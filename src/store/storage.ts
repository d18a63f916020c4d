import { statfsSync } from 'node:fs';

export interface StorageInfo {
  freeBytes: number;
  /** Bytes usable for footage: free space above the reserve. */
  usableBytes: number;
  /** Minutes of footage left at the current bitrate. */
  minutesLeft: number;
}

/** The catalogue's reserve as the guard sees it: whether it is held, and the room it needs to be made again. */
export interface HeldBack {
  readonly held: boolean;
  /** Free space it needs before it is made again (while not held, footage leaves that much). */
  readonly remakeBytes: number;
  /** Makes it again when there is room; whether it is held afterwards. */
  ensure(): boolean;
}

/** Free space on the data dir's file system, the reserve, and minutes left at a bitrate. */
export class StorageGuard {
  constructor(
    private readonly dataDir: string,
    private readonly reserveBytes: number,
    /** The catalogue's reserve: once the card filled and it was used, takes wait until it is back. */
    private readonly catalogueReserve: HeldBack | null = null,
  ) {}

  info(bytesPerSecond: number): StorageInfo {
    const st = statfsSync(this.dataDir);
    const freeBytes = Number(st.bavail) * Number(st.bsize);
    const usableBytes = Math.max(0, freeBytes - this.reserveBytes - this.heldBackBytes());
    const minutesLeft = bytesPerSecond > 0 ? Math.floor(usableBytes / bytesPerSecond / 60) : 0;
    return { freeBytes, usableBytes, minutesLeft };
  }

  /** The rule a refused take broke, in words (507): free space, the reserves, what a take needs. */
  refusal(nextBytes: number): string {
    const mb = (b: number) => Math.round(b / 1e6);
    const info = this.info(1);
    const held = this.heldBackBytes();
    return (
      `not enough free space to record: ${mb(info.freeBytes)} MB free on the data dir; a take needs more than the storage reserve ` +
      `(storage.reserveMB = ${Math.round(this.reserveBytes / 1048576)} MB)` +
      (held > 0 ? ` plus ${mb(held)} MB to make the catalogue's reserve again (the card filled up and it was used)` : '') +
      ` plus ${mb(nextBytes)} MB for its first minute (opslag vol)`
    );
  }

  /** True when a take may go on: more than one more segment fits above the reserve. */
  hasRoom(nextBytes: number): boolean {
    // room came back since the card filled (a delete, a filler gone): the catalogue's reserve first
    if (this.catalogueReserve && !this.catalogueReserve.held) this.catalogueReserve.ensure();
    return this.info(1).usableBytes > nextBytes;
  }

  private heldBackBytes(): number {
    return this.catalogueReserve && !this.catalogueReserve.held ? this.catalogueReserve.remakeBytes : 0;
  }
}
