// What the packaging tests share beyond running commands (commands.mjs):
// databases seeded with the acceptance fixture, which a packaged build must
// rotate, and the check that their values open afterwards.

import { assertEntriesOpenWith, expectedReport } from '../anythingmcp/locations.mjs';
import { acceptanceDatabase } from '../fixture/acceptance.mjs';

const clients = [];

/**
 * A database with AnythingMCP's tables and the acceptance fixture sealed
 * under `key`; `want` is the report a rotation of it must give.
 */
export async function seededDatabase(key, prefix) {
  const { url, client, fixture } = await acceptanceDatabase(prefix, key, { clients });
  return { url, client, fixture, want: expectedReport(fixture) };
}

/** Every sealed value of a seededDatabase() opens with `key`, to its own plaintext. */
export async function assertSealedOpenWith(db, key) {
  await assertEntriesOpenWith(db.client, db.fixture, key);
}

export async function closeDatabases() {
  for (const c of clients.splice(0)) await c.end().catch(() => {});
}
