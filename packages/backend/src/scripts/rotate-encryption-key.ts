#!/usr/bin/env node
// rotate-encryption-key: the operator's command. It only parses arguments,
// gathers keys and prints; the native addon does every bit of the work.

import { readFileSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'
import {
  checkKeys,
  describeDatabase,
  describeLocations,
  generateKey,
  keyFingerprint,
  rotateEncryptionKey,
  verifyEncryptionKey,
  type LocationReport,
  type Progress,
  type RotateOptions,
  type RotationReport,
  type VerifyReport,
  type Warning,
} from '@anythingmcp/keyrotate'

const EXIT = {
  ok: 0,
  internal: 1,
  usage: 2,
  data: 3,
  database: 4,
  commitUnknown: 5,
} as const

// What each exit status tells the operator: --help lists these, and every
// --json error document carries its own.
const EXIT_MEANING: Record<number, string> = {
  [EXIT.ok]: 'success (verify: every value opens with the key)',
  [EXIT.internal]: 'internal or unexpected database error; the transaction was rolled back',
  [EXIT.usage]: 'usage error, invalid key, or confirmation declined; nothing was touched',
  [EXIT.data]:
    'old key does not match, a value opens with neither key, or a column outside the registry holds ciphertext (dry run and verify: some values would fail); nothing was changed',
  [EXIT.database]:
    'database unreachable, authentication failed, lock timeout, or row-level security would hide rows; nothing was changed',
  [EXIT.commitUnknown]:
    'the connection was lost during COMMIT, so the rotation may or may not have committed. Do not switch keys: run the same rotation again with the same keys, then verify with the new key',
}

const EXIT_BY_CODE: Record<string, number> = {
  ERR_USAGE: EXIT.usage,
  ERR_KEY_INVALID: EXIT.usage,
  ERR_KEY_UNCHANGED: EXIT.usage,
  ERR_INVALID_ARG: EXIT.usage,
  ERR_COLUMN_NOT_FOUND: EXIT.usage,
  ERR_TABLE_UNSUPPORTED: EXIT.usage,
  ERR_OLD_KEY_MISMATCH: EXIT.data,
  ERR_UNDECRYPTABLE: EXIT.data,
  ERR_UNREGISTERED_CIPHERTEXT: EXIT.data,
  ERR_ROW_SECURITY: EXIT.database,
  ERR_VERIFY_FAILED: EXIT.data,
  ERR_DB_CONNECT: EXIT.database,
  ERR_LOCK_TIMEOUT: EXIT.database,
  ERR_COMMIT_UNKNOWN: EXIT.commitUnknown,
}

const HINTS: Record<string, string> = {
  ERR_USAGE: 'Run with --help for usage.',
  ERR_KEY_INVALID: 'Check the key source (environment, file or stdin); generate a new key with `generate-key`.',
  ERR_KEY_UNCHANGED: 'The new key must differ from the old one in its first 32 bytes.',
  ERR_INVALID_ARG: 'Run with --help for usage.',
  ERR_COLUMN_NOT_FOUND: 'Check --column / --columns-file against the database schema.',
  ERR_TABLE_UNSUPPORTED: 'Nothing was changed. Check the location against the table (docs/locations.md).',
  ERR_UNREGISTERED_CIPHERTEXT: 'Nothing was changed. Add the location with --columns-file (docs/locations.md) and run again; --leave-unregistered rotates anyway and leaves those values on the old key.',
  ERR_ROW_SECURITY: 'Nothing was changed.',
  ERR_OLD_KEY_MISMATCH: 'The old key is not the one this database was encrypted with. Use the ENCRYPTION_KEY the backend currently runs with. Nothing was changed.',
  ERR_UNDECRYPTABLE: 'This one value is damaged, is not stored the way the backend stores it, or was sealed elsewhere (a value copied from another row does not open under its own row); the message says which. Re-enter or clear that credential in the backend, then run again. Nothing was changed.',
  ERR_VERIFY_FAILED: 'Do not discard the old key yet. Values that do not open were probably written under the old key after the rotation: run the same rotation again (keys from files or the environment) to finish, then verify again. Unregistered columns need --column.',
  ERR_DB_CONNECT: 'Check DATABASE_URL / --database-url, that the database is reachable, and its TLS settings (sslmode).',
  ERR_LOCK_TIMEOUT: 'Another rotation or a long transaction holds the tables. Retry, stop the backend, or raise --lock-timeout. Nothing was changed.',
  ERR_DB: 'The transaction was rolled back; nothing was changed.',
  ERR_COMMIT_UNKNOWN:
    'Do not switch ENCRYPTION_KEY and do not restore a backup yet. Run the same rotation again with the same keys: values already on the new key are left alone, so it is safe whether or not the commit happened. Then verify with the new key, and only then switch.',
  ERR_INTERNAL: 'Nothing was committed. Please report this.',
}

function exitCodeHelp(): string {
  return Object.entries(EXIT_MEANING)
    .map(([status, meaning]) => {
      const lines = ['']
      for (const word of meaning.split(' ')) {
        if (lines[lines.length - 1].length + word.length > 70) lines.push('')
        lines[lines.length - 1] += (lines[lines.length - 1] ? ' ' : '') + word
      }
      return lines.map((l, i) => (i === 0 ? `  ${status}  ${l}` : `     ${l}`)).join('\n')
    })
    .join('\n')
}

const HELP = `Usage:
  rotate-encryption-key [rotate] [options]     re-encrypt every credential from the old key to the new one
  rotate-encryption-key verify [options]       check every credential opens with a key
  rotate-encryption-key generate-key           print a new strong ENCRYPTION_KEY

The rotation runs in one PostgreSQL transaction: every credential is
re-encrypted and committed, or nothing changes. Writers to the encrypted
tables wait while it runs; readers do not.

Keys (prefer the environment, a file or stdin: --old/--new show up in ps and
shell history):
  OLD_ENCRYPTION_KEY, NEW_ENCRYPTION_KEY   environment variables (the old key
                                           falls back to ENCRYPTION_KEY)
  --old-file PATH, --new-file PATH         read a key from a file (one trailing
                                           newline is stripped)
  --stdin                                  read keys from a pipe or file on
                                           standard input, one per line: old
                                           then new (verify: the key)
  --old KEY, --new KEY                     on the command line (warns)
  --key KEY, --key-file PATH               verify: the key to check (default:
                                           ENCRYPTION_KEY, else NEW_ENCRYPTION_KEY)
  --allow-whitespace                       accept keys with leading/trailing spaces

Database:
  --database-url URL                       default: DATABASE_URL. Prisma URLs
                                           work (schema=, sslmode=, sslrootcert=)

Options:
  --dry-run                                do everything but write; list every
                                           value that would fail
  --yes, -y                                do not ask for confirmation
  --json                                   print one JSON document on stdout
  --lock-timeout DURATION                  longest wait for table locks: 500ms,
                                           10s (default), 2m
  --column SCHEMA.TABLE.PK.COLUMN          another location: the whole value of
                                           a text column (repeatable; schema
                                           optional)
  --columns-file PATH                      more locations, in the registry's
                                           JSON format (JSON members, row
                                           filters, AAD: docs/locations.md)
  --no-discover                            skip the search outside the
                                           registry for ciphertext
  --leave-unregistered                     rotate even though ciphertext was
                                           found outside the registry (it stays
                                           on the old key)
  --help, -h                               this help

Exit codes:
${exitCodeHelp()}

Example:
  export DATABASE_URL='postgresql://amcp:pw@postgres:5432/anythingmcp?schema=public'
  cat old.key new.key | node dist/scripts/rotate-encryption-key.js --stdin --dry-run
  node dist/scripts/rotate-encryption-key.js --old-file old.key --new-file new.key --yes
  node dist/scripts/rotate-encryption-key.js verify --key-file new.key
`

class CliError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message)
  }
}

type Values = {
  old?: string
  new?: string
  key?: string
  'old-file'?: string
  'new-file'?: string
  'key-file'?: string
  stdin?: boolean
  'allow-whitespace'?: boolean
  'database-url'?: string
  'dry-run'?: boolean
  yes?: boolean
  json?: boolean
  'lock-timeout'?: string
  column?: string[]
  'columns-file'?: string
  'no-discover'?: boolean
  'leave-unregistered'?: boolean
  help?: boolean
}

const OPTIONS = {
  old: { type: 'string' },
  new: { type: 'string' },
  key: { type: 'string' },
  'old-file': { type: 'string' },
  'new-file': { type: 'string' },
  'key-file': { type: 'string' },
  stdin: { type: 'boolean' },
  'allow-whitespace': { type: 'boolean' },
  'database-url': { type: 'string' },
  'dry-run': { type: 'boolean' },
  yes: { type: 'boolean', short: 'y' },
  json: { type: 'boolean' },
  'lock-timeout': { type: 'string' },
  column: { type: 'string', multiple: true },
  'columns-file': { type: 'string' },
  'no-discover': { type: 'boolean' },
  'leave-unregistered': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const

const KNOWN_OPTIONS = new Set(
  Object.entries(OPTIONS).flatMap(([name, o]) => ['--' + name, ...('short' in o ? ['-' + o.short] : [])]),
)

function parse(argv: string[]): { command: string; values: Values } {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: OPTIONS,
    })
  } catch (e) {
    // parseArgs quotes the offending argument, which may be a key passed to
    // a misspelt option (`--olf=KEY`): name the option only, never a value.
    // Only something shaped like an option name is named: a key is longer,
    // and has capitals or digits.
    const unknown = argv
      .map((a) => a.split('=')[0])
      .find((name) => /^--?[a-z][a-z-]{0,22}$/.test(name) && !KNOWN_OPTIONS.has(name))
    const what = unknown ? `unknown option ${unknown}` : 'an unknown option, or an option without its value'
    throw new CliError('ERR_USAGE', `invalid arguments: ${what}`)
  }
  const [command = 'rotate', ...extra] = parsed.positionals
  if (extra.length > 0 || !['rotate', 'verify', 'generate-key'].includes(command)) {
    throw new CliError('ERR_USAGE', 'expected one command: rotate, verify or generate-key')
  }
  return { command, values: parsed.values as Values }
}

function parseDuration(text: string): number {
  const m = /^(\d+)(ms|s|m)?$/.exec(text.trim())
  if (!m) throw new CliError('ERR_USAGE', '--lock-timeout takes a duration such as 500ms, 10s or 2m')
  const n = Number(m[1])
  const ms = m[2] === 's' ? n * 1000 : m[2] === 'm' ? n * 60000 : m[2] === 'ms' ? n : n * 1000
  if (ms < 1 || ms > 2 ** 31 - 1) throw new CliError('ERR_USAGE', '--lock-timeout is out of range')
  return ms
}

function readKeyFile(path: string, which: string): string {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (e) {
    throw new CliError('ERR_USAGE', `cannot read the ${which} file ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`)
  }
  // Editors and `echo` add one newline; anything more is the key's own.
  return text.replace(/\r?\n$/, '')
}

async function readStdinLines(): Promise<string[]> {
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8').split(/\r?\n/)
}

type KeySources = { old?: string; new?: string; key?: string; argv: string[] }

async function gatherKeys(command: string, v: Values): Promise<KeySources> {
  const env = process.env
  const out: KeySources = { argv: [] }
  if (v.stdin && process.stdin.isTTY) {
    // Typed at a terminal, the keys would be echoed on the screen.
    throw new CliError('ERR_USAGE', '--stdin reads keys from a pipe or a file (cat old.key new.key | ... --stdin), not from a terminal')
  }
  const stdin = v.stdin ? await readStdinLines() : undefined
  if (command === 'verify') {
    if (v.key !== undefined) out.argv.push('--key')
    out.key = v.key ?? (v['key-file'] ? readKeyFile(v['key-file'], 'key') : undefined) ?? stdin?.[0]
    out.key ??= env.ENCRYPTION_KEY || env.NEW_ENCRYPTION_KEY || undefined
    return out
  }
  if (v.old !== undefined) out.argv.push('--old')
  if (v.new !== undefined) out.argv.push('--new')
  out.old = v.old ?? (v['old-file'] ? readKeyFile(v['old-file'], 'old key') : undefined) ?? stdin?.[0]
  out.new = v.new ?? (v['new-file'] ? readKeyFile(v['new-file'], 'new key') : undefined) ?? stdin?.[1]
  out.old ??= env.OLD_ENCRYPTION_KEY || env.ENCRYPTION_KEY || undefined
  out.new ??= env.NEW_ENCRYPTION_KEY || undefined
  return out
}

const interactive = () => Boolean(process.stdin.isTTY && process.stderr.isTTY)

function warn(text: string) {
  process.stderr.write(`warning: ${text}\n`)
}

function note(text: string) {
  process.stderr.write(`note: ${text}\n`)
}

// Only "y" or "yes" proceeds. Ctrl-C and end of input (Ctrl-D) are a no:
// readline reports them as events (SIGINT, close), never as an answer.
function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr })
  return new Promise<boolean>((resolve) => {
    let answered = false
    const finish = (yes: boolean) => {
      if (answered) return
      answered = true
      resolve(yes)
      rl.close()
    }
    rl.once('line', (answer) => finish(/^(y|yes)$/i.test(answer.trim())))
    rl.once('SIGINT', () => rl.close())
    rl.once('close', () => {
      // Unanswered: the cursor still sits after the question.
      if (!answered) process.stderr.write('\n')
      finish(false)
    })
    rl.setPrompt(question)
    rl.prompt()
  })
}

// A single self-overwriting line on stderr, only on a terminal and only once
// a run has lasted long enough to need it.
function progressLine(enabled: boolean) {
  const started = Date.now()
  let shown = false
  const onProgress = (p: Progress) => {
    if (!enabled || Date.now() - started < 500) return
    const pct = p.total > 0 ? Math.floor((p.done / p.total) * 100) : 100
    process.stderr.write(`\r\x1b[K${p.table}.${p.column}: ${p.done.toLocaleString('en-US')}/${p.total.toLocaleString('en-US')} (${pct}%)`)
    shown = true
  }
  const clear = () => {
    if (shown) process.stderr.write('\r\x1b[K')
  }
  return { onProgress, clear }
}

function locationName(l: { schema: string; table: string; column: string; member?: string | null }): string {
  return `${l.schema}.${l.table}.${l.column}${l.member ? `.${l.member}` : ''}`
}

function locationTable(locations: LocationReport[], verify: boolean): string {
  const head = verify
    ? ['location', 'status', 'rows', 'open with key', 'empty', 'failed']
    : ['location', 'status', 'rows', 're-encrypted', 'already new', 'empty', 'failed']
  const rows = locations.map((l) => {
    const name = locationName(l) + (l.where ? ` (${Object.entries(l.where).map(([k, v]) => `${k} = ${v}`).join(', ')})` : '')
    return verify
      ? [name, l.status, l.rows, l.alreadyOnNewKey, l.empty, l.failed].map(String)
      : [name, l.status, l.rows, l.reencrypted, l.alreadyOnNewKey, l.empty, l.failed].map(String)
  })
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)))
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ')
  return [line(head), ...rows.map(line)].join('\n')
}

function printFindings(report: RotationReport | VerifyReport) {
  for (const n of report.notices) note(n)
  for (const w of report.warnings) warn(w.message)
  for (const f of report.failures) {
    process.stderr.write(`failed: ${locationName(f)} (primary key ${f.primaryKey}): ${f.reason}\n`)
  }
  if (report.failureCount > report.failures.length) {
    process.stderr.write(`failed: ... and ${report.failureCount - report.failures.length} more\n`)
  }
  for (const d of report.discovered) {
    process.stderr.write(
      `unregistered: ${locationName(d)} holds ${d.matches} sampled value(s) under the ${'keyFingerprint' in report ? '' : 'old '}key` +
        `${d.aad === null ? '' : ` (AAD "${d.aad}")`}\n`,
    )
  }
  const m = report.migrations
  if (m.present) note(`database at migration ${m.newest ?? '(none)'} (${m.applied} applied${m.unknown.length ? `, ${m.unknown.length} unknown to the registry` : ''})`)
}

function printWarnings(warnings: Warning[]) {
  for (const w of warnings) warn(w.message)
}

function locationOptions(v: Values): Pick<RotateOptions, 'columns' | 'columnsFile' | 'discover' | 'allowWhitespace'> {
  return {
    columns: v.column,
    columnsFile: v['columns-file'],
    discover: !v['no-discover'],
    allowWhitespace: v['allow-whitespace'] ?? false,
  }
}

function databaseUrl(v: Values): string {
  const url = v['database-url'] ?? process.env.DATABASE_URL
  if (!url) throw new CliError('ERR_USAGE', 'no database: set DATABASE_URL or pass --database-url')
  return url
}

async function runRotate(v: Values, keys: KeySources): Promise<number> {
  if (keys.old === undefined) {
    throw new CliError('ERR_KEY_INVALID', 'old key is invalid: it is missing (set OLD_ENCRYPTION_KEY or ENCRYPTION_KEY, or use --old-file / --stdin)')
  }
  if (keys.new === undefined) {
    throw new CliError('ERR_KEY_INVALID', 'new key is invalid: it is missing (set NEW_ENCRYPTION_KEY, or use --new-file / --stdin)')
  }
  const url = databaseUrl(v)
  const lockTimeoutMs = v['lock-timeout'] !== undefined ? parseDuration(v['lock-timeout']) : undefined
  // Refuse bad keys before anything touches the database.
  const check = checkKeys(keys.old, keys.new, { allowWhitespace: v['allow-whitespace'] ?? false })
  const db = describeDatabase(url)
  const dryRun = v['dry-run'] ?? false
  if (!v.json) printWarnings(check.warnings)

  const leave = v['leave-unregistered'] ?? false
  if (!dryRun && !v.yes && interactive()) {
    const locations = describeLocations(locationOptions(v), db.schema)
      .map((l) => `  ${locationName(l)}${l.where ? ` where ${Object.entries(l.where).map(([k, val]) => `${k} = ${val}`).join(', ')}` : ''}`)
      .join('\n')
    const ok = await confirm(
      `Rotate ENCRYPTION_KEY in database ${db.name} on ${db.host} (schema ${db.schema}).\n` +
        `Locations (those this database lacks are skipped):\n${locations}\n` +
        `Old key ${check.oldKeyFingerprint} -> new key ${check.newKeyFingerprint}\n` +
        `Proceed? [y/N] `,
    )
    if (!ok) {
      process.stderr.write('Aborted; nothing was changed.\n')
      return EXIT.usage
    }
  }

  const progress = progressLine(!v.json && interactive())
  let report: RotationReport
  try {
    report = await rotateEncryptionKey(keys.old, keys.new, url, {
      ...locationOptions(v),
      dryRun,
      lockTimeoutMs,
      allowUnregistered: leave,
      onProgress: progress.onProgress,
    })
  } finally {
    progress.clear()
  }
  const failed = report.failureCount > 0 || (!leave && report.discovered.length > 0)
  if (v.json) {
    process.stdout.write(JSON.stringify(report, null, 2) + '\n')
  } else {
    printFindings(report)
    process.stdout.write(locationTable(report.locations, false) + '\n')
    process.stdout.write(
      `${dryRun ? 'Dry run (nothing written): ' : ''}${report.summary}` +
        ` (${report.alreadyOnNewKey} already on the new key, ${report.empty} empty) in ${report.durationMs} ms;` +
        ` keys ${report.oldKeyFingerprint} -> ${report.newKeyFingerprint}\n`,
    )
    if (!report.oldKeyMatches) {
      process.stdout.write('Old key does not match: values open with neither key and none opens with the old key.\n')
    }
    if (!dryRun && report.discovered.length > 0) {
      process.stdout.write(
        'Do NOT discard the old key: the places warned about above still hold values under it. Add them with --columns-file and run again.\n',
      )
    } else if (!dryRun) {
      process.stdout.write('Next: set ENCRYPTION_KEY to the new key, restart the backend, then run `verify`.\n')
    }
  }
  return failed ? EXIT.data : EXIT.ok
}

async function runVerify(v: Values, keys: KeySources): Promise<number> {
  if (keys.key === undefined) {
    throw new CliError('ERR_KEY_INVALID', 'key is invalid: it is missing (set ENCRYPTION_KEY, or use --key-file / --stdin)')
  }
  const url = databaseUrl(v)
  const progress = progressLine(!v.json && interactive())
  let report: VerifyReport
  try {
    report = await verifyEncryptionKey(keys.key, url, { ...locationOptions(v), onProgress: progress.onProgress })
  } finally {
    progress.clear()
  }
  if (v.json) {
    process.stdout.write(JSON.stringify(report, null, 2) + '\n')
  } else {
    printFindings(report)
    process.stdout.write(locationTable(report.locations, true) + '\n')
    process.stdout.write(`${report.summary}; key ${report.keyFingerprint}: ${report.ok ? 'OK' : 'FAILED'}\n`)
  }
  if (!report.ok && !v.json) process.stderr.write(`${HINTS.ERR_VERIFY_FAILED}\n`)
  return report.ok ? EXIT.ok : EXIT.data
}

function fail(e: unknown, json: boolean): number {
  const err = e as { code?: string; message?: string; details?: unknown }
  // Our own errors never hold secrets and their codes are ours; anything
  // else (Node's own ERR_* included) is reduced to a generic message in case
  // it echoes an argument, and to a hint that claims nothing about the data.
  const ours = e instanceof CliError || (e as Error)?.name === 'KeyrotateError'
  const code = ours && typeof err.code === 'string' && err.code.startsWith('ERR_') ? err.code : 'ERR_INTERNAL'
  const message = ours ? (err.message ?? code) : 'unexpected failure'
  const hint = ours ? HINTS[code] : 'This is a bug in the CLI; please report it.'
  const status = EXIT_BY_CODE[code] ?? EXIT.internal
  if (json) {
    const error = { code, message, details: err.details ?? null, hint: hint ?? null }
    const doc = { ok: false, error, exit: { status, meaning: EXIT_MEANING[status] } }
    process.stdout.write(JSON.stringify(doc, null, 2) + '\n')
  } else {
    process.stderr.write(`error [${code}]: ${message}\n`)
    if (hint) process.stderr.write(`${hint}\n`)
  }
  return status
}

async function main(argv: string[]): Promise<number> {
  let json = argv.includes('--json')
  try {
    const { command, values } = parse(argv)
    json = values.json ?? false
    if (values.help) {
      process.stdout.write(HELP)
      return EXIT.ok
    }
    if (command === 'generate-key') {
      const key = generateKey()
      if (json) process.stdout.write(JSON.stringify({ key, fingerprint: keyFingerprint(key) }) + '\n')
      else process.stdout.write(`${key}\n`)
      return EXIT.ok
    }
    const keys = await gatherKeys(command, values)
    if (keys.argv.length > 0) {
      warn(`${keys.argv.join(' and ')} put the key on the command line, where ps and shell history can see it; prefer OLD_ENCRYPTION_KEY/NEW_ENCRYPTION_KEY, --old-file/--new-file or --stdin`)
    }
    return command === 'verify' ? await runVerify(values, keys) : await runRotate(values, keys)
  } catch (e) {
    return fail(e, json)
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  () => {
    process.exitCode = EXIT.internal
  },
)
