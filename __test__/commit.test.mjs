// A connection lost while COMMIT is in flight (ERR_COMMIT_UNKNOWN), through the
// compiled CLI and a real PostgreSQL, with a proxy in between
// (helpers/server/commit-cutter.mjs) that cuts the connection at the COMMIT:
//   after  — the COMMIT reached the server: it committed, the reply never came;
//   before — the COMMIT never reached it: the server rolled back.
// keyrotate has sent its COMMIT in both and cannot tell them apart, so both
// must exit 5 with ERR_COMMIT_UNKNOWN, never success, never "nothing was
// changed". Then the documented next step (SECURITY.md, exit code 5): the
// same rotation again with the same keys, directly, then verify with the new
// key. Both end with every value on the new key and every byte else intact.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';

import { generateKey } from './helpers/anythingmcp/crypto.mjs';
import { assertEntriesOpenWith, expectedReport } from './helpers/anythingmcp/locations.mjs';
import { createAnythingMcpSchema } from './helpers/anythingmcp/schema.mjs';
import { seedAcceptanceFixture } from './helpers/fixture/acceptance.mjs';
import { dumpDatabase } from './helpers/inspect/dump.mjs';
import { createObserver, keyrotateSessions, waitFor } from './helpers/inspect/hygiene.mjs';
import { runCli } from './helpers/run/cli.mjs';
import { startCommitCutter } from './helpers/server/commit-cutter.mjs';
import { getServer } from './helpers/server/postgres.mjs';

const OLD = generateKey();
const NEW = generateKey();
const obs = createObserver();
obs.keys(OLD, NEW);

let url;
let client;
before(async () => {
  const server = await getServer();
  obs.secret(server.password);
  url = await server.createDatabase('commit_unknown');
  client = new pg.Client({ connectionString: url });
  await client.connect();
});
after(() => client.end());

/**
 * A fresh fixture under OLD, and what must survive it: a dump of every table
 * with each sealed value opened (the same under the new key after a correct
 * rotation, byte for byte elsewhere).
 */
async function seed() {
  await client.query('DROP SCHEMA public CASCADE; CREATE SCHEMA public');
  await createAnythingMcpSchema(client, 'public', { legacy: true });
  const fixture = await seedAcceptanceFixture(client, OLD, { legacy: true });
  for (const s of fixture.secrets) obs.secret(s);
  return { fixture, want: expectedReport(fixture), dump: await dumpDatabase(client, 'public', OLD) };
}

const env = (databaseUrl, extra = {}) => ({ DATABASE_URL: databaseUrl, OLD_ENCRYPTION_KEY: OLD, NEW_ENCRYPTION_KEY: NEW, ...extra });
const cli = (args, environment) => runCli(args, { env: environment, observe: obs.observe });

const CASES = [
  ['after', 'the COMMIT reached the server (it committed; the reply never came)', 'COMMIT', NEW],
  ['before', 'the COMMIT was cut before the server saw it (it rolled back)', null, OLD],
];

for (const [mode, what, serverAnswer, keyAfterCut] of CASES) {
  for (const json of [false, true]) {
    test(`${what}${json ? ', --json' : ''}: exit 5 ERR_COMMIT_UNKNOWN; the documented re-run ends on the new key, data intact`, async (t) => {
      const baseline = await seed();
      const target = new URL(url);
      const cutter = await startCommitCutter({ host: target.hostname, port: Number(target.port) }, mode);
      try {
        const proxied = new URL(url);
        proxied.hostname = '127.0.0.1';
        proxied.port = String(cutter.port);
        proxied.searchParams.set('sslmode', 'disable');
        const r = await cli(['--yes', ...(json ? ['--json'] : [])], env(proxied.toString()));

        // What went over the wire: one simple-query COMMIT, cut as asked.
        assert.ok(cutter.cut, `the proxy saw a COMMIT; queries: ${JSON.stringify(cutter.queries)}`);
        assert.equal(cutter.queries.filter((q) => q === 'COMMIT').length, 1);
        assert.equal(cutter.commitChunk.at(-1), 'Q', 'the COMMIT ends what the client wrote');
        t.diagnostic(`written with the COMMIT: ${cutter.commitChunk.join(' ')}`);
        assert.equal(await cutter.serverReply, serverAnswer, 'what the server answered the COMMIT');

        assert.equal(r.code, 5, `exit status: ${r.stdout}${r.stderr}`);
        const all = r.stdout + r.stderr;
        assert.doesNotMatch(all, /nothing was changed|rolled back|rows re-encrypted|Next: set ENCRYPTION_KEY/i);
        if (json) {
          const doc = JSON.parse(r.stdout);
          assert.equal(doc.ok, false);
          assert.equal(doc.error.code, 'ERR_COMMIT_UNKNOWN');
          assert.match(doc.error.message, /may or may not have committed/);
          assert.match(doc.error.hint, /Run the same rotation again with the same keys.*Then verify with the new key/);
          assert.equal(doc.exit, 5);
        } else {
          assert.match(r.stderr, /^error \[ERR_COMMIT_UNKNOWN\]: the connection failed during COMMIT .*may or may not have committed/m);
          assert.match(r.stderr, /Do not switch ENCRYPTION_KEY.*Run the same rotation again with the same keys.*Then verify with the new key/);
        }
      } finally {
        await cutter.close();
      }

      // The server has settled the transaction one way: all on one key, never a mix.
      await waitFor(async () => (await keyrotateSessions(client)).length === 0, 'the cut session to end');
      const opened = await assertEntriesOpenWith(client, baseline.fixture, keyAfterCut).catch(() => 0);
      assert.equal(opened, baseline.want.values, `after the cut every value is on the ${keyAfterCut === NEW ? 'new' : 'old'} key`);
      // The audit event was written before the COMMIT, in the same
      // transaction: it stands or falls with the rotation.
      const events = async () => Number((await client.query("SELECT count(*) AS n FROM security_events WHERE event = 'ENCRYPTION_KEY_ROTATED'")).rows[0].n);
      assert.equal(await events(), keyAfterCut === NEW ? 1 : 0, 'audit events after the cut');

      // The documented next step, on a working connection.
      // It settles which: exit 6 (nothing left on the old key) if the COMMIT
      // had happened, a full rotation (exit 0) if it had not.
      const again = await cli(['--yes'], env(url));
      if (keyAfterCut === NEW) {
        assert.equal(again.code, 6, again.stderr);
        assert.match(again.stderr, new RegExp(`ERR_ALREADY_ON_NEW_KEY\\]: nothing is sealed with the old key: all ${baseline.want.values} sealed value`));
      } else {
        assert.equal(again.code, 0, again.stderr);
        assert.match(again.stdout, new RegExp(`^${baseline.want.rowsReencrypted} rows re-encrypted across \\d+ tables \\(${baseline.want.values} values; 0 values already on the new key`, 'm'));
      }
      const check = await cli(['verify'], { DATABASE_URL: url, ENCRYPTION_KEY: NEW });
      assert.equal(check.code, 0, check.stderr);
      assert.match(check.stdout, /OK$/m);
      assert.deepStrictEqual(await dumpDatabase(client, 'public', NEW), baseline.dump, 'every value on the new key, every other byte as it was');
      assert.equal(await events(), 1, 'one rotation committed, one audit event');
    });
  }
}

test('no key, plaintext or password appears in any output', () => {
  obs.assertNoLeaks(16);
});
