//! Where ciphertext lives: the registry of locations. It is data
//! (`locations.json`, shipped in the package, plus whatever the operator
//! adds in the same format), not code, so a release that seals secrets in a
//! new place needs a JSON file, not a rebuild. The format is documented in
//! docs/locations.md.
//!
//! Every name here reaches SQL only through [`quote_ident`](crate::ident::quote_ident), and every
//! value (a row filter) only as a bound parameter.

mod location;
mod registry;
mod resolved;
mod spec;

pub use location::{Location, Origin};
pub use registry::{KnownMigrations, Registry};
pub use resolved::ResolvedLocation;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aad::Aad;

    #[test]
    fn defaults_are_every_location_of_the_current_backend() {
        let r = Registry::defaults();
        let names: Vec<String> = r.locations.iter().map(Location::name).collect();
        assert_eq!(
            names,
            [
                "connectors.auth_config",
                "connectors.env_vars.$enc",
                "connector_auth_cache.token",
                "identity_providers.client_secret_enc",
                "connector_oauth_attempts.payload",
                "org_settings.value.secretEnc",
                "mcp_server_configs.auth_config",
            ]
        );
        assert_eq!(r.locations[0].origin, Origin::Required);
        assert!(r.locations[1..].iter().all(|l| l.origin == Origin::Default));
        assert_eq!(
            r.locations[1].aad,
            Aad::Constant("connectors.env_vars".into())
        );
        assert_eq!(r.locations[3].aad.columns(), ["id", "organization_id"]);
        assert_eq!(r.locations[4].aad, Aad::Constant("connector-oauth".into()));
        assert_eq!(
            r.locations[5].filter,
            [("key".to_owned(), "alert_webhook".to_owned())]
        );
        assert_eq!(r.locations[5].aad.columns(), ["organization_id"]);
        r.resolve("public").unwrap();
    }

    #[test]
    fn knows_the_migrations_it_was_written_against() {
        let m = Registry::defaults().migrations;
        assert!(m.knows("20260228195200_init"));
        assert!(m.knows("20260303_multi_mcp_servers"));
        assert!(m.knows("20260901000000_anything_before_the_newest"));
        assert!(m.knows("20261006090000_tool_invocation_repeat_count"));
        assert!(!m.knows("20261106000000_add_webhook_secrets"));
    }

    #[test]
    fn spec_forms() {
        let c = Location::parse_spec("secrets.id.value").unwrap();
        assert_eq!((c.schema, c.table.as_str()), (None, "secrets"));
        let c = Location::parse_spec("app.secrets.id.value").unwrap();
        assert_eq!(c.schema.as_deref(), Some("app"));
        assert_eq!(c.origin, Origin::Explicit);
        assert_eq!(
            Location::parse_spec("tenant;1.connectors.id.auth_config")
                .unwrap()
                .qualified_table("public"),
            "\"tenant;1\".\"connectors\""
        );
        for bad in ["secrets.value", "a.b.c.d.e", "a..c", "a.b.c\u{0}"] {
            assert_eq!(
                Location::parse_spec(bad).unwrap_err().code(),
                "ERR_INVALID_ARG",
                "{bad}"
            );
        }
        let long = "x".repeat(64);
        assert!(Location::parse_spec(&format!("{long}.id.c")).is_err());
    }

    #[test]
    fn operator_files_in_both_forms() {
        let mut r = Registry::defaults();
        r.add_file(r#"[{"table":"t","primaryKey":"id","column":"c"}]"#)
            .unwrap();
        r.add_file(r#"{"columns":[{"table":"t2","primaryKey":"id","column":"c"}]}"#)
            .unwrap();
        r.add_file(
            r#"{"knownMigrations":["20261106000000_add_webhook_secrets"],
                "locations":[{"schema":"s","table":"w","primaryKey":"id","column":"doc",
                  "member":"secret","where":{"kind":"hook"},"aad":{"template":"hook:{id}"}}]}"#,
        )
        .unwrap();
        let n = r.locations.len();
        assert_eq!(r.locations[n - 3].name(), "t.c");
        assert_eq!(r.locations[n - 2].name(), "t2.c");
        assert_eq!(r.locations[n - 1].name(), "w.doc.secret");
        assert_eq!(r.locations[n - 1].origin, Origin::Explicit);
        assert!(r.migrations.knows("20261106000000_add_webhook_secrets"));
        let resolved = r.resolve("tenant").unwrap();
        assert_eq!(resolved[n - 3].schema.as_deref(), Some("tenant"));
        assert_eq!(resolved[n - 1].schema.as_deref(), Some("s"));
    }

    #[test]
    fn operator_files_are_checked() {
        for bad in [
            "nope",
            r#"[{"table":"t","column":"c"}]"#,
            r#"[{"table":"t","primaryKey":"id","column":"c","sql":"x"}]"#,
            r#"[{"table":"","primaryKey":"id","column":"c"}]"#,
            r#"[{"table":"t","primaryKey":"id","column":"c","aad":{"template":"{"}}]"#,
            r#"[{"table":"t","primaryKey":"id","column":"c","aad":{"sql":"x"}}]"#,
            r#"[{"table":"t","primaryKey":"id","column":"c","member":""}]"#,
            r#"[{"table":"t","primaryKey":"id","column":"c","where":{"a\u0000":"x"}}]"#,
        ] {
            let err = Registry::defaults().add_file(bad).unwrap_err();
            assert_eq!(err.code(), "ERR_INVALID_ARG", "{bad}");
            assert!(!err.to_string().contains("nope"), "{err}");
        }
    }

    #[test]
    fn messages_name_fields_never_values() {
        let err = Registry::defaults()
            .add_file(r#"[{"table":"t","primaryKey":"id","column":"c","sqll":"sk_live_SECRET"}]"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("field `sqll`"), "{err}");
        assert!(!err.contains("SECRET"), "{err}");
        let err = Registry::defaults()
            .add_file(r#"[{"table":"t","primaryKey":"id","column":7}]"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 1"), "{err}");
        assert!(!err.contains("integer"), "{err}");
    }

    #[test]
    fn an_extra_naming_a_default_replaces_it_and_becomes_explicit() {
        let mut r = Registry::defaults();
        r.add(Location::parse_spec("public.connector_auth_cache.id.token").unwrap());
        let resolved = r.resolve("public").unwrap();
        assert_eq!(resolved.len(), r.locations.len() - 1);
        assert_eq!(resolved[2].origin, Origin::Explicit);
        // In another schema it is a location of its own.
        assert_eq!(r.resolve("tenant").unwrap().len(), r.locations.len());
    }

    #[test]
    fn overlapping_locations_are_refused() {
        let mut r = Registry::defaults();
        r.add_file(r#"[{"table":"connectors","primaryKey":"id","column":"env_vars"}]"#)
            .unwrap();
        assert_eq!(r.resolve("public").unwrap_err().code(), "ERR_INVALID_ARG");

        let mut r = Registry::defaults();
        r.add_file(
            r#"[{"table":"org_settings","primaryKey":"id","column":"value","member":"secretEnc","where":{"key":"other_hook"}}]"#,
        )
        .unwrap();
        r.resolve("public").unwrap();
    }
}
