//! The flags every example shares: `--addr` and `--cores`, or `RINGPIN_ADDR` and
//! `RINGPIN_CORES`, TLS with `--tls-cert` and `--tls-key`, plus logging and the
//! serve-until-signal loop.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use ringpin::access_log::{self, LogFormat};
use ringpin::metrics::MetricsHandlerExt;
use ringpin::{
    parse_cpu_list, Config, Handler, HandlerExt, IoBackend, IpNet, RingSetup, Server, ShardInfo,
    Shedding, Timeouts, TlsConfig,
};

/// Where to listen and on which CPUs.
#[derive(Parser, Debug)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "RINGPIN_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// CPUs to run one shard each on, taskset syntax (`0-3,6`); default: the process mask.
    // Spelled out in full so clap takes one list-valued argument, not a repeated one.
    #[arg(long, env = "RINGPIN_CORES", value_parser = parse_cpu_list)]
    pub cores: Option<::std::vec::Vec<usize>>,
    /// Whole-head deadline, from its first byte, in ms (late: 408).
    #[arg(long, env = "RINGPIN_HEADER_TIMEOUT_MS", default_value_t = 10_000)]
    pub header_timeout_ms: u64,
    /// Longest silence inside a body, in ms (late: 408).
    #[arg(long, env = "RINGPIN_BODY_TIMEOUT_MS", default_value_t = 10_000)]
    pub body_timeout_ms: u64,
    /// Slowest body rate tolerated, bytes per second (slower: 408).
    #[arg(long, env = "RINGPIN_BODY_MIN_RATE", default_value_t = 1024)]
    pub body_min_rate: u64,
    /// Idle keep-alive timeout, in ms (then close).
    #[arg(long, env = "RINGPIN_IDLE_TIMEOUT_MS", default_value_t = 60_000)]
    pub idle_timeout_ms: u64,
    /// Longest wait for a client to read, in ms (then close).
    #[arg(long, env = "RINGPIN_SEND_TIMEOUT_MS", default_value_t = 30_000)]
    pub send_timeout_ms: u64,
    /// Requests per connection before `Connection: close` (0: no cap).
    #[arg(long, env = "RINGPIN_MAX_REQUESTS", default_value_t = 0)]
    pub max_requests: u64,
    /// Open connections per shard before accept pauses.
    #[arg(long, env = "RINGPIN_MAX_CONNECTIONS", default_value_t = 16_384)]
    pub max_connections: usize,
    /// Queueing delay above which (for 100 ms) requests are shed with 503, in ms (5 is
    /// CoDel's target); 0, the default, turns shedding off.
    #[arg(long, env = "RINGPIN_SHED_TARGET_MS", default_value_t = 0)]
    pub shed_target_ms: u64,
    /// Serve Prometheus metrics at this path (e.g. `/metrics`); off when empty.
    #[arg(long, env = "RINGPIN_METRICS_PATH", default_value = "")]
    pub metrics_path: String,
    /// Access log format: `common`, `combined` or `json`; off when empty. Lines go to the
    /// `ringpin::access` log target.
    #[arg(long, env = "RINGPIN_ACCESS_LOG", default_value = "", value_parser = parse_log_format)]
    pub access_log: ::std::option::Option<LogFormat>,
    /// At a drain, how long handshakes already under way may complete (and be served)
    /// before the listener closes, in ms; new SYNs are dropped meanwhile.
    #[arg(long, env = "RINGPIN_HANDSHAKE_SETTLE_MS", default_value_t = 20)]
    pub handshake_settle_ms: u64,
    /// Connection I/O: `auto` (the shard's own io_uring if it can be set up, else glommio's
    /// sockets), `ring` or `glommio`.
    #[arg(long, env = "RINGPIN_IO", default_value = "auto")]
    pub io: IoBackend,
    /// How the own ring is set up: `auto` (`coop`, then `interrupt`, the first whose
    /// startup wake probe passes), `coop`, `interrupt` or `defer`.
    #[arg(long, env = "RINGPIN_RING_SETUP", default_value = "auto")]
    pub ring_setup: RingSetup,
    /// Expect a PROXY protocol header (v1 or v2) at the start of every connection, from a
    /// load balancer; a connection without one is closed.
    #[arg(long, env = "RINGPIN_PROXY_PROTOCOL")]
    pub proxy_protocol: bool,
    /// How long a connection may take to send its PROXY header, in ms (then close).
    #[arg(long, env = "RINGPIN_PROXY_HEADER_TIMEOUT_MS", default_value_t = 5_000)]
    pub proxy_header_timeout_ms: u64,
    /// Proxies whose `Forwarded` / `X-Forwarded-For` are believed: comma-separated
    /// networks or addresses (`127.0.0.1,10.0.0.0/8`); none when empty.
    #[arg(long, env = "RINGPIN_TRUSTED_PROXIES", default_value = "", value_parser = parse_networks)]
    pub trusted_proxies: ::std::vec::Vec<IpNet>,
    /// Give each connection to the shard on the CPU that received its SYN
    /// (`SO_INCOMING_CPU`), not by the kernel's hash: for NICs with a receive queue per
    /// shard CPU. Off by default (on loopback every connection would go to the client's CPU).
    #[arg(long, env = "RINGPIN_STEER_INCOMING_CPU")]
    pub steer_incoming_cpu: bool,
    /// Serve TLS with this certificate chain (PEM, leaf first); needs `--tls-key`. SIGHUP
    /// or a change of the files reloads them.
    #[arg(long, env = "RINGPIN_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of `--tls-cert` (PEM).
    #[arg(long, env = "RINGPIN_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Longest TLS handshake, in ms (then close).
    #[arg(
        long,
        env = "RINGPIN_TLS_HANDSHAKE_TIMEOUT_MS",
        default_value_t = 10_000
    )]
    pub tls_handshake_timeout_ms: u64,
    /// Most TLS handshakes in flight per shard; newcomers over it are closed at once.
    #[arg(long, env = "RINGPIN_TLS_MAX_HANDSHAKES", default_value_t = 256)]
    pub tls_max_handshakes: usize,
}

/// `10.0.0.0/8,192.0.2.1,::1`: networks, or addresses as single-address networks.
fn parse_networks(value: &str) -> Result<Vec<IpNet>, String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| {
            item.parse::<IpNet>()
                .or_else(|_| item.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| format!("not a network or address: {item:?}"))
        })
        .collect()
}

fn parse_log_format(value: &str) -> Result<Option<LogFormat>, String> {
    match value {
        "" | "off" => Ok(None),
        "common" => Ok(Some(LogFormat::Common)),
        "combined" => Ok(Some(LogFormat::Combined)),
        "json" => Ok(Some(LogFormat::Json)),
        other => Err(format!(
            "unknown access log format {other:?}: common, combined or json"
        )),
    }
}

impl ServeArgs {
    /// The TLS the flags ask for, its files loaded; `None` without `--tls-cert`.
    pub fn tls(&self) -> std::io::Result<Option<TlsConfig>> {
        let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) else {
            return Ok(None);
        };
        let tls = TlsConfig::from_pem_files(cert, key)?
            .with_handshake_timeout(Duration::from_millis(self.tls_handshake_timeout_ms))
            .with_max_handshakes_per_shard(self.tls_max_handshakes);
        Ok(Some(tls))
    }

    /// The engine configuration these flags describe (without TLS: see
    /// [`ServeArgs::tls`], which reads files and can fail).
    pub fn config(&self) -> Config {
        let mut config = Config::default()
            .with_addr(self.addr)
            .with_timeouts(Timeouts {
                header: Duration::from_millis(self.header_timeout_ms),
                body_idle: Duration::from_millis(self.body_timeout_ms),
                body_min_rate: self.body_min_rate,
                idle: Duration::from_millis(self.idle_timeout_ms),
                send: Duration::from_millis(self.send_timeout_ms),
            })
            .with_max_connections_per_shard(self.max_connections)
            .with_handshake_settle(Duration::from_millis(self.handshake_settle_ms))
            .with_io(self.io)
            .with_ring_setup(self.ring_setup)
            .with_proxy_protocol(self.proxy_protocol)
            .with_proxy_header_timeout(Duration::from_millis(self.proxy_header_timeout_ms))
            .with_trusted_proxies(self.trusted_proxies.clone())
            .with_incoming_cpu_steering(self.steer_incoming_cpu);
        config.cpus = self.cores.clone();
        if self.max_requests > 0 {
            config = config.with_max_requests_per_connection(self.max_requests);
        }
        if self.shed_target_ms > 0 {
            config = config.with_shedding(Shedding {
                target: Duration::from_millis(self.shed_target_ms),
                ..Shedding::default()
            });
        }
        config
    }
}

/// Starts logging at `info` unless `RUST_LOG` says otherwise.
pub fn init_logging() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
}

/// Serves until SIGTERM or SIGINT has drained every shard, with the opt-in metrics route
/// and access log the flags ask for.
pub fn serve_until_signal<F, H>(args: &ServeArgs, factory: F) -> ExitCode
where
    F: Fn(&ShardInfo) -> H + Send + Sync + 'static,
    H: Handler,
{
    let mut config = args.config();
    match args.tls() {
        Ok(Some(tls)) => config = config.with_tls(tls),
        Ok(None) => {}
        Err(e) => {
            log::error!("cannot start: {e}");
            return ExitCode::FAILURE;
        }
    }
    let server = Server::new(config).with_signal_drain();
    let metrics = server.metrics();
    // Each combination is its own static handler type: nothing runs for what is off.
    let path: &'static str = Box::leak(args.metrics_path.clone().into_boxed_str());
    let started = match (path.is_empty(), args.access_log) {
        (true, None) => server.serve(factory),
        (true, Some(format)) => {
            server.serve(move |shard| factory(shard).around(access_log::layer(format)))
        }
        (false, None) => {
            server.serve(move |shard| factory(shard).with_metrics_at(path, metrics.clone()))
        }
        (false, Some(format)) => server.serve(move |shard| {
            factory(shard)
                .around(access_log::layer(format))
                .with_metrics_at(path, metrics.clone())
        }),
    };
    let handle = match started {
        Ok(handle) => handle,
        Err(e) => {
            log::error!("cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    match handle.join() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("{e}");
            ExitCode::FAILURE
        }
    }
}
