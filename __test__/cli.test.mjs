// The compiled CLI as an operator runs it: a child process against a real
// PostgreSQL. Every key source, every exit code, --json, dry run, verify,
// non-TTY behaviour, and no secret in any output stream.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, beforeEach, describe, test } from 'node:test';
import pg from 'pg';

import { encrypt, generateKey } from './helpers/anythingmcp/crypto.mjs';
import { assertEntriesOpenWith, expectedReport } from './helpers/anythingmcp/locations.mjs';
import { createAnythingMcpSchema } from './helpers/anythingmcp/schema.mjs';
import { seedAcceptanceFixture } from './helpers/fixture/acceptance.mjs';
import { seedBulk } from './helpers/fixture/bulk.mjs';
import { snapshotSchema } from './helpers/inspect/snapshot.mjs';
import { jsonDocument } from './helpers/run/cli-schema.mjs';
import { getServer } from './helpers/server/postgres.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLI = path.join(root, 'packages/backend/dist/scripts/rotate-encryption-key.js');

const OLD = generateKey();
const NEW = generateKey();
const OTHER = generateKey();
const secrets = new Set([OLD, NEW, OTHER, OLD.slice(0, 32), NEW.slice(0, 32)]);
const outputs = [];
const tmp = mkdtempSync(path.join(os.tmpdir(), 'keyrotate-cli-'));

// Only what the test passes: no inherited DATABASE_URL or keys.
function run(args, { env = {}, input } = {}) {
  const result = spawnSync(process.execPath, [CLI, ...args], {
    env: { PATH: process.env.PATH, ...env },
    input,
    encoding: 'utf8',
    timeout: 60_000,
  });
  outputs.push(result.stdout, result.stderr);
  return result;
}

function keyFile(name, content) {
  const file = path.join(tmp, name);
  writeFileSync(file, content);
  return file;
}

let server;
let url;
let client;
let fixture;

async function reset(key = OLD) {
  await client.query('DROP SCHEMA public CASCADE; CREATE SCHEMA public');
  await createAnythingMcpSchema(client, 'public', { legacy: true });
  fixture = await seedAcceptanceFixture(client, key, { legacy: true });
  for (const s of fixture.secrets) secrets.add(s);
}

// Every row of every table: what "nothing changed" compares.
function values() {
  return snapshotSchema(client, 'public');
}

// Every location value, opened as the backend opens it.
async function allOpenWith(key) {
  await assertEntriesOpenWith(client, fixture, key);
}

before(async () => {
  server = await getServer();
  url = await server.createDatabase('cli');
  client = new pg.Client({ connectionString: url });
  await client.connect();
  secrets.add(server.password);
});
after(async () => {
  await client.end();
});

describe('key sources', () => {
  beforeEach(() => reset());

  test('environment: OLD_ENCRYPTION_KEY / NEW_ENCRYPTION_KEY', async () => {
    const r = run(['--yes'], { env: { DATABASE_URL: url, OLD_ENCRYPTION_KEY: OLD, NEW_ENCRYPTION_KEY: NEW } });
    assert.equal(r.status, 0, r.stderr);
    const want = expectedReport(fixture);
    assert.match(r.stdout, new RegExp(`^${want.rowsReencrypted} rows re-encrypted across ${want.tables} tables \\(${want.values} values; 0 values already on the new key, ${want.empty} empty\\)`, 'm'));
    assert.doesNotMatch(r.stderr, /command line/);
    await allOpenWith(NEW);
  });

  test('the old key falls back to ENCRYPTION_KEY', async () => {
    const r = run(['--yes'], { env: { DATABASE_URL: url, ENCRYPTION_KEY: OLD, NEW_ENCRYPTION_KEY: NEW } });
    assert.equal(r.status, 0, r.stderr);
    await allOpenWith(NEW);
  });

  test('files, with one trailing newline stripped', async () => {
    const r = run(['--old-file', keyFile('old.key', `${OLD}\n`), '--new-file', keyFile('new.key', `${NEW}\r\n`), '--database-url', url, '--yes']);
    assert.equal(r.status, 0, r.stderr);
    await allOpenWith(NEW);
  });

  test('a key file with extra whitespace is refused (exit 2), nothing changes', async () => {
    const before_ = await values();
    const r = run(['--old-file', keyFile('old2.key', `${OLD}\n\n`), '--new-file', keyFile('new2.key', NEW), '--database-url', url, '--yes']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /ERR_KEY_INVALID.*whitespace/);
    assert.deepStrictEqual(await values(), before_);
  });

  test('a key file starting with a byte-order mark (as Notepad saves it) is refused (exit 2) unless --allow-whitespace', async () => {
    const before_ = await values();
    const bomNew = keyFile('bom-new.key', `\ufeff${NEW}\r\n`);
    const zwspOld = keyFile('zwsp-old.key', `${OLD}\u200b\n`);
    for (const args of [['--new-file', bomNew], ['--old-file', zwspOld, '--new-file', keyFile('plain-new.key', NEW)]]) {
      const r = run([...args, '--database-url', url, '--yes'], { env: { OLD_ENCRYPTION_KEY: OLD } });
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, /ERR_KEY_INVALID.*(starts with U\+FEFF|ends with U\+200B).*whitespace or an invisible character/);
    }
    assert.deepStrictEqual(await values(), before_);
    secrets.add(`\ufeff${NEW}`);
    const allowed = run(['--new-file', bomNew, '--allow-whitespace', '--database-url', url, '--yes'], { env: { OLD_ENCRYPTION_KEY: OLD } });
    assert.equal(allowed.status, 0, allowed.stderr);
    await allOpenWith(`\ufeff${NEW}`);
  });

  test('stdin: old then new, one per line', async () => {
    const r = run(['--stdin', '--database-url', url, '--yes'], { input: `${OLD}\n${NEW}\n` });
    assert.equal(r.status, 0, r.stderr);
    await allOpenWith(NEW);
  });

  test('argv works, as the request shows it, with a warning', async () => {
    const r = run(['--old', OLD, '--new', NEW, '--yes'], { env: { DATABASE_URL: url } });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /warning: --old and --new put the key on the command line/);
    await allOpenWith(NEW);
  });

  test('--database-url overrides DATABASE_URL', async () => {
    const r = run(['--database-url', url, '--yes'], {
      env: { DATABASE_URL: 'postgresql://nobody:pw@127.0.0.1:1/none', OLD_ENCRYPTION_KEY: OLD, NEW_ENCRYPTION_KEY: NEW },
    });
    assert.equal(r.status, 0, r.stderr);
  });
});

describe('modes and output', () => {
  beforeEach(() => reset());
  const env = () => ({ DATABASE_URL: url, OLD_ENCRYPTION_KEY: OLD, NEW_ENCRYPTION_KEY: NEW });

  test('--dry-run changes nothing and reports what would happen', async () => {
    const before_ = await values();
    const r = run(['--dry-run'], { env: env() });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /Dry run \(nothing written\): \d+ rows would be re-encrypted across \d+ tables/);
    assert.deepStrictEqual(await values(), before_);
  });

  test('--json prints one JSON document on stdout and nothing else', async () => {
    const r = run(['--json', '--yes'], { env: env() });
    assert.equal(r.status, 0, r.stderr);
    const doc = jsonDocument(r.stdout, 0);
    assert.equal(doc.ok, true);
    const report = doc.report;
    assert.equal(report.committed, true);
    const want = expectedReport(fixture);
    assert.equal(report.rowsReencrypted, want.rowsReencrypted);
    assert.equal(report.locations.length, 7);
    assert.deepStrictEqual(
      report.locations.filter((l) => l.status === 'processed').map((l) => `${l.table}.${l.column}${l.member ? `.${l.member}` : ''}`),
      want.present,
    );
    // Everything is on NEW now, so only a pair that matches nothing fails.
    const failed = run(['--json', '--yes'], { env: { ...env(), OLD_ENCRYPTION_KEY: OTHER, NEW_ENCRYPTION_KEY: generateKey() } });
    assert.equal(failed.status, 3);
    const err = jsonDocument(failed.stdout, 3);
    assert.equal(err.ok, false);
    assert.equal(err.error.code, 'ERR_OLD_KEY_MISMATCH');
    const d = err.error.details;
    assert.ok(
      fixture.rows.some((r) => r.kind === 'sealed' && r.table === d.table && r.column === d.column && (r.member ?? undefined) === (d.member ?? undefined) && r.id === d.primaryKey),
      'names a sealed value of the fixture',
    );
    assert.equal(d.kind, 'value');
    assert.match(err.error.hint, /ENCRYPTION_KEY the backend runs with now.*Nothing was changed/);
  });

  test('verify: 0 with the key everything is under, 3 otherwise; --json report', async () => {
    assert.equal(run(['--yes'], { env: env() }).status, 0);
    const ok = run(['verify'], { env: { DATABASE_URL: url, ENCRYPTION_KEY: NEW } });
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /OK$/m);
    const bad = run(['verify', '--json', '--key-file', keyFile('verify.key', OLD)], { env: { DATABASE_URL: url } });
    assert.equal(bad.status, 3);
    const doc = jsonDocument(bad.stdout, 3);
    assert.equal(doc.error.code, 'ERR_VERIFY_FAILED');
    assert.equal(doc.error.report.ok, false);
    assert.equal(doc.error.report.failureCount, fixture.rows.filter((x) => x.kind === 'sealed').length);
  });

  test('off a TTY it never waits for input, even with stdin left open', async () => {
    const child = spawn(process.execPath, [CLI, '--yes'], { env: { PATH: process.env.PATH, ...env() }, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const code = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('CLI waited for input')), 30_000);
      child.on('exit', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    child.stdin.destroy();
    outputs.push(out, err);
    assert.equal(code, 0, err);
    assert.doesNotMatch(err, /Proceed\?/);
    await allOpenWith(NEW);
  });

  test('--help documents key sources, options, exit codes and an example', () => {
    const r = run(['--help']);
    assert.equal(r.status, 0);
    for (const word of ['OLD_ENCRYPTION_KEY', '--old-file', '--stdin', '--dry-run', '--json', '--yes', '--verbose', '--lock-timeout', '--column', '--columns-file', 'verify', 'fingerprint', 'generate-key', 'Exit codes', 'Examples']) {
      assert.ok(r.stdout.includes(word), word);
    }
    const codes = [...r.stdout.slice(r.stdout.indexOf('Exit codes:')).matchAll(/^ {2}(\d[\d, ]*?) {2,}/gm)].map((m) => m[1]);
    assert.deepStrictEqual(codes, ['0', '1', '2', '3', '4', '5', '6', '7', '130, 143, 129']);
    assert.match(r.stdout.replace(/\n {17}/g, ' '), /^ {2}5 +the connection was lost during COMMIT, so the rotation may or may not have committed\. Do not switch keys: run the same rotation again with the same keys, then verify with the new key$/m);
  });

  test('generate-key prints a key the backend and the addon accept', () => {
    const r = run(['generate-key']);
    assert.equal(r.status, 0);
    const key = r.stdout.trim();
    assert.equal(key.length, 64);
    assert.equal(run(['generate-key']).stdout.trim() === key, false);
    const check = run(['--dry-run'], { env: { DATABASE_URL: 'postgresql://x:pw@127.0.0.1:1/none', OLD_ENCRYPTION_KEY: OLD, NEW_ENCRYPTION_KEY: key } });
    assert.match(check.stderr, /ERR_DB_CONNECT/);
    assert.equal(check.status, 4, 'the key passes validation and the run gets as far as connecting');
  });
});

describe('exit codes', () => {
  before(() => reset());
  const env = (extra = {}) => ({ DATABASE_URL: url, OLD_ENCRYPTION_KEY: OLD, NEW_ENCRYPTION_KEY: NEW, ...extra });

  test('2: usage errors and invalid keys, without touching the database', async () => {
    const before_ = await values();
    for (const [args, extra, pattern] of [
      [['--bogus'], {}, /ERR_USAGE.*unknown option --bogus/],
      [[`--olf=${OLD}`], {}, /ERR_USAGE.*unknown option --olf$/m],
      [['--old', `-${NEW}`], {}, /ERR_USAGE.*without its value/],
      [['rotate', 'extra'], {}, /ERR_USAGE/],
      [['--lock-timeout', 'soon'], {}, /ERR_USAGE/],
      [[], { NEW_ENCRYPTION_KEY: 'too-short' }, /ERR_KEY_INVALID/],
      [[], { NEW_ENCRYPTION_KEY: 'change-me-in-production-exactly-32' }, /ERR_KEY_INVALID.*placeholder/],
      [[], { NEW_ENCRYPTION_KEY: OLD }, /ERR_KEY_UNCHANGED/],
      [[], { OLD_ENCRYPTION_KEY: '' }, /ERR_KEY_INVALID.*missing/],
      [[], { DATABASE_URL: '' }, /ERR_USAGE.*DATABASE_URL/],
      [['--column', 'connectors.id.nope'], {}, /ERR_COLUMN_NOT_FOUND/],
      [['--column', 'x.y'], {}, /ERR_INVALID_ARG/],
      [['--column', NEW], {}, /ERR_INVALID_ARG.*column spec/],
    ]) {
      const r = run([...args, '--yes'], { env: env(extra) });
      assert.equal(r.status, 2, `${args} ${JSON.stringify(Object.keys(extra))}: ${r.stderr}`);
      assert.match(r.stderr, pattern);
    }
    assert.deepStrictEqual(await values(), before_);
  });

  test('3: wrong old key, and a value that opens with neither key', async () => {
    const before_ = await values();
    const wrong = run(['--yes'], { env: env({ OLD_ENCRYPTION_KEY: OTHER }) });
    assert.equal(wrong.status, 3);
    assert.match(wrong.stderr, /ERR_OLD_KEY_MISMATCH.*old key does not match/);
    assert.match(wrong.stderr, /Nothing was changed/);

    const victim = fixture.rows.filter((r) => r.kind === 'sealed' && r.table === 'connectors' && r.column === 'auth_config').at(-1);
    await client.query('UPDATE connectors SET auth_config = $1 WHERE id = $2', [encrypt('{"x":1}', OTHER), victim.id]);
    const corrupt = run(['--yes'], { env: env() });
    assert.equal(corrupt.status, 3);
    assert.match(corrupt.stderr, new RegExp(`ERR_UNDECRYPTABLE.*${victim.id}`));
    const dry = run(['--dry-run'], { env: env() });
    assert.equal(dry.status, 3, 'a dry run that finds failures says so');
    assert.match(dry.stderr, new RegExp(`failed: public\\.connectors\\.auth_config \\(primary key ${victim.id}\\)`));
    await client.query('UPDATE connectors SET auth_config = $1 WHERE id = $2', [victim.stored, victim.id]);
    assert.deepStrictEqual(await values(), before_);
  });

  test('4: database unreachable, authentication failed, lock timeout', async () => {
    const unreachable = run(['--yes'], { env: env({ DATABASE_URL: 'postgresql://amcp:Hunter2Password@127.0.0.1:1/anythingmcp' }) });
    assert.equal(unreachable.status, 4);
    assert.match(unreachable.stderr, /ERR_DB_CONNECT.*127\.0\.0\.1:1\/anythingmcp/);
    secrets.add('Hunter2Password');

    const badAuth = new URL(url);
    badAuth.password = 'definitely-wrong-password';
    secrets.add('definitely-wrong-password');
    const auth = run(['--yes'], { env: env({ DATABASE_URL: badAuth.toString() }) });
    assert.equal(auth.status, 4);
    assert.match(auth.stderr, /ERR_DB_CONNECT/);

    const holder = new pg.Client({ connectionString: url });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query("UPDATE connectors SET name = name WHERE id = 'nothing'");
      await holder.query('LOCK TABLE connectors IN ROW EXCLUSIVE MODE');
      const before_ = await values();
      const locked = run(['--lock-timeout', '300ms', '--yes'], { env: env() });
      assert.equal(locked.status, 4, locked.stderr);
      assert.match(locked.stderr, /ERR_LOCK_TIMEOUT/);
      assert.deepStrictEqual(await values(), before_);
    } finally {
      await holder.query('ROLLBACK');
      await holder.end();
    }
  });

  test('1: other database errors (permission denied), nothing changed', async () => {
    await client.query("DROP ROLE IF EXISTS readonly_amcp; CREATE ROLE readonly_amcp LOGIN PASSWORD 'ro-Pass-123'");
    await client.query('GRANT USAGE ON SCHEMA public TO readonly_amcp; GRANT SELECT ON ALL TABLES IN SCHEMA public TO readonly_amcp');
    secrets.add('ro-Pass-123');
    const ro = new URL(url);
    ro.username = 'readonly_amcp';
    ro.password = 'ro-Pass-123';
    const before_ = await values();
    const r = run(['--yes'], { env: env({ DATABASE_URL: ro.toString() }) });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /ERR_DB.*42501/);
    assert.deepStrictEqual(await values(), before_);
  });

  test('0 and then 6: a re-run finds nothing on the old key, changes nothing, and names the key the data is on', async () => {
    assert.equal(run(['--yes'], { env: env() }).status, 0);
    const before_ = await values();
    const again = run(['--yes'], { env: env() });
    assert.equal(again.status, 6, again.stderr);
    assert.match(again.stderr, /ERR_ALREADY_ON_NEW_KEY/);
    const { keyFingerprint } = await import('../index.js').then((m) => m.default);
    assert.ok(again.stderr.includes(keyFingerprint(NEW)));
    assert.deepStrictEqual(await values(), before_);
  });
});

describe('on a terminal', () => {
  beforeEach(() => reset());

  // `script` gives the CLI a pseudo-terminal; what we pipe in is typed at it.
  function runTty(args, env, typed) {
    const cmd = [process.execPath, CLI, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    const r = spawnSync('script', ['-qfec', cmd, '/dev/null'], {
      env: { PATH: process.env.PATH, TERM: 'dumb', ...env },
      input: typed,
      encoding: 'utf8',
      timeout: 60_000,
    });
    outputs.push(r.stdout, r.stderr);
    return r;
  }

  test('asks for confirmation naming database, tables and fingerprints; "n" aborts and changes nothing', async () => {
    const before_ = await values();
    const r = runTty([], { DATABASE_URL: url, OLD_ENCRYPTION_KEY: OLD, NEW_ENCRYPTION_KEY: NEW }, 'n\n');
    assert.equal(r.status, 2);
    const dbName = new URL(url).pathname.slice(1);
    const { port, username } = new URL(url);
    assert.match(r.stdout, new RegExp(`Rotate ENCRYPTION_KEY in database ${dbName} on 127\\.0\\.0\\.1:${port} as ${username}, schema public\\.`));
    // The registry's locations, listed from the addon, not from text in the CLI.
    const { describeLocations } = await import('../index.js').then((m) => m.default);
    for (const l of describeLocations()) {
      const name = `${l.schema}.${l.table}.${l.column}${l.member ? `.${l.member}` : ''}`;
      assert.ok(r.stdout.includes(name), name);
    }
    assert.match(r.stdout, /public\.org_settings\.value\.secretEnc where key = alert_webhook/);
    const { keyFingerprint } = await import('../index.js').then((m) => m.default);
    assert.ok(r.stdout.includes(`Old key ${keyFingerprint(OLD)} (from OLD_ENCRYPTION_KEY) -> new key ${keyFingerprint(NEW)} (from NEW_ENCRYPTION_KEY)`));
    assert.match(r.stdout, /Aborted; nothing was changed/);
    assert.deepStrictEqual(await values(), before_);
  });

  // The same pseudo-terminal, typed at only once the question is on screen:
  // by then the CLI reads the terminal raw, so Ctrl-C and Ctrl-D reach it as
  // keys (typed earlier, the terminal would turn Ctrl-C into a signal).
  async function answerPrompt(env, keys) {
    const cmd = [process.execPath, CLI].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    const child = spawn('script', ['-qfec', cmd, '/dev/null'], {
      env: { PATH: process.env.PATH, TERM: 'dumb', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => {
      const asked = !out.includes('Proceed?');
      out += d;
      if (asked && out.includes('Proceed?')) child.stdin.write(keys);
    });
    const status = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`the CLI did not end after ${JSON.stringify(keys)}: ${out}`));
      }, 30_000);
      child.on('exit', (code) => {
        clearTimeout(timer);
        resolve(code);
      });
    });
    outputs.push(out);
    return { status, out };
  }

  for (const [what, keys] of [
    ['Ctrl-C', '\x03'],
    ['end of input (Ctrl-D)', '\x04'],
  ]) {
    test(`${what} at the prompt is a decline: exit 2, "nothing was changed", no error`, async () => {
      const before_ = await values();
      const { status, out } = await answerPrompt({ DATABASE_URL: url, OLD_ENCRYPTION_KEY: OLD, NEW_ENCRYPTION_KEY: NEW }, keys);
      assert.equal(status, 2, out);
      assert.match(out, /Proceed\? \[y\/N\] \r?\nAborted; nothing was changed\.\r?\n$/);
      assert.doesNotMatch(out, /ERR_|error|transaction|report this/i);
      assert.deepStrictEqual(await values(), before_);
    });
  }

  test('--stdin on a terminal is refused before anything is typed: the keys would be echoed', async () => {
    const before_ = await values();
    const r = runTty(['--stdin', '--yes'], { DATABASE_URL: url }, '');
    assert.equal(r.status, 2, r.stdout);
    assert.match(r.stdout, /--stdin reads keys from a pipe or a file/);
    assert.deepStrictEqual(await values(), before_);
  });

  test('"y" rotates, with a live progress line on a long run; --yes never asks', async () => {
    await seedBulk(client, OLD, 100_000);
    const r = runTty([], { DATABASE_URL: url, OLD_ENCRYPTION_KEY: OLD, NEW_ENCRYPTION_KEY: NEW }, 'y\n');
    assert.equal(r.status, 0, r.stdout);
    assert.match(r.stdout, /connectors\.auth_config, env_vars\.\$enc: [\d,]+\/100,0\d\d rows \(\d+%\)/);
    assert.match(r.stdout, new RegExp(`^${100_000 + expectedReport(fixture).rowsReencrypted} rows re-encrypted across ${expectedReport(fixture).tables} tables`, 'm'));
    await allOpenWith(NEW);
    const again = runTty(['--yes'], { DATABASE_URL: url, OLD_ENCRYPTION_KEY: OLD, NEW_ENCRYPTION_KEY: NEW }, '');
    assert.equal(again.status, 6, 'everything is on the new key already');
    assert.doesNotMatch(again.stdout, /Proceed\?/);
  });
});

test('no output stream ever contained a key, a plaintext or a password', () => {
  assert.ok(outputs.length > 40);
  const all = outputs.join('\n');
  for (const s of secrets) assert.ok(!all.includes(s), `a secret of length ${s.length} leaked`);
});
