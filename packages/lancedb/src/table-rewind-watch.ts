/**
 * Notices a LanceDB table going back in time under a running store. Every commit returns the table version it
 * made, and a table's versions only grow — other processes' commits and optimize runs included — so a write
 * that comes back with a version at or below one this store already saw means the table directory was replaced
 * by an older copy while the process ran (a backup restored, a volume snapshot rolled back). LanceDB then writes
 * on top of the older copy without an error: the acknowledged writes since the copy are gone, while the row
 * count and the highest record version can look right again after a few writes.
 *
 * Measured with `@lancedb/lancedb` 0.31 (read consistency 0): after a restore, `table.version()` answers the
 * copy's version and the next merge insert commits the one after it.
 */
export class TableRewindWatch {
  #highest: number;
  #rewind: string | undefined;

  /** @param version - the table version when the store opened it. */
  constructor(version: number) {
    this.#highest = version;
  }

  /**
   * A write returned `version`. `changed`: it wrote or deleted rows (a write that changed nothing may not make
   * a new version, so it is only a rewind when below the highest).
   */
  noteCommit(version: number, changed: boolean): void {
    const rewound = changed ? version <= this.#highest : version < this.#highest;
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
