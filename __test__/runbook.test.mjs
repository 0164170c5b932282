// SECURITY.md's runbook, run as written: every ```sh block of the rotation
// runbook is executed by /bin/sh in order against a real PostgreSQL. No
// Docker engine runs here, so `docker` on the PATH is a shim that runs
// `docker compose exec -T app CMD` as CMD in a directory laid out like the
// upstream image's /app (its working directory; the shim maps /app/ paths
// there), with DATABASE_URL and the running container's ENCRYPTION_KEY;
// `docker compose run --rm -T app CMD` the same with the ENCRYPTION_KEY of
// `.env`, as a new container would have it; `docker compose up -d app`
// makes `.env`'s key the running one; and `docker compose exec -T postgres
// pg_dump ...` runs against the test server. The first block (it sets $CLI
// and the working directory) is run before each later one, as the
// operator's shell would keep it. The one step the runbook leaves to an
// editor, putting the new key in `.env`, the test does itself.

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import pg from 'pg';

import { generateKey } from './helpers/anythingmcp/crypto.mjs';
import { assertEntriesOpenWith } from './helpers/anythingmcp/locations.mjs';
import { createAnythingMcpSchema } from './helpers/anythingmcp/schema.mjs';
import { seedAcceptanceFixture } from './helpers/fixture/acceptance.mjs';
import { getServer } from './helpers/server/postgres.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function runbookBlocks() {
  const text = readFileSync(path.join(root, 'SECURITY.md'), 'utf8');
  const section = text.slice(text.indexOf('### Runbook'), text.indexOf('### Why keys should not'));
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1].replace(/^ {3}/gm, ''));
}

const DOCKER_SHIM = `#!/bin/sh
key_of() { sed -n 's/^ENCRYPTION_KEY=//p' "$1"; }
case "$1 $2 $3 $4" in
  "compose up -d app") cp "$SHIM_COMPOSE_DIR/.env" "$SHIM_COMPOSE_DIR/.running"; exit 0 ;;
  "compose exec -T "*) env_file="$SHIM_COMPOSE_DIR/.running"; shift 3 ;;
  "compose run --rm -T") env_file="$SHIM_COMPOSE_DIR/.env"; shift 4 ;;
  *) echo "docker shim: unsupported: $*" >&2; exit 99 ;;
esac
service=$1; shift
for arg; do
  shift
  case "$arg" in /app/*) arg="$SHIM_APP_DIR/\${arg#/app/}" ;; esac
  set -- "$@" "$arg"
done
case "$service" in
  app) key=$(key_of "$env_file"); cd "$SHIM_APP_DIR" && exec env DATABASE_URL="$SHIM_DATABASE_URL" ENCRYPTION_KEY="$key" "$@" ;;
  postgres) exec env PGHOST="$SHIM_PGHOST" PGPORT="$SHIM_PGPORT" PGPASSWORD="$SHIM_PGPASSWORD" "$@" ;;
  *) echo "docker shim: unknown service $service" >&2; exit 98 ;;
esac
`;

// pg_dump refuses servers newer than itself; the backup step runs whenever
// the installed client can dump the test server (it does against PG 15).
function pgDumpCanDump(serverMajor) {
  try {
    const out = execFileSync('pg_dump', ['--version'], { encoding: 'utf8' });
    return Number(/(\d+)/.exec(out.replace(/^[^\d]*/, ''))[1]) >= serverMajor;
  } catch {
    return false;
  }
}

test('the SECURITY.md rotation runbook works as written', async () => {
  const server = await getServer();
  const url = await server.createDatabase('runbook');
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const oldKey = generateKey();
    await createAnythingMcpSchema(client, 'public', { legacy: true });
    const fixture = await seedAcceptanceFixture(client, oldKey, { legacy: true });
    const serverMajor = Number((await client.query('SHOW server_version_num')).rows[0].server_version_num.slice(0, -4));

    const dir = mkdtempSync(path.join(os.tmpdir(), 'keyrotate-runbook-'));
    const bin = path.join(dir, 'bin');
    mkdirSync(bin);
    writeFileSync(path.join(bin, 'docker'), DOCKER_SHIM, { mode: 0o755 });
    // The upstream image's /app: the backend's build output in backend/dist
    // (the shim compiles to dist/src/scripts there) and its node_modules
    // with this work tree as @anythingmcp/keyrotate.
    const app = path.join(dir, 'app');
    const cli = path.join(app, 'backend', 'dist', 'src', 'scripts');
    mkdirSync(cli, { recursive: true });
    copyFileSync(path.join(root, 'packages', 'backend', 'dist', 'scripts', 'rotate-encryption-key.js'), path.join(cli, 'rotate-encryption-key.js'));
    mkdirSync(path.join(app, 'backend', 'node_modules', '@anythingmcp'), { recursive: true });
    symlinkSync(root, path.join(app, 'backend', 'node_modules', '@anythingmcp', 'keyrotate'));
    const u = new URL(url);
    // The compose directory's .env, and the key the running container has.
    writeFileSync(path.join(dir, '.env'), `POSTGRES_USER=amcp\nENCRYPTION_KEY=${oldKey}\n`);
    copyFileSync(path.join(dir, '.env'), path.join(dir, '.running'));
    const env = {
      PATH: `${bin}:${process.env.PATH}`,
      SHIM_APP_DIR: app,
      SHIM_COMPOSE_DIR: dir,
      SHIM_DATABASE_URL: url,
      SHIM_PGHOST: u.hostname,
      SHIM_PGPORT: u.port,
      SHIM_PGPASSWORD: decodeURIComponent(u.password),
      POSTGRES_USER: decodeURIComponent(u.username),
      POSTGRES_DB: u.pathname.slice(1),
    };

    const [preamble, ...blocks] = runbookBlocks();
    assert.match(preamble, /^CLI="docker compose exec -T app node \/app\/backend\/dist\/src\/scripts\/rotate-encryption-key\.js"$/m, 'the runbook starts by defining $CLI as the upstream image runs it');
    assert.ok(blocks.length >= 8, 'backup, keys, dry run, rotate, verify, switch, after exit 5, rollback');
    const outputs = [];
    let ran = 0;
    for (const block of blocks) {
      if (block.includes('pg_dump') && !pgDumpCanDump(serverMajor)) continue;
      if (block.includes('compose run')) {
        // The operator's edit of .env, which the runbook leaves to an editor.
        const newKey = readFileSync(path.join(dir, 'rotation', 'new.key'), 'utf8').trim();
        writeFileSync(path.join(dir, '.env'), `POSTGRES_USER=amcp\nENCRYPTION_KEY=${newKey}\n`);
      }
      const r = spawnSync('/bin/sh', ['-ec', `${preamble}\n${block}`], { cwd: dir, env, encoding: 'utf8', timeout: 60_000 });
      outputs.push(r.stdout, r.stderr);
      assert.equal(r.status, 0, `block failed:\n${block}\n${r.stderr}`);
      ran++;
      if (block.includes('pg_dump')) assert.ok(statSync(path.join(dir, 'rotation', 'before-rotation.dump')).size > 1000);
      if (block.includes('generate-key')) {
        for (const f of ['old.key', 'new.key']) assert.equal(statSync(path.join(dir, 'rotation', f)).mode & 0o777, 0o600, f);
      }
      if (block.includes('fingerprint')) {
        // Each pair of fingerprints is of one key: the running one and the file's.
        const prints = [...r.stdout.matchAll(/^([0-9a-f]{12}) \(key from /gm)].map((m) => m[1]);
        assert.equal(prints.length, 2, r.stdout);
        assert.equal(prints[0], prints[1], 'the key the backend has (or will have) is the file\'s');
      }
      if (block.includes('--dry-run')) assert.match(r.stdout, /Dry run \(nothing written\)/);
      if (block.includes('verify')) assert.match(r.stdout, /OK$/m);
    }
    assert.ok(ran >= blocks.length - 1);

    // After the whole runbook, including its rollback, the data is back on
    // the old key; the key generated along the way was never printed.
    const newKey = readFileSync(path.join(dir, 'rotation', 'new.key'), 'utf8').trim();
    await assertEntriesOpenWith(client, fixture, oldKey);
    const all = outputs.join('\n');
    for (const secret of [oldKey, newKey, server.password, ...fixture.secrets]) {
      assert.ok(!all.includes(secret), 'a secret reached the output');
    }
  } finally {
    await client.end();
  }
});
