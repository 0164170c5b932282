// Tables main has and v0.1.20 does not, written from what is known of main's
// schema: the columns a rotation deals with (the locations and the
// look-alikes) with main's types, nullability and uniqueness, and the plain
// bookkeeping columns (timestamps, foreign keys) such a table has in this
// schema's conventions. Which migration created each of them upstream is
// known only where a comment below names it; the DDL is the same either way.

export const NEWER_TABLES = Object.freeze([
  'connector_auth_cache',
  'connector_oauth_attempts',
  'connector_setup_links',
  'identity_providers',
  'kg_value_seen',
  'recovery_codes',
  'security_events',
  'sso_login_attempts',
]);

/** DDL statements; `t` qualifies a name, `fk(table, column, target, onDelete)` adds a foreign key. */
export function newerTablesDdl(t, fk) {
  return [
    // 20260518000000_add_login_token_auth: one cached login token per connector.
    `CREATE TABLE ${t('connector_auth_cache')} (
    "id" TEXT NOT NULL,
    "connector_id" TEXT NOT NULL,
    "token" TEXT NOT NULL,
    "metadata" JSONB,
    "expires_at" TIMESTAMP(3),
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "connector_auth_cache_pkey" PRIMARY KEY ("id")
);`,
    `CREATE UNIQUE INDEX "connector_auth_cache_connector_id_key" ON ${t('connector_auth_cache')}("connector_id");`,
    fk('connector_auth_cache', 'connector_id', 'connectors'),

    // 20260731150000_add_identity_providers: per-organization SSO (OIDC) and SCIM.
    `CREATE TABLE ${t('identity_providers')} (
    "id" TEXT NOT NULL,
    "organization_id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "protocol" TEXT NOT NULL DEFAULT 'oidc',
    "issuer" TEXT NOT NULL,
    "client_id" TEXT NOT NULL,
    "client_secret_enc" TEXT,
    "scopes" TEXT[] DEFAULT ARRAY['openid', 'email', 'profile']::TEXT[],
    "allowed_domains" TEXT[],
    "scim_token_hash" TEXT,
    "is_enabled" BOOLEAN NOT NULL DEFAULT true,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "identity_providers_pkey" PRIMARY KEY ("id")
);`,
    `CREATE INDEX "identity_providers_organization_id_idx" ON ${t('identity_providers')}("organization_id");`,
    `CREATE UNIQUE INDEX "identity_providers_scim_token_hash_key" ON ${t('identity_providers')}("scim_token_hash");`,
    fk('identity_providers', 'organization_id', 'organizations'),

    `CREATE TABLE ${t('sso_login_attempts')} (
    "id" TEXT NOT NULL,
    "identity_provider_id" TEXT NOT NULL,
    "state" TEXT NOT NULL,
    "nonce" TEXT NOT NULL,
    "code_verifier" TEXT NOT NULL,
    "handoff_code" TEXT,
    "redirect_to" TEXT,
    "expires_at" TIMESTAMP(3) NOT NULL,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "sso_login_attempts_pkey" PRIMARY KEY ("id")
);`,
    `CREATE UNIQUE INDEX "sso_login_attempts_state_key" ON ${t('sso_login_attempts')}("state");`,
    `CREATE UNIQUE INDEX "sso_login_attempts_handoff_code_key" ON ${t('sso_login_attempts')}("handoff_code");`,
    fk('sso_login_attempts', 'identity_provider_id', 'identity_providers'),

    `CREATE TABLE ${t('recovery_codes')} (
    "id" TEXT NOT NULL,
    "user_id" TEXT NOT NULL,
    "code_hash" TEXT NOT NULL,
    "used_at" TIMESTAMP(3),
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "recovery_codes_pkey" PRIMARY KEY ("id")
);`,
    `CREATE INDEX "recovery_codes_user_id_idx" ON ${t('recovery_codes')}("user_id");`,
    fk('recovery_codes', 'user_id', 'users'),

    `CREATE TABLE ${t('connector_setup_links')} (
    "id" TEXT NOT NULL,
    "connector_id" TEXT NOT NULL,
    "created_by" TEXT NOT NULL,
    "token_hash" TEXT NOT NULL,
    "expires_at" TIMESTAMP(3) NOT NULL,
    "used_at" TIMESTAMP(3),
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "connector_setup_links_pkey" PRIMARY KEY ("id")
);`,
    `CREATE UNIQUE INDEX "connector_setup_links_token_hash_key" ON ${t('connector_setup_links')}("token_hash");`,
    fk('connector_setup_links', 'connector_id', 'connectors'),
    fk('connector_setup_links', 'created_by', 'users'),

    // 20260620000000_add_kg_and_invocation_scope: the knowledge graph's
    // identifiers, as HMACs keyed from KG_HASH_SECRET || ENCRYPTION_KEY.
    `CREATE TABLE ${t('kg_value_seen')} (
    "id" TEXT NOT NULL,
    "organization_id" TEXT NOT NULL,
    "connector_id" TEXT NOT NULL,
    "value_hash" TEXT NOT NULL,
    "entity" TEXT NOT NULL,
    "field" TEXT NOT NULL,
    "direction" TEXT NOT NULL,
    "seen_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "kg_value_seen_pkey" PRIMARY KEY ("id")
);`,
    // 20260924080000_dedupe_kg_value_seen
    `CREATE UNIQUE INDEX "kg_value_seen_dedupe_key" ON ${t('kg_value_seen')}("organization_id", "connector_id", "value_hash", "entity", "field", "direction");`,

    // 20260731120000_add_security_events: the audit trail the admin UI shows.
    `CREATE TABLE ${t('security_events')} (
    "id" TEXT NOT NULL,
    "event" TEXT NOT NULL,
    "actor_type" TEXT NOT NULL,
    "organization_id" TEXT,
    "actor_user_id" TEXT,
    "target_user_id" TEXT,
    "metadata" JSONB,
    "ip" TEXT,
    "user_agent" TEXT,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "security_events_pkey" PRIMARY KEY ("id")
);`,
    `CREATE INDEX "security_events_event_created_at_idx" ON ${t('security_events')}("event", "created_at");`,
    fk('security_events', 'organization_id', 'organizations', 'SET NULL'),
    fk('security_events', 'actor_user_id', 'users', 'SET NULL'),
    fk('security_events', 'target_user_id', 'users', 'SET NULL'),

    // 20261003100000_connector_oauth_attempts: pending OAuth flows, 15 minutes each.
    `CREATE TABLE ${t('connector_oauth_attempts')} (
    "id" TEXT NOT NULL,
    "connector_id" TEXT NOT NULL,
    "user_id" TEXT,
    "state_hash" TEXT NOT NULL,
    "payload" TEXT NOT NULL,
    "expires_at" TIMESTAMP(3) NOT NULL,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "connector_oauth_attempts_pkey" PRIMARY KEY ("id")
);`,
    `CREATE UNIQUE INDEX "connector_oauth_attempts_state_hash_key" ON ${t('connector_oauth_attempts')}("state_hash");`,
    `CREATE INDEX "connector_oauth_attempts_expires_at_idx" ON ${t('connector_oauth_attempts')}("expires_at");`,
    fk('connector_oauth_attempts', 'connector_id', 'connectors'),
    fk('connector_oauth_attempts', 'user_id', 'users', 'SET NULL'),
  ];
}
