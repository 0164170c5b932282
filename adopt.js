'use strict'
// Adopting a new ENCRYPTION_KEY at boot: the programmatic path for backend
// code. A running backend can never rotate under itself (every service
// reads ENCRYPTION_KEY once, when it is constructed), so the rotation runs
// at the top of main.ts, before Nest reads its configuration, and the app
// then starts on the key its data is on, or does not start at all.

/** How long a boot waits for the locks: another replica may be rotating. */
const BOOT_LOCK_TIMEOUT_MS = 5 * 60_000

/**
 * @param {import('./index')} keyrotate
 * @param {NodeJS.ProcessEnv} env
 * @param {object} options
 */
async function adoptNextEncryptionKey(keyrotate, env, options) {
  const { databaseUrl = env.DATABASE_URL, log = (line) => console.log(line), ...rest } = options
  const next = env.ENCRYPTION_KEY_NEXT
  if (!next) return { action: 'none' }
  const current = env.ENCRYPTION_KEY
  const say = (line) => log(`keyrotate: ${line}`)
  const finish = (fp) =>
    `finish when every replica runs on it: set ENCRYPTION_KEY to the new key (${fp}) and remove ENCRYPTION_KEY_NEXT`
  try {
    if (!current) {
      throw new keyrotate.KeyrotateError('ERR_KEY_INVALID', 'ENCRYPTION_KEY is not set, so there is no key to rotate from', {
        hint: 'Set ENCRYPTION_KEY to the key the data is on now, and ENCRYPTION_KEY_NEXT to the new one.',
        details: { kind: 'key', role: 'old' },
      })
    }
    if (typeof databaseUrl !== 'string' || databaseUrl === '') {
      throw new keyrotate.KeyrotateError('ERR_INVALID_ARG', 'invalid argument: no database (DATABASE_URL is not set)', {
        hint: 'Set DATABASE_URL, or pass options.databaseUrl.',
      })
    }
    const check = keyrotate.checkKeys(current, next)
    const report = await keyrotate.rotateEncryptionKey(current, next, databaseUrl, {
      lockTimeoutMs: BOOT_LOCK_TIMEOUT_MS,
      ...rest,
      ...(env.KG_HASH_SECRET ? { kgHashSecret: env.KG_HASH_SECRET } : {}),
    })
    env.ENCRYPTION_KEY = next
    say(
      `rotated ENCRYPTION_KEY ${check.oldKeyFingerprint} -> ${check.newKeyFingerprint}: ${report.summary}` +
        `${report.auditEventId ? ` (audit event ${report.auditEventId})` : ''}; starting on ${check.newKeyFingerprint}; ${finish(check.newKeyFingerprint)}`,
    )
    return { action: 'rotated', oldKeyFingerprint: check.oldKeyFingerprint, newKeyFingerprint: check.newKeyFingerprint, report }
  } catch (e) {
    if (e?.code === 'ERR_ALREADY_ON_NEW_KEY') {
      const fp = e.details.dataKeyFingerprint
      env.ENCRYPTION_KEY = next
      say(`the data is already on ENCRYPTION_KEY_NEXT (${fp}); starting on it; ${finish(fp)}`)
      return { action: 'already-on-next', oldKeyFingerprint: keyrotate.keyFingerprint(current), newKeyFingerprint: fp }
    }
    if (e?.code === 'ERR_KEY_UNCHANGED') {
      const fp = keyrotate.keyFingerprint(next)
      say(`ENCRYPTION_KEY is already the key in ENCRYPTION_KEY_NEXT (${fp}); nothing to do; remove ENCRYPTION_KEY_NEXT`)
      return { action: 'none', newKeyFingerprint: fp }
    }
    say(`refused to adopt ENCRYPTION_KEY_NEXT [${e?.code ?? 'ERR_INTERNAL'}]: ${e?.message}; the app must not start: ${e?.hint ?? ''}`)
    throw e
  }
}

module.exports = { adoptNextEncryptionKey }
