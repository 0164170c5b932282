//! `sslmode` against a real PostgreSQL server that accepts TLS connections
//! only, with a certificate from a throwaway CA for DNS name `localhost`.
//!
//! The server is started here from PostgreSQL's own binaries: the newest
//! `/usr/lib/postgresql/*/bin` (Debian's `postgresql` package), or the
//! directory in `KEYROTATE_PG_BIN`. PostgreSQL refuses to run as root, so as
//! root every server command runs as the `postgres` user via `runuser`.

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use keyrotate_core::connection::ConnectionTarget;
use keyrotate_core::Error;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

const USER: &str = "keyrotate";
/// Exercises percent-decoding of every character a URL gives meaning to.
const PASSWORD: &str = "p@ss/w:rd%?#&=+ Zq9";
const PASSWORD_IN_URL: &str = "p%40ss%2Fw%3Ard%25%3F%23%26%3D+%20Zq9";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmodes_against_a_server_that_requires_tls() {
    let server = Server::start();
    let ca = server.file("ca.pem");
    let wrong_ca = server.file("wrong-ca.pem");
    let url = |host: &str, query: &str| {
        format!(
            "postgresql://{USER}:{PASSWORD_IN_URL}@{host}:{}/postgres?{query}",
            server.port
        )
    };

    for (what, url) in [
        ("require", url("localhost", "sslmode=require")),
        ("prefer", url("localhost", "sslmode=prefer")),
        ("no sslmode (prefer)", url("localhost", "")),
        (
            "verify-full, right CA, name in certificate",
            url(
                "localhost",
                &format!("sslmode=verify-full&sslrootcert={ca}"),
            ),
        ),
        (
            "verify-ca, right CA, name not in certificate",
            url("127.0.0.1", &format!("sslmode=verify-ca&sslrootcert={ca}")),
        ),
        (
            "require with sslrootcert checks the chain only",
            url("127.0.0.1", &format!("sslmode=require&sslrootcert={ca}")),
        ),
    ] {
        assert_uses_tls(what, &url).await;
    }

    for (what, url, expect) in [
        (
            "disable against a TLS-only server",
            url("localhost", "sslmode=disable"),
            "no encryption",
        ),
        (
            "verify-full with the wrong CA",
            url(
                "localhost",
                &format!("sslmode=verify-full&sslrootcert={wrong_ca}"),
            ),
            "UnknownIssuer",
        ),
        (
            "verify-full with a name not in the certificate",
            url(
                "127.0.0.1",
                &format!("sslmode=verify-full&sslrootcert={ca}"),
            ),
            "not valid for name",
        ),
        (
            "verify-ca with the wrong CA",
            url(
                "127.0.0.1",
                &format!("sslmode=verify-ca&sslrootcert={wrong_ca}"),
            ),
            "UnknownIssuer",
        ),
        (
            "require with the wrong sslrootcert",
            url(
                "localhost",
                &format!("sslmode=require&sslrootcert={wrong_ca}"),
            ),
            "UnknownIssuer",
        ),
        (
            "wrong password",
            format!(
                "postgresql://{USER}:{PASSWORD_IN_URL}x@localhost:{}/postgres?sslmode=require",
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
    let server = Server::start();
    let socket_url = |query: &str| {
        format!(
            "postgresql://{USER}@/postgres?host={}&port={}&{query}",
            server.socket_dir.display(),
            server.port
        )
    };

    // libpq never uses TLS on a Unix socket, even when sslmode asks for it.
    let target = ConnectionTarget::parse(&socket_url("sslmode=require")).unwrap();
    let client = target.connect().await.unwrap();
    client
        .batch_execute(r#"CREATE SCHEMA "Key ""Rotate"""; CREATE SCHEMA other"#)
        .await
        .unwrap();

    // (URL query, schema both the target and the session report, application_name)
    for (query, schema, app) in [
        ("schema=Key%20%22Rotate%22", "Key \"Rotate\"", "keyrotate"),
        (
            "schema=other&application_name=ops%20rotation",
            "other",
            "ops rotation",
        ),
    ] {
        let target = ConnectionTarget::parse(&socket_url(query)).unwrap();
        assert_eq!(target.schema(), schema);
        let client = target.connect().await.unwrap();
        let row = client
            .query_one(
                "SELECT current_schema(), current_setting('application_name')",
                &[],
            )
            .await
            .unwrap();
        assert_eq!(row.get::<_, String>(0), schema);
        assert_eq!(row.get::<_, String>(1), app);
    }

    let target = ConnectionTarget::parse(&socket_url("schema=missing")).unwrap();
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
            assert!(!text.contains(PASSWORD), "{what}: {text}");
            assert!(!text.contains(PASSWORD_IN_URL), "{what}: {text}");
        }
        Err(other) => panic!("{what}: expected DbConnect, got {other:?}"),
    }
}

/// A PostgreSQL cluster in a temporary directory, stopped on drop.
struct Server {
    dir: tempfile::TempDir,
    bin: PathBuf,
    as_postgres: bool,
    port: u16,
    socket_dir: PathBuf,
}

impl Server {
    fn start() -> Server {
        let bin = server_binaries();
        let as_postgres = run(Command::new("id").arg("-u")).trim() == "0";
        // The postgres user must reach the directory; $TMPDIR may be private
        // to root.
        let parent = match as_postgres {
            true => PathBuf::from("/tmp"),
            false => std::env::temp_dir(),
        };
        let dir = tempfile::Builder::new()
            .prefix("keyrotate-tls-")
            .tempdir_in(parent)
            .unwrap();
        let port = free_port();
        let server = Server {
            socket_dir: dir.path().join("socket"),
            dir,
            bin,
            as_postgres,
            port,
        };
        server.write_certificates();
        fs::create_dir(&server.socket_dir).unwrap();
        fs::write(server.path("pwfile"), PASSWORD).unwrap();
        server.hand_to_postgres();

        server.run_pg(
            "initdb",
            &[
                "-D",
                &server.file("data"),
                "-U",
                USER,
                "--pwfile",
                &server.file("pwfile"),
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        append(
            &server.path("data/postgresql.conf"),
            &format!(
                "port = {port}\nlisten_addresses = 'localhost'\nunix_socket_directories = '{}'\n\
                 ssl = on\nssl_cert_file = '{}'\nssl_key_file = '{}'\nfsync = off\n",
                server.socket_dir.display(),
                server.file("server.pem"),
                server.file("server.key"),
            ),
        );
        // Replace the generated rules: TCP connections must use TLS.
        fs::write(
            server.path("data/pg_hba.conf"),
            "local all all trust\n\
             hostssl all all 127.0.0.1/32 scram-sha-256\n\
             hostssl all all ::1/128 scram-sha-256\n",
        )
        .unwrap();
        let log = server.file("server.log");
        let output = server
            .pg_command("pg_ctl")
            .args([
                "start",
                "-w",
                "-t",
                "20",
                "-D",
                &server.file("data"),
                "-l",
                &log,
            ])
            .output()
            .unwrap();
        if !output.status.success() {
            panic!(
                "pg_ctl start failed: {}\n{}\nserver log:\n{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr),
                fs::read_to_string(&log).unwrap_or_default()
            );
        }
        server
    }

    fn write_certificates(&self) {
        let ca = certificate_authority("keyrotate test CA");
        let wrong_ca = certificate_authority("some other CA");
        let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &ca).unwrap();
        fs::write(self.path("ca.pem"), ca.pem()).unwrap();
        fs::write(self.path("wrong-ca.pem"), wrong_ca.pem()).unwrap();
        fs::write(self.path("server.pem"), cert.pem()).unwrap();
        fs::write(self.path("server.key"), key.serialize_pem()).unwrap();
        // PostgreSQL refuses a key that others can read.
        set_mode(&self.path("server.key"), 0o600);
    }

    fn hand_to_postgres(&self) {
        if self.as_postgres {
            run(Command::new("chown")
                .arg("-R")
                .arg("postgres:")
                .arg(self.dir.path()));
        }
    }

    fn pg_command(&self, tool: &str) -> Command {
        let program = self.bin.join(tool);
        if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }

    fn run_pg(&self, tool: &str, args: &[&str]) {
        run(self.pg_command(tool).args(args));
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn file(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Best effort: a failed stop must not hide the test's own failure.
        let _ = self
            .pg_command("pg_ctl")
            .args(["stop", "-m", "immediate", "-D", &self.file("data")])
            .output();
    }
}

fn certificate_authority(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

fn server_binaries() -> PathBuf {
    let chosen = std::env::var_os("KEYROTATE_PG_BIN")
        .map(PathBuf::from)
        .or_else(|| {
            let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
                .ok()?
                .filter_map(|entry| {
                    let entry = entry.ok()?;
                    let version = entry.file_name().to_str()?.parse().ok()?;
                    Some((version, entry.path().join("bin")))
                })
                .collect();
            versions.sort();
            versions.pop().map(|(_, bin)| bin)
        });
    match chosen {
        Some(bin) if bin.join("initdb").exists() && bin.join("pg_ctl").exists() => bin,
        _ => panic!(
            "PostgreSQL server binaries (initdb, pg_ctl) not found: install them \
             (Debian: apt-get install -y postgresql) or set KEYROTATE_PG_BIN to their directory"
        ),
    }
}

/// Asks the kernel for a free port. Another process could take it before
/// the server binds it, which pg_ctl would report.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn run(command: &mut Command) -> String {
    let Output {
        status,
        stdout,
        stderr,
    } = command
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(
        status.success(),
        "{command:?} failed: {}\n{}",
        String::from_utf8_lossy(&stdout),
        String::from_utf8_lossy(&stderr)
    );
    String::from_utf8_lossy(&stdout).into_owned()
}

fn append(path: &Path, text: &str) {
    use std::io::Write;
    let mut file = fs::OpenOptions::new().append(true).open(path).unwrap();
    file.write_all(text.as_bytes()).unwrap();
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}
