//! What the data as a whole says, beyond each value: whether ciphertext
//! outside the registry stops the run, whether the old key is the data's
//! key at all, and what a dry run's real run would have said. A dry run
//! and a real run over the same data reach the same verdict, here.

use crate::error::{Error, Result};
use crate::report::{DiscoveredColumn, Findings, RotationReport};
use crate::warning::{Warning, WarningCode};

use super::graph;
use super::options::RotateOptions;
use super::scan::{undecryptable, Scan};

/// Ciphertext under the old key outside the registry stops a writing run
/// before anything is locked, unless the operator accepts leaving it
/// behind; a dry run reports it as a warning and lets [`refusal`] decide.
pub(super) fn unregistered(
    discovered: &[DiscoveredColumn],
    options: &RotateOptions,
    findings: &mut Findings,
) -> Result<()> {
    let write = !options.dry_run;
    let Some(first) = discovered.first() else {
        return Ok(());
    };
    if write && !options.allow_unregistered {
        return Err(Error::UnregisteredCiphertext {
            place: Box::new(first.place.clone()),
            more: discovered.len() - 1,
        });
    }
    findings.warnings.extend(discovered.iter().map(|d| Warning {
        code: WarningCode::UnregisteredCiphertext,
        message: format!(
            "{} is not in the registry but holds values that open with the old key; {}",
            d.place,
            match (write, options.allow_unregistered) {
                (true, _) => "they were left on the old key, as asked",
                (false, true) => "a rotation would leave them on the old key, as asked",
                (false, false) => "a rotation would refuse to run (add the location with --columns-file, or accept leaving it behind)",
            }
        ),
    }));
    Ok(())
}

/// Whether any value opened with the old key; `None` when there was nothing
/// sealed for it to open.
pub(super) fn old_key_matches(scan: &Scan<'_>, already_on_new_key: u64) -> Option<bool> {
    let sealed = scan.opened_with_old + scan.key_failures + already_on_new_key;
    (sealed > 0).then_some(scan.opened_with_old > 0)
}

/// The error the writing run raises on data that `report` describes, in
/// the order it meets them: a knowledge graph the operator has not chosen
/// about, ciphertext outside the registry, then a wrong old key
/// (`key_failures` values opened with neither key while none opened with
/// the old one) or a value that does not open, then nothing sealed with the
/// old key at all. A writing run has already stopped on the first three; a
/// dry run learns here what its real run would say.
pub(super) fn refusal(
    report: &RotationReport,
    key_failures: u64,
    allow_unregistered: bool,
) -> Option<Error> {
    if let Some(refusal) = graph::refusal(&report.knowledge_graph, &report.target.schema) {
        return Some(refusal);
    }
    let findings = &report.findings;
    if let (Some(first), false) = (findings.discovered.first(), allow_unregistered) {
        return Some(Error::UnregisteredCiphertext {
            place: Box::new(first.place.clone()),
            more: findings.discovered.len() - 1,
        });
    }
    if findings.failure_count > 0 {
        let first = findings
            .failures
            .iter()
            .find(|f| !f.malformed)
            .or(findings.failures.first())?;
        return Some(
            match report.old_key_matches == Some(false) && key_failures > 0 {
                true => Error::OldKeyMismatch {
                    location: Box::new(first.location.clone()),
                },
                false => undecryptable(first.clone()),
            },
        );
    }
    (report.old_key_matches == Some(false)).then(|| Error::AlreadyOnNewKey {
        fingerprint: report.new_key_fingerprint.clone(),
        values: report.already_on_new_key,
    })
}
