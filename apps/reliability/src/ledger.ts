/**
 * What a writer saw acknowledged, and the checks that the source of truth holds exactly that after a crash
 * (one sequential writer) or after a race (several concurrent writers).
 *
 * @packageDocumentation
 */
import type { RelationalStore, StoredRecord } from '@dualwrite/core';
import type { ChildLine } from './protocol.js';
import type { WorkloadOp, WorkloadRecord } from './workload.js';

/** The state of one id as a writer last saw it acknowledged. */
export type IdState =
  | { live: true; version: number; text: string; metadata: WorkloadRecord['metadata'] }
  | { live: false; version: number | null };

/** One broken guarantee. */
export interface Violation {
  /**
   * - `lost-write`: an acknowledged put is missing from SQL;
   * - `undone-delete`: an acknowledged delete was undone (the id is live again without a later write);
   * - `wrong-version` / `wrong-content`: SQL holds another version / text / metadata than acknowledged;
   * - `phantom`: SQL holds a live id no call ever wrote;
   * - `torn-batch`: the call in flight at the kill is applied to some of its ids only;
   * - `index-lost` / `index-stale` / `index-orphan`: the index differs from SQL after flush;
   * - `dead-letter`: an accepted write was dead-lettered although no permanent error was injected;
   * - `stuck`: the outbox or the sync-2pc intents did not drain;
   * - `overlap`: one id was written to the vector store by two calls at the same time;
   * - `unhandled`: a child process printed an unhandled error or exited non-zero.
   */
  kind:
    | 'lost-write'
    | 'undone-delete'
    | 'wrong-version'
    | 'wrong-content'
    | 'phantom'
    | 'torn-batch'
    | 'index-lost'
    | 'index-stale'
    | 'index-orphan'
    | 'index-duplicate'
    | 'index-count'
    | 'dead-letter'
    | 'stuck'
    | 'overlap'
    | 'unhandled';
  id?: string;
  detail: string;
}

/** The puts an op makes, as id → final record (the last occurrence of an id wins). */
export function opPuts(op: WorkloadOp): Map<string, WorkloadRecord> {
  const out = new Map<string, WorkloadRecord>();
  if (op.kind === 'put') out.set(op.record.id, op.record);
  if (op.kind === 'putMany') for (const r of op.records) out.set(r.id, r);
  return out;
}

/** Every id an op touches. */
export function opIds(op: WorkloadOp): string[] {
  switch (op.kind) {
    case 'put':
      return [op.record.id];
    case 'putMany':
      return [...new Set(op.records.map((r) => r.id))];
    case 'delete':
      return [op.id];
    case 'deleteMany':
      return [...new Set(op.ids)];
  }
}

/**
 * Folds one sequential writer's protocol lines into what it saw acknowledged. A call whose `ack` line was
 * printed is acknowledged; a `fail` line means the call changed nothing; a call with an `intent` but no
 * outcome (the process died) may or may not have been applied, atomically.
 */
export class WriterLedger {
  /** Per id, the state the last acknowledged call left it in. */
  readonly state = new Map<string, IdState>();
  /** Every id any intent named. */
  readonly touched = new Set<string>();
  /** The call without an outcome when the output ended. */
  inFlight: { seq: number; op: WorkloadOp } | undefined;
  /** Acknowledged calls. */
  acks = 0;
  /** Acknowledged record changes (a `putMany` of 5 counts 5). */
  ackedChanges = 0;
  /** Calls that failed, by error code. */
  readonly failures = new Map<string, number>();
  /** Per id, every acknowledged (version, state) pair — for multi-writer checks. */
  readonly ackedVersions: { id: string; state: IdState }[] = [];
  private readonly ops = new Map<number, WorkloadOp>();

  /** Applies one line of the writer's output. Lines other than intent/ack/fail are ignored. */
  apply(line: ChildLine): void {
    if (line.t === 'intent') {
      this.ops.set(line.seq, line.op);
      this.inFlight = { seq: line.seq, op: line.op };
      for (const id of opIds(line.op)) this.touched.add(id);
    } else if (line.t === 'ack') {
      const op = this.ops.get(line.seq);
      if (!op) throw new Error(`ack for unknown call ${line.seq}`);
      this.acks++;
      this.ackedChanges += line.results.length;
      const records = op.kind === 'put' ? [op.record] : op.kind === 'putMany' ? op.records : undefined;
      line.results.forEach((r, i) => {
        let s: IdState;
        if (records) {
          const rec = records[i]!;
          if (r.version === null) throw new Error(`put of ${rec.id} acknowledged without a version`);
          s = { live: true, version: r.version, text: rec.text, metadata: rec.metadata };
        } else s = { live: false, version: r.version };
        this.state.set(r.id, s);
        this.ackedVersions.push({ id: r.id, state: s });
      });
      this.ops.delete(line.seq);
      if (this.inFlight?.seq === line.seq) this.inFlight = undefined;
    } else if (line.t === 'fail') {
      this.failures.set(line.code ?? line.name, (this.failures.get(line.code ?? line.name) ?? 0) + 1);
      this.ops.delete(line.seq);
      if (this.inFlight?.seq === line.seq) this.inFlight = undefined;
    }
  }

  /** Total failed calls. */
  get failed(): number {
    let n = 0;
    for (const v of this.failures.values()) n += v;
    return n;
  }
}

function sameMetadata(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  const ka = Object.keys(a).sort();
  const kb = Object.keys(b).sort();
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && a[k] === b[k]);
}

/** How `actual` (a live record, or `undefined` when absent or a tombstone) differs from `expected`. */
function compare(id: string, expected: IdState, actual: StoredRecord | undefined): Violation | undefined {
  if (expected.live) {
    if (!actual)
      return { kind: 'lost-write', id, detail: `acknowledged put at version ${expected.version} is missing` };
    // A higher version holding exactly the acknowledged content is that write rebased: when the index was
    // ahead of the source of truth (a sync-2pc vector write whose SQL commit died with the process), core
    // rewrites the record at a fresh version so the fence lets it through (documented in VectorStore).
    const rebased =
      actual.version > (expected.version ?? 0) &&
      actual.text === expected.text &&
      sameMetadata(actual.metadata, expected.metadata ?? {});
    if (actual.version !== expected.version && !rebased)
      return {
        kind: 'wrong-version',
        id,
        detail: `acknowledged version ${expected.version}, SQL holds ${actual.version} (${JSON.stringify(actual.text)})`,
      };
    if (actual.text !== expected.text || !sameMetadata(actual.metadata, expected.metadata))
      return {
        kind: 'wrong-content',
        id,
        detail: `version ${actual.version}: expected ${JSON.stringify(expected.text)}, got ${JSON.stringify(actual.text)}`,
      };
    return undefined;
  }
  if (actual)
    return {
      kind: 'undone-delete',
      id,
      detail: `acknowledged delete (version ${expected.version}) but SQL holds live version ${actual.version} (${JSON.stringify(actual.text)})`,
    };
  return undefined;
}

/** All live records, paged by id. */
export async function liveRecords(relational: RelationalStore): Promise<Map<string, StoredRecord>> {
  const out = new Map<string, StoredRecord>();
  let after: string | undefined;
  for (;;) {
    const page = await relational.listRecords!({ after, limit: 1000 });
    for (const r of page) out.set(r.id, r);
    if (page.length < 1000) return out;
    after = page[page.length - 1]!.id;
  }
}

/**
 * Checks the source of truth against one sequential writer's ledger after its crash and recovery:
 * every id is exactly as the last acknowledged call left it (same version, text and metadata — or that
 * content at a higher version, the write rebased past an index that was ahead; deleted ids absent), except the ids of the call in flight at the kill, which are either all unchanged or all at that
 * call's result (a batch is never torn); no live id was never written.
 */
export async function checkSingleWriter(
  ledger: WriterLedger,
  relational: RelationalStore,
  /** Ids other processes wrote (not this writer's to check). */
  ignore: (id: string) => boolean = () => false,
): Promise<Violation[]> {
  const live = await liveRecords(relational);
  for (const id of [...live.keys()]) if (ignore(id)) live.delete(id);
  const violations: Violation[] = [];
  const ids = new Set([...ledger.state.keys(), ...ledger.touched, ...live.keys()]);
  const inFlight = ledger.inFlight;
  const inFlightIds = new Set(inFlight ? opIds(inFlight.op) : []);
  const inFlightPuts = inFlight ? opPuts(inFlight.op) : new Map<string, WorkloadRecord>();
  const matchesPre: string[] = [];
  const matchesPost: string[] = [];
  for (const id of ids) {
    const known = ledger.state.get(id);
    const expected: IdState = known ?? { live: false, version: null };
    const actual = live.get(id);
    if (actual && !known && !inFlightIds.has(id)) {
      violations.push({
        kind: 'phantom',
        id,
        detail: `live at version ${actual.version} (${JSON.stringify(actual.text)}) but no call writing it was acknowledged`,
      });
      continue;
    }
    const pre = compare(id, expected, actual);
    if (!inFlightIds.has(id)) {
      if (pre) violations.push(pre);
      continue;
    }
    const put = inFlightPuts.get(id);
    const prevVersion = expected.version ?? 0;
    const post = put
      ? actual &&
        actual.version >= prevVersion &&
        actual.text === put.text &&
        sameMetadata(actual.metadata, put.metadata)
      : actual === undefined;
    if (!pre && post) continue; // both readings agree: nothing to learn about atomicity
    if (!pre) matchesPre.push(id);
    else if (post) matchesPost.push(id);
    else violations.push({ ...pre, detail: `${pre.detail} (nor the in-flight call's result)` });
  }
  if (matchesPre.length > 0 && matchesPost.length > 0)
    violations.push({
      kind: 'torn-batch',
      detail: `call ${inFlight!.seq} (${inFlight!.op.kind}) applied to ${JSON.stringify(matchesPost)} but not to ${JSON.stringify(matchesPre)}`,
    });
  return violations;
}

/**
 * Checks the source of truth after several writers raced on overlapping ids (all finished, none killed):
 * for every id, the final state is the one of the highest version any writer saw acknowledged (a put: same
 * version, text and metadata; a delete: absent), and no live id was never acknowledged.
 */
export async function checkLastWriterWins(
  ledgers: readonly WriterLedger[],
  relational: RelationalStore,
): Promise<Violation[]> {
  const best = new Map<string, IdState & { version: number }>();
  for (const ledger of ledgers)
    for (const { id, state } of ledger.ackedVersions) {
      if (state.version === null) continue;
      const current = best.get(id);
      // `>=`: within one call, a later duplicate of an id carries the same version and wins.
      if (!current || state.version >= current.version) best.set(id, state as IdState & { version: number });
    }
  const live = await liveRecords(relational);
  const violations: Violation[] = [];
  for (const id of new Set([...best.keys(), ...live.keys()])) {
    const expected = best.get(id);
    if (!expected) {
      // Only deletes of absent ids (or nothing) were acknowledged for it.
      if (live.has(id))
        violations.push({
          kind: 'phantom',
          id,
          detail: `live at ${live.get(id)!.version}, never acknowledged`,
        });
      continue;
    }
    const v = compare(id, expected, live.get(id));
    if (v) violations.push(v);
  }
  return violations;
}
