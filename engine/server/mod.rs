//! Starting shards, and the handle an embedder keeps to stop and join them; the shard, its
//! listener and its connections below.

pub(crate) mod conn;
pub(crate) mod context;
pub mod cpus;
pub(crate) mod drain;
pub mod info;
pub(crate) mod listener;
pub(crate) mod plain;
pub(crate) mod pool;
pub mod shard;
pub(crate) mod timeouts;
pub(crate) mod tls;
pub(crate) mod transport;
pub(crate) mod unwind;

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

use crate::app::handler::Handler;
use crate::config::Config;
use crate::ops::metrics::Metrics;
use crate::server::cpus::select_cpus;
use crate::server::info::ShardInfo;
use crate::server::listener::bind_group;
use crate::server::shard::{run_shard, ShardStart};

/// An HTTP/1.1 server: one shard per CPU, each with its own listener.
///
/// ```no_run
/// use ringpin::{Config, Response, Server};
///
/// let handle = Server::new(Config::default())
///     .serve(|_shard| |_request| async { Response::text("Hello, World!") })
///     .expect("server starts");
/// handle.join().expect("server stops cleanly");
/// ```
pub struct Server {
    config: Config,
    drain_on_signals: bool,
    metrics: Metrics,
}

impl Server {
    /// A server with `config`.
    pub fn new(config: Config) -> Server {
        Server {
            config,
            drain_on_signals: false,
            metrics: Metrics::new(),
        }
    }

    /// The server's metrics registry: every shard records into its own part, a scrape
    /// merges them. Take it before `serve` to give a `/metrics` route to the factory.
    pub fn metrics(&self) -> Metrics {
        self.metrics.clone()
    }

    /// Opts in to draining on SIGTERM and SIGINT (and, with [`Config::tls`], to reloading
    /// the certificates on SIGHUP). The handlers are installed before any
    /// socket is bound, so a signal is never lost to the default action once `serve` has
    /// logged its address. A small thread (`ringpin-signals`, asleep until a signal
    /// arrives) starts the drain on the first signal; a second one exits the process at once.
    pub fn with_signal_drain(mut self) -> Server {
        self.drain_on_signals = true;
        self
    }

    /// Binds every shard's socket, starts the shards, and returns once all of them accept
    /// connections. `factory` runs once on each shard thread and builds that shard's handler
    /// (and whatever state it owns).
    ///
    /// Errors (a bad CPU list, an address in use, an executor that cannot start) come back
    /// here; no shard is left running then.
    pub fn serve<F, H>(self, factory: F) -> io::Result<ServerHandle>
    where
        F: Fn(&ShardInfo) -> H + Send + Sync + 'static,
        H: Handler,
    {
        if self.config.catch_panics {
            crate::server::unwind::install_hook();
        }
        let signals = if self.drain_on_signals {
            use signal_hook::consts::{SIGINT, SIGTERM};
            Some(signal_hook::iterator::Signals::new([SIGTERM, SIGINT])?)
        } else {
            None
        };
        let cpus = select_cpus(self.config.cpus.as_deref())?;
        // Before any socket is bound: a host that cannot run glommio fails here, with the fix.
        crate::ops::preflight::preflight(&cpus).map_err(io::Error::from)?;
        let (addr, sockets) = bind_group(
            self.config.addr,
            self.config.backlog,
            &cpus,
            self.config.steer_by_incoming_cpu,
        )?;
        if self.config.steer_by_incoming_cpu {
            log::info!("connections are steered to the shard of the CPU that received them");
        }
        let stop = Arc::new(AtomicBool::new(false));
        let factory = Arc::new(factory);
        let (ready_tx, ready_rx) = mpsc::channel();
        let mut handle = ServerHandle {
            addr,
            metrics: self.metrics.clone(),
            shards: Vec::with_capacity(cpus.len()),
            stop: stop.clone(),
            threads: Vec::with_capacity(cpus.len()),
            tls: self.config.tls.clone(),
        };
        for (id, (cpu, listener)) in cpus.iter().zip(sockets).enumerate() {
            let info = ShardInfo {
                id,
                cpu: *cpu,
                shard_count: cpus.len(),
            };
            let start = ShardStart {
                info,
                listener,
                config: self.config.clone(),
                factory: factory.clone(),
                stop: stop.clone(),
                ready: ready_tx.clone(),
                metrics: self.metrics.clone(),
            };
            let thread = std::thread::Builder::new()
                .name(format!("ringpin-shard-{id}"))
                .spawn(move || run_shard(start));
            match thread {
                Ok(thread) => {
                    handle.shards.push(info);
                    handle.threads.push(thread);
                }
                Err(e) => {
                    handle.abort();
                    return Err(e);
                }
            }
        }
        drop(ready_tx);
        for _ in 0..handle.threads.len() {
            let started = ready_rx
                .recv()
                .unwrap_or_else(|_| Err(io::Error::other("a shard thread died while starting")));
            if let Err(e) = started {
                handle.abort();
                return Err(e);
            }
        }
        if let Some(signals) = signals {
            if let Err(e) = spawn_signal_thread(signals, handle.shutdown_trigger()) {
                handle.abort();
                return Err(e);
            }
        }
        if let Some(tls) = &self.config.tls {
            if let Err(e) = tls::reload::spawn(tls, self.drain_on_signals) {
                handle.abort();
                return Err(e);
            }
            let ktls = crate::io::ktls::probe();
            self.metrics.set_tls(ktls.label());
            log::info!(
                "TLS on {addr}: rustls (TLS 1.3 and 1.2, ALPN http/1.1), records in user space; kTLS {}",
                ktls.describe()
            );
        }
        log::info!(
            "ringpin listening on {addr}; shards -> CPUs: {}",
            handle
                .shards
                .iter()
                .map(|s| format!("{}->{}", s.id, s.cpu))
                .collect::<Vec<_>>()
                .join(" ")
        );
        Ok(handle)
    }

    /// [`Server::serve`], then blocks until the server has shut down.
    pub fn run<F, H>(self, factory: F) -> io::Result<()>
    where
        F: Fn(&ShardInfo) -> H + Send + Sync + 'static,
        H: Handler,
    {
        self.serve(factory)?.join()
    }
}

/// Controls a running server. Dropping it leaves the server running.
pub struct ServerHandle {
    addr: SocketAddr,
    metrics: Metrics,
    shards: Vec<ShardInfo>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    tls: Option<crate::config::TlsConfig>,
}

impl ServerHandle {
    /// The address the shards listen on (with the real port when port 0 was asked).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server's metrics (see [`Server::metrics`]).
    pub fn metrics(&self) -> Metrics {
        self.metrics.clone()
    }

    /// The shards and the CPU each is pinned to.
    pub fn shards(&self) -> &[ShardInfo] {
        &self.shards
    }

    /// A cloneable trigger that starts the drain from any thread (a signal handler's
    /// thread, a test).
    pub fn shutdown_trigger(&self) -> ShutdownTrigger {
        ShutdownTrigger(self.stop.clone())
    }

    /// Starts a graceful drain: every shard stops accepting, answers in-flight requests with
    /// `Connection: close`, closes idle connections, and stops within the grace period.
    /// Returns at once; [`ServerHandle::join`] waits.
    pub fn shutdown(&self) {
        self.stop.store(true, Ordering::Release);
    }

    /// Loads the TLS certificate and key files again (as SIGHUP does): new handshakes get
    /// the new certificates, open connections keep theirs. All or nothing: on an error
    /// (which names the file) the old certificates stay. `Ok` without TLS.
    pub fn reload_tls(&self) -> io::Result<()> {
        match &self.tls {
            Some(tls) => tls.reload(),
            None => Ok(()),
        }
    }

    /// Waits until every shard has stopped.
    pub fn join(self) -> io::Result<()> {
        let mut result = Ok(());
        for thread in self.threads {
            if thread.join().is_err() {
                result = Err(io::Error::other("a shard thread panicked"));
            }
        }
        result
    }

    fn abort(&mut self) {
        self.shutdown();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// Starts a server's drain from any thread; see [`ServerHandle::shutdown`].
#[derive(Clone, Debug)]
pub struct ShutdownTrigger(Arc<AtomicBool>);

impl ShutdownTrigger {
    /// Starts the drain.
    pub fn shutdown(&self) {
        self.0.store(true, Ordering::Release);
    }
}

/// Waits for SIGTERM/SIGINT on a dedicated thread and starts the drain.
fn spawn_signal_thread(
    mut signals: signal_hook::iterator::Signals,
    trigger: ShutdownTrigger,
) -> io::Result<()> {
    std::thread::Builder::new()
        .name("ringpin-signals".into())
        .spawn(move || {
            let mut received = 0;
            for signal in signals.forever() {
                received += 1;
                if received > 1 {
                    log::warn!("second signal {signal}: exiting without draining");
                    std::process::exit(1);
                }
                log::info!("signal {signal}: draining");
                trigger.shutdown();
            }
        })?;
    Ok(())
}
