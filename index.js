'use strict'
// The public API. The native binding resolves every call with an outcome
// object; this thin layer turns failed outcomes into Errors with a stable
// `code`, because napi-rs can only reject with its own status codes.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const adopt = require('./adopt.js')

// The binary is loaded on first use, not at require: backend code imports
// this package at boot for adoptNextEncryptionKey, and must still start on a
// machine without a binary when no key change is asked for.
let loaded
let loadFailure
function binding() {
  if (loaded === undefined && loadFailure === undefined) {
    try {
      loaded = require('./binding.js')
    } catch (cause) {
      loadFailure = noBinary(cause)
    }
  }
  if (loadFailure) throw loadFailure
  return loaded
}

/** The platforms a binary ships for (package.json napi.targets, as npm/ names them). */
const PLATFORMS = ['linux-x64-gnu', 'linux-x64-musl', 'linux-arm64-gnu', 'linux-arm64-musl', 'darwin-x64', 'darwin-arm64']

/** The platform as binding.js and npm name it: on Linux, glibc or musl as /usr/bin/ldd, else the process report, says. */
function platformName() {
  if (process.platform !== 'linux') return `${process.platform}-${process.arch}`
  let musl
  try {
    musl = fs.readFileSync('/usr/bin/ldd', 'utf8').includes('musl')
  } catch {
    const report = process.report
    const excludeNetwork = report?.excludeNetwork
    try {
      // Without it, the report resolves every open socket's peer name.
      report.excludeNetwork = true
      musl = !report.getReport().header.glibcVersionRuntime
    } catch {
      return `linux-${process.arch}`
    } finally {
      if (report) report.excludeNetwork = excludeNetwork
    }
  }
  return `linux-${process.arch}-${musl ? 'musl' : 'gnu'}`
}

function installedBinary(platform) {
  const file = path.join(__dirname, `keyrotate.${platform}.node`)
  if (fs.existsSync(file)) return file
  try {
    return require.resolve(`@anythingmcp/keyrotate-${platform}`)
  } catch {
    return undefined
  }
}

/**
 * Why the loader could not load a binary that is there: the first line of
 * each of its errors but those for the places it looked and found nothing
 * (Node's MODULE_NOT_FOUND wording, which Node does not translate). Paths
 * and reasons only, never a value.
 */
function loadErrors(cause) {
  const messages = []
  for (let e = cause?.cause ?? cause, depth = 0; e && depth < 20; e = e.cause, depth++) {
    const first = typeof e.message === 'string' ? e.message.split('\n')[0] : ''
    if (first && !first.startsWith('Cannot find module ')) messages.push(first)
  }
  return messages.length ? messages.join('; ') : 'the loader gave no reason'
}

function noBinary(cause) {
  const platform = platformName()
  const installed = PLATFORMS.includes(platform) ? installedBinary(platform) : undefined
  const nothingTouched = 'Nothing was touched.'
  let error
  if (installed) {
    error = new KeyrotateError('ERR_NO_BINARY', `keyrotate's native binary for this platform (${platform}) is installed but did not load: ${loadErrors(cause)}`, {
      hint: `The binary is ${installed}. Reinstall the dependencies (remove node_modules, then npm ci); if it still does not load, report this message. ${nothingTouched}`,
    })
  } else if (PLATFORMS.includes(platform)) {
    error = new KeyrotateError('ERR_NO_BINARY', `keyrotate has no native binary for this platform (${platform})`, {
      hint: `npm did not install the optional package @anythingmcp/keyrotate-${platform}, which holds it: install without --no-optional or --omit=optional (and not with a lockfile written with them). ${nothingTouched}`,
    })
  } else {
    error = new KeyrotateError('ERR_NO_BINARY', `keyrotate has no native binary for this platform (${platform})`, {
      hint: `keyrotate ships binaries for ${PLATFORMS.join(', ')} only: run it on one of them (the Docker image's node:22-alpine is linux-x64-musl or linux-arm64-musl). ${nothingTouched}`,
    })
  }
  error.cause = cause
  return error
}

class KeyrotateError extends Error {
  constructor(code, message, { hint, details, report } = {}) {
    super(message)
    this.name = 'KeyrotateError'
    this.code = code
    this.hint = hint
    if (details) this.details = details
    if (report) this.report = report
  }
}

// Node's convention for a cancelled operation (`name`, `code`), and still a
// KeyrotateError, so one `catch` sees every outcome.
class AbortError extends KeyrotateError {
  constructor(message, hint, cause) {
    super('ABORT_ERR', message, { hint })
    this.name = 'AbortError'
    if (cause !== undefined) this.cause = cause
  }
}

const ABORTED_BEFORE_START = 'the run was cancelled before it started; nothing was touched'

function unwrap(outcome, signal) {
  if (outcome.ok) return outcome.value
  if (outcome.code === 'ABORT_ERR') throw new AbortError(outcome.message, outcome.hint, signal?.reason)
  throw new KeyrotateError(outcome.code, outcome.message, {
    hint: outcome.hint,
    details: outcome.details ?? undefined,
    report: outcome.report,
  })
}

// Every option of the JS API, in one table: its type, its range when it is a
// number, and the calls that take it. Options are checked here, before any
// native work, and handed over only once checked, because napi-rs converts
// numbers as C does (2 ** 32 + 1000 into a u32 is 1000; 1.5 is 1) and cannot
// tell `null` from a missing option. Refusals name the option, never its
// value. A new option is a row here and a field of NativeOptions (src/lib.rs);
// the core checks its own ranges again for Rust callers.
const OPTIONS = {
  dryRun: { type: 'boolean', calls: ['rotate'] },
  allowUnregistered: { type: 'boolean', calls: ['rotate'] },
  lockTimeoutMs: { type: 'integer', min: 1, max: 2 ** 31 - 1, unit: 'milliseconds', calls: ['rotate'] },
  columns: { type: 'columns', calls: ['rotate', 'verify'] },
  columnsFile: { type: 'string', calls: ['rotate', 'verify'] },
  discover: { type: 'boolean', calls: ['rotate', 'verify'] },
  batchSize: { type: 'integer', min: 1, max: 100_000, unit: 'rows', calls: ['rotate', 'verify'] },
  allowWhitespace: { type: 'boolean', calls: ['rotate', 'verify', 'keys'] },
  kgRelink: { type: 'boolean', calls: ['rotate'] },
  schema: { type: 'string', calls: ['rotate', 'verify'] },
  // The secret itself stays in JS: native code learns only that it is set,
  // and whether it is the old key.
  kgHashSecret: { type: 'key', calls: ['rotate', 'verify'], native: false },
  // Used in JS only: onProgress reaches the binding as its own argument,
  // shielded; the signal cancels the native run.
  onProgress: { type: 'function', calls: ['rotate', 'verify'], native: false },
  signal: { type: 'signal', calls: ['rotate', 'verify'], native: false },
}

const COLUMN_SPEC_FIELDS = new Set(['schema', 'table', 'primaryKey', 'column'])

function isColumnSpec(c) {
  if (typeof c === 'string') return true
  if (c === null || typeof c !== 'object' || Array.isArray(c)) return false
  return (
    Object.keys(c).every((k) => COLUMN_SPEC_FIELDS.has(k)) &&
    ['table', 'primaryKey', 'column'].every((k) => typeof c[k] === 'string') &&
    (c.schema === undefined || typeof c.schema === 'string')
  )
}

const TYPES = {
  boolean: { ok: (v) => typeof v === 'boolean', what: () => 'true or false' },
  string: { ok: (v) => typeof v === 'string' && v !== '', what: () => 'a non-empty string' },
  function: { ok: (v) => typeof v === 'function', what: () => 'a function' },
  signal: { ok: (v) => v instanceof AbortSignal, what: () => 'an AbortSignal' },
  key: { ok: (v) => (typeof v === 'string' && v !== '') || (Buffer.isBuffer(v) && v.length > 0), what: () => 'a non-empty string or Buffer' },
  integer: {
    ok: (v, row) => Number.isSafeInteger(v) && v >= row.min && v <= row.max,
    what: (row) => `an integer from ${row.min} to ${row.max} (${row.unit})`,
  },
  columns: {
    ok: (v) => Array.isArray(v) && v.every(isColumnSpec),
    what: () => 'an array of "[schema.]table.primaryKey.column" strings or { schema?, table, primaryKey, column } objects',
  },
}

const INVALID_ARG_HINT = 'Check the argument the message names against index.d.ts. Nothing was touched.'

function invalid(message) {
  return new KeyrotateError('ERR_INVALID_ARG', `invalid argument: ${message}`, { hint: INVALID_ARG_HINT })
}

// A misspelt option (`dryrun`, `lockTimeout`) must not silently become a
// real rotation with defaults; `null` is refused too, because
// `dryRun: config.dryRun ?? null` must not mean a real run.
function checkOptions(options, call) {
  const native = {}
  const local = {}
  if (options === undefined || options === null) return { native: undefined }
  if (typeof options !== 'object' || Array.isArray(options)) throw invalid('options must be an object')
  for (const [name, value] of Object.entries(options)) {
    const row = Object.hasOwn(OPTIONS, name) ? OPTIONS[name] : undefined
    if (!row || !row.calls.includes(call)) {
      const shown = /^[A-Za-z]{1,24}$/.test(name) ? ` ${name}` : ''
      throw invalid(`unknown option${shown} (see index.d.ts)`)
    }
    if (value === undefined) continue
    const type = TYPES[row.type]
    if (!type.ok(value, row)) throw invalid(`option ${name} must be ${type.what(row)}, or left out`)
    if (row.native === false) local[name] = value
    else native[name] = value
  }
  return { native, onProgress: local.onProgress && shielded(local.onProgress), signal: local.signal, kgHashSecret: local.kgHashSecret }
}

const bytes = (key) => (Buffer.isBuffer(key) ? key : Buffer.from(key, 'utf8'))

// The knowledge graph is keyed by the whole KG_HASH_SECRET string, so only
// the exact old ENCRYPTION_KEY keeps its links across the rotation.
function graphKey(kgHashSecret, oldKey) {
  if (kgHashSecret === undefined) return {}
  return { kgPinnedToOldKey: oldKey !== undefined && bytes(kgHashSecret).equals(bytes(oldKey)) }
}

// Who runs the rotation, for the audit event: what this process's OS says.
function actor() {
  let auditUser
  try {
    auditUser = os.userInfo().username
  } catch {
    auditUser = undefined
  }
  return { auditUser, auditHost: os.hostname() }
}

// Progress reaches JS through a thread-safe function; a throwing callback
// must not take the rotation down with it.
function shielded(cb) {
  return (event) => {
    try {
      cb(event)
    } catch {
      // Ignored on purpose: progress is advisory.
    }
  }
}

// napi-rs refuses a value that does not fit its Rust type with its own status
// code and a message that can quote the value. checkOptions leaves nothing of
// the kind to reach it; should a row and NativeOptions ever disagree, callers
// still get the stable code, naming the option but never its value.
const NAPI_TYPE_ERRORS = new Set([
  'InvalidArg',
  'ObjectExpected',
  'StringExpected',
  'NumberExpected',
  'BooleanExpected',
  'ArrayExpected',
  'FunctionExpected',
  'BigintExpected',
])

function callNative(call) {
  try {
    return call()
  } catch (e) {
    if (e && NAPI_TYPE_ERRORS.has(e.code)) {
      const field = /NativeOptions\.(\w+)/.exec(String(e.message))
      const what = field ? `option ${field[1]}` : 'an argument'
      throw invalid(`${what} has the wrong type (see index.d.ts)`)
    }
    throw e
  }
}

function checkKeyArg(name, key) {
  if (typeof key !== 'string' && !Buffer.isBuffer(key)) {
    throw new KeyrotateError('ERR_KEY_INVALID', `${name} is invalid: it must be a string or a Buffer`, {
      hint: 'Pass the key as a string, as ENCRYPTION_KEY holds it, or a Buffer of its UTF-8 bytes. Nothing was touched.',
      details: { kind: 'key', role: name === 'old key' ? 'old' : name === 'new key' ? 'new' : 'verify' },
    })
  }
}

function checkUrl(databaseUrl) {
  if (typeof databaseUrl !== 'string' || databaseUrl === '') throw invalid('databaseUrl must be a non-empty string')
}

// One native run, cancelled when the signal fires. Native code stops it at
// once unless its COMMIT was already sent: then the commit's own outcome
// (usually a committed report) is the answer, because rejecting would hide
// a change that happened.
async function runNative(signal, call) {
  if (signal?.aborted) {
    throw new AbortError(ABORTED_BEFORE_START, 'Nothing was touched.', signal.reason)
  }
  const run = new (binding().Run)()
  const cancel = () => run.cancel()
  signal?.addEventListener('abort', cancel, { once: true })
  try {
    return unwrap(await callNative(() => call(run)), signal)
  } finally {
    signal?.removeEventListener('abort', cancel)
  }
}

async function rotateEncryptionKey(oldKey, newKey, databaseUrl, options) {
  checkKeyArg('old key', oldKey)
  checkKeyArg('new key', newKey)
  checkUrl(databaseUrl)
  const { native: checked, onProgress, signal, kgHashSecret } = checkOptions(options, 'rotate')
  const options_ = { ...checked, ...graphKey(kgHashSecret, oldKey), ...actor() }
  return runNative(signal, (run) => run.rotate(oldKey, newKey, databaseUrl, options_, onProgress))
}

async function verifyEncryptionKey(key, databaseUrl, options) {
  checkKeyArg('key', key)
  checkUrl(databaseUrl)
  const { native: checked, onProgress, signal, kgHashSecret } = checkOptions(options, 'verify')
  const options_ = { ...checked, ...(kgHashSecret === undefined ? {} : { kgPinnedToOldKey: true }) }
  return runNative(signal, (run) => run.verify(key, databaseUrl, options_, onProgress))
}

function keyFingerprint(key, options) {
  checkKeyArg('key', key)
  const { native: options_ } = checkOptions(options, 'keys')
  return unwrap(binding().fingerprint(key, options_?.allowWhitespace ?? false))
}

function checkKeys(oldKey, newKey, options) {
  checkKeyArg('old key', oldKey)
  checkKeyArg('new key', newKey)
  const { native: options_ } = checkOptions(options, 'keys')
  return unwrap(binding().checkKeys(oldKey, newKey, options_?.allowWhitespace ?? false))
}

function describeDatabase(databaseUrl) {
  checkUrl(databaseUrl)
  return unwrap(binding().describeDatabase(databaseUrl))
}

function describeLocations(options, schema) {
  const { native: options_ } = checkOptions(options, 'verify')
  return unwrap(callNative(() => binding().describeLocations(options_, schema)))
}

function generateKey() {
  return binding().generateKey()
}

/** Rotate ENCRYPTION_KEY to ENCRYPTION_KEY_NEXT at boot (adopt.js; index.d.ts documents it). */
function adoptNextEncryptionKey(env = process.env, options = {}) {
  if (options === null || typeof options !== 'object') return Promise.reject(invalid('options must be an object'))
  return adopt.adoptNextEncryptionKey(module.exports, env, options)
}

module.exports = {
  rotateEncryptionKey,
  verifyEncryptionKey,
  keyFingerprint,
  checkKeys,
  describeDatabase,
  describeLocations,
  generateKey,
  adoptNextEncryptionKey,
  KeyrotateError,
  AbortError,
}
