// @ts-check
'use strict'
// Reports in words and tables, for a human at a terminal or reading a log.
// Reports hold names, counts and fingerprints only, so nothing here can
// show a secret.

/** @typedef {import('../index').RotationReport} RotationReport */
/** @typedef {import('../index').VerifyReport} VerifyReport */
/** @typedef {import('../index').LocationReport} LocationReport */
/** @typedef {import('../index').DatabaseIdentity} DatabaseIdentity */
/** @typedef {import('./output').Output} Output */

/** @param {{ schema: string, table: string, column: string, member?: string | null }} l */
function locationName(l) {
  return `${l.schema}.${l.table}.${l.column}${l.member ? `.${l.member}` : ''}`
}

/** @param {{ where: Record<string, string> | null }} l */
function filterText(l) {
  return l.where ? Object.entries(l.where).map(([k, v]) => `${k} = ${v}`).join(', ') : ''
}

/** @param {DatabaseIdentity} t */
function databaseText(t) {
  return `database ${t.database} on ${t.host}:${t.port} as ${t.user}, schema ${t.schema}`
}

/**
 * Absent locations (a release without that table) are listed only with
 * --verbose: on most installations they would be noise on every run.
 * @param {LocationReport[]} locations
 * @param {'rotate' | 'verify'} kind
 * @param {boolean} verbose
 */
function locationTable(locations, kind, verbose) {
  const head =
    kind === 'verify'
      ? ['location', 'status', 'rows', 'open with key', 'empty', 'failed']
      : ['location', 'status', 'rows', 're-encrypted', 'already new', 'empty', 'failed']
  const shown = locations.filter((l) => verbose || l.status !== 'absent')
  const rows = shown.map((l) => {
    const name = locationName(l) + (l.where ? ` (${filterText(l)})` : '')
    const counts = kind === 'verify' ? [l.alreadyOnNewKey] : [l.reencrypted, l.alreadyOnNewKey]
    return [name, l.status, l.rows, ...counts, l.empty, l.failed].map(String)
  })
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)))
  /** @param {string[]} cells */
  const line = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ')
  return [line(head), ...rows.map(line)].join('\n') + '\n'
}

/**
 * Notices, warnings, failing values and unregistered ciphertext, on stderr.
 * @param {Output} out
 * @param {RotationReport | VerifyReport} report
 * @param {boolean} verbose
 */
function findings(out, report, verbose) {
  if (verbose) for (const n of report.notices) out.note(n)
  for (const w of report.warnings) out.warn(w.message)
  for (const f of report.failures) out.err(`failed: ${locationName(f)} (primary key ${f.primaryKey}): ${f.reason}\n`)
  if (report.failureCount > report.failures.length) {
    out.err(`failed: ... and ${report.failureCount - report.failures.length} more\n`)
  }
  const under = 'keyFingerprint' in report ? 'the key' : 'the old key'
  for (const d of report.discovered) {
    out.err(`unregistered: ${locationName(d)} holds ${d.matches} sampled value(s) under ${under}${d.aad === null ? '' : ` (AAD "${d.aad}")`}\n`)
  }
  const m = report.migrations
  if (m.unknown.length > 0) {
    out.warn(`the database has ${m.unknown.length} migration(s) the registry does not know (newest ${m.newest}): a newer release may seal secrets elsewhere`)
  } else if (verbose && m.present) {
    out.note(`database at migration ${m.newest ?? '(none)'} (${m.applied} applied)`)
  }
  if (verbose) {
    for (const l of report.locations.filter((x) => x.status === 'absent')) {
      out.note(`${locationName(l)} is absent from this database${l.absentReason ? ` (${l.absentReason})` : ''}`)
    }
  }
}

/**
 * The summary: rows and tables as the request words it, then values, each
 * count in its own unit.
 * @param {RotationReport} r
 */
function rotationSummary(r) {
  return `${r.summary} (${r.valuesReencrypted} values; ${r.alreadyOnNewKey} values already on the new key, ${r.empty} empty)`
}

/**
 * @param {Output} out
 * @param {RotationReport} r
 * @param {{ verbose: boolean }} o
 */
function rotation(out, r, o) {
  findings(out, r, o.verbose)
  out.out(locationTable(r.locations, 'rotate', o.verbose))
  out.out(`${r.dryRun ? 'Dry run (nothing written): ' : ''}${rotationSummary(r)} in ${r.durationMs} ms\n`)
  out.out(`${databaseText(r.target)}; keys ${r.oldKeyFingerprint} -> ${r.newKeyFingerprint}\n`)
  if (r.auditEventId) out.out(`Recorded in the audit trail: security_events ${r.auditEventId} (ENCRYPTION_KEY_ROTATED)\n`)
  if (r.knowledgeGraph.hasRows && r.knowledgeGraph.relink && r.committed) {
    out.out('The knowledge graph starts new links from its next observation (--kg-relink).\n')
  }
}

/**
 * @param {Output} out
 * @param {VerifyReport} r
 * @param {{ verbose: boolean }} o
 */
function verification(out, r, o) {
  findings(out, r, o.verbose)
  out.out(locationTable(r.locations, 'verify', o.verbose))
  out.out(`${r.summary} in ${r.durationMs} ms\n${databaseText(r.target)}\n`)
}

module.exports = { locationName, filterText, databaseText, rotation, rotationSummary, verification }
