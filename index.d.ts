/// <reference types="node" />

/** A key as the backend has it in `ENCRYPTION_KEY`, or a Buffer of its UTF-8
 *  bytes (which the caller can `fill(0)` afterwards). */
export type KeyInput = string | Buffer

/** Every rejection carries one of these in `error.code`. */
export type ErrorCode =
  | 'ERR_KEY_INVALID'
  | 'ERR_KEY_UNCHANGED'
  | 'ERR_INVALID_ARG'
  | 'ERR_COLUMN_NOT_FOUND'
  | 'ERR_OLD_KEY_MISMATCH'
  | 'ERR_UNDECRYPTABLE'
  | 'ERR_DB_CONNECT'
  | 'ERR_LOCK_TIMEOUT'
  | 'ERR_DB'
  | 'ERR_COMMIT_UNKNOWN'
  | 'ERR_INTERNAL'

/** Where a value lives: never the value itself. */
export interface Location {
  schema: string
  table: string
  column: string
  primaryKey: string
}

export declare class KeyrotateError extends Error {
  readonly name: 'KeyrotateError'
  readonly code: ErrorCode
  /** Set for ERR_OLD_KEY_MISMATCH and ERR_UNDECRYPTABLE. */
  readonly details?: Location
}

/** An encrypted column beyond the defaults. `schema` defaults to the
 *  connection string's `?schema=` (or `public`). */
export interface ColumnSpec {
  schema?: string
  table: string
  primaryKey: string
  column: string
}

export interface Progress {
  schema: string
  table: string
  column: string
  /** Non-empty values examined so far in this column. */
  done: number
  /** Non-empty values in this column. */
  total: number
}

/** Options are checked before any work: a value of the wrong type or out of
 *  range (including `null`, `NaN` and fractions) is `ERR_INVALID_ARG` naming
 *  the option; leave an option out (or `undefined`) for its default. */
export interface CommonOptions {
  /** Extra columns: `"[schema.]table.primaryKey.column"` or objects. */
  columns?: Array<string | ColumnSpec>
  /** Path of a JSON file: an array of ColumnSpec, or `{ "columns": [...] }`. */
  columnsFile?: string
  /** Scan unregistered text columns for ciphertext under the key (default true). */
  discover?: boolean
  /** Accept keys with leading/trailing whitespace or invisible characters
   *  (byte-order mark, zero-width and other format characters; default false). */
  allowWhitespace?: boolean
  /** Rows per round trip, 1 to 100000 (default 2000). */
  batchSize?: number
  /** Called from native code, throttled, while columns are scanned. */
  onProgress?: (progress: Progress) => void
}

export interface RotateOptions extends CommonOptions {
  /** Everything except the writes; the transaction is rolled back. */
  dryRun?: boolean
  /** Longest wait for the table locks, in milliseconds: 1 to 2 ** 31 - 1 (default 10000). */
  lockTimeoutMs?: number
  /** Accept leaving ciphertext found in unregistered columns behind (default
   *  false). Checked and passed to the native side; the rotation does not act
   *  on it yet. */
  allowUnregistered?: boolean
}

export type VerifyOptions = CommonOptions

export interface Warning {
  code: string
  message: string
}

export interface ColumnReport {
  schema: string
  table: string
  primaryKey: string
  column: string
  /** `absent`: a registry default this database does not have. */
  status: 'processed' | 'absent'
  rows: number
  /** Rotation: values re-encrypted (or that would be, in a dry run). */
  reencrypted: number
  /** Rotation: values already on the new key. Verify: values that open with the key. */
  alreadyOnNewKey: number
  /** NULL or empty values, skipped. */
  empty: number
  /** Values that open with neither key (dry run and verify list them). */
  failed: number
}

export interface Failure extends Location {
  reason: string
}

export interface DiscoveredColumn {
  schema: string
  table: string
  column: string
  /** Values that opened with the key in the sample where the first one did (at least 1). */
  matches: number
}

interface Findings {
  /** At most 100 are listed; `failureCount` is exact. */
  failures: Failure[]
  failureCount: number
  /** Unregistered columns holding ciphertext under the key. */
  discovered: DiscoveredColumn[]
  warnings: Warning[]
  notices: string[]
}

export interface RotationReport extends Findings {
  dryRun: boolean
  committed: boolean
  rowsReencrypted: number
  alreadyOnNewKey: number
  empty: number
  tables: number
  /** `X rows re-encrypted across Y tables` */
  summary: string
  columns: ColumnReport[]
  durationMs: number
  oldKeyFingerprint: string
  newKeyFingerprint: string
  /** `host:port/database`, never credentials. */
  database: string
}

export interface VerifyReport extends Findings {
  /** Every value opens with the key and no unregistered column holds ciphertext under it. */
  ok: boolean
  valuesVerified: number
  empty: number
  tables: number
  summary: string
  columns: ColumnReport[]
  durationMs: number
  keyFingerprint: string
  database: string
}

export interface KeyCheck {
  oldKeyFingerprint: string
  newKeyFingerprint: string
  warnings: Warning[]
}

export interface DatabaseDescription {
  database: string
  host: string
  name: string
  schema: string
  notices: string[]
}

/** Re-encrypt every credential from `oldKey` to `newKey` in one transaction. */
export declare function rotateEncryptionKey(
  oldKey: KeyInput,
  newKey: KeyInput,
  databaseUrl: string,
  options?: RotateOptions,
): Promise<RotationReport>

/** Check that every credential opens with `key` (run after the backend restarts). */
export declare function verifyEncryptionKey(
  key: KeyInput,
  databaseUrl: string,
  options?: VerifyOptions,
): Promise<VerifyReport>

/** A short non-secret identifier of the key's effective 32 bytes. */
export declare function keyFingerprint(key: KeyInput, options?: { allowWhitespace?: boolean }): string

/** Validate a key pair without touching a database. */
export declare function checkKeys(
  oldKey: KeyInput,
  newKey: KeyInput,
  options?: { allowWhitespace?: boolean },
): KeyCheck

/** Parse a DATABASE_URL without connecting; never returns the password. */
export declare function describeDatabase(databaseUrl: string): DatabaseDescription

/** A new random key the backend accepts (64 base64 characters). */
export declare function generateKey(): string
