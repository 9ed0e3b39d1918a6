//! A shard: one glommio executor pinned to one CPU, with its own listener and connections.

use std::future::poll_fn;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use futures_lite::future;
use glommio::net::TcpListener;
use glommio::timer::Timer;
use glommio::{LocalExecutorBuilder, Placement};

use crate::app::handler::Handler;
use crate::config::{Config, IoBackend, RingSetup, Shedding};
use crate::http::date;
use crate::io::diag;
use crate::io::sys;
use crate::io::uring::{self, Driver};
use crate::ops::access_log;
use crate::ops::metrics::Metrics;
use crate::server::conn::serve_conn;
use crate::server::context::ShardCtx;
use crate::server::info::ShardInfo;

/// How often each shard looks at the clock (for `Date`) and at the stop flag.
const CLOCK_TICK: Duration = Duration::from_millis(50);

/// How long accept pauses after an error such as running out of file descriptors, so the
/// shard neither spins nor crashes.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

/// How long a drain waits for the accept in flight to fail once the listener is shut down.
const LAST_ACCEPT_WAIT: Duration = Duration::from_millis(100);

/// How often the drain looks at the backlog while handshakes settle.
const BACKLOG_POLL: Duration = Duration::from_millis(1);

/// Everything a shard thread needs to start.
pub(crate) struct ShardStart<F> {
    pub info: ShardInfo,
    pub listener: OwnedFd,
    pub config: Config,
    pub factory: Arc<F>,
    pub stop: Arc<AtomicBool>,
    pub ready: mpsc::Sender<std::io::Result<()>>,
    pub metrics: Metrics,
}

/// Runs one shard on the calling thread until it has drained. Reports on `ready` once it
/// accepts connections, or why it could not start.
pub(crate) fn run_shard<F, H>(start: ShardStart<F>)
where
    F: Fn(&ShardInfo) -> H + Send + Sync + 'static,
    H: Handler,
{
    let ShardStart {
        info,
        listener,
        config,
        factory,
        stop,
        ready,
        metrics,
    } = start;
    let executor = LocalExecutorBuilder::new(Placement::Fixed(info.cpu))
        .name(&format!("ringpin-shard-{}", info.id))
        .make();
    let executor = match executor {
        Ok(executor) => executor,
        Err(e) => {
            let _ = ready.send(Err(std::io::Error::other(format!(
                "shard {} could not start an io_uring executor on CPU {}: {e}",
                info.id, info.cpu
            ))));
            return;
        }
    };
    executor.run(async move {
        crate::server::info::enter(info);
        crate::server::unwind::set_enabled(config.catch_panics);
        date::refresh();
        let listener_fd = listener.as_raw_fd();
        let listener = sys::into_glommio_listener(listener);
        let ring = match start_ring(&config, info.id).await {
            Ok(ring) => ring,
            Err(e) => {
                let _ = ready.send(Err(std::io::Error::other(format!(
                    "shard {} could not set up its own io_uring (RINGPIN_IO=ring): {e}",
                    info.id
                ))));
                return;
            }
        };
        let handler = Rc::new(factory(&info));
        let shard_metrics = metrics.register_shard(info.id, info.cpu);
        shard_metrics.set_io_path(io_path_name(ring.as_ref().map(|(_, setup)| *setup)));
        let ctx = Rc::new(ShardCtx::new(
            &config,
            shard_metrics,
            ring.map(|(driver, _)| driver),
        ));
        glommio::spawn_local(watch_clock(ctx.clone(), stop)).detach();
        if let Some(settings) = config.shedding.clone() {
            glommio::spawn_local(probe_queue_delay(ctx.clone(), settings)).detach();
        }
        let _ = ready.send(Ok(()));
        accept_until_drain(&listener, listener_fd, handler, ctx.clone()).await;
        drop(listener);
        let deadline = Instant::now() + config.shutdown_grace;
        while ctx.open.get() > 0 && Instant::now() < deadline {
            Timer::new(Duration::from_millis(5)).await;
        }
        if let Some(ring) = &ctx.ring {
            ring.close_all();
        }
        if ctx.open.get() > 0 {
            log::warn!(
                "shard {}: {} connections still open after the grace period",
                info.id,
                ctx.open.get()
            );
        }
        ctx.metrics.publish();
        access_log::flush_shard();
    });
}

/// The I/O path a shard runs, as the logs and `ringpin_shard_info{io=..}` name it.
pub(crate) fn io_path_name(setup: Option<RingSetup>) -> &'static str {
    match setup {
        None => "glommio",
        Some(RingSetup::CoopTaskrun) => "ring-coop",
        Some(RingSetup::Interrupt) => "ring-interrupt",
        Some(RingSetup::DeferTaskrun) => "ring-defer",
        Some(RingSetup::Auto) => "ring",
    }
}

/// The shard's own ring as `config.io` and `config.ring_setup` ask, admitted by its wake
/// probe: with `Auto`, no usable setup means glommio's sockets and one warning per process;
/// with `Ring`, an error. Returns the driver and the setup it runs.
async fn start_ring(
    config: &Config,
    shard: usize,
) -> std::io::Result<Option<(Rc<Driver>, RingSetup)>> {
    static WARNED: AtomicBool = AtomicBool::new(false);
    static TOLD: AtomicBool = AtomicBool::new(false);
    if config.io == IoBackend::Glommio {
        return Ok(None);
    }
    match uring::start(config.limits.clamped().read_buffer_bytes, config.ring_setup).await {
        Ok(started) => {
            log::debug!(
                "shard {shard}: wake probe of the {} setup: {} ({:?})",
                started.setup.name(),
                started.report,
                started.report.wakes
            );
            if !TOLD.swap(true, Ordering::Relaxed) {
                log::info!(
                    "shard {shard}: own io_uring, {} setup (wake probe: median {:?}, max {:?})",
                    started.setup.name(),
                    started.report.median(),
                    started.report.max()
                );
            }
            Ok(Some((started.driver, started.setup)))
        }
        Err(refused) if config.io == IoBackend::Ring => {
            Err(std::io::Error::other(refused.to_string()))
        }
        Err(refused) => {
            if !WARNED.swap(true, Ordering::Relaxed) {
                log::warn!(
                    "shard {shard}: own io_uring not used ({refused}); connections use \
                     glommio's sockets (docs/operations.md, \"The wake probe\")"
                );
            }
            Ok(None)
        }
    }
}

/// Keeps the shard's `Date` fresh, publishes its metrics and access-log lines, and turns
/// the server-wide stop flag into a local drain. Runs until the shard exits.
async fn watch_clock(ctx: Rc<ShardCtx>, stop: Arc<AtomicBool>) {
    loop {
        Timer::new(CLOCK_TICK).await;
        date::refresh();
        ctx.metrics.publish();
        access_log::flush_shard();
        if !ctx.drain.is_started() && stop.load(Ordering::Acquire) {
            ctx.drain.start();
        }
    }
}

/// Accepts and spawns connections until a drain starts. `listener_fd` is `listener`'s
/// descriptor (glommio's listener does not expose it), shut down when the drain starts.
async fn accept_until_drain<H: Handler>(
    listener: &TcpListener,
    listener_fd: RawFd,
    handler: Rc<H>,
    ctx: Rc<ShardCtx>,
) {
    let slot = ctx.drain.take_slot();
    let (mut failures, mut last_warning) = (0u64, None);
    loop {
        // At the connection cap, stop accepting: the kernel's backlog holds newcomers
        // (instead of accepting and dropping them) until a connection closes.
        poll_fn(|cx| ctx.poll_capacity(cx)).await;
        let mut accept = std::pin::pin!(listener.accept());
        let accepted = future::or(async { Some(accept.as_mut().await) }, async {
            poll_fn(|cx| ctx.drain.poll(slot, cx)).await;
            None
        })
        .await;
        match accepted {
            None => {
                // Not dropped while in flight: glommio 0.9 cancels a dropped accept's
                // io_uring operation but never closes the descriptor a completion that
                // raced the cancellation carries, so the client it accepted would wait on
                // a socket nobody serves (tests/production.rs's drain test caught it).
                // Shutting the listener down fails the pending accept (EINVAL) and leaves
                // the reuseport group; a connection it had accepted is served (and told to
                // close, the drain having started).
                //
                // Before that, the backlog: its clients' handshakes are complete and they
                // may have written a request, which the shutdown would reset unanswered.
                // New handshakes are refused first, the ones under way are let finish,
                // and every connection that lands in the backlog is served like any other.
                let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
                let accepted =
                    drain_backlog(listener_fd, port, &handler, &ctx, accept.as_mut()).await;
                if let Err(e) = sys::stop_listening(listener_fd) {
                    log::debug!("listener shutdown failed: {e}");
                }
                if !accepted {
                    let last = future::or(async { Some(accept.as_mut().await) }, async {
                        Timer::new(LAST_ACCEPT_WAIT).await;
                        None
                    });
                    if let Some(Ok(stream)) = last.await {
                        spawn_conn(stream, &handler, &ctx);
                    }
                }
                break;
            }
            Some(Ok(stream)) => spawn_conn(stream, &handler, &ctx),
            Some(Err(e)) => {
                // EMFILE/ENFILE under a connection flood: back off (no spin), log once a
                // second at most (no log flood), and accept again when descriptors free up.
                failures += 1;
                ctx.metrics.accept_error();
                if last_warning.is_none_or(|t: Instant| t.elapsed() >= Duration::from_secs(1)) {
                    log::warn!("accept failed ({failures} times so far): {e}");
                    last_warning = Some(Instant::now());
                }
                Timer::new(ACCEPT_BACKOFF).await;
            }
        }
    }
    ctx.drain.release_slot(slot);
}

/// At a drain: refuses new handshakes on the listener (`port` is its port), then serves
/// every connection in its backlog, including those whose handshake was under way (their
/// client's `connect` has returned, and it may be writing a request): until the kernel
/// shows no handshake on the port half way, for at most
/// [`Config::handshake_settle`](crate::Config::handshake_settle). `accept` is the accept in
/// flight; returns whether it completed.
async fn drain_backlog<H: Handler>(
    listener_fd: RawFd,
    port: u16,
    handler: &Rc<H>,
    ctx: &Rc<ShardCtx>,
    mut accept: std::pin::Pin<
        &mut impl std::future::Future<Output = glommio::Result<glommio::net::TcpStream, ()>>,
    >,
) -> bool {
    if let Err(e) = sys::refuse_new_connections(listener_fd) {
        log::debug!("listener filter not attached: {e}");
        return false;
    }
    let accept_waiting = || loop {
        match sys::accept_waiting(listener_fd) {
            Ok(Some(stream)) => spawn_conn(stream, handler, ctx),
            Ok(None) => break,
            Err(e) => {
                log::debug!("accepting the backlog at drain: {e}");
                break;
            }
        }
    };
    let until = Instant::now() + ctx.handshake_settle;
    let mut accepted = false;
    loop {
        accept_waiting();
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return accepted;
        }
        match diag::handshakes_under_way(port) {
            Ok(0) => {
                // The last one may have completed between the two looks.
                accept_waiting();
                return accepted;
            }
            Ok(_) => {}
            // Not knowing, the drain waits out the settle time.
            Err(e) => log::debug!("handshakes under way unknown: {e}"),
        }
        let tick = Timer::new(left.min(BACKLOG_POLL));
        if accepted {
            tick.await;
            continue;
        }
        let done = future::or(async { Some(accept.as_mut().await) }, async {
            tick.await;
            None
        })
        .await;
        if let Some(result) = done {
            accepted = true;
            if let Ok(stream) = result {
                spawn_conn(stream, handler, ctx);
            }
        }
    }
}

/// Counts and starts the task of an accepted connection.
fn spawn_conn<H: Handler>(stream: glommio::net::TcpStream, handler: &Rc<H>, ctx: &Rc<ShardCtx>) {
    ctx.metrics.connection_opened();
    if let Err(e) = stream.set_nodelay(true) {
        log::debug!("TCP_NODELAY failed: {e}");
    }
    glommio::spawn_local(serve_conn(stream, handler.clone(), ctx.clone())).detach();
}

/// Measures how late this shard notices events and feeds the shedder (see `shedding`).
/// The probe sleeps `probe_every` and times how much later than asked it runs: the shard
/// polls for timers and socket readiness in the same place, so a timer's lateness is how
/// long a request that just arrived waits before the shard even sees it, plus the run
/// queue ahead of it. Runs only when shedding is configured.
async fn probe_queue_delay(ctx: Rc<ShardCtx>, settings: Shedding) {
    while !ctx.drain.is_started() {
        let due = Instant::now() + settings.probe_every;
        Timer::new(settings.probe_every).await;
        // Behind the tasks that became ready with it.
        futures_lite::future::yield_now().await;
        let now = Instant::now();
        ctx.shedder
            .observe(now.saturating_duration_since(due), now, &settings);
        ctx.metrics.shed_fraction(ctx.shedder.fraction());
    }
}
