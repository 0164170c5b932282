// @ts-check
'use strict'
// The command line: commands, options, and refusals that never echo a value
// (a value may be a key typed in the wrong place).

const { parseArgs } = require('node:util')
const { CliError } = require('./errors')

const COMMANDS = ['rotate', 'verify', 'fingerprint', 'generate-key']

const OPTIONS = /** @type {const} */ ({
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
  verbose: { type: 'boolean', short: 'v' },
  'lock-timeout': { type: 'string' },
  column: { type: 'string', multiple: true },
  'columns-file': { type: 'string' },
  'no-discover': { type: 'boolean' },
  'leave-unregistered': { type: 'boolean' },
  'kg-relink': { type: 'boolean' },
  schema: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
})

/**
 * @typedef {{
 *   old?: string, new?: string, key?: string,
 *   'old-file'?: string, 'new-file'?: string, 'key-file'?: string,
 *   stdin?: boolean, 'allow-whitespace'?: boolean, 'database-url'?: string,
 *   'dry-run'?: boolean, yes?: boolean, json?: boolean, verbose?: boolean,
 *   'lock-timeout'?: string, column?: string[], 'columns-file'?: string,
 *   'no-discover'?: boolean, 'leave-unregistered'?: boolean, 'kg-relink'?: boolean, schema?: string, help?: boolean,
 * }} Values
 * @typedef {'rotate' | 'verify' | 'fingerprint' | 'generate-key'} Command
 */

const KNOWN = new Set(
  Object.entries(OPTIONS).flatMap(([name, o]) => ['--' + name, ...('short' in o ? ['-' + o.short] : [])]),
)

/** @param {string[]} argv @returns {{ command: Command, values: Values }} */
function parse(argv) {
  let parsed
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, strict: true, options: OPTIONS })
  } catch {
    // parseArgs quotes the offending argument, which may be a key passed to
    // a misspelt option (`--olf=KEY`): name the option only, never a value.
    // Only something shaped like an option name is named: a key is longer,
    // and has capitals or digits.
    const unknown = argv
      .map((a) => a.split('=')[0])
      .find((name) => /^--?[a-z][a-z-]{0,22}$/.test(name) && !KNOWN.has(name))
    const what = unknown ? `unknown option ${unknown}` : 'an unknown option, or an option without its value'
    throw new CliError('ERR_USAGE', `invalid arguments: ${what}`)
  }
  const [command = 'rotate', ...extra] = parsed.positionals
  if (extra.length > 0 || !COMMANDS.includes(command)) {
    throw new CliError('ERR_USAGE', `expected one command: ${COMMANDS.join(', ')}`)
  }
  return { command: /** @type {Command} */ (command), values: /** @type {Values} */ (parsed.values) }
}

/** @param {string} text @returns {number} milliseconds */
function parseDuration(text) {
  const m = /^(\d+)(ms|s|m)?$/.exec(text.trim())
  if (!m) throw new CliError('ERR_USAGE', '--lock-timeout takes a duration such as 500ms, 10s or 2m')
  const n = Number(m[1])
  const ms = m[2] === 'm' ? n * 60000 : m[2] === 'ms' ? n : n * 1000
  if (ms < 1 || ms > 2 ** 31 - 1) throw new CliError('ERR_USAGE', '--lock-timeout is out of range (1ms to 24 days)')
  return ms
}

/** @param {Values} v @param {NodeJS.ProcessEnv} env */
function databaseUrl(v, env) {
  const url = v['database-url'] ?? env.DATABASE_URL
  if (!url) throw new CliError('ERR_USAGE', 'no database: set DATABASE_URL or pass --database-url')
  return url
}

/**
 * The options rotate and verify share. KG_HASH_SECRET is read from this
 * environment, which in AnythingMCP's container is the backend's own.
 * @param {Values} v
 * @param {NodeJS.ProcessEnv} env
 */
function sharedOptions(v, env) {
  return {
    columns: v.column,
    columnsFile: v['columns-file'],
    discover: !v['no-discover'],
    allowWhitespace: v['allow-whitespace'] ?? false,
    kgHashSecret: env.KG_HASH_SECRET || undefined,
    schema: v.schema,
  }
}

module.exports = { parse, parseDuration, databaseUrl, sharedOptions }
