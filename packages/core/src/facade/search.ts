import type { MetadataFilter } from '../contracts/vector-store.js';
import type { Metadata } from '../record/types.js';

/**
 * What to do with a hit whose indexed vector is older (or newer) than the record's current version:
 * `'drop'` removes it; `'flag'` keeps it with `stale: true` (text and metadata still come from SQL).
 * Hits whose record is deleted or unknown (ghosts) are always dropped.
 */
export type StaleHitPolicy = 'drop' | 'flag';

/** Options of `DualWrite.search`. */
export interface SearchOptions {
  /** Results wanted, 1..1000. Default 10. */
  k?: number;
  /** Equality filter on metadata, checked in the index and again against the current record. */
  filter?: MetadataFilter;
  /** Default: the facade's `staleHits` option (default `'drop'`). */
  staleHits?: StaleHitPolicy;
}

/** One search result, answered from the source of truth. */
export interface SearchHit {
  id: string;
  /** Backend similarity (higher is closer). */
  score: number;
  /** Backend distance (lower is closer). */
  distance: number;
  /** The record's current version in SQL. */
  version: number;
  /** Version the matched vector was built from. */
  indexedVersion: number;
  /** `true` when `indexedVersion !== version` (only with `staleHits: 'flag'`). */
  stale: boolean;
  /** Current text from SQL. */
  text: string;
  /** Current metadata from SQL. */
  metadata: Metadata;
}

/** `true` when every key of `filter` equals the metadata's value. */
export function matchesFilter(metadata: Metadata, filter: MetadataFilter | undefined): boolean {
  if (!filter) return true;
  return Object.entries(filter).every(([k, v]) => metadata[k] === v);
}
