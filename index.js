'use strict'
// The public API. The native binding resolves every call with an outcome
// object; this thin layer turns failed outcomes into Errors with a stable
// `code`, because napi-rs can only reject with its own status codes.

const native = require('./binding.js')

class KeyrotateError extends Error {
  constructor(code, message, details) {
    super(message)
    this.name = 'KeyrotateError'
    this.code = code
    if (details) this.details = details
  }
}

function unwrap(outcome) {
  if (outcome.ok) return outcome.value
  throw new KeyrotateError(outcome.code, outcome.message, outcome.details ?? undefined)
}

// Progress reaches JS through a thread-safe function; a throwing callback
// must not take the rotation down with it, so it is shielded here.
function progressCallback(options) {
  const cb = options && options.onProgress
  if (cb === undefined || cb === null) return undefined
  if (typeof cb !== 'function') {
    throw new KeyrotateError('ERR_INVALID_ARG', 'invalid argument: onProgress must be a function')
  }
  return (event) => {
    try {
      cb(event)
    } catch {
      // Ignored on purpose: progress is advisory.
    }
  }
}

const OPTION_NAMES = {
  rotate: new Set(['dryRun', 'columns', 'columnsFile', 'lockTimeoutMs', 'discover', 'allowUnregistered', 'allowWhitespace', 'batchSize', 'onProgress']),
  verify: new Set(['columns', 'columnsFile', 'discover', 'allowWhitespace', 'batchSize', 'onProgress']),
}

// A misspelt option (`dryrun`, `lockTimeout`) must not silently become a
// real rotation with defaults.
function nativeOptions(options, kind) {
  if (options === undefined || options === null) return undefined
  if (typeof options !== 'object') {
    throw new KeyrotateError('ERR_INVALID_ARG', 'invalid argument: options must be an object')
  }
  for (const name of Object.keys(options)) {
    if (!OPTION_NAMES[kind].has(name)) {
      const shown = /^[A-Za-z]{1,24}$/.test(name) ? ` ${name}` : ''
      throw new KeyrotateError('ERR_INVALID_ARG', `invalid argument: unknown option${shown} (see index.d.ts)`)
    }
  }
  const { onProgress, ...rest } = options
  return rest
}

// napi-rs refuses a wrongly typed option (`batchSize: '10'`, `columns: 'x'`)
// with its own status code and a message that can quote the value. Callers
// get the stable code instead, naming the option but never its value.
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
      throw new KeyrotateError('ERR_INVALID_ARG', `invalid argument: ${what} has the wrong type (see index.d.ts)`)
    }
    throw e
  }
}

function checkKeyArg(name, key) {
  if (typeof key !== 'string' && !Buffer.isBuffer(key)) {
    throw new KeyrotateError('ERR_KEY_INVALID', `${name} is invalid: it must be a string or a Buffer`)
  }
}

function checkUrl(databaseUrl) {
  if (typeof databaseUrl !== 'string' || databaseUrl === '') {
    throw new KeyrotateError('ERR_INVALID_ARG', 'invalid argument: databaseUrl must be a non-empty string')
  }
}

async function rotateEncryptionKey(oldKey, newKey, databaseUrl, options) {
  checkKeyArg('old key', oldKey)
  checkKeyArg('new key', newKey)
  checkUrl(databaseUrl)
  const options_ = nativeOptions(options, 'rotate')
  const onProgress = progressCallback(options)
  return unwrap(await callNative(() => native.rotate(oldKey, newKey, databaseUrl, options_, onProgress)))
}

async function verifyEncryptionKey(key, databaseUrl, options) {
  checkKeyArg('key', key)
  checkUrl(databaseUrl)
  const options_ = nativeOptions(options, 'verify')
  const onProgress = progressCallback(options)
  return unwrap(await callNative(() => native.verify(key, databaseUrl, options_, onProgress)))
}

function keyFingerprint(key, options) {
  checkKeyArg('key', key)
  return unwrap(native.fingerprint(key, options?.allowWhitespace ?? false))
}

function checkKeys(oldKey, newKey, options) {
  checkKeyArg('old key', oldKey)
  checkKeyArg('new key', newKey)
  return unwrap(native.checkKeys(oldKey, newKey, options?.allowWhitespace ?? false))
}

function describeDatabase(databaseUrl) {
  checkUrl(databaseUrl)
  return unwrap(native.describeDatabase(databaseUrl))
}

function describeLocations(options, schema) {
  const options_ = nativeOptions(options, 'verify')
  return unwrap(callNative(() => native.describeLocations(options_, schema)))
}

function generateKey() {
  return native.generateKey()
}

module.exports = {
  rotateEncryptionKey,
  verifyEncryptionKey,
  keyFingerprint,
  checkKeys,
  describeDatabase,
  describeLocations,
  generateKey,
  KeyrotateError,
}
