//! Server configuration: where to listen, which CPUs to run on, and every named limit.

use std::net::SocketAddr;
use std::time::Duration;

use ipnet::IpNet;

pub use crate::ops::shedding::Shedding;
pub use crate::server::timeouts::Timeouts;
pub use crate::server::tls::config::TlsConfig;

/// Most header fields a request may carry; the upper bound of [`Limits::max_headers`].
///
/// Header positions are kept inline in each [`Request`](crate::Request) (8 bytes each), so
/// this bounds the request's size; hyper's default is the same 100.
pub const HEADER_CAPACITY: usize = 100;

/// Largest head ringpin can index: header offsets are `u16`.
pub const HEAD_CAPACITY: usize = u16::MAX as usize;

/// Everything the engine needs to run. Build with [`Config::default`] and the `with_*`
/// methods, or set the public fields directly.
#[derive(Clone, Debug)]
pub struct Config {
    /// The address every shard listens on (one `SO_REUSEPORT` socket per shard).
    /// Default `127.0.0.1:8080`. Port 0 picks a free port, shared by all shards.
    pub addr: SocketAddr,
    /// The CPUs to run one shard each on. `None` (default): every CPU in the process's
    /// affinity mask (`sched_getaffinity`), so `taskset`, cpusets and Kubernetes decide.
    /// An explicit list must name online CPUs inside that mask.
    pub cpus: Option<Vec<usize>>,
    /// `listen(2)` backlog of each shard's socket, in connections. Default 4096; the kernel
    /// caps it at `net.core.somaxconn`.
    pub backlog: u32,
    /// Steer each new connection to the shard on the CPU whose network stack received its
    /// SYN (`SO_INCOMING_CPU` on each shard's listener; Linux 6.1+ honours it inside an
    /// `SO_REUSEPORT` group), instead of the kernel's 4-tuple hash. Default off. Turn it on
    /// where receive processing is spread over the shards' CPUs (a NIC with one RSS queue
    /// per shard CPU and its interrupt pinned there, or RPS/RFS): the connection's packets,
    /// socket and task then stay on one core. Leave it off where one CPU receives
    /// everything (one queue, or loopback, where the client's CPU processes the SYN): every
    /// connection would go to that CPU's shard. docs/performance.md, "Steering".
    pub steer_by_incoming_cpu: bool,
    /// Protocol limits; see [`Limits`].
    pub limits: Limits,
    /// How long a drain waits for in-flight requests before shards stop anyway. Default 10 s.
    pub shutdown_grace: Duration,
    /// At a drain, how long each shard's listener, no longer starting handshakes, still
    /// completes and serves those under way (a client whose SYN was answered has seen its
    /// `connect` return and may be writing a request) before it closes. New SYNs meanwhile
    /// are dropped, so their clients retry a second later (another instance in the
    /// `SO_REUSEPORT` group takes them, or they are refused). Default 20 ms: a loopback or
    /// LAN round trip; raise it toward your clients' round trip if they are far away.
    pub handshake_settle: Duration,
    /// After an error response, how long the connection keeps reading (and discarding) what
    /// the client still sends before closing, so the client reads the error instead of a
    /// reset (nginx's lingering close). Default 2 s.
    pub linger: Duration,
    /// How long each phase of a request may take; see [`Timeouts`].
    pub timeouts: Timeouts,
    /// Most open connections per shard. At the cap the shard stops accepting (the kernel's
    /// backlog holds newcomers) until one closes. Default 16384.
    pub max_connections_per_shard: usize,
    /// Requests served on one connection before the response carries `Connection: close`.
    /// `None` (default): no cap.
    pub max_requests_per_connection: Option<u64>,
    /// Adaptive load shedding; `None` (default) serves everything. See [`Shedding`].
    pub shedding: Option<Shedding>,
    /// How long a keep-alive connection may idle before its read and write buffers go
    /// back to the shard's free list (its next request takes buffers from the list again,
    /// which costs no allocation). Default zero: released as soon as the connection is
    /// idle, so an idle connection holds no buffer and the shard needs only as many buffers
    /// as it has connections mid-request.
    pub idle_buffer_release: Duration,
    /// Which I/O path carries connections; see [`IoBackend`]. Default `Auto`.
    pub io: IoBackend,
    /// How the own ring is set up; see [`RingSetup`]. Default `Auto`.
    pub ring_setup: RingSetup,
    /// Whether a panic in handler code (the handler's call and future, a streamed response
    /// body, an SSE stream, a mesh service) is caught: the request is answered `500` and
    /// its connection closed when no response had started, the connection closed when one
    /// had; it is counted (`ringpin_handler_panics_total{route}`) and logged at most 10
    /// times per 10 s per shard; the shard serves on. Default on. Off (crash-only
    /// services, which would rather restart than run on after a bug): the panic ends its
    /// shard thread, and [`crate::ServerHandle::join`] returns the error.
    pub catch_panics: bool,
    /// Whether every connection starts with a PROXY protocol header (v1 or v2, as HAProxy's
    /// `send-proxy`/`send-proxy-v2` and cloud load balancers send it), whose source address
    /// becomes [`Request::client_addr`](crate::Request::client_addr). Default off. On, a
    /// connection whose first bytes cannot begin a valid header is closed at once, without
    /// a response, and the header's bytes never reach the HTTP parser. Turn it on only
    /// when every client is a load balancer that sends the header: anyone who can connect
    /// can claim any address in one.
    pub proxy_protocol: bool,
    /// How long a connection may take to deliver its whole PROXY header, from accept; then
    /// it is closed. Default 5 s (HAProxy's `timeout client` for `accept-proxy` is in the
    /// same range). Only with [`Config::proxy_protocol`].
    pub proxy_header_timeout: Duration,
    /// The proxies whose `Forwarded` or `X-Forwarded-For` fields are believed: when the
    /// TCP peer (or the PROXY header's source) is in one of these networks,
    /// [`Request::client_addr`](crate::Request::client_addr) reads the client from those
    /// fields. Default empty: the fields are ignored. List only proxies that overwrite or
    /// append to the field they use, and strip the other one (docs/deploy.md).
    pub trusted_proxies: Vec<IpNet>,
    /// TLS on the listener (TLS 1.3 and 1.2, ALPN `http/1.1`, certificates by SNI,
    /// reloaded without a restart); `None` (default): plain HTTP. See [`TlsConfig`] and
    /// docs/deploy.md, "TLS".
    pub tls: Option<TlsConfig>,
}

/// How a shard's own io_uring posts its completions, which decides how a parked shard is
/// woken (docs/performance.md, "The lost wakeup"). Whatever is chosen, a shard proves at
/// startup that a completion wakes it promptly (the wake probe) before it accepts; a setup
/// that fails the probe is not used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RingSetup {
    /// `CoopTaskrun`, then `Interrupt`, the first whose wake probe passes; with
    /// [`IoBackend::Auto`], glommio's sockets if none does. The default.
    #[default]
    Auto,
    /// `SINGLE_ISSUER | COOP_TASKRUN | TASKRUN_FLAG`: a completion is task work queued
    /// without an IPI; the kernel wakes the shard if it sleeps, and the shard runs the work
    /// at its next system call if it is running. The default's first choice.
    CoopTaskrun,
    /// No task-run flags: a completion interrupts the shard (an IPI if it is running).
    /// Correct on every kernel; costs an interruption per completion batch.
    Interrupt,
    /// `SINGLE_ISSUER | DEFER_TASKRUN | TASKRUN_FLAG`: completions wait for the shard's
    /// next enter; a parked shard relies on the kernel signalling the ring's eventfd when
    /// such work is queued, which some builds defer to an RCU callback (~14 ms on the
    /// project's AMD EPYC VM, 6.18.44). Opt-in, and only kept where the probe passes.
    DeferTaskrun,
}

impl RingSetup {
    /// The name used by `RINGPIN_RING_SETUP`, the logs and the metrics.
    pub fn name(self) -> &'static str {
        match self {
            RingSetup::Auto => "auto",
            RingSetup::CoopTaskrun => "coop",
            RingSetup::Interrupt => "interrupt",
            RingSetup::DeferTaskrun => "defer",
        }
    }
}

impl std::str::FromStr for RingSetup {
    type Err = String;

    /// `auto`, `coop`, `interrupt` or `defer` (what `RINGPIN_RING_SETUP` takes).
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "auto" | "" => Ok(RingSetup::Auto),
            "coop" => Ok(RingSetup::CoopTaskrun),
            "interrupt" => Ok(RingSetup::Interrupt),
            "defer" => Ok(RingSetup::DeferTaskrun),
            other => Err(format!(
                "unknown ring setup {other:?}: auto, coop, interrupt or defer"
            )),
        }
    }
}

/// Which I/O path carries a shard's connections. Accepting always uses glommio's listener.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IoBackend {
    /// The shard's own io_uring when it can be set up (a 6.0+ kernel with multishot
    /// receive and provided-buffer rings, io_uring not disabled by sysctl or seccomp);
    /// otherwise, after one warning, glommio's sockets. The default.
    #[default]
    Auto,
    /// The shard's own io_uring: receives and sends are completions on a ring ringpin
    /// drives, with no system call per request (docs/performance.md measures it). A shard
    /// that cannot set it up fails to start.
    Ring,
    /// glommio's `TcpStream`: a `recv` plus a readiness poll per read, a `send` per write.
    Glommio,
}

impl std::str::FromStr for IoBackend {
    type Err = String;

    /// `auto`, `ring` or `glommio` (what `RINGPIN_IO` takes in the examples).
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "auto" | "" => Ok(IoBackend::Auto),
            "ring" => Ok(IoBackend::Ring),
            "glommio" => Ok(IoBackend::Glommio),
            other => Err(format!(
                "unknown I/O backend {other:?}: auto, ring or glommio"
            )),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            cpus: None,
            backlog: 4096,
            steer_by_incoming_cpu: false,
            limits: Limits::default(),
            shutdown_grace: Duration::from_secs(10),
            handshake_settle: Duration::from_millis(20),
            linger: Duration::from_secs(2),
            timeouts: Timeouts::default(),
            max_connections_per_shard: 16384,
            max_requests_per_connection: None,
            shedding: None,
            idle_buffer_release: Duration::ZERO,
            io: IoBackend::Auto,
            ring_setup: RingSetup::Auto,
            catch_panics: true,
            proxy_protocol: false,
            proxy_header_timeout: Duration::from_secs(5),
            trusted_proxies: Vec::new(),
            tls: None,
        }
    }
}

impl Config {
    /// Sets [`Config::addr`].
    pub fn with_addr(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }

    /// Sets [`Config::cpus`].
    pub fn with_cpus(mut self, cpus: Vec<usize>) -> Self {
        self.cpus = Some(cpus);
        self
    }

    /// Sets [`Config::steer_by_incoming_cpu`].
    pub fn with_incoming_cpu_steering(mut self, on: bool) -> Self {
        self.steer_by_incoming_cpu = on;
        self
    }

    /// Sets [`Config::backlog`].
    pub fn with_backlog(mut self, backlog: u32) -> Self {
        self.backlog = backlog;
        self
    }

    /// Sets [`Config::limits`].
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets [`Config::timeouts`].
    pub fn with_timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// Sets [`Config::max_connections_per_shard`].
    pub fn with_max_connections_per_shard(mut self, max: usize) -> Self {
        self.max_connections_per_shard = max.max(1);
        self
    }

    /// Sets [`Config::max_requests_per_connection`].
    pub fn with_max_requests_per_connection(mut self, max: u64) -> Self {
        self.max_requests_per_connection = Some(max.max(1));
        self
    }

    /// Turns adaptive load shedding on with `shedding`.
    pub fn with_shedding(mut self, shedding: Shedding) -> Self {
        self.shedding = Some(shedding);
        self
    }

    /// Sets [`Config::catch_panics`].
    pub fn with_catch_panics(mut self, catch: bool) -> Self {
        self.catch_panics = catch;
        self
    }

    /// Sets [`Config::ring_setup`].
    pub fn with_ring_setup(mut self, setup: RingSetup) -> Self {
        self.ring_setup = setup;
        self
    }

    /// Sets [`Config::io`].
    pub fn with_io(mut self, io: IoBackend) -> Self {
        self.io = io;
        self
    }

    /// Sets [`Config::handshake_settle`].
    pub fn with_handshake_settle(mut self, settle: Duration) -> Self {
        self.handshake_settle = settle;
        self
    }

    /// Sets [`Config::shutdown_grace`].
    pub fn with_shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// Sets [`Config::proxy_protocol`].
    pub fn with_proxy_protocol(mut self, enabled: bool) -> Self {
        self.proxy_protocol = enabled;
        self
    }

    /// Sets [`Config::proxy_header_timeout`].
    pub fn with_proxy_header_timeout(mut self, timeout: Duration) -> Self {
        self.proxy_header_timeout = timeout;
        self
    }

    /// Sets [`Config::trusted_proxies`], e.g. `vec!["10.0.0.0/8".parse()?]`.
    pub fn with_trusted_proxies(mut self, proxies: Vec<IpNet>) -> Self {
        self.trusted_proxies = proxies;
        self
    }

    /// Serves TLS with `tls` (see [`Config::tls`]): every connection must start with a
    /// handshake.
    pub fn with_tls(mut self, tls: TlsConfig) -> Self {
        self.tls = Some(tls);
        self
    }
}

/// Protocol limits. Each names its unit, its default and what exceeding it does; every
/// refusal is answered with a short plain-text body and `Connection: close`, nothing after
/// it on that connection is processed, and the connection is closed. The defaults sit in
/// the range of nginx and hyper; `docs/http-conformance.md` lists them in one table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Longest request line, in bytes including CRLF. Default 8 KiB (nginx's
    /// `large_client_header_buffers` line size). Exceeding it: 414, as soon as the byte past
    /// the limit arrives.
    pub max_request_line_bytes: usize,
    /// Longest head (request line, fields and the empty line), in bytes. Default 16 KiB
    /// (nginx allows 4 lines of 8 KiB, hyper about 400 KB), at most [`HEAD_CAPACITY`].
    /// Exceeding it: 431.
    pub max_head_bytes: usize,
    /// Most header fields in one head. Default and maximum [`HEADER_CAPACITY`] (hyper's
    /// default too). Exceeding it: 431.
    pub max_headers: usize,
    /// Largest request body, in bytes after chunked decoding. Default 1 MiB (nginx's
    /// `client_max_body_size`). Exceeding it: 413. A Content-Length above it is refused from
    /// the head alone, before any body byte is read and instead of a `100 Continue`; a
    /// chunked body is refused at the chunk-size line that would cross it.
    pub max_body_bytes: u64,
    /// Most bytes of chunk extensions in one chunked body (all chunk-size lines together,
    /// counted after the digits). Default 4 KiB. Exceeding it: 400; a size line longer than
    /// 16 digits plus what is left of this budget is refused before its end arrives.
    pub max_chunk_extension_bytes: usize,
    /// Largest trailer section of a chunked body, in bytes of field lines including their
    /// CRLFs. Default 8 KiB. Exceeding it: 431. Trailer fields are validated and discarded.
    pub max_trailer_bytes: usize,
    /// Most empty lines (CRLF) tolerated before a request line (RFC 9112 §2.2 asks servers to
    /// ignore at least one). Default 1, exactly that. Exceeding it: 400.
    pub max_empty_lines: usize,
    /// Most pipelined requests answered before their responses are written and the shard
    /// yields to other connections. Default 64 requests. Bounds the write buffer.
    pub max_pipelined_requests: usize,
    /// Most bytes of responses one batch of pipelined requests accumulates before they are
    /// written: once the write buffer reaches it, the batch ends, the responses are written
    /// and the rest of the pipeline is decoded afterwards. Default 256 KiB (hyper's
    /// `max_buf_size` is about 400 KB). Not an error: it bounds the memory a client that
    /// pipelines without reading can pin. (Requests read ahead are bounded already: the
    /// connection reads only while the current request is incomplete.)
    pub max_pipelined_bytes: usize,
    /// Initial read buffer of a connection, in bytes. Default 8 KiB; grows up to the head and
    /// body limits when a request needs it.
    pub read_buffer_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_line_bytes: 8 * 1024,
            max_head_bytes: 16 * 1024,
            max_headers: HEADER_CAPACITY,
            max_body_bytes: 1024 * 1024,
            max_chunk_extension_bytes: 4 * 1024,
            max_trailer_bytes: 8 * 1024,
            max_empty_lines: 1,
            max_pipelined_requests: 64,
            max_pipelined_bytes: 256 * 1024,
            read_buffer_bytes: 8 * 1024,
        }
    }
}

impl Limits {
    /// The limits with every field clamped into the range the engine supports.
    pub(crate) fn clamped(&self) -> Limits {
        let mut l = self.clone();
        l.max_head_bytes = l.max_head_bytes.clamp(64, HEAD_CAPACITY);
        l.max_request_line_bytes = l.max_request_line_bytes.clamp(16, l.max_head_bytes);
        l.max_headers = l.max_headers.min(HEADER_CAPACITY);
        l.max_pipelined_requests = l.max_pipelined_requests.max(1);
        l.max_pipelined_bytes = l.max_pipelined_bytes.max(1);
        l.read_buffer_bytes = l.read_buffer_bytes.max(512);
        l
    }
}
