// Every option of the JS API, and the CLI's --lock-timeout: a value of the
// wrong type or out of range is ERR_INVALID_ARG naming the option (never the
// value), before any connection is attempted; nothing is ever wrapped or
// truncated into range (a u32 binding once took 2 ** 32 + 1000 ms as 1 s).
// "Before any connection" is counted, not assumed: the URL points at a TCP
// listener that counts the connections it gets. The boundaries themselves
// are then run against a real PostgreSQL.

import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';

import { generateKey } from './helpers/anythingmcp/crypto.mjs';
import { expectedReport } from './helpers/anythingmcp/locations.mjs';
import { createAnythingMcpSchema } from './helpers/anythingmcp/schema.mjs';
import { seedAcceptanceFixture } from './helpers/fixture/acceptance.mjs';
import { assertAllOpenWith, createObserver } from './helpers/inspect/hygiene.mjs';
import { runCli } from './helpers/run/cli.mjs';
import { getServer } from './helpers/server/postgres.mjs';

const require = createRequire(import.meta.url);
const keyrotate = require('../index.js');

const OLD = generateKey();
const NEW = generateKey();
const obs = createObserver();
obs.keys(OLD, NEW);
// A string option value that must never be echoed.
const SHOWN_NEVER = 'value-that-must-never-be-shown';
obs.secret(SHOWN_NEVER);

let listener;
let connections = 0;
let countingUrl;
before(async () => {
  listener = net.createServer((socket) => {
    connections++;
    socket.destroy();
  });
  await new Promise((resolve) => listener.listen(0, '127.0.0.1', resolve));
  countingUrl = `postgresql://amcp:Counting-Pw-1@127.0.0.1:${listener.address().port}/anythingmcp?sslmode=disable`;
  obs.secret('Counting-Pw-1');
});
after(() => listener.close());

/** The call's error, its code checked, and whether it got as far as connecting. */
async function attempt(call) {
  const before_ = connections;
  let error;
  try {
    obs.observe(await call());
  } catch (e) {
    error = obs.observe(e);
  }
  assert.ok(error, 'the counting listener cannot serve a rotation');
  return { error, connected: connections > before_ };
}

async function refused(what, call, name) {
  const { error, connected } = await attempt(call);
  assert.equal(error.code, 'ERR_INVALID_ARG', `${what}: ${error.code} ${error.message}`);
  assert.ok(error instanceof keyrotate.KeyrotateError, `${what}: a KeyrotateError`);
  if (name) assert.ok(error.message.includes(`option ${name} `), `${what}: names the option: ${error.message}`);
  assert.equal(connected, false, `${what}: refused before connecting`);
  return error;
}

async function accepted(what, call) {
  const { error, connected } = await attempt(call);
  assert.equal(error.code, 'ERR_DB_CONNECT', `${what}: ${error.code} ${error.message}`);
  assert.ok(connected, `${what}: got as far as connecting`);
}

const rotate = (options) => () => keyrotate.rotateEncryptionKey(OLD, NEW, countingUrl, options);
const verify = (options) => () => keyrotate.verifyEncryptionKey(OLD, countingUrl, options);
const show = (v) => (typeof v === 'bigint' ? `${v}n` : typeof v === 'function' ? 'a function' : Object.is(v, -0) ? '-0' : JSON.stringify(v) ?? String(v));

const NOT_NUMBERS = ['10', '1000', SHOWN_NEVER, '', null, true, false, {}, [], [10], 10n, () => 10, new Number(10)];
const NOT_INTEGERS = [NaN, Infinity, -Infinity, 1.5, 0.5, 1e-9, 2 ** 53 - 0.5 /* rounds to 2**53 */, 2 ** 53, 2 ** 53 + 2, Number.MAX_VALUE];

const NUMERIC = [
  // [option, calls, min, max]
  ['lockTimeoutMs', [rotate], 1, 2 ** 31 - 1],
  ['batchSize', [rotate, verify], 1, 100_000],
];
const BOOLEANS = [
  ['dryRun', [rotate]],
  ['allowUnregistered', [rotate]],
  ['discover', [rotate, verify]],
  ['allowWhitespace', [rotate, verify]],
];

describe('numeric options: integers in range, nothing wrapped or truncated', () => {
  for (const [name, calls, min, max] of NUMERIC) {
    test(`${name}: refused when not an integer from ${min} to ${max}; both bounds accepted`, async () => {
      const outOfRange = [min - 1, -1, -0, max + 1, 2 ** 31, 2 ** 32 + 1000, 2 ** 32, 2 ** 32 + min, -(2 ** 32) + 1000, 2 ** 53 - 1];
      for (const call of calls) {
        for (const value of [...NOT_NUMBERS, ...NOT_INTEGERS, ...outOfRange]) {
          const e = await refused(`${name}: ${show(value)}`, call({ [name]: value }), name);
          const digits = String(value);
          if (typeof value === 'number' && digits.length >= 4) assert.ok(!e.message.includes(digits), `${name}: ${digits} echoed`);
        }
        for (const value of [min, max, undefined]) await accepted(`${name}: ${show(value)}`, call({ [name]: value }));
      }
    });
  }
});

describe('the other options: exactly their type', () => {
  test('booleans refuse anything but true and false (null included); both are accepted', async () => {
    for (const [name, calls] of BOOLEANS) {
      for (const call of calls) {
        for (const value of ['yes', 'false', SHOWN_NEVER, 1, 0, null, {}, [], [true], new Boolean(false), () => true]) {
          await refused(`${name}: ${show(value)}`, call({ [name]: value }), name);
        }
        for (const value of [true, false, undefined]) await accepted(`${name}: ${show(value)}`, call({ [name]: value }));
      }
    }
  });

  test('columns, columnsFile and onProgress: an array of specs, a non-empty string, a function', async () => {
    const spec = { table: 'connectors', primaryKey: 'id', column: 'auth_config' };
    for (const call of [rotate, verify]) {
      for (const value of [SHOWN_NEVER, {}, null, 1, [1], [null], [[SHOWN_NEVER]], [{ ...spec, table: 1 }], [{ ...spec, schema: null }], [{ table: 'connectors', column: 'auth_config' }], [{ ...spec, where: SHOWN_NEVER }], [SHOWN_NEVER, 5]]) {
        await refused(`columns: ${show(value)}`, call({ columns: value }), 'columns');
      }
      for (const value of [5, null, '', {}, [SHOWN_NEVER], true, () => SHOWN_NEVER]) {
        await refused(`columnsFile: ${show(value)}`, call({ columnsFile: value }), 'columnsFile');
      }
      for (const value of ['console.log', null, {}, 1, true, [() => {}]]) {
        await refused(`onProgress: ${show(value)}`, call({ onProgress: value }), 'onProgress');
      }
      for (const value of [[], ['connectors.id.auth_config', { ...spec, schema: 'public' }], undefined]) {
        await accepted(`columns: ${show(value)}`, call({ columns: value }));
      }
      await accepted('onProgress: a function', call({ onProgress: () => {} }));
    }
  });

  test('options that are not an object, unknown options, and options of another call are refused', async () => {
    for (const options of ['dryRun', SHOWN_NEVER, 5, true, [], [{ dryRun: true }], () => ({})]) {
      const e = await refused(`options ${show(options)}`, rotate(options));
      assert.match(e.message, /options must be an object/);
    }
    for (const options of [{ dryrun: true }, { lockTimeout: 10 }, { [SHOWN_NEVER]: 1 }, { constructor: 1 }, { __proto__: { dryRun: true }, toString: 1 }]) {
      const e = await refused(`options ${Object.keys(options)}`, rotate(options));
      assert.match(e.message, /unknown option/);
    }
    for (const name of ['lockTimeoutMs', 'dryRun', 'allowUnregistered']) {
      const value = name === 'lockTimeoutMs' ? 10 : true;
      const e = await refused(`verify with ${name}`, verify({ [name]: value }));
      assert.match(e.message, new RegExp(`unknown option ${name}`));
    }
    await accepted('options undefined', rotate(undefined));
    await accepted('options null', rotate(null));
    await accepted('options {}', rotate({}));
  });

  test('keyFingerprint and checkKeys take only allowWhitespace, and only a boolean', () => {
    const calls = [(o) => keyrotate.keyFingerprint(OLD, o), (o) => keyrotate.checkKeys(OLD, NEW, o)];
    for (const call of calls) {
      for (const [options, pattern] of [
        [{ allowWhitespace: 'yes' }, /option allowWhitespace must be true or false/],
        [{ allowWhitespace: null }, /option allowWhitespace must be true or false/],
        [{ allowWhitespace: 1 }, /option allowWhitespace must be true or false/],
        [{ dryRun: true }, /unknown option dryRun/],
        [{ batchSize: 10 }, /unknown option batchSize/],
        ['allowWhitespace', /options must be an object/],
      ]) {
        assert.throws(
          () => call(options),
          (e) => {
            obs.observe(e);
            assert.ok(e instanceof keyrotate.KeyrotateError);
            assert.equal(e.code, 'ERR_INVALID_ARG');
            assert.match(e.message, pattern);
            return true;
          },
          show(options),
        );
      }
      for (const options of [undefined, null, {}, { allowWhitespace: true }, { allowWhitespace: false }]) obs.observe(call(options));
    }
  });
});

describe('the CLI --lock-timeout', () => {
  // Asynchronous, so the counting listener in this process can answer.
  const cli = (args) =>
    runCli(args, { env: { DATABASE_URL: countingUrl, OLD_ENCRYPTION_KEY: OLD, NEW_ENCRYPTION_KEY: NEW }, observe: obs.observe });

  test('the same range as lockTimeoutMs, in ms, s or m; never wrapped, never rounded', async () => {
    // 2 ** 31 - 1 ms is the largest; 35791 m is under it, 35792 m over it.
    const bad = ['0', '0ms', '0s', '2147483648ms', '4294968296ms', '4294967296ms', '2147484s', '35792m', '99999999999999999999ms', '9007199254740993ms', '1.5s', '0.5ms', '-5s', '1e3ms', '10h', '10 s', 'soon', '', 'NaN', 'Infinity'];
    for (const value of bad) {
      const before_ = connections;
      const r = await cli(['--yes', `--lock-timeout=${value}`]);
      assert.equal(r.code, 2, `${value}: ${r.stderr}`);
      assert.match(r.stderr, /ERR_USAGE.*--lock-timeout/, value);
      if (value.length >= 4) assert.ok(!r.stderr.includes(value), `${value} echoed`);
      assert.equal(connections, before_, `${value}: refused before connecting`);
    }
    for (const value of ['1ms', '1', '2147483647ms', '2147483s', '35791m', '10s', ' 500ms ']) {
      const before_ = connections;
      const r = await cli(['--yes', `--lock-timeout=${value}`]);
      assert.equal(r.code, 4, `${value}: ${r.stderr}`);
      assert.match(r.stderr, /ERR_DB_CONNECT/);
      assert.ok(connections > before_, `${value}: got as far as connecting`);
    }
  });
});

test('the bounds work against a real PostgreSQL: batchSize 1 and 100000, lockTimeoutMs 1 and 2 ** 31 - 1', async () => {
  const server = await getServer();
  obs.secret(server.password);
  const url = await server.createDatabase('options');
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await createAnythingMcpSchema(client, 'public', { legacy: true });
    const fixture = await seedAcceptanceFixture(client, OLD, { legacy: true });
    const { rowsReencrypted: sealed } = expectedReport(fixture);
    const dry = obs.observe(await keyrotate.rotateEncryptionKey(OLD, NEW, url, { dryRun: true, batchSize: 1, lockTimeoutMs: 1 }));
    assert.equal(dry.rowsReencrypted, sealed);
    const real = obs.observe(await keyrotate.rotateEncryptionKey(OLD, NEW, url, { batchSize: 100_000, lockTimeoutMs: 2 ** 31 - 1, allowUnregistered: false }));
    assert.equal(real.rowsReencrypted, sealed);
    const check = obs.observe(await keyrotate.verifyEncryptionKey(NEW, url, { batchSize: 1 }));
    assert.equal(check.ok, true);
    await assertAllOpenWith(client, NEW);
  } finally {
    await client.end();
  }
});

test('no key, password or option value appears in any message', () => {
  obs.assertNoLeaks(200);
});
