// The locations main added, sealed exactly as SPEC.md section 1 says the
// backend seals them: cached login tokens (no AAD), SSO client secrets (AAD
// `idp_client_secret:<id>:<organization_id>`), pending OAuth flows (AAD
// `connector-oauth`) and alert-webhook signing secrets (`secretEnc` in the
// JSON text of org_settings 'alert_webhook', AAD the row's organization_id).

import { encrypt } from './backend-crypto.mjs';
import { memberSpan } from './json-text.mjs';
import { aadOf, locationOf } from './locations.mjs';
import { sealWhole, stamp } from './seal.mjs';
import { cuid, hex, sha256Hex, token } from './values.mjs';

/** Seeds them all; pushes one entry per location value to `rows`; returns the identity providers. */
export async function seedNewerLocations(db, key, { connectors, organizationIds, users, rows }) {
  await seedAuthCache(db, key, connectors, rows);
  await seedOauthAttempts(db, key, connectors, users, rows);
  const providers = await seedIdentityProviders(db, key, organizationIds, rows);
  await seedAlertWebhooks(db, key, organizationIds, rows);
  return providers;
}

async function seedAuthCache(db, key, connectors, rows) {
  for (const [i, c] of connectors.filter((c) => c.cache).entries()) {
    const id = cuid();
    const sealed = sealWhole(c.cache(), key);
    await db.insert('connector_auth_cache', {
      id,
      connector_id: c.id,
      token: sealed.stored,
      metadata: JSON.stringify({ tokenPath: c.auth.tokenPath, status: 200, loginUrl: c.auth.loginUrl, responseSha256: sha256Hex(c.name) }),
      expires_at: sealed.kind === 'sealed' ? stamp('2026-02-12 09:00:00.000', i * 60) : null,
      created_at: stamp('2026-02-12 08:00:00.000', i),
      updated_at: stamp('2026-02-12 08:00:00.000', i + 1),
    });
    rows.push({ table: 'connector_auth_cache', column: 'token', id, ...sealed, connectorId: c.id });
  }
}

async function seedOauthAttempts(db, key, connectors, users, rows) {
  const loc = locationOf('connector_oauth_attempts.payload');
  const aad = aadOf(loc, {});
  const flows = connectors.filter((c) => c.oauthAttempt).flatMap((c, i) => {
    const payload = {
      connectorId: c.id,
      codeVerifier: token(64),
      clientId: c.auth.clientId,
      clientSecret: c.auth.clientSecret,
      redirectUri: 'https://mcp.acme.example/api/connectors/oauth/callback',
      scope: c.auth.scope ?? 'offline_access',
      returnTo: `/connectors/${c.id}`,
    };
    // The first connector also has an abandoned flow whose payload was cleared.
    return [{ c, value: payload, i }, ...(i === 0 ? [{ c, value: '', i: 9 }] : [])];
  });
  for (const { c, value, i } of flows) {
    const id = cuid();
    const sealed = sealWhole(value, key, aad);
    await db.insert('connector_oauth_attempts', {
      id,
      connector_id: c.id,
      user_id: users[0].id,
      state_hash: sha256Hex(token(32)),
      payload: sealed.stored,
      expires_at: stamp('2026-02-12 10:15:00.000', i),
      created_at: stamp('2026-02-12 10:00:00.000', i),
    });
    rows.push({ table: 'connector_oauth_attempts', column: 'payload', id, aad, ...sealed, connectorId: c.id });
  }
}

async function seedIdentityProviders(db, key, organizationIds, rows) {
  const loc = locationOf('identity_providers.client_secret_enc');
  const providers = [
    { org: 0, name: 'Okta', issuer: 'https://acme.okta.com/oauth2/default', clientId: `0oa${token(15)}`, secret: token(40), scim: true },
    { org: 0, name: 'Microsoft Entra ID', issuer: 'https://login.microsoftonline.com/0d8f4a52-1b7c-4e3a-9f65-2c1d3b4a5e6f/v2.0', clientId: '5c1e8a2b-7d3f-4b6a-8e9c-0f1a2b3c4d5e', secret: `Zt8Q~${token(30)}` },
    { org: 0, name: 'Google Workspace (draft)', issuer: 'https://accounts.google.com', clientId: `${hex(6)}-${hex(16)}.apps.googleusercontent.com`, secret: null },
    { org: 1, name: 'Keycloak', issuer: 'https://sso.globex.example/realms/globex', clientId: 'anythingmcp', secret: token(32), scim: true },
    { org: 1, name: 'Auth0 (disabled)', issuer: 'https://globex.eu.auth0.com/', clientId: token(24), secret: '', enabled: false },
  ];
  const out = [];
  for (const [i, p] of providers.entries()) {
    const id = cuid();
    const organizationId = organizationIds[p.org];
    const aad = aadOf(loc, { id, organization_id: organizationId });
    const sealed = sealWhole(p.secret, key, aad);
    await db.insert('identity_providers', {
      id,
      organization_id: organizationId,
      name: p.name,
      issuer: p.issuer,
      client_id: p.clientId,
      client_secret_enc: sealed.stored,
      allowed_domains: p.org === 0 ? ['acme.example', 'acme.co.uk'] : ['globex.example'],
      scim_token_hash: p.scim ? sha256Hex(`scim_${token(32)}`) : null,
      is_enabled: p.enabled ?? true,
      created_at: stamp('2026-08-01 09:00:00.000', i),
      updated_at: stamp('2026-08-02 09:00:00.000', i),
    });
    rows.push({ table: 'identity_providers', column: 'client_secret_enc', id, aad, ...sealed, organizationId, name: p.name });
    out.push({ id, organizationId, name: p.name });
  }
  return out;
}

// The backend writes JSON.stringify(...); operators and older code paths
// leave other formatting behind, which a rewrite must keep to the byte:
// indentation and newlines, members in another order, \u escapes, escaped
// slashes inside the sealed string itself, CRLF and trailing whitespace.
const ALERT_DOCUMENTS = [
  (sealed) => JSON.stringify({ url: 'https://hooks.slack.com/services/T0ACME/B0ALERT/abc123', events: ['connector.error', 'quota.exceeded'], secretEnc: sealed, enabled: true }),
  (sealed) =>
    `{\n    "secretEnc" : ${JSON.stringify(sealed)},\n    "url": "https://alerts.globex.example/hooks/mcp",\n    "label": "Alerts \\u2014 Globex \\ud83d\\udea8",\n    "events": [ "connector.error",\n                "tool.timeout" ],\n    "enabled": true\n}\n`,
  (sealed) =>
    `{ "enabled" : true ,"url":"https:\\/\\/ops.initech.example\\/alert" ,\t"secretEnc" : ${JSON.stringify(sealed).replace(/\//g, '\\/')} , "events":["*"] , "headers": {"X-Env": "prod", "X-Secret-Hint": "…${hex(2)}"} }  \r\n`,
];

async function seedAlertWebhooks(db, key, organizationIds, rows) {
  const loc = locationOf('org_settings.value.secretEnc');
  for (const [i, organizationId] of organizationIds.entries()) {
    const id = cuid();
    const aad = aadOf(loc, { organization_id: organizationId });
    const format = ALERT_DOCUMENTS[i];
    let entry;
    let text;
    if (format) {
      const plaintext = `whsec_${token(32)}`;
      let sealed;
      // The escaped-slash document needs a sealed string with a slash in it.
      do sealed = encrypt(plaintext, key, aad);
      while (i === 2 && !sealed.includes('/'));
      text = format(sealed);
      if (memberSpan(text, 'secretEnc').value !== sealed) throw new Error('alert document does not hold its sealed value');
      entry = { kind: 'sealed', plaintext, stored: sealed };
    } else {
      // Alerts configured without signing: no secretEnc at all.
      text = JSON.stringify({ url: 'https://umbrella.example/alerts', events: ['connector.error'], enabled: false });
      entry = { kind: 'empty', plaintext: null, stored: null };
    }
    await db.insert('org_settings', { id, organization_id: organizationId, key: 'alert_webhook', value: text, updated_at: stamp('2026-09-01 12:00:00.000', i) });
    const { secretEnc: _s, ...rest } = JSON.parse(text);
    rows.push({ table: 'org_settings', column: 'value', member: 'secretEnc', id, aad, ...entry, document: text, rest, organizationId });
  }
}
