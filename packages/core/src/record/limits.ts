/** Input limits enforced before anything is written. All sizes are in UTF-8 bytes unless noted. */
export interface RecordLimits {
  /** Max id length in UTF-16 code units. Default 512. */
  maxIdLength: number;
  /** Max text size in UTF-8 bytes. Default 1 MiB (1,048,576). */
  maxTextBytes: number;
  /** Max number of metadata keys. Default 64. */
  maxMetadataKeys: number;
  /** Max metadata key length in characters. Default 128. */
  maxMetadataKeyLength: number;
  /** Max size of the metadata as JSON, in UTF-8 bytes. Default 16 KiB (16,384). */
  maxMetadataBytes: number;
  /** Max records in one `putMany` call. Default 10,000. */
  maxBatchRecords: number;
}

/** The default {@link RecordLimits}. */
export const DEFAULT_LIMITS: Readonly<RecordLimits> = Object.freeze({
  maxIdLength: 512,
  maxTextBytes: 1024 * 1024,
  maxMetadataKeys: 64,
  maxMetadataKeyLength: 128,
  maxMetadataBytes: 16 * 1024,
  maxBatchRecords: 10_000,
});

/** Metadata keys starting with this prefix are reserved for adapters (e.g. the version in Chroma). */
export const RESERVED_METADATA_PREFIX = '_dw';
