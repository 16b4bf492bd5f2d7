/**
 * Notices a LanceDB table going back in time under a running store. Every commit returns the table version it
 * made, and a table's versions only grow — other processes' commits and optimize runs included — so a write
 * that comes back with a version at or below one this store already saw (or a version read below it) means the
 * table directory was replaced by an older copy while the process ran (a backup restored, a volume snapshot
 * rolled back). LanceDB then writes on top of the older copy without an error: the acknowledged writes since the
 * copy are gone, while the row count and the highest record version can look right again after a few writes.
 *
 * It sees only what this store's own writes and reads show: a restore followed by another process's commits, a
 * restore of a newer copy after an older one, or LanceDB's own `restore()` (a new, higher version with old
 * content) pass unseen — the facade's check of the most recently acknowledged writes finds those.
 *
 * Measured with `@lancedb/lancedb` 0.31 (read consistency 0): after a restore, `table.version()` answers the
 * copy's version and the next merge insert commits the one after it; every merge insert and delete makes a
 * new version, also one that changes no row.
 */
export class TableRewindWatch {
  #highest: number;
  #rewind: string | undefined;

  /**
   * @param version - the table version when the store opened it.
   * @param reason - why the index is already in question (the table was opened again after it was dropped),
   *   answered by the first {@link take}.
   */
  constructor(version: number, reason?: string) {
    this.#highest = version;
    this.#rewind = reason;
  }

  /** A write (merge insert, delete, optimize) committed `version`. */
  noteCommit(version: number): void {
    this.#note(version, version <= this.#highest);
  }

  /** The table's latest version was read as `version` (no commit in between). */
  noteRead(version: number): void {
    this.#note(version, version < this.#highest);
  }

  #note(version: number, rewound: boolean): void {
    if (rewound)
      this.#rewind ??= `the LanceDB table's version went back from ${this.#highest} to ${version}: an older copy of the index was restored under this process, and the writes acknowledged since that copy are missing from it`;
    // After a rewind the table's lineage continues from the restored copy.
    this.#highest = rewound ? version : Math.max(this.#highest, version);
  }

  /** The rewind seen since the last call, once, or `undefined`. */
  take(): string | undefined {
    const rewind = this.#rewind;
    this.#rewind = undefined;
    return rewind;
  }
}
