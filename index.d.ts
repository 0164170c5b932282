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
  | 'ERR_ALREADY_ON_NEW_KEY'
  | 'ERR_KG_UNPINNED'
  | 'ERR_SCHEMA_AMBIGUOUS'
  | 'ABORT_ERR'
  | 'ERR_NO_BINARY'
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

/** A session holding a lock a run waits for (from `pg_stat_activity`;
 *  fields this role may not see are null). */
export interface LockHolder {
  pid: number
  user: string | null
  applicationName: string | null
  /** `active`, `idle in transaction`, ... */
  state: string | null
  /** When its transaction began, UTC, ISO 8601. */
  since: string | null
}

/** What an error is about, tagged by `kind`. Never a value. */
export type ErrorDetails =
  /** ERR_OLD_KEY_MISMATCH, ERR_UNDECRYPTABLE: the value's location. */
  | ({ kind: 'value' } & Location)
  /** ERR_UNREGISTERED_CIPHERTEXT, ERR_COLUMN_NOT_FOUND, ERR_TABLE_UNSUPPORTED;
   *  ERR_KG_UNPINNED: `kg_value_seen.value_hash`. */
  | ({ kind: 'place' } & Place)
  /** ERR_ROW_SECURITY. */
  | { kind: 'table'; schema: string; table: string }
  /** ERR_KEY_INVALID: which key. */
  | { kind: 'key'; role: 'old' | 'new' | 'verify' }
  /** ERR_ALREADY_ON_NEW_KEY: the key the data is on. */
  | { kind: 'keys'; dataKeyFingerprint: string; valuesOnNewKey: number }
  /** ERR_LOCK_TIMEOUT: the lock, and the sessions seen holding it. */
  | { kind: 'lock'; lock: 'rotation' | 'tables' | 'discovery' | 'other'; holders: LockHolder[] }
  /** ERR_DB: the server's SQLSTATE, detail and hint, when it gave them. The
   *  detail is withheld for SQLSTATE classes 22 and 23 (data exceptions,
   *  integrity violations), where PostgreSQL quotes row values; what a
   *  user's trigger raises passes as it wrote it. */
  | { kind: 'database'; sqlstate: string | null; detail: string | null; hint: string | null }
  /** ERR_SCHEMA_AMBIGUOUS: the schema the URL names, and the one the backend reads. */
  | { kind: 'schemas'; named: string; backendReads: 'public' }
  /** ERR_DB_CONNECT: `host:port/database`. */
  | { kind: 'connection'; target: string }

export declare class KeyrotateError extends Error {
  readonly name: 'KeyrotateError' | 'AbortError'
  readonly code: ErrorCode
  /** What to do next, in the operator's words (the CLI prints the same). */
  readonly hint: string
  readonly details?: ErrorDetails
  /** The run's report when it got that far: a dry run that its real run
   *  would refuse rejects with its findings here, and so does a rotation
   *  that found nothing sealed with the old key. */
  readonly report?: RotationReport
}

/** The run was cancelled through `options.signal` before its COMMIT was
 *  sent: the transaction was rolled back. `cause` is the signal's reason. */
export declare class AbortError extends KeyrotateError {
  readonly name: 'AbortError'
  readonly code: 'ABORT_ERR'
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

/** What a run is doing, reported as it happens (table progress at most
 *  five times a second). */
export type Progress =
  | { phase: 'connecting'; /** `host:port/database` */ database: string }
  /** Looking outside the registry for ciphertext, before any table lock. */
  | { phase: 'discovering' }
  /** Waiting for a lock, reported about once a second while it lasts. */
  | { phase: 'waiting'; lock: 'rotation' | 'tables' | 'discovery' | 'other'; holders: LockHolder[]; waitedMs: number }
  | {
      phase: 'scanning'
      schema: string
      table: string
      /** The table's locations: `auth_config, env_vars.$enc`. */
      column: string
      /** Rows examined so far in this table. */
      done: number
      /** Rows of this table to examine. */
      total: number
    }
  /** The COMMIT was sent: from here the run can no longer be cancelled. */
  | { phase: 'committing' }

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
  /** The schema to act on. By default the URL's `?schema=`, except that
   *  the backend (Prisma 7 with @prisma/adapter-pg) reads `public` whatever
   *  the URL says: when the URL names another schema, a run acts on the one
   *  of the two that holds sealed values, says so in a notice, and refuses
   *  (`ERR_SCHEMA_AMBIGUOUS`) when both do, until this chooses. */
  schema?: string
  /** Rows per round trip, 1 to 100000 (default 2000). */
  batchSize?: number
  /** Called from native code as the run moves on (throttled while tables
   *  are scanned). A callback that throws is ignored. */
  onProgress?: (progress: Progress) => void
  /** Cancels the run: until its COMMIT is sent, the transaction is rolled
   *  back and the promise rejects with an `AbortError` within a second.
   *  Once the COMMIT is sent the run completes, and its outcome stands. */
  signal?: AbortSignal
}

/** The knowledge graph's hashes (`kg_value_seen`), keyed by the first of
 *  KG_HASH_SECRET, ENCRYPTION_KEY and JWT_SECRET that is set. */
export interface KnowledgeGraph {
  /** The release has `kg_value_seen`. */
  present: boolean
  /** It holds hashes a change of their key would orphan. */
  hasRows: boolean
  /** What keys them after the run. */
  keyedBy: 'KG_HASH_SECRET' | 'ENCRYPTION_KEY'
  /** The caller accepted that the graph starts new links. */
  relink: boolean
}

export interface GraphOptions {
  /** The value of KG_HASH_SECRET in the backend's environment, when it is
   *  set there (a library does not read `process.env` for you). Set, the
   *  graph keeps its key through the rotation; it should be the old
   *  ENCRYPTION_KEY exactly, or the graph is re-keyed anyway (a warning
   *  says so). It never reaches native code, a report or an error. */
  kgHashSecret?: KeyInput
}

export interface RotateOptions extends CommonOptions, GraphOptions {
  /** With `kg_value_seen` holding rows and no `kgHashSecret`, a rotation
   *  is refused (`ERR_KG_UNPINNED`) unless this accepts that the knowledge
   *  graph starts new links from its next observation (default false). */
  kgRelink?: boolean
  /** Everything except the writes; the transaction is rolled back. */
  dryRun?: boolean
  /** Longest wait for the table locks, in milliseconds: 1 to 2 ** 31 - 1 (default 10000). */
  lockTimeoutMs?: number
  /** Rotate even when discovery finds ciphertext outside the registry; those
   *  values stay on the old key (default false: ERR_UNREGISTERED_CIPHERTEXT). */
  allowUnregistered?: boolean
}

export interface VerifyOptions extends CommonOptions, GraphOptions {}

/** Every warning's code (core/src/warning.rs holds the same list). */
export type WarningCode =
  | 'WARN_KEY_PLACEHOLDER'
  | 'WARN_UNKNOWN_MIGRATIONS'
  | 'WARN_UNREGISTERED_CIPHERTEXT'
  | 'WARN_AUDIT_NOT_WRITTEN'
  | 'WARN_TABLE_TRIGGERS'
  | 'WARN_KG_PIN_DIFFERS'
  | 'WARN_KG_UNPINNED'

export interface Warning {
  code: WarningCode
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

/** The database a run acts on. Never the password. */
export interface DatabaseIdentity {
  user: string
  /** Host name or address, or the socket directory. */
  host: string
  port: number
  database: string
  schema: string
}

export interface RotationReport extends Findings {
  dryRun: boolean
  /** True only when the transaction committed. */
  committed: boolean
  /** Rows rewritten, or in a dry run that would be (a row with several
   *  locations is one row). */
  rowsReencrypted: number
  /** Values re-encrypted (or that would be), summed over the locations. */
  valuesReencrypted: number
  /** Values already on the new key, left alone. */
  alreadyOnNewKey: number
  /** NULL or empty values, and documents without the member. */
  empty: number
  /** Tables where rows were (or would be) rewritten. */
  tables: number
  /** `X rows re-encrypted across Y tables` (a dry run: `would be re-encrypted`). */
  summary: string
  /** Whether any value opened with the old key; null when nothing is sealed
   *  at all. */
  oldKeyMatches: boolean | null
  /** Every location of the registry, in its order. */
  locations: LocationReport[]
  migrations: Migrations
  durationMs: number
  oldKeyFingerprint: string
  newKeyFingerprint: string
  /** `host:port/database`, never credentials. */
  database: string
  target: DatabaseIdentity
  knowledgeGraph: KnowledgeGraph
  /** The `security_events` row (`ENCRYPTION_KEY_ROTATED`) the committed
   *  rotation wrote in its own transaction; null for a dry run, a release
   *  without the table, or a table that refused the row (a warning says so). */
  auditEventId: string | null
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
  target: DatabaseIdentity
  knowledgeGraph: KnowledgeGraph
}

export interface KeyCheck {
  oldKeyFingerprint: string
  newKeyFingerprint: string
  warnings: Warning[]
}

export interface DatabaseDescription {
  /** `host:port/database` */
  database: string
  target: DatabaseIdentity
  /** How the URL was read: parameters ignored, and the like. */
  notices: string[]
}

/** Re-encrypt every credential from `oldKey` to `newKey` in one transaction.
 *  Resolves only when the data is on the new key with the rotation
 *  committed (a dry run: when the real run would succeed). Rejects with a
 *  `KeyrotateError` otherwise: `ERR_ALREADY_ON_NEW_KEY` when nothing is
 *  sealed with the old key (a re-run, or swapped keys), and for a dry run
 *  the code its real run would fail with, the findings in `error.report`. */
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

export interface AdoptOptions extends Omit<RotateOptions, 'dryRun' | 'kgHashSecret'> {
  /** Default: `env.DATABASE_URL`. */
  databaseUrl?: string
  /** Where the one line each outcome logs goes (fingerprints, never keys);
   *  default `console.log`. */
  log?: (line: string) => void
}

/** What `adoptNextEncryptionKey` did. */
export interface Adoption {
  /** `none`: no ENCRYPTION_KEY_NEXT (nothing was opened), or it is already
   *  ENCRYPTION_KEY; `rotated`: the data was rotated to it; `already-on-next`:
   *  the data was already on it (another replica, an earlier boot). */
  action: 'none' | 'rotated' | 'already-on-next'
  oldKeyFingerprint?: string
  newKeyFingerprint?: string
  /** The rotation's report, when this call rotated. */
  report?: RotationReport
}

/**
 * The safe way for backend code to change ENCRYPTION_KEY: call it at the top
 * of main.ts, before Nest reads its configuration. With ENCRYPTION_KEY_NEXT
 * set in `env`, it rotates ENCRYPTION_KEY to it with every check a rotation
 * makes (KG_HASH_SECRET read from `env`), or finds the data already there,
 * and then sets `env.ENCRYPTION_KEY` to the new key so the app starts on it.
 * Two replicas booting at once: one rotates, the other waits for it and
 * switches. Any refusal rejects with `env` unchanged: the app must not start,
 * because a backend on a key its data is not on destroys what it cannot open.
 */
export declare function adoptNextEncryptionKey(env?: NodeJS.ProcessEnv, options?: AdoptOptions): Promise<Adoption>
