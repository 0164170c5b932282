// @ts-check
'use strict'
// What each outcome exits with, and what each exit status means. Every
// error code maps to one exit through a Record over all codes, so a code
// without an exit does not type-check (`npm run typecheck`).

/** @typedef {import('../index').ErrorCode} ErrorCode */
/** @typedef {import('./index').CliErrorCode} CliErrorCode */
/** @typedef {keyof typeof STATUS} Exit */

const STATUS = {
  ok: 0,
  internal: 1,
  usage: 2,
  data: 3,
  database: 4,
  commitUnknown: 5,
  alreadyOnNewKey: 6,
  knowledgeGraph: 7,
  // 128 + the signal's number, as shells report a death by signal.
  interrupted: 130,
}

/** The exit for an interruption by `signal`: 130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP. */
function interruptedStatus(/** @type {NodeJS.Signals | undefined} */ signal) {
  return signal === 'SIGTERM' ? 143 : signal === 'SIGHUP' ? 129 : STATUS.interrupted
}

/** @type {Record<ErrorCode | CliErrorCode, Exit>} */
const EXIT_BY_CODE = {
  ERR_USAGE: 'usage',
  ERR_DECLINED: 'usage',
  ERR_CONFIRMATION_REQUIRED: 'usage',
  ERR_KEY_INVALID: 'usage',
  ERR_KEY_UNCHANGED: 'usage',
  ERR_INVALID_ARG: 'usage',
  ERR_COLUMN_NOT_FOUND: 'usage',
  ERR_TABLE_UNSUPPORTED: 'usage',
  ERR_SCHEMA_AMBIGUOUS: 'usage',
  ERR_OLD_KEY_MISMATCH: 'data',
  ERR_UNDECRYPTABLE: 'data',
  ERR_UNREGISTERED_CIPHERTEXT: 'data',
  ERR_VERIFY_FAILED: 'data',
  ERR_ROW_SECURITY: 'database',
  ERR_DB_CONNECT: 'database',
  ERR_LOCK_TIMEOUT: 'database',
  ERR_DB: 'internal',
  ERR_INTERNAL: 'internal',
  ERR_NO_BINARY: 'internal',
  ERR_COMMIT_UNKNOWN: 'commitUnknown',
  ERR_ALREADY_ON_NEW_KEY: 'alreadyOnNewKey',
  ERR_KG_UNPINNED: 'knowledgeGraph',
  ABORT_ERR: 'interrupted',
}

/** What each status tells the operator: --help lists them in this order. @type {Array<[string, string]>} */
const MEANINGS = [
  ['0', 'success: rotated and committed (dry run: the rotation would succeed; verify: every value opens with the key)'],
  ['1', 'internal or unexpected database error: the transaction was rolled back, nothing was changed; or no native binary loads on this machine: nothing was touched'],
  ['2', 'usage error, invalid key, confirmation declined, no --yes off a terminal, or two schemas with AnythingMCP data and no --schema to choose; nothing was touched'],
  ['3', 'old key does not match, a value opens with neither key, or a column outside the registry holds ciphertext (dry run and verify: some value would fail); nothing was changed'],
  ['4', 'database unreachable, authentication failed, lock timeout, or row-level security would hide rows; nothing was changed'],
  ['5', 'the connection was lost during COMMIT, so the rotation may or may not have committed. Do not switch keys: run the same rotation again with the same keys, then verify with the new key'],
  ['6', 'nothing is sealed with the old key: every value already opens with the key given as new (a re-run after success, or swapped keys); nothing was changed. The backend must start with the key the message names'],
  ['7', 'the knowledge graph\'s hashes are keyed by ENCRYPTION_KEY (KG_HASH_SECRET is not set): choose first, pin (KG_HASH_SECRET = the current key) or --kg-relink; nothing was changed'],
  ['130, 143, 129', 'interrupted by SIGINT (Ctrl-C), SIGTERM or SIGHUP before COMMIT: the transaction was rolled back, nothing was changed. A signal after COMMIT was sent does not stop it: the outcome is the commit\'s'],
]

/** @param {string} code */
function exitFor(code) {
  return /** @type {Record<string, Exit | undefined>} */ (EXIT_BY_CODE)[code] ?? 'internal'
}

module.exports = { STATUS, EXIT_BY_CODE, MEANINGS, exitFor, interruptedStatus }
