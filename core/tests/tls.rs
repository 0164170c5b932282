//! TLS against a real PostgreSQL server that accepts TLS connections only,
//! with a certificate from a throwaway CA for DNS name `localhost`: each URL
//! that connects really uses TLS (pg_stat_ssl), and each refusal says why.
//! `__test__/connection.test.mjs` compares every URL form with node-postgres.

mod support;

use keyrotate_core::connection::ConnectionTarget;
use keyrotate_core::Error;
use support::{Server, PASSWORD, PASSWORD_IN_URL, USER};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmodes_against_a_server_that_requires_tls() {
    let server = Server::start(&support::server_binaries()[0], true);
    let ca = server.file("ca.pem");
    let wrong_ca = server.file("wrong-ca.pem");
    let url = |host: &str, query: &str| {
        format!(
            "postgresql://{USER}:{PASSWORD_IN_URL}@{host}:{}/postgres?{query}",
            server.port
        )
    };

    for (what, url) in [
        ("no-verify", url("127.0.0.1", "sslmode=no-verify")),
        ("ssl=no-verify", url("127.0.0.1", "ssl=no-verify")),
        (
            "libpq require checks nothing",
            url("127.0.0.1", "uselibpqcompat=true&sslmode=require"),
        ),
        (
            "require with the right CA, name in certificate",
            url("localhost", &format!("sslmode=require&sslrootcert={ca}")),
        ),
        (
            "ssl=true with the right CA",
            url("localhost", &format!("ssl=true&sslrootcert={ca}")),
        ),
        (
            "libpq verify-ca, name not in certificate",
            url(
                "127.0.0.1",
                &format!("uselibpqcompat=true&sslmode=verify-ca&sslrootcert={ca}"),
            ),
        ),
        (
            "libpq require with sslrootcert checks the chain only",
            url(
                "127.0.0.1",
                &format!("uselibpqcompat=true&sslmode=require&sslrootcert={ca}"),
            ),
        ),
    ] {
        assert_uses_tls(what, &url).await;
    }

    for (what, url, expect) in [
        (
            "no TLS parameter: no TLS, as node-postgres",
            url("localhost", ""),
            "the server requires TLS: its pg_hba.conf rejects connections without encryption",
        ),
        (
            "disable",
            url("localhost", "sslmode=disable"),
            "the server requires TLS",
        ),
        (
            "require verifies against the default CAs",
            url("localhost", "sslmode=require"),
            &format!(
                "unknown certificate authority (trusted: the {} Mozilla CAs of webpki-roots, plus any in NODE_EXTRA_CA_CERTS",
                webpki_roots::TLS_SERVER_ROOTS.len()
            ),
        ),
        (
            "verify-full with the wrong CA",
            url(
                "localhost",
                &format!("sslmode=verify-full&sslrootcert={wrong_ca}"),
            ),
            "unknown certificate authority (trusted: the CAs in sslrootcert",
        ),
        (
            "require with a name not in the certificate",
            url("127.0.0.1", &format!("sslmode=require&sslrootcert={ca}")),
            "wrong host name: the server's certificate is not for \"127.0.0.1\"",
        ),
        (
            "libpq verify-ca with the wrong CA",
            url(
                "127.0.0.1",
                &format!("uselibpqcompat=true&sslmode=verify-ca&sslrootcert={wrong_ca}"),
            ),
            "unknown certificate authority",
        ),
        (
            "wrong password",
            format!(
                "postgresql://{USER}:{PASSWORD_IN_URL}x@localhost:{}/postgres?sslmode=no-verify",
                server.port
            ),
            "password authentication failed",
        ),
    ] {
        assert_refused(what, &url, expect).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unix_socket_schema_and_application_name() {
    let server = Server::start(&support::server_binaries()[0], true);
    let target = ConnectionTarget::parse(&server.socket_url("")).unwrap();
    let client = target.connect().await.unwrap();
    client
        .batch_execute(r#"CREATE SCHEMA "Key ""Rotate"""; CREATE SCHEMA other"#)
        .await
        .unwrap();

    // (URL query, the target's schema, application_name). The session's
    // search_path stays as the server has it: nothing session-level may
    // outlive a run on a connection a pooler shares, so every statement
    // names its schema instead.
    for (query, schema, app) in [
        ("schema=Key%20%22Rotate%22", "Key \"Rotate\"", "keyrotate"),
        (
            "schema=other&application_name=ops+rotation",
            "other",
            "ops rotation",
        ),
    ] {
        let target = ConnectionTarget::parse(&server.socket_url(query)).unwrap();
        assert_eq!(target.schema(), schema);
        let client = target.connect().await.unwrap();
        let row = client
            .query_one(
                "SELECT current_schema(), current_setting('application_name')",
                &[],
            )
            .await
            .unwrap();
        assert_eq!(row.get::<_, String>(0), "public");
        assert_eq!(row.get::<_, String>(1), app);
    }

    let target = ConnectionTarget::parse(&server.socket_url("schema=missing")).unwrap();
    let err = target.connect().await.unwrap_err();
    assert_eq!(err.code(), "ERR_DB_CONNECT", "{err}");
    assert!(
        err.to_string().contains("\"missing\" does not exist"),
        "{err}"
    );
}

async fn assert_uses_tls(what: &str, url: &str) {
    let target = ConnectionTarget::parse(url).unwrap();
    let client = match target.connect().await {
        Ok(client) => client,
        Err(e) => panic!("{what}: {e}"),
    };
    let row = client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap();
    assert!(row.get::<_, bool>(0), "{what}: connected without TLS");
}

async fn assert_refused(what: &str, url: &str, expect: &str) {
    let target = ConnectionTarget::parse(url).unwrap();
    match target.connect().await {
        Ok(_) => panic!("{what}: connected"),
        Err(e @ Error::DbConnect { .. }) => {
            let text = format!("{e} {e:?}");
            assert!(text.contains(expect), "{what}: {text}");
            assert!(text.contains("/postgres:"), "{what}: no database in {text}");
            assert!(!text.contains(PASSWORD), "{what}: {text}");
            assert!(!text.contains(PASSWORD_IN_URL), "{what}: {text}");
        }
        Err(other) => panic!("{what}: expected DbConnect, got {other:?}"),
    }
}
