import type { RELATIONAL_KINDS, RelationalSection, VECTOR_KINDS, VectorSection } from './schema.js';

/** A `relational.kind`. */
export type RelationalKind = (typeof RELATIONAL_KINDS)[number];
/** A `vector.kind`. */
export type VectorKind = (typeof VECTOR_KINDS)[number];

/** The `relational` section after `loadConfig`: absolute `sqlitePath`, `schema` filled in. */
export type ResolvedRelational = RelationalSection & { sqlitePath: string; schema: string };
/** The `vector` section after `loadConfig`: absolute `lancedbDir`. */
export type ResolvedVector = VectorSection & { lancedbDir: string };
