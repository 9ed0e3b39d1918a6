//! TLS in the process (`Config::with_tls`), over loopback with curl, `openssl s_client` and
//! a Rust client (rustls, and ureq on it): TLS 1.2 and 1.3, ALPN, SNI, a client that does
//! not trust the certificate, a client that stalls mid-handshake while others are served,
//! the per-shard handshake cap, plain HTTP on the TLS port, and certificate reloads.
//!
//! The certificates are made at test time with rcgen (a CA, and one leaf per name) into a
//! temporary directory. Needs curl and openssl (tests/run.sh installs them).

// The examples include examples/common/cli.rs themselves, as tests/common does.
#![allow(clippy::duplicate_mod)]

mod common;

#[path = "../examples/websocket.rs"]
#[allow(dead_code)]
mod websocket_example;

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use ringpin::{ServerHandle, TlsConfig};
use rustls::pki_types::{CertificateDer, ServerName};

/// Each live check's own bound: generous, the machine may be busy.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

/// A certificate authority and the files of the leaves it signed.
struct Pki {
    dir: PathBuf,
    ca_key: KeyPair,
    ca: rcgen::Certificate,
}

impl Pki {
    /// A new CA named `name` in a fresh temporary directory.
    fn new(name: &str) -> Pki {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "ringpin-tls-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("temp dir");
        let ca_key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let ca = params.self_signed(&ca_key).expect("CA certificate");
        fs::write(dir.join("ca.pem"), ca.pem()).expect("write CA");
        Pki { dir, ca_key, ca }
    }

    fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// Writes a leaf for `host` (common name `cn`) as `<file>.crt` and `<file>.key`;
    /// returns the two paths and the certificate's DER.
    fn leaf(&self, file: &str, host: &str, cn: &str) -> (PathBuf, PathBuf, Vec<u8>) {
        let key = KeyPair::generate().expect("leaf key");
        let mut params = CertificateParams::new(vec![host.to_string()]).expect("leaf params");
        params.distinguished_name.push(DnType::CommonName, cn);
        let cert = params
            .signed_by(&key, &self.ca, &self.ca_key)
            .expect("leaf certificate");
        let (crt, pem) = (
            self.dir.join(format!("{file}.crt")),
            self.dir.join(format!("{file}.key")),
        );
        // Written to a side file and renamed in, as a certificate manager does, so a poll
        // never reads half a file.
        for (path, text) in [(&crt, cert.pem()), (&pem, key.serialize_pem())] {
            let side = path.with_extension("new");
            fs::write(&side, text).expect("write leaf");
            fs::rename(&side, path).expect("rename leaf");
        }
        (crt, pem, cert.der().to_vec())
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// A server with TLS on `a.test` (the default certificate) and `b.test` (by SNI).
struct Served {
    pki: Pki,
    handle: ServerHandle,
    a_der: Vec<u8>,
    b_der: Vec<u8>,
}

fn serve(tune: impl FnOnce(TlsConfig) -> TlsConfig) -> Served {
    let pki = Pki::new("ringpin test CA");
    let (a_crt, a_key, a_der) = pki.leaf("a", "a.test", "a.test");
    let (b_crt, b_key, b_der) = pki.leaf("b", "b.test", "b.test");
    let tls = TlsConfig::from_pem_files(&a_crt, &a_key)
        .expect("default certificate loads")
        .with_sni("b.test", &b_crt, &b_key)
        .expect("SNI certificate loads");
    let config = common::test_config().with_cpus(vec![0]).with_tls(tune(tls));
    let handle = common::start_hello_with(config);
    Served {
        pki,
        handle,
        a_der,
        b_der,
    }
}

impl Served {
    fn port(&self) -> u16 {
        self.handle.addr().port()
    }

    fn counters(&self) -> ringpin::metrics::Counters {
        self.handle.metrics().snapshot().total.counters
    }

    /// Waits (the shards publish every 50 ms) until `check` holds on the counters.
    fn wait_for(&self, what: &str, check: impl Fn(&ringpin::metrics::Counters) -> bool) {
        let deadline = Instant::now() + CLIENT_TIMEOUT;
        while !check(&self.counters()) {
            assert!(Instant::now() < deadline, "{what}: {:?}", self.counters());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// curl against `name` (resolved to the server) with `args`; its output.
fn curl(served: &Served, name: &str, ca: &Path, args: &[&str]) -> Output {
    let port = served.port();
    Command::new("curl")
        .args(["-sS", "-v", "--max-time", "10", "--cacert"])
        .arg(ca)
        .args(["--resolve", &format!("{name}:{port}:127.0.0.1")])
        .args(args)
        .arg(format!("https://{name}:{port}/"))
        .stdin(Stdio::null())
        .output()
        .expect("curl runs (apt-get install curl)")
}

/// `openssl s_client` with `args`, its standard input closed after the handshake.
fn s_client(served: &Served, args: &[&str]) -> String {
    let output = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &format!("127.0.0.1:{}", served.port()),
        ])
        .arg("-CAfile")
        .arg(served.pki.ca_file())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("openssl runs (apt-get install openssl)");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A rustls client that trusts `ca`, offering `http/1.1` and the given versions.
fn client_config(
    ca: &Path,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).expect("CA file") {
        roots.add(cert.expect("CA PEM")).expect("CA certificate");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

/// One TLS connection with the Rust client: `GET /` to `name`; returns the certificate the
/// server showed, the version and ALPN agreed, and the response.
fn rust_get(
    addr: SocketAddr,
    name: &'static str,
    config: Arc<rustls::ClientConfig>,
) -> std::io::Result<(Vec<u8>, rustls::ProtocolVersion, Vec<u8>, String)> {
    rust_get_over(TcpStream::connect(addr)?, name, config)
}

/// [`rust_get`] over a stream already connected (and perhaps written to).
fn rust_get_over(
    tcp: TcpStream,
    name: &'static str,
    config: Arc<rustls::ClientConfig>,
) -> std::io::Result<(Vec<u8>, rustls::ProtocolVersion, Vec<u8>, String)> {
    tcp.set_read_timeout(Some(CLIENT_TIMEOUT))?;
    let conn = rustls::ClientConnection::new(config, ServerName::try_from(name).expect("name"))
        .map_err(std::io::Error::other)?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")?;
    let mut response = Vec::new();
    match tls.read_to_end(&mut response) {
        Ok(_) => {}
        // The server's close after its `close_notify` may reach rustls as an early end.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !response.is_empty() => {}
        Err(e) => return Err(e),
    }
    let cert = tls
        .conn
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.to_vec())
        .unwrap_or_default();
    let version = tls.conn.protocol_version().expect("version agreed");
    let alpn = tls.conn.alpn_protocol().unwrap_or_default().to_vec();
    Ok((
        cert,
        version,
        alpn,
        String::from_utf8_lossy(&response).into_owned(),
    ))
}

fn all_versions() -> Vec<&'static rustls::SupportedProtocolVersion> {
    vec![&rustls::version::TLS13, &rustls::version::TLS12]
}

#[test]
fn curl_speaks_tls_1_2_and_1_3_with_alpn_http_1_1() {
    let served = serve(|tls| tls);
    let ca = served.pki.ca_file();
    for (args, version) in [
        (&["--tlsv1.2", "--tls-max", "1.2"][..], "TLSv1.2"),
        (&["--tlsv1.3"][..], "TLSv1.3"),
    ] {
        let out = curl(&served, "a.test", &ca, args);
        let log = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "curl {args:?} failed: {log}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "Hello, World!");
        assert!(
            log.contains(&format!("SSL connection using {version}")),
            "{args:?}: {log}"
        );
        assert!(log.contains("ALPN: server accepted http/1.1"), "{log}");
    }
    served.wait_for("two handshakes counted", |c| c.tls_handshakes == 2);
}

#[test]
fn openssl_sees_alpn_and_the_certificate_of_each_sni_name() {
    let served = serve(|tls| tls);
    for (name, subject) in [("a.test", "CN = a.test"), ("b.test", "CN = b.test")] {
        let out = s_client(&served, &["-servername", name, "-alpn", "http/1.1"]);
        assert!(out.contains("ALPN protocol: http/1.1"), "{name}: {out}");
        assert!(out.contains(&format!("subject={subject}")), "{name}: {out}");
        assert!(out.contains("Verify return code: 0 (ok)"), "{name}: {out}");
    }
    // No SNI, or a name without a certificate of its own: the default one.
    for args in [&["-noservername"][..], &["-servername", "c.test"][..]] {
        let out = s_client(&served, args);
        assert!(out.contains("subject=CN = a.test"), "{args:?}: {out}");
    }
    // The Rust client sees the same, with each version it may ask for.
    let addr = served.handle.addr();
    for (versions, expected) in [
        (
            vec![&rustls::version::TLS12],
            rustls::ProtocolVersion::TLSv1_2,
        ),
        (
            vec![&rustls::version::TLS13],
            rustls::ProtocolVersion::TLSv1_3,
        ),
    ] {
        for (name, der) in [("a.test", &served.a_der), ("b.test", &served.b_der)] {
            let config = client_config(&served.pki.ca_file(), &versions);
            let (cert, version, alpn, response) = rust_get(addr, name, config).expect(name);
            assert_eq!(&cert, der, "{name} got another certificate");
            assert_eq!(version, expected);
            assert_eq!(alpn, b"http/1.1");
            assert!(response.starts_with("HTTP/1.1 200"), "{response}");
            assert!(response.ends_with("Hello, World!"), "{response}");
        }
    }
}

#[test]
fn a_client_that_does_not_trust_the_certificate_fails_and_others_are_served() {
    let served = serve(|tls| tls);
    let stranger = Pki::new("a stranger's CA");
    let out = curl(&served, "a.test", &stranger.ca_file(), &[]);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "curl must refuse the certificate");
    assert!(
        log.contains("unable to get local issuer certificate"),
        "curl must say why: {log}"
    );
    let config = client_config(&stranger.ca_file(), &all_versions());
    let refused = rust_get(served.handle.addr(), "a.test", config);
    assert!(refused.is_err(), "the Rust client must refuse it too");
    served.wait_for("the refusals counted", |c| c.tls_handshake_failures >= 2);
    let out = curl(&served, "a.test", &served.pki.ca_file(), &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Hello, World!");
}

#[test]
fn a_stalled_handshake_is_closed_at_its_timeout_while_others_are_served() {
    let served = serve(|tls| tls.with_handshake_timeout(Duration::from_secs(1)));
    let addr = served.handle.addr();
    // Half a ClientHello: a record header announcing 512 bytes, and ten of them.
    let mut stalled = TcpStream::connect(addr).expect("connect");
    stalled
        .write_all(&[
            0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, 0, 0, 0, 0,
        ])
        .expect("half a hello");
    let mut silent = TcpStream::connect(addr).expect("connect");
    let started = Instant::now();
    let agent = ureq_agent(&served);
    for i in 0..20 {
        let body = agent
            .get(&format!("https://a.test:{}/", served.port()))
            .call()
            .unwrap_or_else(|e| panic!("request {i} while a handshake stalls: {e}"))
            .into_string()
            .expect("body");
        assert_eq!(body, "Hello, World!");
    }
    for (name, stream) in [("stalled", &mut stalled), ("silent", &mut silent)] {
        stream
            .set_read_timeout(Some(CLIENT_TIMEOUT))
            .expect("timeout");
        let mut rest = Vec::new();
        let end = stream.read_to_end(&mut rest);
        assert!(
            end.is_ok() || end.is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset),
            "{name}: the server must close it"
        );
        assert!(
            rest.is_empty() || rest[0] == 0x15,
            "{name}: only an alert may come back"
        );
    }
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900),
        "closed after {waited:?}, before its timeout"
    );
    assert!(
        waited < Duration::from_secs(8),
        "closed only after {waited:?}"
    );
    served.wait_for("both counted as failed", |c| c.tls_handshake_failures >= 2);
}

#[test]
fn handshakes_over_the_shards_cap_are_refused_at_once() {
    let served = serve(|tls| {
        tls.with_max_handshakes_per_shard(1)
            .with_handshake_timeout(Duration::from_secs(2))
    });
    let addr = served.handle.addr();
    let holder = TcpStream::connect(addr).expect("connect");
    served.wait_for("one handshake in flight", |c| {
        c.tls_handshakes_in_flight == 1
    });
    let mut refused = TcpStream::connect(addr).expect("connect");
    refused
        .set_read_timeout(Some(CLIENT_TIMEOUT))
        .expect("timeout");
    let started = Instant::now();
    let mut rest = Vec::new();
    let _ = refused.read_to_end(&mut rest);
    assert!(rest.is_empty(), "a refused connection gets nothing");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "refused at once"
    );
    served.wait_for("the refusal counted", |c| c.tls_handshakes_refused == 1);
    drop(holder);
    served.wait_for("the place given back", |c| c.tls_handshakes_in_flight == 0);
    let config = client_config(&served.pki.ca_file(), &all_versions());
    let (_, _, _, response) = rust_get(addr, "a.test", config).expect("served again");
    assert!(response.ends_with("Hello, World!"), "{response}");
}

#[test]
fn plain_http_on_the_tls_port_gets_a_clear_400() {
    let served = serve(|tls| tls);
    let reply = common::exchange(served.handle.addr(), b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        .expect("a response in plain text");
    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.body_text(),
        "The plain HTTP request was sent to HTTPS port\n"
    );
    assert_eq!(reply.header("connection"), Some("close"));
    let out = curl(&served, "a.test", &served.pki.ca_file(), &[]);
    assert!(out.status.success(), "TLS still served after the refusal");
    served.wait_for("counted as a failed handshake", |c| {
        c.tls_handshake_failures == 1 && c.tls_handshakes == 1
    });
}

fn ureq_agent(served: &Served) -> ureq::Agent {
    let addr = served.handle.addr();
    ureq::AgentBuilder::new()
        .tls_config(client_config(&served.pki.ca_file(), &all_versions()))
        .resolver(move |_: &str| Ok(vec![addr]))
        .timeout(CLIENT_TIMEOUT)
        .build()
}

#[test]
fn the_rust_client_keeps_one_connection_alive_for_many_requests() {
    let served = serve(|tls| tls);
    let agent = ureq_agent(&served);
    let base = format!("https://a.test:{}", served.port());
    for i in 0..50 {
        let body = agent
            .get(&format!("{base}/"))
            .call()
            .unwrap_or_else(|e| panic!("request {i}: {e}"))
            .into_string()
            .expect("body");
        assert_eq!(body, "Hello, World!");
    }
    // A body of many records, both ways.
    let big: String = (0..100_000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let echoed = agent
        .post(&format!("{base}/echo"))
        .send_string(&big)
        .expect("echo")
        .into_string()
        .expect("echoed body");
    assert!(
        echoed == big,
        "the echo differs ({} bytes back)",
        echoed.len()
    );
    served.wait_for("one connection, one handshake, 51 requests", |c| {
        c.connections_opened == 1 && c.tls_handshakes == 1 && c.requests() == 51
    });
    let text = served.handle.metrics().render_prometheus();
    assert!(
        text.contains("ringpin_tls_info{ktls=\"no\"} 1")
            || text.contains("ringpin_tls_info{ktls=\"available\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("ringpin_tls_handshakes_total{shard=\"0\"} 1"),
        "{text}"
    );
}

#[test]
fn certificates_reload_on_request_and_on_file_change() {
    let served = serve(|tls| tls.with_reload_poll(Some(Duration::from_millis(200))));
    let addr = served.handle.addr();
    let ca = served.pki.ca_file();
    let seen = |name: &'static str| {
        rust_get(addr, name, client_config(&ca, &all_versions()))
            .expect("handshake")
            .0
    };
    assert_eq!(seen("a.test"), served.a_der);
    // Replaced on disk: the poll sees the new modification time and loads it.
    let (_, _, second) = served.pki.leaf("a", "a.test", "a.test second");
    common::wait_until(
        CLIENT_TIMEOUT,
        Duration::from_millis(100),
        "the file change was not picked up",
        || seen("a.test") == second,
    );
    // A broken file: the reload fails and the certificate in use stays.
    fs::write(served.pki.dir.join("b.crt"), "not a certificate").expect("break b");
    assert!(
        served.handle.reload_tls().is_err(),
        "a broken file must fail the reload"
    );
    assert_eq!(seen("b.test"), served.b_der, "the old certificate stays");
    // Fixed, and reloaded on request.
    let (_, _, third) = served.pki.leaf("b", "b.test", "b.test third");
    served.handle.reload_tls().expect("reload");
    assert_eq!(seen("b.test"), third);
}

#[test]
fn a_bad_key_or_certificate_file_is_refused_at_startup() {
    let pki = Pki::new("ringpin test CA");
    let (crt, key, _) = pki.leaf("a", "a.test", "a.test");
    let (_, other_key, _) = pki.leaf("b", "b.test", "b.test");
    let missing = pki.dir.join("missing.pem");
    for (cert, key, why) in [
        (&missing, &key, "missing.pem"),
        (&crt, &missing, "missing.pem"),
        (&key, &key, "no CERTIFICATE"),
        (&crt, &other_key, "b.key"),
    ] {
        let e = TlsConfig::from_pem_files(cert, key).expect_err("must fail");
        assert!(e.to_string().contains(why), "{why}: {e}");
    }
}

#[test]
fn a_proxy_header_comes_before_the_handshake() {
    let pki = Pki::new("ringpin test CA");
    let (crt, key, der) = pki.leaf("a", "a.test", "a.test");
    let tls = TlsConfig::from_pem_files(&crt, &key).expect("certificate loads");
    let config = common::test_config()
        .with_cpus(vec![0])
        .with_proxy_protocol(true)
        .with_tls(tls);
    let handle = common::start_hello_with(config);
    let mut tcp = TcpStream::connect(handle.addr()).expect("connect");
    tcp.write_all(b"PROXY TCP4 192.0.2.1 192.0.2.2 4000 443\r\n")
        .expect("PROXY header");
    let config = client_config(&pki.ca_file(), &all_versions());
    let (cert, _, _, response) = rust_get_over(tcp, "a.test", config).expect("TLS after it");
    assert_eq!(cert, der);
    assert!(response.ends_with("Hello, World!"), "{response}");
}

#[test]
fn a_websocket_runs_over_tls() {
    let pki = Pki::new("ringpin test CA");
    let (crt, key, _) = pki.leaf("a", "a.test", "a.test");
    let tls = TlsConfig::from_pem_files(&crt, &key).expect("certificate loads");
    let config = common::test_config().with_cpus(vec![0]).with_tls(tls);
    let handle = common::start(config, |_| websocket_example::router());
    let tcp = TcpStream::connect(handle.addr()).expect("connect");
    tcp.set_read_timeout(Some(CLIENT_TIMEOUT)).expect("timeout");
    let config = client_config(&pki.ca_file(), &all_versions());
    let conn = rustls::ClientConnection::new(config, ServerName::try_from("a.test").expect("name"))
        .expect("client");
    let stream = rustls::StreamOwned::new(conn, tcp);
    let (mut socket, response) =
        tungstenite::client("ws://a.test/ws", stream).expect("WebSocket handshake over TLS");
    assert_eq!(response.status(), 101);
    let big: Vec<u8> = (0..=255).cycle().take(70_000).collect();
    for message in [
        tungstenite::Message::text("hello"),
        tungstenite::Message::binary(big),
    ] {
        socket.send(message.clone()).expect("send");
        assert_eq!(socket.read().expect("echo"), message);
    }
    socket.close(None).expect("close");
}

#[test]
fn new_handshakes_are_shed_first_while_the_shard_sheds_requests() {
    let pki = Pki::new("ringpin test CA");
    let (crt, key, _) = pki.leaf("a", "a.test", "a.test");
    let tls = TlsConfig::from_pem_files(&crt, &key).expect("certificate loads");
    let shedding = ringpin::Shedding {
        target: Duration::from_millis(5),
        interval: Duration::from_millis(50),
        ..ringpin::Shedding::default()
    };
    let config = common::test_config()
        .with_cpus(vec![0])
        .with_shedding(shedding)
        .with_tls(tls);
    // Each request holds the shard for 2 ms, as real work would.
    let handle = common::start(config, |_| {
        ringpin::Router::new().route(
            "/work",
            ringpin::get(|_r: ringpin::Request| async {
                let until = Instant::now() + Duration::from_millis(2);
                while Instant::now() < until {
                    std::hint::spin_loop();
                }
                ringpin::Response::text("done")
            }),
        )
    });
    let addr = handle.addr();
    let ca = pki.ca_file();
    let agent = || {
        ureq::AgentBuilder::new()
            .tls_config(client_config(&ca, &all_versions()))
            .resolver(move |_: &str| Ok(vec![addr]))
            .timeout(CLIENT_TIMEOUT)
            .build()
    };
    let url = format!("https://a.test:{}/work", addr.port());
    let served = Arc::new(AtomicUsize::new(0));
    let run = Duration::from_millis(2500);
    // 32 kept-alive connections, each with a request always waiting: a standing queue.
    let clients: Vec<_> = (0..32)
        .map(|_| {
            let (agent, url, served) = (agent(), url.clone(), served.clone());
            std::thread::spawn(move || {
                let started = Instant::now();
                while started.elapsed() < run {
                    if let Ok(response) = agent.get(&url).call() {
                        if response.status() == 200 {
                            served.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();
    let counters = || handle.metrics().snapshot().total.counters;
    let started = Instant::now();
    while counters().tls_handshakes_refused == 0 && started.elapsed() < run {
        if counters().shed_permille > 0 {
            // A newcomer while requests are shed: refused before its handshake.
            let config = client_config(&ca, &all_versions());
            let _ = rust_get(addr, "a.test", config);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    for client in clients {
        client.join().expect("client");
    }
    let c = counters();
    assert!(c.shed > 0, "the load must make the shard shed: {c:?}");
    assert!(c.tls_handshakes_refused > 0, "no handshake was shed: {c:?}");
    assert!(
        served.load(Ordering::Relaxed) > 0,
        "open connections are served"
    );
    // Once the queue is gone, handshakes are taken again.
    let config = client_config(&ca, &all_versions());
    common::wait_until(
        CLIENT_TIMEOUT,
        Duration::from_millis(100),
        "handshakes refused after the load",
        || rust_get(addr, "a.test", config.clone()).is_ok(),
    );
}

#[test]
fn static_files_are_sent_over_tls() {
    let pki = Pki::new("ringpin test CA");
    let (crt, key, _) = pki.leaf("a", "a.test", "a.test");
    let site = pki.dir.join("site");
    fs::create_dir_all(&site).expect("site dir");
    // Past one TLS file chunk (64 KiB) and not a multiple of a record.
    let big: Vec<u8> = (0..300_001u32).map(|i| (i * 7 % 251) as u8).collect();
    fs::write(site.join("big.bin"), &big).expect("big file");
    fs::write(site.join("empty.txt"), b"").expect("empty file");
    let tls = TlsConfig::from_pem_files(&crt, &key).expect("certificate loads");
    let config = common::test_config().with_cpus(vec![0]).with_tls(tls);
    let root = site.clone();
    let handle = common::start(config, move |_| {
        let files = ringpin::ServeDir::open(&root)
            .expect("site opens")
            .with_inline_max_bytes(0);
        ringpin::Router::new().mount("/", files)
    });
    let addr = handle.addr();
    let agent = ureq::AgentBuilder::new()
        .tls_config(client_config(&pki.ca_file(), &all_versions()))
        .resolver(move |_: &str| Ok(vec![addr]))
        .timeout(CLIENT_TIMEOUT)
        .build();
    let base = format!("https://a.test:{}", addr.port());
    for (path, expected) in [("/big.bin", &big[..]), ("/empty.txt", &b""[..])] {
        // Twice: the second on the kept-alive connection.
        for _ in 0..2 {
            let mut got = Vec::new();
            agent
                .get(&format!("{base}{path}"))
                .call()
                .unwrap_or_else(|e| panic!("{path}: {e}"))
                .into_reader()
                .read_to_end(&mut got)
                .expect("body");
            assert!(
                got == expected,
                "{path}: {} bytes, not {}",
                got.len(),
                expected.len()
            );
        }
    }
}
