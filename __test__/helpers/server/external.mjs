// The server TEST_DATABASE_URL names: someone else's, so this process only
// checks that it can use it and drops the databases it made there.

import pg from 'pg';

import { createDatabase, dropDatabase } from './databases.mjs';
import { redactable } from './redact.mjs';

const DEFAULT_USER = 'postgres';

/** A server object (as embedded.mjs's) for the server at `adminUrl`, a superuser URL. */
export async function connectExternal(adminUrl) {
  const u = new URL(adminUrl);
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1') || 'localhost';
  const port = Number(u.port || 5432);
  const user = decodeURIComponent(u.username || DEFAULT_USER);
  const password = decodeURIComponent(u.password);
  const client = new pg.Client({ connectionString: adminUrl });
  try {
    await client.connect();
    await client.query('SELECT 1');
  } catch (err) {
    // Never echo the URL: it carries the password.
    throw new Error(`TEST_DATABASE_URL: cannot use server ${host}:${port} as ${user}: ${err.message}`);
  } finally {
    await client.end().catch(() => {});
  }
  const created = new Set();
  const server = {
    kind: 'external',
    adminUrl,
    host,
    port,
    user,
    password,
    socketDir: null,
    logFile: null,
    pid: null,
    createDatabase: async (prefix) => {
      const url = await createDatabase(adminUrl, prefix);
      created.add(url);
      return url;
    },
    dropDatabase: (url) => dropDatabase(adminUrl, url),
    // Someone else owns the server: only clean up what this process made.
    stop: async () => {
      for (const url of created) await dropDatabase(adminUrl, url).catch(() => {});
      created.clear();
    },
  };
  return redactable(server);
}
