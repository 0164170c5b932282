//! Which schema a run acts on. The backend reaches PostgreSQL through
//! Prisma 7 and `@prisma/adapter-pg`, whose generated queries name
//! `"public".<table>` whatever `?schema=` says (node-postgres does not read
//! it either). So when the URL names another schema, the schema the backend
//! really reads may not be the one the URL names: the run looks at both,
//! and never picks one silently when both hold sealed values.

use tokio_postgres::types::Type;
use tokio_postgres::Client;

use crate::error::{Error, Invalid, Result};
use crate::ident::quote_ident;
use crate::locations::Registry;
use crate::report::Findings;

use super::dberror::db_error;

/// The schema the backend's adapter reads.
const BACKEND: &str = "public";

/// The schema to act on: `explicit` when the caller chose; else the URL's
/// (`named`) or `public`, by where sealed values are. Both holding them is
/// [`Error::SchemaAmbiguous`].
pub(super) async fn settle(
    client: &Client,
    named: &str,
    explicit: Option<&str>,
    registry: &Registry,
    findings: &mut Findings,
) -> Result<String> {
    if let Some(schema) = explicit {
        if !probe(client, schema, registry).await?.tables {
            return Err(Invalid::SchemaWithoutTables {
                schema: schema.to_owned(),
            }
            .into());
        }
        return Ok(schema.to_owned());
    }
    if named == BACKEND {
        return Ok(named.to_owned());
    }
    let (url, backend) = (
        probe(client, named, registry).await?,
        probe(client, BACKEND, registry).await?,
    );
    let chosen = match (url.sealed, backend.sealed) {
        (true, true) => {
            return Err(Error::SchemaAmbiguous {
                named: named.to_owned(),
            })
        }
        (true, false) => named,
        (false, true) => BACKEND,
        (false, false) if !url.tables && backend.tables => BACKEND,
        (false, false) => named,
    };
    findings.notices.push(match chosen == named {
        true => format!(
            "the URL names schema {named}; the backend (Prisma 7 with @prisma/adapter-pg) reads {BACKEND} whatever ?schema= says, and {BACKEND} holds no sealed AnythingMCP values: acting on {named}, as the URL names it"
        ),
        false => format!(
            "the URL names schema {named}, which holds no sealed AnythingMCP values; the backend (Prisma 7 with @prisma/adapter-pg) reads {BACKEND} whatever ?schema= says: acting on {BACKEND}"
        ),
    });
    Ok(chosen.to_owned())
}

/// What one schema holds of AnythingMCP's.
struct Holds {
    /// The tables of the registry's locations, any of them.
    tables: bool,
    /// A value (not NULL) at any of the registry's locations.
    sealed: bool,
}

async fn probe(client: &Client, schema: &str, registry: &Registry) -> Result<Holds> {
    let locations = registry.resolve(schema)?;
    let tables: Vec<&str> = locations.iter().map(|l| l.table.as_str()).collect();
    let columns: Vec<&str> = locations.iter().map(|l| l.column.as_str()).collect();
    // Only what exists and this role may read is asked about: a failed
    // statement would say nothing of where the data is.
    let present = client
        .query_typed(
            "SELECT l.t, l.c FROM unnest($2::text[], $3::text[]) AS l(t, c) \
             JOIN pg_catalog.pg_namespace n ON n.nspname = $1 \
             JOIN pg_catalog.pg_class r ON r.relnamespace = n.oid AND r.relname = l.t AND r.relkind IN ('r', 'p') \
             JOIN pg_catalog.pg_attribute a ON a.attrelid = r.oid AND a.attname = l.c AND NOT a.attisdropped \
             WHERE pg_catalog.has_column_privilege(r.oid, a.attnum, 'SELECT')",
            &[
                (&schema, Type::TEXT),
                (&tables, Type::TEXT_ARRAY),
                (&columns, Type::TEXT_ARRAY),
            ],
        )
        .await
        .map_err(db_error)?;
    if present.is_empty() {
        return Ok(Holds {
            tables: false,
            sealed: false,
        });
    }
    let any: Vec<String> = present
        .iter()
        .map(|row| {
            format!(
                "EXISTS (SELECT 1 FROM {}.{} WHERE {} IS NOT NULL)",
                quote_ident(schema),
                quote_ident(row.get(0)),
                quote_ident(row.get(1))
            )
        })
        .collect();
    let sealed = client
        .query_typed_one(&format!("SELECT {}", any.join(" OR ")), &[])
        .await
        .map_err(db_error)?
        .get(0);
    Ok(Holds {
        tables: true,
        sealed,
    })
}
