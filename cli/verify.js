// @ts-check
'use strict'
// `verify` and the offline commands (`fingerprint`, `generate-key`).

const keyrotate = require('../index')
const { databaseUrl, sharedOptions } = require('./args')
const { CliError } = require('./errors')
const { gatherKeys, warnCommandLine } = require('./keys')
const render = require('./render')
const { statusLine } = require('./terminal')

/** @typedef {import('./args').Values} Values */
/** @typedef {import('./index').Io} Io */
/** @typedef {import('./output').Output} Output */
/** @typedef {import('../index').VerifyReport} VerifyReport */

/** @param {Values} v @param {Io} io @param {Output} out */
async function theKey(v, io, out, command = /** @type {'verify' | 'fingerprint'} */ ('verify')) {
  const keys = await gatherKeys(command, v, io)
  warnCommandLine(out, keys.onCommandLine)
  if (!keys.key) {
    throw new CliError('ERR_KEY_INVALID', 'key is invalid: it is missing', {
      hint: 'Give the key in a file (--key-file), on standard input (--stdin) or in ENCRYPTION_KEY. Nothing was touched.',
    })
  }
  return keys.key
}

/** @param {Values} v @param {Io} io @param {Output} out */
async function verify(v, io, out) {
  const key = await theKey(v, io, out)
  const url = databaseUrl(v, io.env)
  const status = statusLine(out, io.interactive && !out.json)
  let report
  try {
    report = await keyrotate.verifyEncryptionKey(key.value, url, {
      ...sharedOptions(v, io.env),
      onProgress: status.onProgress,
      signal: io.signal,
    })
  } finally {
    status.clear()
  }
  const sealed = report.valuesVerified + report.failureCount
  const verdict = `key ${report.keyFingerprint} (from ${key.source}) opens ${report.valuesVerified} of ${sealed} sealed values`
  if (!report.ok) throw new CliError('ERR_VERIFY_FAILED', verdict, { hint: advice(report), report })
  render.verification(out, report, { verbose: v.verbose ?? false })
  out.out(`${verdict[0].toUpperCase()}${verdict.slice(1)}: OK\n`)
  return report
}

/** What a failed verify means, from what opened. @param {VerifyReport} r */
function advice(r) {
  const keep = 'Do not start the backend on this key, and keep the old key.'
  if (r.failureCount > 0 && r.valuesVerified === 0) {
    return `${keep} Not one value opens with it: this is not the key the data is on. Check the keys with \`fingerprint\`: the data is on the key the last committed rotation named as new.`
  }
  if (r.failureCount > 0) {
    return `${keep} ${r.failureCount} value(s) do not open while the others do: most likely written under the old key after the rotation, by a backend still running on it. Run the same rotation again (it re-encrypts only those), then verify again.`
  }
  return `${keep} Every registered value opens, but places outside the registry hold values under this key (listed above): add them with --columns-file.`
}

/** @param {Values} v @param {Io} io @param {Output} out */
async function fingerprint(v, io, out) {
  const key = await theKey(v, io, out, 'fingerprint')
  const print = keyrotate.keyFingerprint(key.value, { allowWhitespace: v['allow-whitespace'] ?? false })
  out.out(`${print} (key from ${key.source})\n`)
  return { fingerprint: print, source: key.source }
}

/** @param {Values} _v @param {Io} _io @param {Output} out */
async function generateKey(_v, _io, out) {
  const key = keyrotate.generateKey()
  out.out(`${key}\n`)
  return { key, fingerprint: keyrotate.keyFingerprint(key) }
}

module.exports = { verify, fingerprint, generateKey }
