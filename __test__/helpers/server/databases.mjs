// Databases on a server, made and dropped through its superuser URL.

import crypto from 'node:crypto';
import pg from 'pg';

/** A new, empty database named after `prefix`; resolves to its URL. */
export async function createDatabase(adminUrl, prefix = 'test') {
  const clean = String(prefix).toLowerCase().replace(/[^a-z0-9_]+/g, '_').slice(0, 32) || 'test';
  const name = `${clean}_${Date.now().toString(36)}_${crypto.randomBytes(5).toString('hex')}`;
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${quote(name)}`);
  } finally {
    await client.end().catch(() => {});
  }
  const url = new URL(adminUrl);
  url.pathname = '/' + name;
  return url.toString();
}

/** Drop a database (named, or by its URL), its sessions ended. */
export async function dropDatabase(adminUrl, urlOrName) {
  const name = urlOrName.includes('://') ? decodeURIComponent(new URL(urlOrName).pathname.slice(1)) : urlOrName;
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS ${quote(name)} WITH (FORCE)`);
  } finally {
    await client.end().catch(() => {});
  }
}

function quote(ident) {
  return '"' + ident.replace(/"/g, '""') + '"';
}
