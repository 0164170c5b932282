//! What a run learns inside its transaction before it scans: the release's
//! migrations, the locations this database has, and the tables to scan.

use tokio_postgres::Transaction;

use crate::connection::ConnectionTarget;
use crate::error::Result;
use crate::locations::{Registry, ResolvedLocation};
use crate::report::{DiscoveredColumn, Findings, LocationReport, Migrations};

use super::catalog;
use super::migrations;
use super::plan::TablePlan;
use super::scan::Scan;
use super::start::Checked;

/// What rotate and verify learn before they scan: the release, the
/// locations that exist, and ciphertext outside the registry.
pub(super) struct Survey {
    plans: Vec<TablePlan>,
    absent: Vec<LocationReport>,
    pub(super) migrations: Migrations,
    pub(super) discovered: Vec<DiscoveredColumn>,
}

impl Survey {
    pub(super) async fn take(
        tx: &Transaction<'_>,
        target: &ConnectionTarget,
        registry: &Registry,
        run: &Checked,
        discovered: Vec<DiscoveredColumn>,
        findings: &mut Findings,
    ) -> Result<Survey> {
        let migrations = migrations::read(tx, &run.schema, &registry.migrations, findings).await?;
        let resolved = catalog::resolve(tx, &run.locations, findings).await?;
        findings.notices.extend_from_slice(target.notices());
        Ok(Survey {
            plans: resolved.plans,
            absent: resolved.absent,
            migrations,
            discovered,
        })
    }

    /// The tables a writing rotation locks: quoted, sorted, each once, so
    /// that one statement takes them all and no two runs deadlock.
    pub(super) fn tables(&self) -> Vec<String> {
        let mut tables: Vec<String> = self.plans.iter().map(TablePlan::qualified).collect();
        tables.sort();
        tables.dedup();
        tables
    }

    /// Scan every table, and report every location in registry order.
    pub(super) async fn scan(
        &self,
        scan: &mut Scan<'_>,
        tx: &Transaction<'_>,
        locations: &[ResolvedLocation],
        findings: &mut Findings,
    ) -> Result<Vec<LocationReport>> {
        let mut reports = self.absent.clone();
        let counts = Scan::counts(tx, &self.plans).await?;
        for (plan, counts) in self.plans.iter().zip(&counts) {
            reports.extend(scan.table(tx, plan, counts, findings).await?);
        }
        let position = |r: &LocationReport| locations.iter().position(|l| r.is_for(l));
        reports.sort_by_key(|r| position(r));
        Ok(reports)
    }
}
