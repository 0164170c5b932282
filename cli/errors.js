// @ts-check
'use strict'
// Failures as the operator sees them. Only our own errors keep their words:
// they never hold a key, a value or a password. Anything else (Node's own
// errors included, which may quote an argument) becomes a generic message.

/** @typedef {import('./index').CliErrorCode} CliErrorCode */
/** @typedef {import('../index').ErrorCode} ErrorCode */

/** @type {Record<CliErrorCode, string>} */
const CLI_HINTS = {
  ERR_USAGE: 'Run with --help for usage. Nothing was touched.',
  ERR_DECLINED: 'Nothing was touched.',
  ERR_CONFIRMATION_REQUIRED:
    'Off a terminal nobody can answer the confirmation: pass --yes to rotate, or --dry-run to check first. Nothing was touched.',
  ERR_VERIFY_FAILED: 'Do not restart the backend on this key, and do not discard the old key yet.',
}

class CliError extends Error {
  /**
   * @param {ErrorCode | CliErrorCode} code
   * @param {string} message
   * @param {{ hint?: string, report?: object }} [extra]
   */
  constructor(code, message, extra = {}) {
    super(message)
    this.name = 'CliError'
    this.code = code
    this.hint = extra.hint ?? /** @type {Record<string, string | undefined>} */ (CLI_HINTS)[code] ?? ''
    this.report = extra.report
  }
}

/**
 * @typedef {{ code: ErrorCode | CliErrorCode, message: string, hint: string, details?: object, report?: object }} Failure
 * @param {unknown} e
 * @returns {Failure}
 */
function describeFailure(e) {
  const err = /** @type {{ name?: string, code?: unknown, message?: string, hint?: string, details?: object, report?: object }} */ (e ?? {})
  const ours = e instanceof CliError || err.name === 'KeyrotateError' || err.name === 'AbortError'
  if (!ours || typeof err.code !== 'string') {
    return { code: 'ERR_INTERNAL', message: 'unexpected failure', hint: 'This is a bug in keyrotate; please report it. Nothing was committed.' }
  }
  const code = /** @type {ErrorCode | CliErrorCode} */ (err.code)
  /** @type {Failure} */
  const failure = { code, message: err.message ?? code, hint: err.hint ?? '' }
  if (err.details) failure.details = err.details
  if (err.report) failure.report = err.report
  return failure
}

module.exports = { CliError, describeFailure }
