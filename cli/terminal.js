// @ts-check
'use strict'
// What only a terminal gets: the confirmation, and one self-overwriting
// status line that says from the first moment what the run is doing or
// waiting for. Off a terminal a lock wait is still reported, once per
// change of holder, as a plain line: the long silences are what an
// operator reading a log needs explained.

const { createInterface } = require('node:readline')

/** @typedef {import('../index').Progress} Progress */
/** @typedef {import('./output').Output} Output */

/**
 * Only "y" or "yes" proceeds. Ctrl-C, end of input (Ctrl-D) and a signal are
 * a no: readline reports the first two as events, never as an answer.
 * @param {string} question
 * @param {import('./index').Io} io
 * @param {AbortSignal | undefined} signal
 * @returns {Promise<boolean>}
 */
function confirm(question, io, signal) {
  const rl = createInterface({ input: io.stdin, output: io.stderr })
  return new Promise((resolve) => {
    let answered = false
    /** @param {boolean} yes */
    const finish = (yes) => {
      if (answered) return
      answered = true
      signal?.removeEventListener('abort', decline)
      resolve(yes)
      rl.close()
    }
    const decline = () => rl.close()
    rl.once('line', (answer) => finish(/^(y|yes)$/i.test(answer.trim())))
    rl.once('SIGINT', decline)
    signal?.addEventListener('abort', decline, { once: true })
    rl.once('close', () => {
      // Unanswered: the cursor still sits after the question.
      if (!answered) io.stderr.write('\n')
      finish(false)
    })
    rl.setPrompt(question)
    rl.prompt()
  })
}

const LOCKS = { rotation: 'the rotation lock (another keyrotate run)', tables: 'the table locks', discovery: 'a table discovery reads', other: 'a lock' }

/** @param {Progress} p */
function describe(p) {
  switch (p.phase) {
    case 'connecting':
      return `connecting to ${p.database}…`
    case 'discovering':
      return 'searching the tables outside the registry for values under the key (discovery)…'
    case 'waiting': {
      const held = p.holders.length > 0 ? `held by ${p.holders.map(holder).join('; ')}` : 'its holder is not visible to this role'
      return `waiting ${Math.round(p.waitedMs / 1000)} s for ${LOCKS[p.lock] ?? 'a lock'}, ${held}`
    }
    case 'scanning': {
      const pct = p.total > 0 ? Math.floor((p.done / p.total) * 100) : 100
      return `${p.table}.${p.column}: ${p.done.toLocaleString('en-US')}/${p.total.toLocaleString('en-US')} rows (${pct}%)`
    }
    case 'committing':
      return 'committing…'
  }
}

/** @param {import('../index').LockHolder} h */
function holder(h) {
  const parts = [h.user && `user ${h.user}`, h.applicationName && `application "${h.applicationName}"`, h.state, h.since && `in a transaction since ${h.since}`]
  const known = parts.filter(Boolean)
  return `pid ${h.pid}${known.length ? ` (${known.join(', ')})` : ''}`
}

/**
 * @param {Output} out
 * @param {boolean} terminal a self-overwriting line (a TTY, no --json)
 */
function statusLine(out, terminal) {
  let shown = false
  let lastHolders = ''
  /** @param {Progress} p */
  const onProgress = (p) => {
    const text = describe(p)
    if (terminal) {
      out.interactive(`\r\x1b[K${text}`)
      shown = true
    } else if (p.phase === 'waiting') {
      const holders = p.holders.map((h) => h.pid).join(',')
      if (holders !== lastHolders) out.note(text)
      lastHolders = holders
    }
  }
  const clear = () => {
    if (shown) out.interactive('\r\x1b[K')
    shown = false
  }
  return { onProgress, clear }
}

module.exports = { confirm, statusLine, holder }
