//! HAProxy in front of two `hello` processes, as docs/deploy.md runs them: both serve, and a
//! SIGTERM drains one of them without a single failed request. Then the client's address
//! through a proxy: HAProxy with `send-proxy-v2` in front of a ringpin with the PROXY
//! protocol on, and nginx with docs/deploy.md's own configuration (`X-Forwarded-For`,
//! upstream keep-alive) in front of a ringpin that trusts it.
//!
//! Needs Debian's haproxy and nginx (`apt-get install haproxy nginx`; tests/run.sh installs
//! them). Loopback only; every process is killed when the test ends, panics included.

mod common;

use std::fs::{self, File};
use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::hello_binary;

/// Where Debian's package puts haproxy.
const HAPROXY: &str = "/usr/sbin/haproxy";
/// Where Debian's package puts nginx.
const NGINX: &str = "/usr/sbin/nginx";
/// How long a process may take to start listening, or to exit after SIGTERM.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// `Config::shutdown_grace` (10 s) plus slack: a drain that takes longer is a failure.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(15);
/// Each client request's own timeout.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Client threads sending through the proxy while one server drains.
const CLIENTS: usize = 4;
/// Hard bound on the drain phase, whatever happens.
const LOAD_LIMIT: Duration = Duration::from_secs(20);

/// `name` from Debian's package at `debian_path`, or from `PATH`; a clear failure when it
/// is not installed.
fn system_binary(name: &str, debian_path: &str) -> PathBuf {
    let in_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|dir| dir.join(name));
    std::iter::once(PathBuf::from(debian_path))
        .chain(in_path)
        .find(|path| path.is_file())
        .unwrap_or_else(|| {
            panic!(
                "{name} is not installed: install it with `apt-get install {name}` (Debian's \
                 package, {debian_path}; tests/run.sh does this). This test needs a real proxy."
            )
        })
}

fn haproxy_binary() -> PathBuf {
    system_binary("haproxy", HAPROXY)
}

/// A free loopback port: bind port 0, read the port, release it.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// A named child process whose stderr goes to a file in the test's directory.
struct Proc {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Proc {
    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Panics with the process's log if it has already exited.
    fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().expect("try_wait") {
            panic!("{} exited early ({status}); logs below", self.name);
        }
    }

    fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM {}", self.name);
    }

    /// Waits for the exit; returns the status and the first instant it was seen.
    fn wait_exit(&mut self, timeout: Duration) -> (ExitStatus, Instant) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return (status, Instant::now());
            }
            assert!(
                Instant::now() < deadline,
                "{} did not exit within {timeout:?}; logs below",
                self.name
            );
            thread::sleep(Duration::from_millis(5));
        }
    }
}

/// Every process of the test and its directory; dropping it kills and removes them all.
struct Rig {
    dir: PathBuf,
    procs: Vec<Proc>,
}

impl Rig {
    fn new() -> Rig {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir =
            std::env::temp_dir().join(format!("ringpin-proxy-{}-{nanos}", std::process::id()));
        fs::create_dir_all(&dir).expect("create temp dir");
        Rig {
            dir,
            procs: Vec::new(),
        }
    }

    /// Writes a configuration file `<dir>/<name>`; returns its path.
    fn write(&self, name: &str, text: String) -> PathBuf {
        let path = self.dir.join(name);
        fs::write(&path, text).unwrap_or_else(|e| panic!("write {name}: {e}"));
        path
    }

    /// Spawns `command` with stderr to `<dir>/<name>.log`; returns its index.
    fn spawn(&mut self, name: &str, command: &mut Command) -> usize {
        let log = self.dir.join(format!("{name}.log"));
        let stderr = File::create(&log).expect("create log file");
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        self.procs.push(Proc {
            name: name.to_string(),
            child,
            log,
        });
        self.procs.len() - 1
    }

    /// Starts `hello` on `cpu` and port 0; returns its index and the address it logged.
    fn start_hello(&mut self, name: &str, cpu: usize) -> (usize, SocketAddr) {
        let index = self.spawn(
            name,
            Command::new(hello_binary())
                .args(["--addr", "127.0.0.1:0", "--cores", &cpu.to_string()])
                .env("RUST_LOG", "info")
                .env_remove("RINGPIN_ADDR")
                .env_remove("RINGPIN_CORES"),
        );
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let log = self.procs[index].log();
            let logged = log
                .lines()
                .find_map(|line| line.split("ringpin listening on ").nth(1))
                .and_then(|rest| rest.split_once("; shards -> CPUs: "));
            if let Some((addr, _shards)) = logged {
                return (index, addr.parse().expect("a socket address in the log"));
            }
            self.procs[index].assert_running();
            assert!(
                Instant::now() < deadline,
                "{name} did not log its address; logs below"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        for proc in &mut self.procs {
            if let Ok(None) = proc.child.try_wait() {
                let _ = proc.child.kill();
                let _ = proc.child.wait();
            }
            if thread::panicking() {
                eprintln!("---- {} log ----\n{}", proc.name, proc.log());
            }
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// The `global` and `defaults` sections every HAProxy config here starts with.
const HAPROXY_DEFAULTS: &str = "global
    nbthread 1

defaults
    mode http
    option http-keep-alive
    timeout connect 2s
    timeout client 5s
    timeout server 5s
";

/// HAProxy as docs/deploy.md configures it, minus TLS: round robin, fast health checks, and
/// retries on the other server for anything a draining server drops.
fn haproxy_config(frontend: u16, a: SocketAddr, b: SocketAddr) -> String {
    format!(
        "{HAPROXY_DEFAULTS}    retries 3
    option redispatch 1
    retry-on conn-failure empty-response response-timeout

frontend web
    bind 127.0.0.1:{frontend}
    default_backend hello

backend hello
    balance roundrobin
    option httpchk
    http-check send meth GET uri /
    http-response set-header X-Served-By %s
    server a {a} check inter 100ms fall 1 rise 1
    server b {b} check inter 100ms fall 1 rise 1
"
    )
}

/// What one request through the proxy got: the server that answered, or why it failed.
struct Outcome {
    started: Instant,
    served_by: Result<String, String>,
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new().timeout(REQUEST_TIMEOUT).build()
}

fn get(agent: &ureq::Agent, url: &str) -> Outcome {
    let started = Instant::now();
    let served_by = match agent.get(url).call() {
        Ok(response) => {
            let status = response.status();
            let server = response.header("x-served-by").unwrap_or("").to_string();
            match response.into_string() {
                Ok(body) if status == 200 && body == "Hello, World!" => Ok(server),
                Ok(body) => Err(format!("{status} from {server:?}: {body:?}")),
                Err(e) => Err(format!("{status} from {server:?}, body unread: {e}")),
            }
        }
        Err(ureq::Error::Status(status, response)) => Err(format!(
            "{status} from {:?}",
            response.header("x-served-by").unwrap_or("")
        )),
        Err(e) => Err(format!("transport: {e}")),
    };
    Outcome { started, served_by }
}

fn count<'a>(outcomes: impl IntoIterator<Item = &'a Outcome>, server: &str) -> usize {
    outcomes
        .into_iter()
        .filter(|o| o.served_by.as_deref() == Ok(server))
        .count()
}

fn failures(outcomes: &[Outcome]) -> Vec<&str> {
    outcomes
        .iter()
        .filter_map(|o| o.served_by.as_ref().err().map(String::as_str))
        .collect()
}

#[test]
fn haproxy_balances_two_instances_and_a_drain_loses_no_request() {
    let haproxy = haproxy_binary();
    let mask = ringpin::affinity_mask().expect("affinity mask");
    let (first_cpu, last_cpu) = (*mask.first().expect("a CPU"), *mask.last().expect("a CPU"));
    let mut rig = Rig::new();
    let (a, addr_a) = rig.start_hello("hello-a", first_cpu);
    let (_b, addr_b) = rig.start_hello("hello-b", last_cpu);

    let port = free_port();
    let config = rig.write("haproxy.cfg", haproxy_config(port, addr_a, addr_b));
    let proxy = rig.spawn(
        "haproxy",
        Command::new(&haproxy).arg("-f").arg(&config).arg("-db"),
    );
    let url = format!("http://127.0.0.1:{port}/");

    // Wait until the proxy answers and both servers have passed a health check.
    let client = agent();
    let deadline = Instant::now() + START_TIMEOUT;
    let mut seen = Vec::new();
    while !(seen.iter().any(|s| s == "a") && seen.iter().any(|s| s == "b")) {
        rig.procs[proxy].assert_running();
        assert!(
            Instant::now() < deadline,
            "haproxy did not serve from both servers (saw {seen:?}); logs below"
        );
        match get(&client, &url).served_by {
            Ok(server) => seen.push(server),
            Err(_) => thread::sleep(Duration::from_millis(50)),
        }
    }

    // (1) Round robin: both instances answer.
    let outcomes: Vec<Outcome> = (0..40).map(|_| get(&client, &url)).collect();
    assert_eq!(failures(&outcomes), Vec::<&str>::new(), "through the proxy");
    let (from_a, from_b) = (count(&outcomes, "a"), count(&outcomes, "b"));
    assert!(
        from_a > 0 && from_b > 0,
        "both servers answer: a {from_a}, b {from_b}"
    );

    // (2) Drain a while clients keep sending: no request may fail.
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (stop, url) = (stop.clone(), url.clone());
            thread::spawn(move || {
                let client = agent();
                let until = Instant::now() + LOAD_LIMIT;
                let mut outcomes = Vec::new();
                while !stop.load(Ordering::Relaxed) && Instant::now() < until {
                    outcomes.push(get(&client, &url));
                }
                outcomes
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(300));
    let sigterm_at = Instant::now();
    rig.procs[a].terminate();
    let (status, exited_at) = rig.procs[a].wait_exit(DRAIN_TIMEOUT);
    thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    let outcomes: Vec<Outcome> = clients
        .into_iter()
        .flat_map(|client| client.join().expect("client thread"))
        .collect();

    let before = outcomes.iter().filter(|o| o.started < sigterm_at);
    let after = outcomes.iter().filter(|o| o.started > exited_at);
    println!(
        "drain: {} requests, {} before SIGTERM, {} after exit; a exited {:?} after SIGTERM",
        outcomes.len(),
        before.clone().count(),
        after.clone().count(),
        exited_at - sigterm_at
    );
    let failed = failures(&outcomes);
    assert!(
        failed.is_empty(),
        "{} of {} requests failed during the drain, first: {:?}; logs below",
        failed.len(),
        outcomes.len(),
        &failed[..failed.len().min(5)]
    );
    assert!(
        status.success(),
        "the drained instance exits cleanly: {status}"
    );
    assert!(count(before, "a") > 0, "a served before its SIGTERM");
    let after: Vec<&Outcome> = after.collect();
    assert!(
        after.len() >= 10,
        "requests kept flowing after a exited: {}",
        after.len()
    );
    assert!(
        after.iter().all(|o| o.served_by.as_deref() == Ok("b")),
        "only b answers once a has exited"
    );
    rig.procs[proxy].assert_running();
}

/// The address-echoing handler of the client-address tests.
fn echo_addrs(request: ringpin::Request) -> std::future::Ready<ringpin::Response> {
    std::future::ready(ringpin::Response::text(format!(
        "client={} peer={}",
        request.client_addr(),
        request.peer_addr()
    )))
}

/// Starts [`echo_addrs`] with `config`.
fn start_echo(config: ringpin::Config) -> ringpin::ServerHandle {
    common::start(config, |_| echo_addrs)
}

/// A keep-alive client connection from `from` (any port) to `to`.
fn connect_from(from: [u8; 4], to: SocketAddr) -> common::Replies {
    let socket =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    socket
        .bind(&SocketAddr::from((from, 0)).into())
        .expect("bind the client's address");
    socket.connect(&to.into()).expect("connect");
    let stream: TcpStream = socket.into();
    stream
        .set_read_timeout(Some(REQUEST_TIMEOUT))
        .expect("timeout");
    common::Replies::new(stream)
}

/// Sends GET /echo with `extra` fields on `client`; returns the body (`client=.. peer=..`).
fn echo_through(client: &mut common::Replies, extra: &str) -> Option<String> {
    let request = format!("GET /echo HTTP/1.1\r\nHost: example.com\r\n{extra}\r\n");
    client.stream.write_all(request.as_bytes()).ok()?;
    let reply = client.next()?;
    (reply.status == 200).then(|| reply.body_text())
}

/// Retries a fresh connection until the proxy on `port` answers, or the start timeout.
fn wait_until_proxying(rig: &mut Rig, proxy: usize, port: u16) {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        rig.procs[proxy].assert_running();
        assert!(
            Instant::now() < deadline,
            "the proxy did not answer; logs below"
        );
        let to = SocketAddr::from(([127, 0, 0, 1], port));
        if TcpStream::connect_timeout(&to, Duration::from_millis(200)).is_ok() {
            let mut client = connect_from([127, 0, 0, 1], to);
            if echo_through(&mut client, "").is_some() {
                return;
            }
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// `(client, peer)` out of an echo body.
fn split_echo(body: &str) -> (SocketAddr, SocketAddr) {
    let (client, peer) = body
        .strip_prefix("client=")
        .and_then(|rest| rest.split_once(" peer="))
        .unwrap_or_else(|| panic!("an echo body: {body:?}"));
    (
        client.parse().expect("client address"),
        peer.parse().expect("peer address"),
    )
}

#[test]
fn haproxy_send_proxy_v2_shows_the_real_client() {
    let haproxy = haproxy_binary();
    let server = start_echo(common::test_config().with_proxy_protocol(true));
    let mut rig = Rig::new();
    let port = free_port();
    let config = rig.write(
        "haproxy.cfg",
        format!(
            "{HAPROXY_DEFAULTS}
frontend web
    bind 127.0.0.1:{port}
    default_backend ringpin

backend ringpin
    server s {} send-proxy-v2
",
            server.addr()
        ),
    );
    let proxy = rig.spawn(
        "haproxy",
        Command::new(&haproxy).arg("-f").arg(&config).arg("-db"),
    );
    wait_until_proxying(&mut rig, proxy, port);

    let mut client = connect_from([127, 0, 0, 1], SocketAddr::from(([127, 0, 0, 1], port)));
    let seen_as = client.stream.local_addr().expect("client address");
    for round in 0..3 {
        let body = echo_through(&mut client, "").unwrap_or_else(|| panic!("answer {round}"));
        let (client_addr, peer_addr) = split_echo(&body);
        assert_eq!(
            client_addr, seen_as,
            "client_addr is the client HAProxy saw"
        );
        assert_eq!(peer_addr.ip(), seen_as.ip());
        assert_ne!(peer_addr, seen_as, "peer_addr is HAProxy's own connection");
    }
    drop(rig);
    server.shutdown();
    server.join().expect("drained");
}

/// docs/deploy.md's nginx configuration, run on loopback: the TLS lines give way to a
/// plain `listen`, both upstream servers point at `upstream`, and the prefix's own paths
/// (temp files, access log) are set. Everything else is as the page has it.
fn nginx_config_from_deploy_md(port: u16, upstream: SocketAddr, dir: &std::path::Path) -> String {
    let page = fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/deploy.md"))
        .expect("read docs/deploy.md");
    let block = page
        .split("```nginx\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("an nginx block in docs/deploy.md");
    let dir = dir.display();
    let mut config = String::new();
    for line in block.lines() {
        let code = line.split('#').next().unwrap_or_default().trim();
        if code.starts_with("ssl_certificate") || code.starts_with("http2 ") {
            continue;
        }
        let line = match code {
            "listen 443 ssl;" => format!("        listen 127.0.0.1:{port};"),
            "http {" => format!(
                "http {{\n    access_log {dir}/access.log;\n    client_body_temp_path \
                 {dir}/body;\n    proxy_temp_path {dir}/proxy;\n    fastcgi_temp_path \
                 {dir}/fastcgi;\n    uwsgi_temp_path {dir}/uwsgi;\n    scgi_temp_path {dir}/scgi;"
            ),
            _ => line
                .replace("127.0.0.1:8081", &upstream.to_string())
                .replace("127.0.0.1:8082", &upstream.to_string()),
        };
        config.push_str(&line);
        config.push('\n');
    }
    assert!(
        config.contains(&format!("listen 127.0.0.1:{port};")),
        "docs/deploy.md's nginx block changed shape: {config}"
    );
    config
}

#[test]
fn nginx_forwarded_for_shows_the_real_client() {
    let nginx = system_binary("nginx", NGINX);
    let trusted = vec!["127.0.0.1/32".parse().expect("network")];
    let server = start_echo(common::test_config().with_trusted_proxies(trusted));
    let mut rig = Rig::new();
    let port = free_port();
    let nginx_conf = nginx_config_from_deploy_md(port, server.addr(), &rig.dir);
    let config = rig.write("nginx.conf", nginx_conf);
    let pid = rig.dir.join("nginx.pid");
    let proxy = rig.spawn(
        "nginx",
        Command::new(&nginx)
            .arg("-p")
            .arg(&rig.dir)
            .arg("-c")
            .arg(&config)
            .args(["-e", "stderr", "-g"])
            .arg(format!("daemon off; pid {};", pid.display())),
    );
    wait_until_proxying(&mut rig, proxy, port);

    // From 127.0.0.2, an address ringpin does not trust, claiming other addresses.
    let to = SocketAddr::from(([127, 0, 0, 1], port));
    let mut client = connect_from([127, 0, 0, 2], to);
    let real = SocketAddr::from(([127, 0, 0, 2], 0));
    let mut upstream_peers = Vec::new();
    for extra in [
        "",
        "X-Forwarded-For: 203.0.113.66\r\n",
        "Forwarded: for=203.0.113.66\r\nX-Forwarded-For: garbage, 203.0.113.66\r\n",
        "",
    ] {
        let body =
            echo_through(&mut client, extra).unwrap_or_else(|| panic!("answer to {extra:?}"));
        let (client_addr, peer_addr) = split_echo(&body);
        assert_eq!(client_addr, real, "through nginx, with {extra:?}");
        assert_eq!(peer_addr.ip(), to.ip(), "the peer is nginx");
        upstream_peers.push(peer_addr);
    }
    // Upstream keep-alive: nginx's connection to ringpin is reused between requests.
    upstream_peers.sort_unstable();
    upstream_peers.dedup();
    assert!(
        upstream_peers.len() < 4,
        "every request on a new upstream connection: {upstream_peers:?}"
    );
    drop(rig);
    server.shutdown();
    server.join().expect("drained");
}
