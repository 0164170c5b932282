// The tables of AnythingMCP v0.1.20 as its fourteen migrations leave them
// (HelpCode-ai/anythingmcp, packages/backend/prisma/migrations at v0.1.20),
// written by us: column order as the ALTERs left it, Prisma's constraint and
// index names, no DEFAULT on updated_at (Prisma's @updatedAt is set
// client-side). Main has every one of them; `main` adds one column
// (tool_invocations.repeat_count, 20261006090000_tool_invocation_repeat_count)
// and, our assumption, lets users.password_hash be NULL (users who only sign
// in through SSO).

/**
 * DDL statements; `t` qualifies a name, `fk(table, column, target, onDelete)`
 * adds a foreign key. `legacy`: mcp_server_configs as the init migration
 * created it, with auth_config (see schema.mjs).
 */
export function v0120TablesDdl(t, fk, { legacy, main }) {
  return [
    `CREATE TABLE ${t('organizations')} (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "organizations_pkey" PRIMARY KEY ("id")
);`,

    `CREATE TABLE ${t('users')} (
    "id" TEXT NOT NULL,
    "email" TEXT NOT NULL,
    "password_hash" TEXT${main ? '' : ' NOT NULL'},
    "name" TEXT,
    "role" ${t('UserRole')} NOT NULL DEFAULT 'EDITOR',
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL,
    "mcp_role_id" TEXT,
    "email_verified" BOOLEAN NOT NULL DEFAULT false,
    "organization_id" TEXT,

    CONSTRAINT "users_pkey" PRIMARY KEY ("id")
);`,
    `CREATE UNIQUE INDEX "users_email_key" ON ${t('users')}("email");`,
    `CREATE INDEX "users_organization_id_idx" ON ${t('users')}("organization_id");`,

    `CREATE TABLE ${t('organization_members')} (
    "id" TEXT NOT NULL,
    "user_id" TEXT NOT NULL,
    "organization_id" TEXT NOT NULL,
    "role" ${t('UserRole')} NOT NULL DEFAULT 'EDITOR',
    "joined_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "organization_members_pkey" PRIMARY KEY ("id")
);`,
    `CREATE UNIQUE INDEX "organization_members_user_id_organization_id_key" ON ${t('organization_members')}("user_id", "organization_id");`,
    `CREATE INDEX "organization_members_user_id_idx" ON ${t('organization_members')}("user_id");`,
    `CREATE INDEX "organization_members_organization_id_idx" ON ${t('organization_members')}("organization_id");`,

    `CREATE TABLE ${t('org_settings')} (
    "id" TEXT NOT NULL,
    "organization_id" TEXT NOT NULL,
    "key" TEXT NOT NULL,
    "value" TEXT NOT NULL,
    "updated_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "org_settings_pkey" PRIMARY KEY ("id")
);`,
    `CREATE UNIQUE INDEX "org_settings_organization_id_key_key" ON ${t('org_settings')}("organization_id", "key");`,

    `CREATE TABLE ${t('site_settings')} (
    "id" TEXT NOT NULL,
    "key" TEXT NOT NULL,
    "value" TEXT NOT NULL,
    "updated_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "site_settings_pkey" PRIMARY KEY ("id")
);`,
    `CREATE UNIQUE INDEX "site_settings_key_key" ON ${t('site_settings')}("key");`,

    `CREATE TABLE ${t('password_reset_tokens')} (
    "id" TEXT NOT NULL,
    "user_id" TEXT NOT NULL,
    "token" TEXT NOT NULL,
    "expires_at" TIMESTAMP(3) NOT NULL,
    "used_at" TIMESTAMP(3),
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "password_reset_tokens_pkey" PRIMARY KEY ("id")
);`,
    `CREATE UNIQUE INDEX "password_reset_tokens_token_key" ON ${t('password_reset_tokens')}("token");`,

    `CREATE TABLE ${t('email_verification_tokens')} (
    "id" TEXT NOT NULL,
    "user_id" TEXT NOT NULL,
    "token" TEXT NOT NULL,
    "code" TEXT NOT NULL,
    "expires_at" TIMESTAMP(3) NOT NULL,
    "used_at" TIMESTAMP(3),
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "email_verification_tokens_pkey" PRIMARY KEY ("id")
);`,
    `CREATE UNIQUE INDEX "email_verification_tokens_token_key" ON ${t('email_verification_tokens')}("token");`,
    `CREATE INDEX "email_verification_tokens_user_id_code_idx" ON ${t('email_verification_tokens')}("user_id", "code");`,

    `CREATE TABLE ${t('licenses')} (
    "id" TEXT NOT NULL,
    "license_key" TEXT NOT NULL,
    "plan" TEXT NOT NULL DEFAULT 'community',
    "status" TEXT NOT NULL DEFAULT 'active',
    "features" JSONB,
    "expires_at" TIMESTAMP(3),
    "activated_at" TIMESTAMP(3),
    "instance_id" TEXT,
    "last_verified_at" TIMESTAMP(3),
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL,
    "organization_id" TEXT,

    CONSTRAINT "licenses_pkey" PRIMARY KEY ("id")
);`,
    `CREATE UNIQUE INDEX "licenses_license_key_key" ON ${t('licenses')}("license_key");`,
    `CREATE INDEX "licenses_organization_id_idx" ON ${t('licenses')}("organization_id");`,

    `CREATE TABLE ${t('invitation_tokens')} (
    "id" TEXT NOT NULL,
    "email" TEXT NOT NULL,
    "token" TEXT NOT NULL,
    "role" ${t('UserRole')} NOT NULL DEFAULT 'EDITOR',
    "mcp_role_id" TEXT,
    "invited_by" TEXT NOT NULL,
    "expires_at" TIMESTAMP(3) NOT NULL,
    "used_at" TIMESTAMP(3),
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "organization_id" TEXT NOT NULL,

    CONSTRAINT "invitation_tokens_pkey" PRIMARY KEY ("id")
);`,
    `CREATE UNIQUE INDEX "invitation_tokens_token_key" ON ${t('invitation_tokens')}("token");`,

    `CREATE TABLE ${t('roles')} (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "description" TEXT,
    "is_system" BOOLEAN NOT NULL DEFAULT false,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL,
    "organization_id" TEXT,

    CONSTRAINT "roles_pkey" PRIMARY KEY ("id")
);`,
    `CREATE UNIQUE INDEX "roles_organization_id_name_key" ON ${t('roles')}("organization_id", "name");`,

    `CREATE TABLE ${t('connectors')} (
    "id" TEXT NOT NULL,
    "user_id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "type" ${t('ConnectorType')} NOT NULL,
    "base_url" TEXT NOT NULL,
    "is_active" BOOLEAN NOT NULL DEFAULT true,
    "auth_type" ${t('AuthType')} NOT NULL DEFAULT 'NONE',
    "auth_config" TEXT,
    "spec_url" TEXT,
    "spec_data" JSONB,
    "headers" JSONB,
    "config" JSONB,
    "env_vars" JSONB,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL,
    "instructions" TEXT,
    "organization_id" TEXT NOT NULL,

    CONSTRAINT "connectors_pkey" PRIMARY KEY ("id")
);`,
    `CREATE INDEX "connectors_organization_id_idx" ON ${t('connectors')}("organization_id");`,

    `CREATE TABLE ${t('mcp_tools')} (
    "id" TEXT NOT NULL,
    "connector_id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "description" TEXT NOT NULL,
    "is_enabled" BOOLEAN NOT NULL DEFAULT true,
    "parameters" JSONB NOT NULL,
    "endpoint_mapping" JSONB NOT NULL,
    "response_mapping" JSONB,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "mcp_tools_pkey" PRIMARY KEY ("id")
);`,
    `CREATE UNIQUE INDEX "mcp_tools_connector_id_name_key" ON ${t('mcp_tools')}("connector_id", "name");`,

    `CREATE TABLE ${t('mcp_resources')} (
    "id" TEXT NOT NULL,
    "connector_id" TEXT NOT NULL,
    "uri" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "description" TEXT,
    "mime_type" TEXT NOT NULL DEFAULT 'application/json',
    "fetch_config" JSONB NOT NULL,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "mcp_resources_pkey" PRIMARY KEY ("id")
);`,
    `CREATE UNIQUE INDEX "mcp_resources_connector_id_uri_key" ON ${t('mcp_resources')}("connector_id", "uri");`,

    `CREATE TABLE ${t('mcp_prompts')} (
    "id" TEXT NOT NULL,
    "connector_id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "description" TEXT,
    "template" TEXT NOT NULL,
    "arguments" JSONB,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "mcp_prompts_pkey" PRIMARY KEY ("id")
);`,
    `CREATE UNIQUE INDEX "mcp_prompts_connector_id_name_key" ON ${t('mcp_prompts')}("connector_id", "name");`,

    `CREATE TABLE ${t('tool_role_access')} (
    "id" TEXT NOT NULL,
    "role_id" TEXT NOT NULL,
    "tool_id" TEXT NOT NULL,

    CONSTRAINT "tool_role_access_pkey" PRIMARY KEY ("id")
);`,
    `CREATE UNIQUE INDEX "tool_role_access_role_id_tool_id_key" ON ${t('tool_role_access')}("role_id", "tool_id");`,

    `CREATE TABLE ${t('mcp_api_keys')} (
    "id" TEXT NOT NULL,
    "user_id" TEXT NOT NULL,
    "key" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "is_active" BOOLEAN NOT NULL DEFAULT true,
    "last_used_at" TIMESTAMP(3),
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "mcp_server_id" TEXT,
    "organization_id" TEXT NOT NULL,

    CONSTRAINT "mcp_api_keys_pkey" PRIMARY KEY ("id")
);`,
    `CREATE UNIQUE INDEX "mcp_api_keys_key_key" ON ${t('mcp_api_keys')}("key");`,
    `CREATE INDEX "mcp_api_keys_organization_id_idx" ON ${t('mcp_api_keys')}("organization_id");`,

    legacy
      ? `CREATE TABLE ${t('mcp_server_configs')} (
    "id" TEXT NOT NULL,
    "user_id" TEXT NOT NULL,
    "name" TEXT NOT NULL DEFAULT 'My MCP Server',
    "version" TEXT NOT NULL DEFAULT '1.0.0',
    "is_active" BOOLEAN NOT NULL DEFAULT true,
    "auth_type" ${t('AuthType')} NOT NULL DEFAULT 'BEARER_TOKEN',
    "auth_config" TEXT,
    "transport" TEXT NOT NULL DEFAULT 'streamable-http',
    "endpoint" TEXT NOT NULL DEFAULT '/mcp',
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "mcp_server_configs_pkey" PRIMARY KEY ("id")
);`
      : `CREATE TABLE ${t('mcp_server_configs')} (
    "id" TEXT NOT NULL,
    "user_id" TEXT NOT NULL,
    "name" TEXT NOT NULL DEFAULT 'Default',
    "version" TEXT NOT NULL DEFAULT '1.0.0',
    "is_active" BOOLEAN NOT NULL DEFAULT true,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL,
    "description" TEXT,
    "slug" TEXT NOT NULL DEFAULT 'default',
    "instructions" TEXT,
    "organization_id" TEXT NOT NULL,

    CONSTRAINT "mcp_server_configs_pkey" PRIMARY KEY ("id")
);`,
    legacy
      ? ''
      : `CREATE UNIQUE INDEX "mcp_server_configs_organization_id_slug_key" ON ${t('mcp_server_configs')}("organization_id", "slug");
CREATE INDEX "mcp_server_configs_organization_id_idx" ON ${t('mcp_server_configs')}("organization_id");`,

    `CREATE TABLE ${t('mcp_server_connectors')} (
    "id" TEXT NOT NULL,
    "mcp_server_id" TEXT NOT NULL,
    "connector_id" TEXT NOT NULL,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "mcp_server_connectors_pkey" PRIMARY KEY ("id")
);`,
    `CREATE UNIQUE INDEX "mcp_server_connectors_mcp_server_id_connector_id_key" ON ${t('mcp_server_connectors')}("mcp_server_id", "connector_id");`,

    `CREATE TABLE ${t('tool_invocations')} (
    "id" TEXT NOT NULL,
    "tool_id" TEXT NOT NULL,
    "user_id" TEXT,
    "input" JSONB NOT NULL,
    "output" JSONB,
    "status" ${t('InvocationStatus')} NOT NULL,
    "duration_ms" INTEGER,
    "error" TEXT,
    "client_info" TEXT,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "mcp_server_id" TEXT,${main ? '\n    "repeat_count" INTEGER NOT NULL DEFAULT 1,' : ''}

    CONSTRAINT "tool_invocations_pkey" PRIMARY KEY ("id")
);`,
    `CREATE INDEX "tool_invocations_tool_id_created_at_idx" ON ${t('tool_invocations')}("tool_id", "created_at");`,
    `CREATE INDEX "tool_invocations_user_id_created_at_idx" ON ${t('tool_invocations')}("user_id", "created_at");`,
    `CREATE INDEX "tool_invocations_mcp_server_id_created_at_idx" ON ${t('tool_invocations')}("mcp_server_id", "created_at");`,

    `CREATE TABLE ${t('oauth_clients')} (
    "id" TEXT NOT NULL,
    "client_id" TEXT NOT NULL,
    "client_secret" TEXT,
    "client_name" TEXT NOT NULL,
    "client_description" TEXT,
    "logo_uri" TEXT,
    "client_uri" TEXT,
    "developer_name" TEXT,
    "developer_email" TEXT,
    "redirect_uris" TEXT[],
    "grant_types" TEXT[],
    "response_types" TEXT[],
    "token_endpoint_auth_method" TEXT NOT NULL DEFAULT 'none',
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "oauth_clients_pkey" PRIMARY KEY ("id")
);`,
    `CREATE UNIQUE INDEX "oauth_clients_client_id_key" ON ${t('oauth_clients')}("client_id");`,

    `CREATE TABLE ${t('oauth_authorization_codes')} (
    "id" TEXT NOT NULL,
    "code" TEXT NOT NULL,
    "user_id" TEXT NOT NULL,
    "client_id" TEXT NOT NULL,
    "redirect_uri" TEXT NOT NULL,
    "code_challenge" TEXT NOT NULL,
    "code_challenge_method" TEXT NOT NULL,
    "resource" TEXT,
    "scope" TEXT,
    "expires_at" BIGINT NOT NULL,
    "user_profile_id" TEXT,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "oauth_authorization_codes_pkey" PRIMARY KEY ("id")
);`,
    `CREATE UNIQUE INDEX "oauth_authorization_codes_code_key" ON ${t('oauth_authorization_codes')}("code");`,

    `CREATE TABLE ${t('oauth_sessions')} (
    "id" TEXT NOT NULL,
    "session_id" TEXT NOT NULL,
    "state" TEXT NOT NULL,
    "client_id" TEXT,
    "redirect_uri" TEXT,
    "code_challenge" TEXT,
    "code_challenge_method" TEXT,
    "oauth_state" TEXT,
    "scope" TEXT,
    "resource" TEXT,
    "expires_at" BIGINT NOT NULL,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "oauth_sessions_pkey" PRIMARY KEY ("id")
);`,
    `CREATE UNIQUE INDEX "oauth_sessions_session_id_key" ON ${t('oauth_sessions')}("session_id");`,

    `CREATE TABLE ${t('oauth_user_profiles')} (
    "id" TEXT NOT NULL,
    "profile_id" TEXT NOT NULL,
    "provider" TEXT NOT NULL,
    "external_id" TEXT NOT NULL,
    "username" TEXT NOT NULL,
    "email" TEXT,
    "display_name" TEXT,
    "avatar_url" TEXT,
    "raw" JSONB,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "oauth_user_profiles_pkey" PRIMARY KEY ("id")
);`,
    `CREATE UNIQUE INDEX "oauth_user_profiles_profile_id_key" ON ${t('oauth_user_profiles')}("profile_id");`,
    `CREATE UNIQUE INDEX "oauth_user_profiles_provider_external_id_key" ON ${t('oauth_user_profiles')}("provider", "external_id");`,

    fk('users', 'mcp_role_id', 'roles', 'SET NULL'),
    fk('users', 'organization_id', 'organizations', 'SET NULL'),
    fk('organization_members', 'user_id', 'users'),
    fk('organization_members', 'organization_id', 'organizations'),
    fk('org_settings', 'organization_id', 'organizations'),
    fk('password_reset_tokens', 'user_id', 'users'),
    fk('email_verification_tokens', 'user_id', 'users'),
    fk('licenses', 'organization_id', 'organizations', 'SET NULL'),
    fk('invitation_tokens', 'organization_id', 'organizations'),
    fk('roles', 'organization_id', 'organizations'),
    fk('connectors', 'user_id', 'users'),
    fk('connectors', 'organization_id', 'organizations'),
    fk('mcp_tools', 'connector_id', 'connectors'),
    fk('mcp_resources', 'connector_id', 'connectors'),
    fk('mcp_prompts', 'connector_id', 'connectors'),
    fk('tool_role_access', 'role_id', 'roles'),
    fk('tool_role_access', 'tool_id', 'mcp_tools'),
    fk('mcp_api_keys', 'user_id', 'users'),
    fk('mcp_api_keys', 'organization_id', 'organizations'),
    fk('mcp_server_configs', 'user_id', 'users'),
    fk('mcp_server_connectors', 'connector_id', 'connectors'),
    fk('tool_invocations', 'tool_id', 'mcp_tools'),
    fk('tool_invocations', 'user_id', 'users', 'SET NULL'),
    ...(legacy
      ? []
      : [
          fk('mcp_server_configs', 'organization_id', 'organizations'),
          fk('mcp_api_keys', 'mcp_server_id', 'mcp_server_configs', 'SET NULL'),
          fk('mcp_server_connectors', 'mcp_server_id', 'mcp_server_configs'),
          fk('tool_invocations', 'mcp_server_id', 'mcp_server_configs', 'SET NULL'),
        ]),
  ];
}
