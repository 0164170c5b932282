// @ts-check
'use strict'

const { MEANINGS } = require('./exits')

/** In AnythingMCP's image, where the backend's own build puts the command. */
const CLI = 'node /app/backend/dist/src/scripts/rotate-encryption-key.js'

/** @param {string} text @param {number} width */
function wrap(text, width) {
  const lines = ['']
  for (const word of text.split(' ')) {
    if (lines[lines.length - 1].length + word.length > width) lines.push('')
    lines[lines.length - 1] += (lines[lines.length - 1] ? ' ' : '') + word
  }
  return lines
}

function exitCodes() {
  return MEANINGS.map(([status, meaning]) =>
    wrap(meaning, 60)
      .map((l, i) => (i === 0 ? `  ${status.padEnd(15)}${l}` : `${' '.repeat(17)}${l}`))
      .join('\n'),
  ).join('\n')
}

const HELP = `Usage:
  rotate-encryption-key [rotate] [options]   re-encrypt every credential from the old key to the new one
  rotate-encryption-key verify [options]     check that every credential opens with a key
  rotate-encryption-key fingerprint          print a key's fingerprint (offline)
  rotate-encryption-key generate-key         print a new strong ENCRYPTION_KEY

The rotation runs in one PostgreSQL transaction: every credential is
re-encrypted and committed, or nothing changes. Writers to the encrypted
tables wait while it runs; readers do not. On a terminal it asks before
writing; off a terminal it needs --yes.

Keys (prefer the environment, a file or stdin: --old/--new/--key show up in
ps and shell history):
  OLD_ENCRYPTION_KEY, NEW_ENCRYPTION_KEY   environment variables (the old key
                                           falls back to ENCRYPTION_KEY)
  --old-file PATH, --new-file PATH         read a key from a file (one trailing
                                           newline is stripped)
  --stdin                                  read the keys from a pipe or a file
                                           on standard input, one per line:
                                           old then new (verify, fingerprint:
                                           exactly one key)
  --old KEY, --new KEY                     on the command line (warns)
  --key KEY, --key-file PATH               verify, fingerprint: the key (default:
                                           ENCRYPTION_KEY; verify falls back to
                                           NEW_ENCRYPTION_KEY)
  --allow-whitespace                       accept keys with leading/trailing
                                           whitespace or invisible characters

Database:
  --database-url URL                       default: DATABASE_URL, read as the
                                           backend reads it (sslmode, sslrootcert,
                                           schema=, host=, port=)
  --schema NAME                            the schema to act on: the backend
                                           reads public whatever ?schema= says;
                                           needed when both hold AnythingMCP data

Options:
  --dry-run                                do everything but write, without
                                           write locks; list every value that
                                           would fail
  --yes, -y                                do not ask for confirmation (needed
                                           off a terminal)
  --json                                   print exactly one JSON document on
                                           stdout: { ok, exit, command, report }
                                           or { ok, exit, command, error }
  --verbose, -v                            also list absent locations, notices
                                           and the database's migration
  --lock-timeout DURATION                  longest wait for locks: 500ms, 10s
                                           (default), 2m
  --column SCHEMA.TABLE.PK.COLUMN          another location: the whole value of
                                           a text column (repeatable; schema
                                           optional)
  --columns-file PATH                      more locations, in the registry's
                                           JSON format (JSON members, row
                                           filters, AAD: docs/locations.md)
  --no-discover                            skip the search outside the registry
                                           for ciphertext
  --leave-unregistered                     rotate even though ciphertext was
                                           found outside the registry (it stays
                                           on the old key)
  --kg-relink                              rotate although the knowledge graph's
                                           hashes are keyed by ENCRYPTION_KEY:
                                           it starts new links (the other way
                                           on: KG_HASH_SECRET = the current key
                                           in the backend's environment)
  --help, -h                               this help

Exit codes:
${exitCodes()}

Examples (in AnythingMCP's container; keys in files only you can read):
  CLI="${CLI}"
  cat old.key new.key | $CLI --stdin --dry-run
  cat old.key new.key | $CLI --stdin --yes
  $CLI verify --stdin < new.key
  $CLI fingerprint            # the key in this environment's ENCRYPTION_KEY
`

module.exports = { HELP, CLI }
