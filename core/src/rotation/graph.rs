//! The knowledge graph's hashes. AnythingMCP's observational knowledge graph
//! stores, in `kg_value_seen.value_hash`, an HMAC of each identifier it has
//! seen, keyed per organization from the first of `KG_HASH_SECRET`,
//! `ENCRYPTION_KEY` and `JWT_SECRET` that is set. With `KG_HASH_SECRET`
//! unset, a rotation silently re-keys the graph: values seen before and after
//! no longer correlate, and its dedupe index misses repeats. The hashes
//! cannot be recomputed (the values are not stored), so the operator chooses
//! before the rotation: pin (`KG_HASH_SECRET` = the current key) or relink.
//! A run never changes a row of any `kg_*` table.

use tokio_postgres::types::Type;
use tokio_postgres::Transaction;

use crate::error::{Error, Result};
use crate::ident::quote_ident;
use crate::report::{Findings, KeyedBy, KnowledgeGraph};
use crate::warning::{Warning, WarningCode};

use super::dberror::db_error;

const TABLE: &str = "kg_value_seen";

/// What the operator said about the graph's key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GraphKey {
    /// `KG_HASH_SECRET` is not set: the graph is keyed by `ENCRYPTION_KEY`.
    #[default]
    Unpinned,
    /// `KG_HASH_SECRET` is set; `to_old_key` says whether it is the old
    /// `ENCRYPTION_KEY` itself (the pin the runbook asks for).
    Pinned { to_old_key: bool },
    /// The operator accepts that the graph starts new links.
    Relink,
}

/// Look at `kg_value_seen` in `schema` and record what the key choice means.
pub async fn survey(
    tx: &Transaction<'_>,
    schema: &str,
    key: GraphKey,
    findings: &mut Findings,
) -> Result<KnowledgeGraph> {
    let qualified = format!("{}.{}", quote_ident(schema), quote_ident(TABLE));
    // Whether this role sees every row, asked first: a failed query would
    // abort the rotation's transaction.
    let readable: Option<bool> = tx
        .query_typed_opt(
            "SELECT has_table_privilege(c.oid, 'SELECT') AND NOT row_security_active(c.oid) \
             FROM pg_catalog.pg_class c WHERE c.oid = pg_catalog.to_regclass($1)",
            &[(&qualified, Type::TEXT)],
        )
        .await
        .map_err(db_error)?
        .map(|row| row.get(0));
    let present = readable.is_some();
    let mut graph = KnowledgeGraph {
        present,
        relink: key == GraphKey::Relink,
        keyed_by: match key {
            GraphKey::Pinned { .. } => KeyedBy::HashSecret,
            GraphKey::Unpinned | GraphKey::Relink => KeyedBy::EncryptionKey,
        },
        ..KnowledgeGraph::default()
    };
    graph.has_rows = match readable {
        None => return Ok(graph),
        Some(true) => tx
            .query_typed_one(&format!("SELECT EXISTS (SELECT 1 FROM {qualified})"), &[])
            .await
            .map_err(db_error)?
            .get::<_, bool>(0),
        // Unseen rows may be there: fail closed.
        Some(false) => {
            findings.notices.push(format!(
                "this role may not read all of {schema}.{TABLE}; it is taken to hold knowledge-graph hashes"
            ));
            true
        }
    };
    if graph.has_rows && key == (GraphKey::Pinned { to_old_key: false }) {
        findings.warnings.push(Warning {
            code: WarningCode::KgPinDiffers,
            message: "KG_HASH_SECRET is set but is not the old ENCRYPTION_KEY: fine if the knowledge graph was built with it; if it was set only for this rotation, set it to the old ENCRYPTION_KEY exactly (all of it), or the graph is re-keyed anyway".into(),
        });
    }
    if graph.unresolved() {
        findings.warnings.push(Warning {
            code: WarningCode::KgUnpinned,
            message: format!("{schema}.{TABLE} holds hashes keyed by ENCRYPTION_KEY (KG_HASH_SECRET is not set): changing the key re-keys the knowledge graph"),
        });
    }
    Ok(graph)
}

/// The refusal a rotation owes an unresolved graph.
pub fn refusal(graph: &KnowledgeGraph, schema: &str) -> Option<Error> {
    graph.unresolved().then(|| Error::KnowledgeGraphUnpinned {
        schema: schema.to_owned(),
    })
}
