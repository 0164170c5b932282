// @ts-check
'use strict'
// The operator's command, `rotate-encryption-key`. It parses arguments and
// prints; the native addon does every bit of the work. `run()` is what the
// backend's script calls; `main(argv, io)` is the same without the process.

const { parse } = require('./args')
const { describeFailure } = require('./errors')
const { STATUS, exitFor, interruptedStatus } = require('./exits')
const { HELP } = require('./help')
const { Output } = require('./output')
const render = require('./render')
const { rotate } = require('./rotate')
const { verify, fingerprint, generateKey } = require('./verify')

/** @typedef {import('./index').Io} Io */
/** @typedef {import('./args').Command} Command */

const COMMANDS = { rotate, verify, fingerprint, 'generate-key': generateKey }

/** The signals that stop a run: Ctrl-C, a polite kill, a closed terminal. */
const SIGNALS = /** @type {const} */ (['SIGINT', 'SIGTERM', 'SIGHUP'])

/**
 * Run one command; resolve with its exit status. Every path writes exactly
 * one JSON document under --json.
 * @param {string[]} argv
 * @param {Io} io
 * @returns {Promise<number>}
 */
async function main(argv, io) {
  let out = new Output(io, argv.includes('--json'))
  /** @type {Command | 'help'} */
  let command = 'rotate'
  let verbose = false
  try {
    const parsed = parse(argv)
    out = new Output(io, parsed.values.json ?? false)
    verbose = parsed.values.verbose ?? false
    if (parsed.values.help) {
      command = 'help'
      out.out(HELP)
      out.document({ ok: true, exit: STATUS.ok, command, report: { usage: HELP } })
      return STATUS.ok
    }
    command = parsed.command
    const report = await COMMANDS[parsed.command](parsed.values, io, out)
    out.document({ ok: true, exit: STATUS.ok, command, report })
    return STATUS.ok
  } catch (e) {
    return failed(e, { io, out, command, verbose })
  }
}

/**
 * @param {unknown} e
 * @param {{ io: Io, out: Output, command: Command | 'help', verbose: boolean }} context
 */
function failed(e, { io, out, command, verbose }) {
  const failure = describeFailure(e)
  let status = STATUS[exitFor(failure.code)]
  if (failure.code === 'ABORT_ERR') {
    const signal = /** @type {NodeJS.Signals | undefined} */ (io.signal?.reason)
    status = interruptedStatus(signal)
    failure.message = `interrupted${signal ? ` by ${signal}` : ''}: ${failure.message}`
  }
  if (failure.report) {
    const report = /** @type {any} */ (failure.report)
    if (command === 'verify') render.verification(out, report, { verbose })
    else render.rotation(out, report, { verbose })
  }
  if (failure.code === 'ABORT_ERR') out.err(`${failure.message}\n`)
  else if (failure.code === 'ERR_DECLINED') out.err('Aborted; nothing was changed.\n')
  else out.err(`error [${failure.code}]: ${failure.message}\n${failure.hint ? `${failure.hint}\n` : ''}`)
  out.document({ ok: false, exit: status, command, error: failure })
  return status
}

/**
 * The process around `main`: its streams, its environment, and signals that
 * cancel the run (rolled back unless its COMMIT was already sent). Sets
 * `process.exitCode` and resolves with it.
 * @param {string[]} [argv]
 * @returns {Promise<number>}
 */
async function run(argv = process.argv.slice(2)) {
  const controller = new AbortController()
  const handlers = SIGNALS.map((signal) => {
    const handler = () => {
      if (!controller.signal.aborted) controller.abort(signal)
    }
    process.on(signal, handler)
    return /** @type {const} */ ([signal, handler])
  })
  /** @type {Io} */
  const io = {
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    interactive: Boolean(process.stdin.isTTY && process.stderr.isTTY),
    signal: controller.signal,
  }
  try {
    const status = await main(argv, io)
    process.exitCode = status
    return status
  } finally {
    for (const [signal, handler] of handlers) process.removeListener(signal, handler)
  }
}

module.exports = { main, run }
