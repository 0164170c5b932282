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
  | 'ERR_TABLE_UNSUPPORTED'
  | 'ERR_ROW_SECURITY'
  | 'ERR_OLD_KEY_MISMATCH'
  | 'ERR_UNDECRYPTABLE'
  | 'ERR_UNREGISTERED_CIPHERTEXT'
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
  /** The JSON member that holds the sealed string, when it is not the whole value. */
  member?: string
  primaryKey: string
}

/** A column (or a string inside its JSON documents) outside the registry. */
export interface Place {
  schema: string
  table: string
  column: string
  /** Path of the string inside the column's JSON documents (`$enc`, `a.b[0]`). */
  member?: string
}

export declare class KeyrotateError extends Error {
  readonly name: 'KeyrotateError'
  readonly code: ErrorCode
  /** ERR_OLD_KEY_MISMATCH, ERR_UNDECRYPTABLE: the value's Location.
   *  ERR_UNREGISTERED_CIPHERTEXT: the Place. ERR_ROW_SECURITY: `{ schema, table }`. */
  readonly details?: Location | Place | { schema: string; table: string }
}

/** A plain location beyond the defaults: the whole value of a text column,
 *  no AAD. `schema` defaults to the connection string's `?schema=` (or
 *  `public`). Locations with JSON members, row filters or AAD go in a
 *  locations file (`columnsFile`). */
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
  /** Extra plain locations: `"[schema.]table.primaryKey.column"` or objects. */
  columns?: Array<string | ColumnSpec>
  /** Path of a locations file in the registry's format (see `locations.json`
   *  and docs/locations.md): `{ "locations": [...] }` or a bare array. */
  columnsFile?: string
  /** Look outside the registry (text, json and jsonb columns) for ciphertext
   *  under the key (default true). */
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
  /** Rotate even when discovery finds ciphertext outside the registry; those
   *  values stay on the old key (default false: ERR_UNREGISTERED_CIPHERTEXT). */
  allowUnregistered?: boolean
}

export type VerifyOptions = CommonOptions

export interface Warning {
  code: string
  message: string
}

/** A location as a run looks for it (`describeLocations`, and every report). */
export interface LocationDescription {
  schema: string
  table: string
  primaryKey: string
  column: string
  /** The JSON member holding the sealed string, or null for the whole value. */
  member: string | null
  /** How the AAD is built: none, a constant, or a template over the row's columns. */
  aad: 'none' | 'constant' | 'template'
  /** The row filter (column = value), when the location has one. */
  where: Record<string, string> | null
}

export interface LocationReport extends LocationDescription {
  /** `absent`: a registry default this database does not have. */
  status: 'processed' | 'absent'
  /** Why an absent location is absent (and the migration that would add it). */
  absentReason: string | null
  /** Rows the location covers (those its filter selects). */
  rows: number
  /** Rotation: values re-encrypted (or that would be, in a dry run). */
  reencrypted: number
  /** Rotation: values already on the new key. Verify: values that open with the key. */
  alreadyOnNewKey: number
  /** NULL or empty values, or documents without the member: skipped. */
  empty: number
  /** Values that open with neither key (dry run and verify list them). */
  failed: number
}

/** What `_prisma_migrations` says about the database. */
export interface Migrations {
  present: boolean
  /** Migrations applied and not rolled back. */
  applied: number
  /** The newest of them, by name. */
  newest: string | null
  /** Applied migrations the registry does not know. */
  unknown: string[]
}

export interface Failure extends Location {
  reason: string
}

export interface DiscoveredColumn extends Place {
  /** The AAD it opened with: null for none, else a constant. */
  aad: string | null
  /** Values that opened with the key in the sample where the first one did (at least 1). */
  matches: number
}

interface Findings {
  /** At most 100 are listed; `failureCount` is exact. */
  failures: Failure[]
  failureCount: number
  /** Places outside the registry holding ciphertext under the key. */
  discovered: DiscoveredColumn[]
  warnings: Warning[]
  notices: string[]
}

export interface RotationReport extends Findings {
  dryRun: boolean
  committed: boolean
  /** Rows rewritten (a row with several locations is one row). */
  rowsReencrypted: number
  /** Values re-encrypted, summed over the locations. */
  valuesReencrypted: number
  alreadyOnNewKey: number
  empty: number
  tables: number
  /** `X rows re-encrypted across Y tables` */
  summary: string
  /** False when values open with neither key and none with the old key:
   *  a dry run's "old key does not match". */
  oldKeyMatches: boolean
  /** Every location of the registry, in its order. */
  locations: LocationReport[]
  migrations: Migrations
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
  locations: LocationReport[]
  migrations: Migrations
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

/** The locations a run with these options would look at in `schema`
 *  (default `public`): the shipped registry plus `columns`/`columnsFile`. */
export declare function describeLocations(
  options?: Pick<CommonOptions, 'columns' | 'columnsFile'>,
  schema?: string,
): LocationDescription[]

/** A new random key the backend accepts (64 base64 characters). */
export declare function generateKey(): string
