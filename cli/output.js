// @ts-check
'use strict'
// Where the CLI writes. A reader that goes away (`| head`, a log pipe that
// dies) must never turn a committed rotation into a crash or a different
// exit status, so write errors are swallowed here: the exit status carries
// the outcome whatever happens to the text.

/** @typedef {import('./index').Io} Io */

class Output {
  /**
   * @param {Io} io
   * @param {boolean} json one JSON document on stdout, nothing else there
   */
  constructor(io, json) {
    this.io = io
    this.json = json
    this.documented = false
    for (const stream of [io.stdout, io.stderr]) stream.on?.('error', ignore)
  }

  /** Human output: results. Silent under --json. @param {string} text */
  out(text) {
    if (!this.json) write(this.io.stdout, text)
  }

  /** Human output: what goes with the results (notes, warnings, errors). @param {string} text */
  err(text) {
    if (!this.json) write(this.io.stderr, text)
  }

  /** @param {string} text */
  note(text) {
    this.err(`note: ${text}\n`)
  }

  /** @param {string} text */
  warn(text) {
    this.err(`warning: ${text}\n`)
  }

  /** Also under --json: what a terminal user must see while waiting. @param {string} text */
  interactive(text) {
    write(this.io.stderr, text)
  }

  /**
   * The one JSON document of a --json run. A second one would be a bug that
   * leaves a script two outcomes to choose from.
   * @param {object} doc
   */
  document(doc) {
    if (!this.json || this.documented) return
    this.documented = true
    write(this.io.stdout, JSON.stringify(doc, null, 2) + '\n')
  }
}

function ignore() {}

/** @param {NodeJS.WritableStream} stream @param {string} text */
function write(stream, text) {
  try {
    stream.write(text)
  } catch {
    // A destroyed stream: nobody is reading, and the exit status still tells.
  }
}

module.exports = { Output }
