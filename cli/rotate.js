// @ts-check
'use strict'
// `rotate`: the keys, the confirmation, the run, and what to do next.

const keyrotate = require('../index')
const { databaseUrl, sharedOptions, parseDuration } = require('./args')
const { CliError } = require('./errors')
const { gatherKeys, warnCommandLine } = require('./keys')
const render = require('./render')
const { confirm, statusLine } = require('./terminal')

/** @typedef {import('./args').Values} Values */
/** @typedef {import('./index').Io} Io */
/** @typedef {import('./output').Output} Output */

const MISSING_HINT = {
  old: 'Give the old key, the ENCRYPTION_KEY the backend runs with now, in a file (--old-file), on standard input (--stdin) or in OLD_ENCRYPTION_KEY / ENCRYPTION_KEY. Nothing was touched.',
  new: 'Give the new key in a file (--new-file), on standard input (--stdin, second line) or in NEW_ENCRYPTION_KEY; `generate-key` prints a strong one. Nothing was touched.',
}

/** @param {'old' | 'new'} which */
function missing(which) {
  return new CliError('ERR_KEY_INVALID', `${which} key is invalid: it is missing`, { hint: MISSING_HINT[which] })
}

/**
 * @param {Values} v
 * @param {Io} io
 * @param {Output} out
 */
async function rotate(v, io, out) {
  const keys = await gatherKeys('rotate', v, io)
  warnCommandLine(out, keys.onCommandLine)
  if (!keys.old) throw missing('old')
  if (!keys.new) throw missing('new')
  const url = databaseUrl(v, io.env)
  const lockTimeoutMs = v['lock-timeout'] !== undefined ? parseDuration(v['lock-timeout']) : undefined
  // Bad keys are refused before anything touches the database.
  const check = keyrotate.checkKeys(keys.old.value, keys.new.value, { allowWhitespace: v['allow-whitespace'] ?? false })
  const { target } = keyrotate.describeDatabase(url)
  for (const w of check.warnings) out.warn(w.message)
  const dryRun = v['dry-run'] ?? false

  if (!dryRun && !v.yes) {
    if (!io.interactive) {
      throw new CliError('ERR_CONFIRMATION_REQUIRED', 'off a terminal a rotation needs --yes (or --dry-run to check without writing); nothing was touched')
    }
    const locations = keyrotate
      .describeLocations({ columns: v.column, columnsFile: v['columns-file'] }, target.schema)
      .map((l) => `  ${render.locationName(l)}${l.where ? ` where ${render.filterText(l)}` : ''}`)
      .join('\n')
    const yes = await confirm(
      `Rotate ENCRYPTION_KEY in ${render.databaseText(target)}.\n` +
        `Locations (those this database lacks are skipped):\n${locations}\n` +
        `Old key ${check.oldKeyFingerprint} (from ${keys.old.source}) -> new key ${check.newKeyFingerprint} (from ${keys.new.source})\n` +
        `Proceed? [y/N] `,
      io,
      io.signal,
    )
    if (!yes) {
      if (io.signal?.aborted) throw new CliError('ABORT_ERR', 'the confirmation was interrupted; nothing was touched', { hint: 'Nothing was touched.' })
      throw new CliError('ERR_DECLINED', 'the rotation was declined at the prompt; nothing was changed')
    }
  }

  const status = statusLine(out, io.interactive && !out.json)
  let report
  try {
    report = await keyrotate.rotateEncryptionKey(keys.old.value, keys.new.value, url, {
      ...sharedOptions(v, io.env),
      dryRun,
      lockTimeoutMs,
      allowUnregistered: v['leave-unregistered'] ?? false,
      kgRelink: v['kg-relink'] ?? false,
      onProgress: status.onProgress,
      signal: io.signal,
    })
  } finally {
    status.clear()
  }
  render.rotation(out, report, { verbose: v.verbose ?? false })
  if (report.committed && io.signal?.aborted) {
    out.note(`${io.signal.reason} arrived after the COMMIT was sent: the rotation committed`)
  }
  if (report.committed) out.out(nextSteps(report))
  return report
}

/** @param {import('../index').RotationReport} r */
function nextSteps(r) {
  if (r.discovered.length > 0) {
    return 'Do NOT discard the old key: the places warned about above still hold values under it. Add them with --columns-file and run again.\n'
  }
  return (
    `Next: verify with the new key (verify --key-file new.key: every value should open with ${r.newKeyFingerprint}); ` +
    `set ENCRYPTION_KEY to the new key and check that the backend will start with ${r.newKeyFingerprint} (fingerprint); ` +
    'then restart the backend, and keep the old key until verify passes again.\n'
  )
}

module.exports = { rotate }
