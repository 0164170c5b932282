//! URL reading, part by part, against what pg-connection-string does.

use super::*;

const SECRET: &str = "Zq9-Unmistakable-Secret";

/// A machine with the given sockets and OS user.
struct Fake {
    sockets: &'static [&'static str],
    user: Option<&'static str>,
}

impl Machine for Fake {
    fn has_socket(&self, path: &Path) -> bool {
        self.sockets.iter().any(|s| Path::new(s) == path)
    }

    fn user_name(&self) -> Option<String> {
        self.user.map(str::to_owned)
    }
}

const NO_SOCKETS: Fake = Fake {
    sockets: &[],
    user: Some("osuser"),
};

fn parse(url: &str) -> ConnectionTarget {
    parse_on(url, &NO_SOCKETS).unwrap_or_else(|e| panic!("{url} should parse: {e}"))
}

fn parse_err(url: &str) -> String {
    match parse_on(url, &NO_SOCKETS) {
        Ok(target) => panic!("{url} should not parse, got {target:?}"),
        Err(e @ Error::InvalidArgument { .. }) => {
            let text = format!("{e} {e:?}");
            assert!(!text.contains(SECRET), "{text}");
            text
        }
        Err(other) => panic!("{url}: expected InvalidArgument, got {other:?}"),
    }
}

fn password(target: &ConnectionTarget) -> Option<&[u8]> {
    target.password.as_ref().map(|p| p.as_slice())
}

#[test]
fn reads_the_backends_prisma_url() {
    let t = parse(&format!(
        "postgresql://amcp:{SECRET}@postgres:5432/anythingmcp?schema=public"
    ));
    assert_eq!(t.host, Host::Tcp("postgres".into()));
    assert_eq!(t.port, 5432);
    assert_eq!(t.user, "amcp");
    assert_eq!(password(&t), Some(SECRET.as_bytes()));
    assert_eq!(t.database(), "anythingmcp");
    assert_eq!(t.schema(), "public");
    assert_eq!(t.describe(), "postgres:5432/anythingmcp");
    assert_eq!(t.host(), "postgres");
    assert_eq!(t.application_name, "keyrotate");
    assert_eq!(t.connect_timeout, Some(Duration::from_secs(10)));
    assert_eq!(t.tls, None, "no sslmode or ssl: no TLS, as node-postgres");
    assert!(t.notices().is_empty(), "{:?}", t.notices());
}

#[test]
fn accepts_both_schemes_in_any_case() {
    for url in [
        "postgres://u@h/db",
        "postgresql://u@h/db",
        "POSTGRES://u@h/db",
        "  postgresql://u@h/db\n",
    ] {
        assert_eq!(parse(url).describe(), "h:5432/db", "{url}");
    }
}

#[test]
fn rejects_other_schemes() {
    for url in [
        "mysql://u@h/db",
        "",
        "h/db",
        "postgres:/h/db",
        "postgres:h/db",
        &format!("{SECRET}://u@h/db"),
    ] {
        assert!(
            parse_err(url).contains("must start with postgres://"),
            "{url}"
        );
    }
}

#[test]
fn decodes_user_and_password() {
    let t = parse("postgres://us%40er%3A:p%40ss%2Fw%3Ard%25%3F%23%20@h/db");
    assert_eq!(t.user, "us@er:");
    assert_eq!(password(&t), Some(&b"p@ss/w:rd%?# "[..]));

    let t = parse("postgres://u:p@ss:w@h/db");
    assert_eq!(
        password(&t),
        Some(&b"p@ss:w"[..]),
        "last '@' ends the user info"
    );

    let t = parse("postgres://u:%FF%FE@h/db");
    assert_eq!(
        password(&t),
        Some(&[0xff, 0xfe][..]),
        "a password may be any bytes"
    );

    let t = parse("postgres://u:@h/db");
    assert_eq!(password(&t), None);
    let t = parse("postgres://:pw@h/db");
    assert_eq!(t.user, "osuser");
    assert_eq!(password(&t), Some(&b"pw"[..]));
}

#[test]
fn ports() {
    assert_eq!(parse("postgres://u@h/db").port, 5432);
    assert_eq!(parse("postgres://u@h:/db").port, 5432);
    assert_eq!(parse("postgres://u@h:6543/db").port, 6543);
    assert_eq!(parse("postgres://u@h:1/db?port=7000").port, 7000);
    assert_eq!(parse("postgres://u@h:6543/db?port=").port, 6543);
    for url in [
        "postgres://u@h:abc/db",
        "postgres://u@h:0/db",
        "postgres://u@h:65536/db",
        "postgres://u@h:+5/db",
        "postgres://u@h:5432:1/db",
    ] {
        assert!(parse_err(url).contains("port"), "{url}");
    }
    assert!(parse_err("postgres://u@h/db?port=x1").contains("\"x1\""));
}

#[test]
fn ipv6_hosts() {
    let t = parse("postgres://u@[::1]:6543/db");
    assert_eq!(t.host, Host::Tcp("::1".into()));
    assert_eq!(t.host(), "::1");
    assert_eq!(t.describe(), "[::1]:6543/db");
    assert_eq!(parse("postgres://u@[2001:db8::5]/db").port, 5432);
    assert_eq!(
        parse("postgres://u@h/db?host=::1").describe(),
        "[::1]:5432/db"
    );
    assert!(parse_err("postgres://u@[::1/db").contains("']'"));
    assert!(parse_err("postgres://u@[nope]:5432/db").contains("IPv6"));
    assert!(parse_err("postgres://u@[::1]x/db").contains("']'"));
}

#[test]
fn unix_sockets() {
    let t = parse("postgres://u@/db?host=/var/run/postgresql");
    assert_eq!(t.host, Host::Unix("/var/run/postgresql".into()));
    assert_eq!(t.host(), "/var/run/postgresql");
    assert_eq!(t.describe(), "/var/run/postgresql:5432/db");

    let t = parse("postgresql://u:pw@%2Fvar%2Frun%2Fpostgresql:6000/db");
    assert_eq!(t.host, Host::Unix("/var/run/postgresql".into()));
    assert_eq!(t.describe(), "/var/run/postgresql:6000/db");

    let t = parse("postgres://u@h/db?host=%2Ftmp");
    assert_eq!(
        t.host,
        Host::Unix("/tmp".into()),
        "the query overrides the URL"
    );
}

#[test]
fn tls_over_a_unix_socket_is_refused() {
    for query in [
        "sslmode=require",
        "ssl=true",
        "sslmode=no-verify",
        "sslrootcert=/ca.pem",
    ] {
        let err = parse_err(&format!("postgres://u@/db?host=/tmp&{query}"));
        assert!(err.contains("Unix socket"), "{query}: {err}");
    }
    let t = parse("postgres://u@/db?host=/tmp&sslmode=disable");
    assert_eq!(t.tls, None);
    assert!(t.notices().is_empty(), "{:?}", t.notices());
}

#[test]
fn no_host_with_tls_is_localhost_as_in_node_postgres() {
    let local = Fake {
        sockets: &["/var/run/postgresql/.s.PGSQL.5432"],
        user: Some("osuser"),
    };
    let t = parse_on("postgres:///db?sslmode=verify-full", &local).unwrap();
    assert_eq!(t.host, Host::Tcp("localhost".into()));
    assert_eq!(
        t.notices(),
        ["no host in the database URL; using localhost"]
    );
    let t = parse_on("postgres:///db", &local).unwrap();
    assert_eq!(t.host, Host::Unix("/var/run/postgresql".into()));
}

#[test]
fn missing_host_prefers_a_local_socket() {
    let both = Fake {
        sockets: &["/var/run/postgresql/.s.PGSQL.5432", "/tmp/.s.PGSQL.5432"],
        user: Some("osuser"),
    };
    let t = parse_on("postgres:///db", &both).unwrap();
    assert_eq!(t.host, Host::Unix("/var/run/postgresql".into()));
    assert!(t.notices()[0].contains("/var/run/postgresql"));

    let tmp_only = Fake {
        sockets: &["/tmp/.s.PGSQL.6000"],
        user: Some("osuser"),
    };
    let t = parse_on("postgres://u@:6000/db", &tmp_only).unwrap();
    assert_eq!(t.host, Host::Unix("/tmp".into()));
    let t = parse_on("postgres://u@/db", &tmp_only).unwrap();
    assert_eq!(
        t.host,
        Host::Tcp("localhost".into()),
        "the socket is for another port"
    );
    assert!(t.notices()[0].contains("localhost"));
    assert_eq!(t.describe(), "localhost:5432/db");
}

#[test]
fn user_and_database_default_like_libpq() {
    let t = parse("postgresql://");
    assert_eq!(t.user, "osuser");
    assert_eq!(t.database(), "osuser");
    assert_eq!(parse("postgresql://h").database(), "osuser");
    assert_eq!(parse("postgresql://ann@h").database(), "ann");
    let nobody = Fake {
        sockets: &[],
        user: None,
    };
    let err = parse_on("postgres://h/db", &nobody).unwrap_err();
    assert_eq!(err.code(), "ERR_INVALID_ARG");
    assert!(err.to_string().contains("no user"));
}

#[test]
fn query_overrides_user_password_host_and_port_not_database() {
    let t = parse(&format!(
        "postgres://a:b@h:1/one?user=c%20d&password={SECRET}%21&host=other&port=6000&dbname=two&database=three"
    ));
    assert_eq!(t.user, "c d");
    assert_eq!(password(&t), Some(format!("{SECRET}!").as_bytes()));
    assert_eq!(t.describe(), "other:6000/one");
    assert!(t.notices()[0]
        .contains("ignoring dbname: node-postgres takes the database name from the URL's path"));
    assert!(t.notices()[1].starts_with("ignoring database:"));
    let t = parse("postgres://a:b@h:1/one?user=&password=&host=&port=");
    assert_eq!(
        (t.user.as_str(), password(&t), t.describe().as_str()),
        ("a", Some(&b"b"[..]), "h:1/one"),
        "empty values mean 'not given'"
    );
}

#[test]
fn the_last_occurrence_of_a_parameter_wins() {
    let t = parse("postgres://u@h/db?schema=a&schema=b&port=1&port=2");
    assert_eq!((t.schema(), t.port), ("b", 2));
    assert_eq!(
        parse("postgres://u@h/db?schema=a&schema=").schema(),
        "public"
    );
    assert_eq!(
        parse("postgres://u@h/db?sslmode=require&sslmode=").tls,
        None
    );
}

#[test]
fn decoding_follows_node_postgres_part_by_part() {
    // Query values are form-encoded: '+' is a space, %2B a plus.
    let t = parse("postgres://u+1:p+w@h/db?application_name=a+b%2Bc&schema=s+t");
    assert_eq!(t.application_name, "a b+c");
    assert_eq!(t.schema(), "s t");
    // In the user info '+' is itself.
    assert_eq!(t.user, "u+1");
    assert_eq!(password(&t), Some(&b"p+w"[..]));
    // The path is decoded with decodeURI: reserved escapes stay.
    assert_eq!(
        parse("postgres://u@h/my%20db%2Fx%3F%40").database(),
        "my db%2Fx%3F%40"
    );
    assert_eq!(parse("postgres://u@h/caf%C3%A9+1").database(), "café+1");
}

#[test]
fn schema() {
    assert_eq!(parse("postgres://u@h/db").schema(), "public");
    assert_eq!(parse("postgres://u@h/db?schema=").schema(), "public");
    assert_eq!(
        parse("postgres://u@h/db?schema=My%20%22Schema%22").schema(),
        "My \"Schema\""
    );
}

#[test]
fn application_name_options_and_timeout() {
    let t = parse(
        "postgres://u@h/db?application_name=rotator&options=-c%20work_mem%3D64MB&connect_timeout=3",
    );
    assert_eq!(t.application_name, "rotator");
    assert_eq!(t.options.as_deref(), Some("-c work_mem=64MB"));
    assert_eq!(t.connect_timeout, Some(Duration::from_secs(3)));
    assert_eq!(
        parse("postgres://u@h/db?connect_timeout=0").connect_timeout,
        None
    );
    assert_eq!(
        parse("postgres://u@h/db?connect_timeout=-1").connect_timeout,
        None
    );
    assert!(parse_err("postgres://u@h/db?connect_timeout=2.5").contains("connect_timeout"));
    let t = parse("postgres://u@h/db?application_name=");
    assert_eq!(t.application_name, "keyrotate");
}

#[test]
fn tls_parameters_reach_the_tls_reading() {
    let t = parse("postgres://u@h/db?sslmode=verify%2Dfull&sslrootcert=%2Fetc%2Fca+1.pem");
    let tls = t.tls.as_ref().unwrap();
    assert_eq!(tls.check, tls::Check::ChainAndName);
    assert_eq!(tls.rootcert.as_deref(), Some(Path::new("/etc/ca 1.pem")));
    assert!(t.notices().is_empty(), "{:?}", t.notices());
    let t = parse("postgres://u@h/db?uselibpqcompat=true&sslmode=require");
    assert_eq!(t.tls.unwrap().check, tls::Check::Nothing);
    let err = parse_err("postgres://u@h/db?sslmode=verify_full");
    assert!(err.contains("unknown sslmode \"verify_full\""), "{err}");
    let err = parse_err("postgres://u@h/db?sslmode=allow");
    assert!(err.contains("unknown sslmode \"allow\""), "{err}");
    let err = parse_err("postgres://u@h:6000/db?sslmode=allow");
    assert!(
        err.contains("(database h:6000/db)"),
        "TLS refusals name the server: {err}"
    );
    let err = parse_err("postgres://u@/db?host=/tmp&ssl=1");
    assert!(err.contains("(database /tmp:5432/db)"), "{err}");
}

#[test]
fn prisma_and_unknown_parameters_are_noticed_not_fatal() {
    let t = parse(
        "postgresql://u@h/db?schema=s&connection_limit=5&pool_timeout=10&pgbouncer=true\
         &socket_timeout=3&statement_cache_size=0&sslaccept=strict\
         &sslidentity=id.p12&sslpassword=x&connect_timeout=5&target_session_attrs=any\
         &flag&we%24rd=1&bad=%zz",
    );
    assert_eq!(t.schema(), "s");
    assert_eq!(t.connect_timeout, Some(Duration::from_secs(5)));
    let notices = t.notices().join("\n");
    for name in [
        "connection_limit",
        "pool_timeout",
        "socket_timeout",
        "statement_cache_size",
        "sslaccept",
        "sslidentity",
        "sslpassword",
    ] {
        assert!(
            notices.contains(&format!("ignoring Prisma-only parameter {name}")),
            "{name}: {notices}"
        );
    }
    assert!(notices.contains("pgbouncer; connect keyrotate to PostgreSQL directly"));
    assert!(notices.contains("ignoring unsupported parameter target_session_attrs"));
    assert!(notices.contains("ignoring unsupported parameter bad"));
    assert!(notices.contains("without '='"));
    assert!(notices.contains("unusual name"));
    assert!(!notices.contains("we$rd"));
    assert_eq!(t.notices().len(), 12, "{notices}");
}

#[test]
fn fragments_and_several_hosts() {
    let t = parse("postgres://u@h/db#frag");
    assert_eq!(t.database(), "db");
    assert_eq!(t.notices(), ["ignoring the URL's #fragment"]);
    assert!(parse_err("postgres://u@h1,h2/db").contains("several hosts"));
    assert!(parse_err("postgres://u@h/db?host=h1,h2").contains("several hosts"));
}

#[test]
fn malformed_urls_never_show_the_password() {
    for url in [
        format!("postgres://u:{SECRET}%zz@h/db"),
        format!("postgres://u:{SECRET}%2@h/db"),
        format!("postgres://u:{SECRET}%00@h/db"),
        format!("postgres://u:{SECRET}@h:port/db"),
        format!("postgres://u:{SECRET}@h:99999/db"),
        format!("postgres://u:{SECRET}@[::1/db"),
        format!("postgres://u:{SECRET}@h1,h2/db"),
        format!("postgres://u:{SECRET}@h/db%zz"),
        format!("postgres://u:{SECRET}@h/db?sslmode=bogus"),
        format!("postgres://u:{SECRET}@h/db?connect_timeout=soon"),
        format!("postgres://u@h/db?password={SECRET}%"),
        format!("postgres://u:{SECRET}@h/db?uselibpqcompat=true&sslmode=verify-ca"),
        format!("postgres://u:{SECRET}@h/db?sslcert=/c.pem"),
        format!("postgres://u:{SECRET}@/db?host=/tmp&sslmode=require"),
        format!("mysql://u:{SECRET}@h/db"),
        format!("postgres//u:{SECRET}@h/db"),
        // Unencoded '/', '?' or '#' split the password into host and port.
        format!("postgres://u:{SECRET}/x@h/db"),
        format!("postgres://u:{SECRET}?x@h/db"),
        format!("postgres://u:{SECRET}#x@h/db"),
        format!("postgres://u:12/{SECRET}@h/db"),
    ] {
        parse_err(&url);
    }
    let err = parse_err(&format!("postgres://u:{SECRET}/x@h/db"));
    assert!(err.contains("percent-encode"), "{err}");
    let err = parse_err(&format!("postgres://u:12/{SECRET}@h/db"));
    assert!(err.contains("'@' after the host"), "{err}");
}

#[test]
fn bad_percent_encoding_names_the_component() {
    assert!(parse_err("postgres://u%zz@h/db").contains("user name"));
    assert!(parse_err("postgres://u:%@h/db").contains("password"));
    assert!(parse_err("postgres://u@h%zz/db").contains("host"));
    assert!(parse_err("postgres://u@h/d%4").contains("database name"));
    assert!(parse_err("postgres://u@h/db?schema=%g0").contains("schema"));
    assert!(parse_err("postgres://u@h/%FF").contains("UTF-8"));
    assert!(parse_err("postgres://u@h/db?sslrootcert=%zz").contains("sslrootcert"));
}

#[test]
fn the_password_is_in_no_description() {
    let t = parse(&format!(
        "postgres://someone:{SECRET}@db.example:5433/app?password={SECRET}"
    ));
    let shown = format!("{} {:?} {}", t.describe(), t, t.notices().join(" "));
    assert!(!shown.contains(SECRET), "{shown}");
    assert!(format!("{t:?}").contains("password: Some(\"<redacted>\")"));
    assert!(!t.describe().contains("someone"));
}

#[test]
fn a_parameter_value_is_repeated_only_when_it_has_the_shape_of_a_name() {
    let key = "Zm9vYmFy+c2VjcmV0/a2V5=";
    for param in ["port", "connect_timeout"] {
        let err = parse_err(&format!("postgres://u@h/db?{param}={key}"));
        assert!(!err.contains("Zm9vYmFy"), "{err}");
        assert!(err.contains(param), "{err}");
        let err = parse_err(&format!("postgres://u@h/db?{param}=soon"));
        assert!(err.contains("\"soon\""), "{err}");
    }
}
