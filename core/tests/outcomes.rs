//! The rotation's outcomes through the plain-Rust API, against a real
//! server: a committed rotation and its audit event, a re-run that finds
//! nothing on the old key, a dry run that its real run would refuse, and a
//! run cancelled mid-scan, which changes nothing.

mod support;

use std::sync::Arc;
use std::time::Duration;

use keyrotate_core::connection::ConnectionTarget;
use keyrotate_core::envelope;
use keyrotate_core::key::{KeyPair, KeyPolicy};
use keyrotate_core::rotation::{self, Progress, RotateOptions};
use support::Server;

const OLD: &str = "0ld-Key-For-The-Core-Outcome-Test-xx";
const NEW: &str = "N3w-Key-For-The-Core-Outcome-Test-yy";
const ROWS: usize = 20_000;

fn keys(old: &str, new: &str) -> Arc<KeyPair> {
    Arc::new(KeyPair::parse(old.as_bytes(), new.as_bytes(), KeyPolicy::default()).unwrap())
}

async fn seed(target: &ConnectionTarget) {
    let client = target.connect().await.unwrap();
    client
        .batch_execute(
            "DROP TABLE IF EXISTS connectors, security_events;
             CREATE TABLE connectors (id text PRIMARY KEY, auth_config text);
             CREATE TABLE security_events (id text PRIMARY KEY, event text NOT NULL, actor_type text NOT NULL,
               organization_id text, actor_user_id text, target_user_id text, metadata jsonb, ip text,
               user_agent text, created_at timestamp(3) NOT NULL DEFAULT CURRENT_TIMESTAMP)",
        )
        .await
        .unwrap();
    let old = keys(OLD, NEW);
    let values: Vec<String> = (0..ROWS)
        .map(|i| envelope::seal(&old.old, format!("{{\"token\":\"t{i}\"}}").as_bytes(), b""))
        .collect();
    let ids: Vec<String> = (0..ROWS).map(|i| format!("c{i:06}")).collect();
    client
        .execute(
            "INSERT INTO connectors SELECT * FROM unnest($1::text[], $2::text[])",
            &[&ids, &values],
        )
        .await
        .unwrap();
}

async fn digest(target: &ConnectionTarget) -> String {
    let client = target.connect().await.unwrap();
    client
        .query_one(
            "SELECT md5(string_agg(id || auth_config, ',' ORDER BY id)) FROM connectors",
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

async fn events(target: &ConnectionTarget) -> i64 {
    let client = target.connect().await.unwrap();
    client
        .query_one("SELECT count(*) FROM security_events", &[])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outcomes_are_true_to_the_data() {
    let bin = support::server_binaries()
        .into_iter()
        .next()
        .expect("a PostgreSQL server");
    let server = Server::start(&bin, false);
    let target = ConnectionTarget::parse(&server.socket_url("")).unwrap();
    seed(&target).await;
    let quiet = |_: &Progress| {};

    // Cancelled mid-scan: an AbortError at once, and nothing written.
    let before = digest(&target).await;
    let options = RotateOptions {
        batch_size: 100,
        ..RotateOptions::default()
    };
    let cancel = options.cancel.clone();
    let on_progress = move |p: &Progress| {
        if matches!(p, Progress::Scanning(t) if t.done >= 1_000) {
            cancel.cancel();
        }
    };
    let aborted = tokio::time::timeout(
        Duration::from_secs(60),
        rotation::rotate(keys(OLD, NEW), &target, &options, &on_progress),
    )
    .await
    .expect("the cancelled run ends");
    assert_eq!(aborted.unwrap_err().error.code(), "ABORT_ERR");
    assert_eq!(digest(&target).await, before);

    // A dry run is a rejection when its real run would be one; here it is not.
    let dry = RotateOptions {
        dry_run: true,
        ..RotateOptions::default()
    };
    let report = rotation::rotate(keys(OLD, NEW), &target, &dry, &quiet)
        .await
        .unwrap();
    assert_eq!(
        (report.committed, report.rows_reencrypted),
        (false, ROWS as u64)
    );
    assert_eq!(report.audit_event_id, None);

    // Committed, with one audit event.
    let report = rotation::rotate(keys(OLD, NEW), &target, &RotateOptions::default(), &quiet)
        .await
        .unwrap();
    assert!(report.committed);
    assert_eq!(
        report.summary,
        format!("{ROWS} rows re-encrypted across 1 tables")
    );
    assert_eq!(report.old_key_matches, Some(true));
    assert!(report.audit_event_id.is_some());
    assert_eq!(events(&target).await, 1);

    // Again: nothing on the old key is its own refusal, with its report.
    let after = digest(&target).await;
    let again = rotation::rotate(keys(OLD, NEW), &target, &RotateOptions::default(), &quiet)
        .await
        .unwrap_err();
    assert_eq!(again.error.code(), "ERR_ALREADY_ON_NEW_KEY");
    let report = again.report.expect("the refusal carries its report");
    assert_eq!(
        (
            report.committed,
            report.already_on_new_key,
            report.old_key_matches
        ),
        (false, ROWS as u64, Some(false))
    );
    assert_eq!(digest(&target).await, after);
    assert_eq!(events(&target).await, 1);

    // A dry run with a key the data was never on says what its real run would.
    let wrong = rotation::rotate(
        keys("An-0ther-Key-Nobody-Sealed-Anything-With", OLD),
        &target,
        &dry,
        &quiet,
    )
    .await
    .unwrap_err();
    assert_eq!(wrong.error.code(), "ERR_OLD_KEY_MISMATCH");
    assert_eq!(wrong.report.unwrap().findings.failure_count, ROWS as u64);
}
