// @ts-check
'use strict'
// Where keys come from: a file, standard input, the environment, or (with
// a warning) the command line. Each key remembers its source, so an
// operator reads "key 4bb5b1ae32b1 from --key-file" and knows which one it
// was. No message here ever contains a value: a key typed where a path
// belongs is described by its length, never shown.

const { readFileSync } = require('node:fs')
const { CliError } = require('./errors')

/** @typedef {import('./args').Values} Values */
/** @typedef {import('./args').Command} Command */
/** @typedef {{ value: string, source: string }} KeySource */
/** @typedef {{ old?: KeySource, new?: KeySource, key?: KeySource, onCommandLine: string[] }} Keys */

/** What each command reads: its keys' names, options and environment variables, in order of preference. */
const WANTED = {
  rotate: [
    { name: 'old', arg: 'old', file: 'old-file', env: ['OLD_ENCRYPTION_KEY', 'ENCRYPTION_KEY'] },
    { name: 'new', arg: 'new', file: 'new-file', env: ['NEW_ENCRYPTION_KEY'] },
  ],
  verify: [{ name: 'key', arg: 'key', file: 'key-file', env: ['ENCRYPTION_KEY', 'NEW_ENCRYPTION_KEY'] }],
  fingerprint: [{ name: 'key', arg: 'key', file: 'key-file', env: ['ENCRYPTION_KEY'] }],
}

/**
 * @param {'rotate' | 'verify' | 'fingerprint'} command
 * @param {Values} v
 * @param {import('./index').Io} io
 * @returns {Promise<Keys>}
 */
async function gatherKeys(command, v, io) {
  const wanted = WANTED[command]
  /** @type {Keys} */
  const keys = { onCommandLine: [] }
  for (const w of wanted) {
    const given = [w.arg, w.file].filter((o) => v[/** @type {keyof Values} */ (o)] !== undefined)
    if (given.length > 1 || (given.length > 0 && v.stdin)) {
      throw new CliError('ERR_USAGE', `give the ${w.name === 'key' ? 'key' : `${w.name} key`} one way only: --${given.concat(v.stdin ? ['stdin'] : []).join(', --')}`)
    }
  }
  const lines = v.stdin ? await stdinLines(io, wanted.length, command) : undefined
  wanted.forEach((w, i) => {
    const arg = v[/** @type {'old' | 'new' | 'key'} */ (w.arg)]
    const file = v[/** @type {'old-file' | 'new-file' | 'key-file'} */ (w.file)]
    /** @type {KeySource | undefined} */
    let key
    if (arg !== undefined) {
      key = { value: arg, source: `--${w.arg}` }
      keys.onCommandLine.push(`--${w.arg}`)
    } else if (file !== undefined) {
      key = { value: readKeyFile(file, `--${w.file}`), source: `--${w.file}` }
    } else if (lines) {
      key = { value: lines[i], source: wanted.length > 1 ? `standard input (line ${i + 1})` : 'standard input' }
    } else {
      const name = w.env.find((n) => io.env[n])
      if (name) key = { value: /** @type {string} */ (io.env[name]), source: name }
    }
    keys[/** @type {'old' | 'new' | 'key'} */ (w.name)] = key
  })
  return keys
}

/** Editors and `echo` add one newline; anything more is the key's own. @param {string} text */
function stripOneNewline(text) {
  return text.replace(/\r?\n$/, '')
}

/** @param {string} path @param {string} option */
function readKeyFile(path, option) {
  try {
    return stripOneNewline(readFileSync(path, 'utf8'))
  } catch (e) {
    throw new CliError('ERR_USAGE', `${option}: ${unreadable(/** @type {NodeJS.ErrnoException} */ (e), path)}`)
  }
}

/**
 * Why a file given as a path cannot be read, in words, without the path.
 * @param {NodeJS.ErrnoException} e
 * @param {string} path
 */
function unreadable(e, path) {
  const why =
    { ENOENT: 'no such file', EACCES: 'permission denied', EISDIR: 'it is a directory', ENAMETOOLONG: 'no such file (the name is too long)' }[e.code ?? ''] ??
    'it cannot be read'
  const missing = e.code === 'ENOENT' || e.code === 'ENAMETOOLONG'
  // Paths usually start with / . or ~, or end in a file type; keys are long.
  const pathLike = /^(\.{0,2}\/|~)/.test(path) || /\.(key|txt|pem|env)$/i.test(path)
  return missing && path.length >= 32 && !pathLike
    ? `${why}; the value is ${path.length} characters long and looks like a key, not a path (give the key in a file, on standard input, or in the environment)`
    : why
}

/**
 * Exactly the lines the command needs, one key each.
 * @param {import('./index').Io} io
 * @param {number} count
 * @param {string} command
 */
async function stdinLines(io, count, command) {
  if (io.stdin.isTTY) {
    // Typed at a terminal, the keys would be echoed on the screen.
    throw new CliError('ERR_USAGE', '--stdin reads keys from a pipe or a file (cat old.key new.key | ... --stdin), not from a terminal')
  }
  const text = stripOneNewline(await readAll(io))
  const lines = text === '' ? [] : text.split(/\r?\n/)
  if (lines.length !== count) {
    const want = count === 1 ? 'one key, on one line' : 'two keys, the old on the first line and the new on the second'
    throw new CliError('ERR_USAGE', `${command} --stdin reads ${want}; standard input has ${lines.length} line(s)`)
  }
  return lines
}

/** @param {import('./output').Output} out @param {string[]} options */
function warnCommandLine(out, options) {
  if (options.length === 0) return
  out.warn(
    `${options.join(' and ')} put the key on the command line, where ps and shell history can see it; prefer the environment, a key file or --stdin`,
  )
}

/**
 * All of standard input, unless a signal comes first: a pipe whose writer
 * never closes must not make Ctrl-C useless.
 * @param {import('./index').Io} io
 * @returns {Promise<string>}
 */
function readAll(io) {
  return new Promise((resolve, reject) => {
    /** @type {Buffer[]} */
    const chunks = []
    const stop = () => reject(new CliError('ABORT_ERR', 'standard input was still being read; nothing was touched', { hint: 'Nothing was touched.' }))
    if (io.signal?.aborted) return stop()
    io.signal?.addEventListener('abort', stop, { once: true })
    io.stdin.on('data', (chunk) => chunks.push(Buffer.from(chunk)))
    io.stdin.once('error', reject)
    io.stdin.once('end', () => {
      io.signal?.removeEventListener('abort', stop)
      resolve(Buffer.concat(chunks).toString('utf8'))
    })
  })
}

module.exports = { gatherKeys, warnCommandLine }
