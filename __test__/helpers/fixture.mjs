// Data an AnythingMCP installation really holds, sealed the way its backend
// seals it, so rotation tests can check every value afterwards.

import crypto from 'node:crypto';
import { encrypt } from './backend-crypto.mjs';
import { quoteIdent } from './schema.mjs';

let cuidCounter = crypto.randomInt(36 ** 4);

/** An id shaped like Prisma's cuid(): 25 chars, starts with "c", sorts by creation time. */
export function cuid() {
  cuidCounter = (cuidCounter + 1) % 36 ** 4;
  const random = BigInt('0x' + crypto.randomBytes(8).toString('hex')).toString(36).padStart(13, '0').slice(-12);
  return 'c' + Date.now().toString(36).padStart(8, '0') + cuidCounter.toString(36).padStart(4, '0') + random;
}

const token = (bytes) => crypto.randomBytes(bytes).toString('base64url');
const hex = (bytes) => crypto.randomBytes(bytes).toString('hex');

function jwt() {
  const header = Buffer.from(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid: hex(8) })).toString('base64url');
  const payload = Buffer.from(
    JSON.stringify({ iss: 'https://login.example.com/', sub: cuid(), aud: 'api://crm', scp: 'read write', exp: 1767225600 }),
  ).toString('base64url');
  return `${header}.${payload}.${token(256)}`;
}

// A CA bundle of about `bytes` bytes: PEM blocks around DER-shaped bytes
// (ASN.1 SEQUENCE header), which is all a byte-exact round trip needs.
function pemBundle(bytes) {
  const blocks = [];
  let size = 0;
  for (let i = 0; size < bytes; i++) {
    const body = crypto.randomBytes(900 + ((i * 97) % 700));
    const der = Buffer.concat([Buffer.from([0x30, 0x82, body.length >> 8, body.length & 0xff]), body]);
    const pem = `-----BEGIN CERTIFICATE-----\n${der.toString('base64').match(/.{1,64}/g).join('\n')}\n-----END CERTIFICATE-----\n`;
    blocks.push(pem);
    size += pem.length;
  }
  return blocks.join('');
}

function privateKeyPem() {
  return crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ type: 'pkcs8', format: 'pem' });
}

// Combining marks, ZWJ emoji sequences, astral-plane chars, CJK and RTL: the
// plaintext bytes must survive rotation exactly, without normalisation.
const UNICODE_USER = 'Zoe\u0308.A\u030angstro\u0308m@例え.jp';
const UNICODE_PASSWORD = '🔑パスワード密码🚀 e\u0301 👩🏽‍💻 كلمة‎ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 \u{1F3F3}\u{FE0F}\u{200D}\u{1F308}';

/**
 * Seed one installation's worth of connectors (every connector type, every
 * auth type that carries secrets, plus NULL / '' / NONE / unicode edge cases),
 * plain-text MCP API keys and, with `legacy`, legacy `mcp_server_configs` rows.
 *
 * Returns { schema, organizationId, userId, apiKeys: [{ id, key }],
 *   rows: [{ table, column, id, kind, plaintext, stored, type?, authType? }] }
 * where kind is 'sealed' (plaintext is what decrypt(stored, key) must give),
 * 'null' (plaintext null, stored null) or 'empty' (plaintext '', stored '').
 */
export async function seedAcceptanceFixture(client, key, { schema = 'public', legacy = false } = {}) {
  const t = (name) => `${quoteIdent(schema)}.${quoteIdent(name)}`;
  const organizationId = cuid();
  const userId = cuid();
  await client.query(`INSERT INTO ${t('organizations')} (id, name, created_at, updated_at) VALUES ($1, $2, $3, $3)`, [
    organizationId,
    'Acme Corp',
    '2026-01-05 08:00:00.000',
  ]);
  await client.query(
    `INSERT INTO ${t('users')} (id, email, password_hash, name, role, email_verified, organization_id, created_at, updated_at)
     VALUES ($1, $2, $3, $4, 'ADMIN', true, $5, $6, $6)`,
    [userId, `admin+${userId}@acme.example`, '$2b$12$' + token(40).slice(0, 53), 'Ada Admin', organizationId, '2026-01-05 08:00:01.000'],
  );

  const apiKeys = [];
  for (const name of ['Claude Desktop', 'Cursor']) {
    const row = { id: cuid(), key: 'amcp_' + hex(24) };
    apiKeys.push(row);
    await client.query(
      `INSERT INTO ${t('mcp_api_keys')} (id, user_id, organization_id, key, name, last_used_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [row.id, userId, organizationId, row.key, name, '2026-02-01 12:00:00.500', '2026-01-06 09:00:00.250'],
    );
  }

  const connectors = [
    {
      name: 'Stripe',
      type: 'REST',
      baseUrl: 'https://api.stripe.com/v1',
      authType: 'API_KEY',
      auth: { headerName: 'Authorization', apiKey: `sk_live_${token(72)}`, prefix: 'Bearer', in: 'header' },
      specUrl: 'https://raw.githubusercontent.com/stripe/openapi/master/openapi/spec3.json',
    },
    {
      name: 'GitHub REST',
      type: 'REST',
      baseUrl: 'https://api.github.com',
      authType: 'BEARER_TOKEN',
      auth: { token: `ghp_${token(27)}` },
    },
    {
      name: 'Jira',
      type: 'REST',
      baseUrl: 'https://acme.atlassian.net/rest/api/3',
      authType: 'BASIC_AUTH',
      auth: { username: 'svc-anythingmcp@acme.example', password: `ATATT3x${token(140)}` },
    },
    {
      name: 'Salesforce',
      type: 'REST',
      baseUrl: 'https://acme.my.salesforce.com/services/data/v61.0',
      authType: 'OAUTH2',
      auth: {
        grantType: 'authorization_code',
        clientId: `3MVG9${token(60)}`,
        clientSecret: hex(32).toUpperCase(),
        authorizationUrl: 'https://login.salesforce.com/services/oauth2/authorize',
        tokenUrl: 'https://login.salesforce.com/services/oauth2/token',
        scope: 'api refresh_token offline_access',
        accessToken: `00D${token(8)}!${token(96)}`,
        refreshToken: `5Aep861${token(64)}`,
        tokenType: 'Bearer',
        expiresAt: 1767225600000,
      },
    },
    {
      name: 'Internal billing (signed)',
      type: 'REST',
      baseUrl: 'https://billing.internal.acme.example/api',
      authType: 'HMAC',
      auth: { keyId: `kid_${hex(8)}`, secret: token(48), algorithm: 'sha256', headerName: 'X-Signature', timestampHeader: 'X-Timestamp' },
    },
    {
      name: 'SAP ERP (SOAP)',
      type: 'SOAP',
      baseUrl: 'https://erp.acme.example/sap/bc/srt/wsdl',
      authType: 'WS_SECURITY',
      auth: { username: 'WS_ANYTHINGMCP', password: token(24), passwordType: 'PasswordDigest', addTimestamp: true, mustUnderstand: true },
      specUrl: 'https://erp.acme.example/sap/bc/srt/wsdl/bndg_url/sap/bc/srt/rfc/sap/zorders?sap-client=100',
    },
    {
      name: 'Bank gateway (mTLS)',
      type: 'SOAP',
      baseUrl: 'https://h2h.bank.example/services/Payments',
      authType: 'CERTIFICATE',
      auth: { cert: pemBundle(1024 * 1024), key: privateKeyPem(), passphrase: token(18), rejectUnauthorized: true },
    },
    {
      name: 'Shopify Admin GraphQL',
      type: 'GRAPHQL',
      baseUrl: 'https://acme.myshopify.com/admin/api/2025-01/graphql.json',
      authType: 'API_KEY',
      auth: { headerName: 'X-Shopify-Access-Token', apiKey: `shpat_${hex(16)}`, in: 'header' },
    },
    {
      name: 'Contentful GraphQL',
      type: 'GRAPHQL',
      baseUrl: 'https://graphql.contentful.com/content/v1/spaces/acme',
      authType: 'OAUTH2',
      auth: {
        grantType: 'client_credentials',
        clientId: hex(16),
        clientSecret: token(32),
        tokenUrl: 'https://be.contentful.com/oauth/token',
        scope: 'content_management_manage',
        accessToken: jwt(),
        expiresAt: 1767225600000,
      },
    },
    {
      name: 'Data warehouse',
      type: 'DATABASE',
      baseUrl: 'postgresql://warehouse.internal:5432/analytics',
      authType: 'CONNECTION_STRING',
      auth: { connectionString: `postgresql://reporting:${encodeURIComponent(token(18) + '@:/?#')}@warehouse.internal:5432/analytics?sslmode=require` },
    },
    {
      name: 'Orders (MongoDB)',
      type: 'DATABASE',
      baseUrl: 'mongodb+srv://orders.abcde.mongodb.net',
      authType: 'CONNECTION_STRING',
      auth: { connectionString: `mongodb+srv://orders_ro:${token(20)}@orders.abcde.mongodb.net/orders?retryWrites=true&w=majority` },
    },
    {
      name: 'Remote MCP (Linear)',
      type: 'MCP',
      baseUrl: 'https://mcp.linear.app/mcp',
      authType: 'OAUTH2',
      auth: {
        grantType: 'authorization_code',
        clientId: token(16),
        clientSecret: token(32),
        authorizationUrl: 'https://mcp.linear.app/authorize',
        tokenUrl: 'https://mcp.linear.app/token',
        accessToken: `lin_oauth_${hex(32)}`,
        refreshToken: `lin_refresh_${hex(32)}`,
        codeVerifier: token(64),
        expiresAt: 1767225600000,
      },
    },
    {
      name: 'Remote MCP (internal)',
      type: 'MCP',
      baseUrl: 'https://tools.internal.acme.example/mcp',
      authType: 'BEARER_TOKEN',
      auth: { token: jwt() },
    },
    {
      name: 'Outbound webhook',
      type: 'WEBHOOK',
      baseUrl: 'https://hooks.acme.example/anythingmcp',
      authType: 'HMAC',
      auth: { secret: `whsec_${token(32)}`, algorithm: 'sha256', headerName: 'X-Hub-Signature-256' },
    },
    {
      name: 'Añadir usuário — 連携 🔌',
      type: 'REST',
      baseUrl: 'https://api.例え.jp/v2',
      authType: 'BASIC_AUTH',
      auth: { username: UNICODE_USER, password: UNICODE_PASSWORD, realm: 'Zürich — 東京' },
    },
    // What the UI stores for a connector saved with the auth form left empty.
    { name: 'Public holidays API', type: 'REST', baseUrl: 'https://date.nager.at/api/v3', authType: 'NONE', auth: {} },
    { name: 'Open-Meteo', type: 'REST', baseUrl: 'https://api.open-meteo.com/v1', authType: 'NONE', auth: null },
    { name: 'Half-configured', type: 'REST', baseUrl: 'https://api.example.com', authType: 'API_KEY', auth: '' },
    { name: 'Countries GraphQL', type: 'GRAPHQL', baseUrl: 'https://countries.trevorblades.com/', authType: 'NONE', auth: null },
  ];

  const rows = [];
  let minute = 0;
  for (const c of connectors) {
    const id = cuid();
    const { kind, plaintext, stored } = seal(c.auth, key);
    minute++;
    const created = `2026-01-10 10:${String(minute).padStart(2, '0')}:00.${String(minute * 7).padStart(3, '0')}`;
    const updated = `2026-02-11 16:${String(minute).padStart(2, '0')}:30.${String(999 - minute).padStart(3, '0')}`;
    await client.query(
      `INSERT INTO ${t('connectors')} (id, user_id, organization_id, name, type, base_url, is_active, healthcheck_path,
         auth_type, auth_config, spec_url, spec_data, headers, config, env_vars, instructions, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`,
      [
        id,
        userId,
        organizationId,
        c.name,
        c.type,
        c.baseUrl,
        minute % 5 !== 0,
        minute % 3 === 0 ? '/health' : null,
        c.authType,
        stored,
        c.specUrl ?? null,
        c.specUrl ? JSON.stringify({ openapi: '3.0.3', info: { title: c.name, version: '1.0' }, paths: {} }) : null,
        JSON.stringify({ Accept: 'application/json', 'User-Agent': 'AnythingMCP/1.0' }),
        JSON.stringify({ timeoutMs: 30_000, retries: minute % 3, note: c.name }),
        JSON.stringify({ TENANT: 'acme', REGION: 'eu-central-1' }),
        `Use ${c.name} for read-only lookups. Never expose credentials.`,
        created,
        updated,
      ],
    );
    rows.push({ table: 'connectors', column: 'auth_config', id, kind, plaintext, stored, type: c.type, authType: c.authType });
  }

  if (legacy) {
    const servers = [
      { name: 'AnythingMCP', authType: 'BEARER_TOKEN', auth: { token: `amcp_srv_${hex(24)}` } },
      {
        name: 'AnythingMCP (OAuth)',
        authType: 'OAUTH2',
        auth: { clientId: token(16), clientSecret: token(32), issuer: 'https://auth.acme.example', audience: 'anythingmcp' },
      },
      { name: 'Legacy open server', authType: 'NONE', auth: null },
      { name: 'Legacy cleared server', authType: 'BEARER_TOKEN', auth: '' },
    ];
    for (const [i, srv] of servers.entries()) {
      const id = cuid();
      const { kind, plaintext, stored } = seal(srv.auth, key);
      await client.query(
        `INSERT INTO ${t('mcp_server_configs')} (id, user_id, name, description, auth_type, auth_config, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
        [id, userId, srv.name, `Server #${i + 1}`, srv.authType, stored, `2025-11-0${i + 1} 07:00:00.111`, `2025-12-0${i + 1} 07:30:00.222`],
      );
      rows.push({ table: 'mcp_server_configs', column: 'auth_config', id, kind, plaintext, stored, authType: srv.authType });
    }
  }

  return { schema, organizationId, userId, apiKeys, rows };
}

// null -> NULL column, '' -> '' column, anything else -> sealed JSON, as the backend writes it.
function seal(auth, key) {
  if (auth === null) return { kind: 'null', plaintext: null, stored: null };
  if (auth === '') return { kind: 'empty', plaintext: '', stored: '' };
  const plaintext = JSON.stringify(auth);
  return { kind: 'sealed', plaintext, stored: encrypt(plaintext, key) };
}

// ------------------------------------------------------------------ bulk

/** Plaintext length of bulk rows: sealed, 16 + 307 + 16 bytes is 452 base64 chars. */
export const BULK_PLAINTEXT_BYTES = 307;
const BULK_PAD = crypto.createHash('sha512').update('keyrotate bulk pad').digest('base64url').repeat(8);

/** The id of the i-th bulk row: zero-padded so text order is insertion order. */
export function bulkId(i, idPrefix = 'cbulk') {
  return `${idPrefix}${String(i).padStart(10, '0')}`;
}

/**
 * The plaintext a bulk row with this id holds: derived from the id, so a test
 * can check a million rows without keeping a million plaintexts in memory.
 */
export function bulkPlaintext(id) {
  const digest = crypto.createHash('sha256').update(id).digest();
  const base = {
    grantType: 'client_credentials',
    clientId: `client-${id}`,
    clientSecret: digest.toString('base64url'),
    tokenUrl: 'https://login.example.com/oauth2/v2.0/token',
    scope: 'api://anythingmcp/.default',
    accessToken: '',
  };
  const need = BULK_PLAINTEXT_BYTES - Buffer.byteLength(JSON.stringify(base));
  if (need < 0) throw new Error(`bulk id too long: ${id}`);
  const offset = digest.readUInt16BE(0) % (BULK_PAD.length - need);
  base.accessToken = BULK_PAD.slice(offset, offset + need);
  return JSON.stringify(base);
}

/**
 * Insert n rows whose `column` holds bulkPlaintext(id) sealed under `key`
 * (~452-char values), batch by batch with INSERT ... SELECT FROM unnest(), the
 * next batch encrypted while the previous one is written.
 * `table` 'connectors' and 'mcp_server_configs' get their NOT NULL columns
 * filled (and a bulk user/organization created); any other table gets (id, column).
 * Returns { count, firstId, lastId, idAt(i), plaintextOf(id) }.
 */
export async function seedBulk(
  client,
  key,
  n,
  { schema = 'public', table = 'connectors', column = 'auth_config', idPrefix = 'cbulk', startIndex = 0, batchSize = 10_000 } = {},
) {
  const t = (name) => `${quoteIdent(schema)}.${quoteIdent(name)}`;
  const col = quoteIdent(column);
  const stamp = '2026-03-01 00:00:00.000';
  let sql;
  let extra = [];
  if (table === 'connectors' || table === 'mcp_server_configs') {
    const orgId = `${idPrefix}-org`;
    const userId = `${idPrefix}-user`;
    await client.query(`INSERT INTO ${t('organizations')} (id, name, updated_at) VALUES ($1, 'Bulk org', $2) ON CONFLICT DO NOTHING`, [orgId, stamp]);
    await client.query(
      `INSERT INTO ${t('users')} (id, email, organization_id, updated_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
      [userId, `${idPrefix}@bulk.example`, orgId, stamp],
    );
    if (table === 'connectors') {
      sql = `INSERT INTO ${t('connectors')} (id, user_id, organization_id, name, type, base_url, auth_type, ${col}, headers, created_at, updated_at)
             SELECT u.id, $3, $4, 'Bulk connector ' || u.id, 'REST', 'https://api.example.com/v1', 'OAUTH2', u.v,
                    '{"Accept": "application/json"}', $5::timestamp(3), $5::timestamp(3)
             FROM unnest($1::text[], $2::text[]) AS u(id, v)`;
      extra = [userId, orgId, stamp];
    } else {
      sql = `INSERT INTO ${t('mcp_server_configs')} (id, user_id, name, auth_type, ${col}, created_at, updated_at)
             SELECT u.id, $3, 'Bulk server ' || u.id, 'BEARER_TOKEN', u.v, $4::timestamp(3), $4::timestamp(3)
             FROM unnest($1::text[], $2::text[]) AS u(id, v)`;
      extra = [userId, stamp];
    }
  } else {
    sql = `INSERT INTO ${t(table)} (id, ${col}) SELECT u.id, u.v FROM unnest($1::text[], $2::text[]) AS u(id, v)`;
  }

  let inflight = null;
  for (let start = 0; start < n; start += batchSize) {
    const end = Math.min(n, start + batchSize);
    const ids = new Array(end - start);
    const values = new Array(end - start);
    for (let i = start; i < end; i++) {
      const id = bulkId(startIndex + i, idPrefix);
      ids[i - start] = id;
      values[i - start] = encrypt(bulkPlaintext(id), key);
    }
    if (inflight) await inflight;
    inflight = client.query(sql, [ids, values, ...extra]);
  }
  if (inflight) await inflight;

  return {
    count: n,
    firstId: n > 0 ? bulkId(startIndex, idPrefix) : null,
    lastId: n > 0 ? bulkId(startIndex + n - 1, idPrefix) : null,
    idAt: (i) => bulkId(startIndex + i, idPrefix),
    plaintextOf: bulkPlaintext,
  };
}

// ------------------------------------------------------------------ snapshots

async function primaryKeyColumns(client, qualified) {
  const { rows } = await client.query(
    `SELECT a.attname
       FROM pg_index i
       JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
      WHERE i.indrelid = $1::regclass AND i.indisprimary
      ORDER BY array_position(i.indkey::int2[], a.attnum)`,
    [qualified],
  );
  return rows.map((r) => r.attname);
}

async function rowSource(client, schema, table, exclude) {
  const qualified = `${quoteIdent(schema)}.${quoteIdent(table)}`;
  const pk = await primaryKeyColumns(client, qualified);
  const rowExpr = `(to_jsonb(t) - $1::text[])::text`;
  // Without a primary key the row text itself is the only stable order.
  const orderBy = pk.length ? pk.map((c) => `t.${quoteIdent(c)}`).join(', ') : rowExpr;
  return { qualified, rowExpr, orderBy, params: [exclude] };
}

/**
 * Every row of the table as text (to_jsonb, so every column at full precision),
 * ordered by primary key. `exclude` drops columns, e.g. ['auth_config'] to
 * check that rotation changed nothing else. Compare two snapshots with deepStrictEqual.
 */
export async function snapshotTable(client, schema, table, { exclude = [] } = {}) {
  const { qualified, rowExpr, orderBy, params } = await rowSource(client, schema, table, exclude);
  const { rows } = await client.query(`SELECT ${rowExpr} AS row_text FROM ${qualified} t ORDER BY ${orderBy}`, params);
  return rows.map((r) => r.row_text);
}

/**
 * snapshotTable for tables too big to hold in memory: { rows, md5 } over the
 * same ordered row texts, computed by the server.
 */
export async function tableDigest(client, schema, table, { exclude = [] } = {}) {
  const { qualified, rowExpr, orderBy, params } = await rowSource(client, schema, table, exclude);
  const { rows } = await client.query(
    `SELECT count(*)::int AS rows, md5(coalesce(string_agg(md5(row_text), '' ORDER BY ord), '')) AS md5
       FROM (SELECT ${rowExpr} AS row_text, row_number() OVER (ORDER BY ${orderBy}) AS ord FROM ${qualified} t) s`,
    params,
  );
  return rows[0];
}
