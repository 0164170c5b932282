// Everything else an installation holds, including the plaintext look-alikes
// of SPEC.md section 1: secrets and hashes stored in plain text that a
// rotation must never touch, several shaped like ciphertext on purpose (long
// standard base64, 64-byte values that decode to an IV, a body and a tag's
// worth of bytes) so that discovery has to open them to tell them apart.

import crypto from 'node:crypto';
import { stamp } from './seal.mjs';
import { base64, bcryptHash, cuid, hex, sha256Hex, token } from './values.mjs';

/** Seeds the other tables; returns the plaintext secrets among them (for hygiene checks). */
export async function seedLookalikes(db, { main, organizationIds, users, connectors, identityProviders, servers }) {
  const secrets = [];
  const secret = (s) => (secrets.push(s), s);
  const [acme, globex] = organizationIds;
  const admin = users[0].id;

  const smtp = (host, pass) => JSON.stringify({ host, port: 587, user: 'mcp-notifications', pass: secret(pass), from: 'AnythingMCP <noreply@acme.example>', secure: false });
  const footer = JSON.stringify([{ label: 'Status', url: 'https://status.acme.example' }, { label: 'Impressum', url: 'https://acme.example/impressum' }]);
  for (const [i, [k, v]] of [
    ['smtp_config', smtp('smtp.postmarkapp.com', base64(48))],
    ['footer_links', footer],
    ['telemetry_salt', secret(base64(64))],
    ['instance_id', crypto.randomUUID()],
  ].entries()) {
    await db.insert('site_settings', { id: cuid(), key: k, value: v, updated_at: stamp('2026-01-05 08:30:00.000', i) });
  }
  for (const [i, [org, k, v]] of [
    [acme, 'smtp_config', smtp('email-smtp.eu-central-1.amazonaws.com', `BH${base64(30)}`)],
    [acme, 'footer_links', footer],
    [globex, 'smtp_config', smtp('smtp.globex.example', `Gl0bex-${token(12)}`)],
  ].entries()) {
    await db.insert('org_settings', { id: cuid(), organization_id: org, key: k, value: v, updated_at: stamp('2026-01-06 08:30:00.000', i) });
  }

  const roleId = cuid();
  await db.insert('roles', { id: roleId, name: 'Support agents', description: 'Read-only CRM tools', created_at: stamp('2026-01-07 08:00:00.000', 0), updated_at: stamp('2026-01-07 08:00:00.000', 1), organization_id: acme });
  const tools = [];
  for (const [i, c] of connectors.slice(0, 3).entries()) {
    const id = cuid();
    tools.push(id);
    await db.insert('mcp_tools', {
      id,
      connector_id: c.id,
      name: `list_${i}`,
      description: `List records from ${c.name}`,
      parameters: JSON.stringify({ type: 'object', properties: { limit: { type: 'integer', maximum: 100 } } }),
      endpoint_mapping: JSON.stringify({ method: 'GET', path: '/records', queryParams: { limit: '{{limit}}' } }),
      response_mapping: i === 0 ? JSON.stringify({ type: 'json', fields: ['id', 'name'] }) : null,
      created_at: stamp('2026-01-10 11:00:00.000', i),
      updated_at: stamp('2026-01-10 11:00:00.000', i + 1),
    });
  }
  await db.insert('tool_role_access', { id: cuid(), role_id: roleId, tool_id: tools[0] });
  await db.insert('mcp_resources', { id: cuid(), connector_id: connectors[0].id, uri: 'acme://customers', name: 'Customers', fetch_config: '{"path": "/customers"}', created_at: stamp('2026-01-10 12:00:00.000', 0), updated_at: stamp('2026-01-10 12:00:00.000', 0) });
  await db.insert('mcp_prompts', { id: cuid(), connector_id: connectors[0].id, name: 'summarise', template: 'Summarise {{customer}} in three lines.', arguments: '[{"name": "customer", "required": true}]', created_at: stamp('2026-01-10 12:00:00.000', 1), updated_at: stamp('2026-01-10 12:00:00.000', 1) });
  for (const [i, status] of ['SUCCESS', 'ERROR', 'TIMEOUT'].entries()) {
    await db.insert('tool_invocations', {
      id: cuid(),
      tool_id: tools[i % tools.length],
      user_id: i === 2 ? null : admin,
      input: JSON.stringify({ limit: 10 + i }),
      output: status === 'SUCCESS' ? JSON.stringify({ content: [{ type: 'text', text: '[{"id": 1}]' }] }) : null,
      status,
      duration_ms: 120 + i * 900,
      error: status === 'ERROR' ? 'Request failed with status code 401' : null,
      client_info: JSON.stringify({ authMethod: 'api_key', apiKeyName: 'Cursor', userEmail: 'ada@acme.example', mcpServerName: 'Default' }),
      created_at: stamp('2026-02-01 12:00:00.000', i),
      mcp_server_id: servers[0] ?? null,
      ...(main ? { repeat_count: 1 + i * 2 } : {}),
    });
  }

  await db.insert('password_reset_tokens', { id: cuid(), user_id: admin, token: secret(hex(32)), expires_at: '2026-02-02 12:00:00.000', created_at: '2026-02-02 11:00:00.000' });
  await db.insert('email_verification_tokens', { id: cuid(), user_id: users[2].id, token: crypto.randomUUID(), code: String(crypto.randomInt(1e5, 1e6)), expires_at: '2026-01-08 12:00:00.000', created_at: '2026-01-07 12:00:00.000' });
  await db.insert('invitation_tokens', { id: cuid(), email: 'new.hire@acme.example', token: secret(token(32)), invited_by: admin, expires_at: '2026-02-10 00:00:00.000', created_at: '2026-02-03 00:00:00.000', organization_id: acme });
  await db.insert('licenses', { id: cuid(), license_key: secret(base64(96)), plan: 'enterprise', features: '{"sso": true, "seats": 250}', expires_at: '2027-01-01 00:00:00.000', activated_at: '2026-01-05 09:00:00.000', instance_id: crypto.randomUUID(), created_at: '2026-01-05 09:00:00.000', updated_at: '2026-01-05 09:00:00.000', organization_id: acme });
  await db.insert('oauth_clients', {
    id: cuid(),
    client_id: `mcp_${hex(16)}`,
    client_secret: secret(base64(48)),
    client_name: 'Claude',
    redirect_uris: ['https://claude.ai/api/mcp/auth_callback'],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_post',
    created_at: '2026-01-20 10:00:00.000',
    updated_at: '2026-01-20 10:00:00.000',
  });
  await db.insert('oauth_authorization_codes', { id: cuid(), code: secret(hex(32)), user_id: admin, client_id: 'mcp_client', redirect_uri: 'https://claude.ai/api/mcp/auth_callback', code_challenge: token(32), code_challenge_method: 'S256', expires_at: '1767225600123', created_at: '2026-01-20 10:01:00.000' });
  await db.insert('oauth_sessions', { id: cuid(), session_id: crypto.randomUUID(), state: token(32), expires_at: '1767225600456', created_at: '2026-01-20 10:00:30.000' });
  await db.insert('oauth_user_profiles', { id: cuid(), profile_id: crypto.randomUUID(), provider: 'github', external_id: '1234567', username: 'ada', raw: '{"login": "ada", "id": 1234567, "node_id": "MDQ6VXNlcjEyMzQ1Njc="}', created_at: '2026-01-20 10:00:00.000', updated_at: '2026-01-20 10:00:00.000' });

  if (main) {
    for (const [i, p] of identityProviders.filter((p) => ['Okta', 'Keycloak'].includes(p.name)).entries()) {
      await db.insert('sso_login_attempts', {
        id: cuid(),
        identity_provider_id: p.id,
        state: token(32),
        nonce: token(32),
        code_verifier: secret(token(64)),
        handoff_code: i === 0 ? secret(base64(48)) : null,
        redirect_to: '/dashboard',
        expires_at: stamp('2026-09-10 10:10:00.000', i),
        created_at: stamp('2026-09-10 10:00:00.000', i),
      });
    }
    for (let i = 0; i < 4; i++) {
      await db.insert('recovery_codes', { id: cuid(), user_id: admin, code_hash: i % 2 ? sha256Hex(token(10)) : bcryptHash(), used_at: i === 0 ? '2026-09-01 00:00:00.000' : null, created_at: stamp('2026-08-20 00:00:00.000', i) });
    }
    for (const [i, c] of connectors.slice(0, 2).entries()) {
      await db.insert('connector_setup_links', { id: cuid(), connector_id: c.id, created_by: admin, token_hash: sha256Hex(token(32)), expires_at: stamp('2026-09-15 00:00:00.000', i), created_at: stamp('2026-09-14 00:00:00.000', i) });
    }
  }
  return secrets;
}
