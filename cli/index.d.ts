/// <reference types="node" />
import type { ErrorCode } from '../index'

/** Codes only the command line has: they never come from the API. */
export type CliErrorCode = 'ERR_USAGE' | 'ERR_DECLINED' | 'ERR_CONFIRMATION_REQUIRED' | 'ERR_VERIFY_FAILED'

/** What `main` reads and writes instead of the process's own streams. */
export interface Io {
  stdin: NodeJS.ReadableStream & { isTTY?: boolean }
  stdout: NodeJS.WritableStream
  stderr: NodeJS.WritableStream
  env: NodeJS.ProcessEnv
  /** A terminal on both stdin and stderr: prompts and a live status line. */
  interactive: boolean
  /** Aborted (with the signal's name as its reason) to cancel the run. */
  signal?: AbortSignal
}

/** The one document `--json` prints, on every path (cli/output.schema.json). */
export type CliDocument =
  | { ok: true; exit: 0; command: string; report: object }
  | {
      ok: false
      exit: number
      command: string
      error: { code: ErrorCode | CliErrorCode; message: string; hint: string; details?: object; report?: object }
    }

/** Run one command with `io`; resolves with the exit status. */
export declare function main(argv: string[], io: Io): Promise<number>

/** Run one command as this process: its argv, streams and environment, and
 *  SIGINT/SIGTERM/SIGHUP cancelling the run. Sets `process.exitCode`. */
export declare function run(argv?: string[]): Promise<number>
