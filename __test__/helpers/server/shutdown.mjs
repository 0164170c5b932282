// What stops embedded clusters when this process ends, however it ends: a
// normal end (the loop is empty), process.exit() and uncaught errors, the
// signals a server asked to handle, and, for deaths no hook sees, a watchdog
// process.
//
// A running cluster is tracked as a handle: { handleSignals, stop() (async),
// stopSync() (for the 'exit' event, where only synchronous work happens) }.

import { spawn } from 'node:child_process';

// If this process dies without running its 'exit' hook (SIGKILL, OOM, a test
// runner's hard timeout), the detached postmaster would live on. The watchdog
// reads a pipe whose only writer is this process: EOF means we are gone.
const WATCHDOG = `
cat >/dev/null 2>&1
kill -INT "$1" 2>/dev/null
n=0
while [ -f "$2/postmaster.pid" ] && [ "$n" -lt 200 ]; do sleep 0.05 2>/dev/null || sleep 1; n=$((n+1)); done
[ -f "$2/postmaster.pid" ] && kill -KILL "$1" 2>/dev/null
rm -rf "$3"
`;

/** A watchdog for postmaster `pid`: on this process's death it stops it and removes `root`. */
export function startWatchdog(pid, dataDir, root, ids) {
  if (process.platform === 'win32') return null;
  try {
    const wd = spawn('/bin/sh', ['-c', WATCHDOG, 'keyrotate-pg-watchdog', String(pid), dataDir, root], {
      cwd: '/',
      ...ids,
      detached: true,
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    wd.on('error', () => {});
    wd.stdin.on('error', () => {});
    wd.unref();
    wd.stdin.unref?.();
    return wd;
  } catch {
    return null;
  }
}

export function stopWatchdog(wd) {
  if (!wd?.pid) return;
  // Its whole group, so the `cat` goes too; it must not act on a pid we already reaped.
  killQuietly(-wd.pid, 'SIGKILL');
  killQuietly(wd.pid, 'SIGKILL');
}

const running = new Set();
let exitHookInstalled = false;
const signalHandlers = new Map();

// Signal handlers exist only while a server that asked for them runs, so the
// process's default signal behaviour is otherwise untouched.
function syncSignalHooks() {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // The normal end of a test file: the loop is empty and async work is
    // still allowed, so stop cleanly and let libuv reap the postmaster.
    process.on('beforeExit', () => {
      for (const s of running) s.stop().catch(() => {});
    });
    // process.exit(), uncaught errors, signals: only synchronous work here.
    process.on('exit', () => {
      for (const s of running) s.stopSync();
    });
  }
  const wanted = [...running].some((s) => s.handleSignals);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    if (wanted && !signalHandlers.has(sig)) {
      const handler = () => {
        const alone = process.listenerCount(sig) === 1;
        const owned = [...running].filter((s) => s.handleSignals);
        // Async, so the postmaster is reaped rather than left a zombie; if
        // the process exits meanwhile, the 'exit' hook finishes synchronously.
        Promise.allSettled(owned.map((s) => s.stop())).then(() => {
          // Our listener disabled the default action (terminate); restore it
          // unless another listener has taken charge of the signal.
          if (alone) {
            process.removeListener(sig, handler);
            signalHandlers.delete(sig);
            process.kill(process.pid, sig);
          }
        });
      };
      signalHandlers.set(sig, handler);
      process.on(sig, handler);
    } else if (!wanted && signalHandlers.has(sig)) {
      process.removeListener(sig, signalHandlers.get(sig));
      signalHandlers.delete(sig);
    }
  }
}

/** Stop `handle` when this process ends; handle signals if it asked to. */
export function track(handle) {
  running.add(handle);
  syncSignalHooks();
}

/** `handle` has stopped: nothing more to do for it when this process ends. */
export function untrack(handle) {
  running.delete(handle);
  syncSignalHooks();
}

export function killQuietly(pid, signal) {
  try {
    process.kill(pid, signal);
  } catch {}
}
