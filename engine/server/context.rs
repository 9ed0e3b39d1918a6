//! What a shard's connections share: its limits and timeouts, metrics, ring, drain signal,
//! connection count and TLS handshakes ([`ShardCtx`]).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use crate::config::{Config, Limits, Shedding, Timeouts};
use crate::io::uring::Driver;
use crate::ops::metrics::ShardMetrics;
use crate::ops::shedding::Shedder;
use crate::server::drain::Drain;
use crate::server::tls::ShardTls;

/// Per-shard state shared by its connections: limits, the drain signal, open connections.
/// Shard-local (`Rc`, `Cell`): nothing here crosses threads.
pub(crate) struct ShardCtx {
    pub metrics: ShardMetrics,
    /// Clamped, shared by every session of the shard.
    pub limits: Rc<Limits>,
    pub linger: Duration,
    pub timeouts: Timeouts,
    pub idle_buffer_release: Duration,
    pub max_requests: Option<u64>,
    pub handshake_settle: Duration,
    /// The shard's own io_uring for connection I/O; `None`: glommio's sockets.
    pub ring: Option<Rc<Driver>>,
    /// `Config::proxy_protocol`, and how long the header may take.
    pub proxy_header: Option<Duration>,
    /// `Config::trusted_proxies`, shared by every connection's origin.
    pub trusted_proxies: Rc<[ipnet::IpNet]>,
    /// `Config::tls`: the shared rustls configuration and this shard's handshakes.
    pub tls: Option<ShardTls>,
    max_connections: usize,
    shedding: Option<Shedding>,
    pub(crate) shedder: Rc<Shedder>,
    /// The drain signal every connection races its idle waits against.
    pub drain: Drain,
    /// Connections open now.
    pub open: Cell<usize>,
    accept_waiter: RefCell<Option<Waker>>,
}

impl ShardCtx {
    pub(crate) fn new(
        config: &Config,
        metrics: ShardMetrics,
        ring: Option<Rc<Driver>>,
    ) -> ShardCtx {
        ShardCtx {
            ring,
            metrics,
            limits: Rc::new(config.limits.clamped()),
            linger: config.linger,
            timeouts: config.timeouts.clone(),
            idle_buffer_release: config.idle_buffer_release,
            handshake_settle: config.handshake_settle,
            proxy_header: config.proxy_protocol.then_some(config.proxy_header_timeout),
            trusted_proxies: Rc::from(config.trusted_proxies.as_slice()),
            tls: config.tls.as_ref().map(ShardTls::new),
            max_requests: config.max_requests_per_connection,
            max_connections: config.max_connections_per_shard.max(1),
            shedding: config.shedding.clone(),
            shedder: Rc::default(),
            drain: Drain::default(),
            open: Cell::new(0),
            accept_waiter: RefCell::new(None),
        }
    }

    /// Registers a connection; returns its drain-wakeup slot.
    pub fn conn_opened(&self) -> usize {
        self.open.set(self.open.get() + 1);
        self.drain.take_slot()
    }

    /// Releases what [`ShardCtx::conn_opened`] took, and lets a paused accept go on.
    pub fn conn_closed(&self, slot: usize) {
        self.open.set(self.open.get().saturating_sub(1));
        self.drain.release_slot(slot);
        if let Some(waker) = self.accept_waiter.borrow_mut().take() {
            waker.wake();
        }
    }

    /// The shard's shedder and the `Retry-After` of its refusals, if shedding is on.
    pub fn shedder(&self) -> Option<(Rc<Shedder>, u32)> {
        let settings = self.shedding.as_ref()?;
        Some((self.shedder.clone(), settings.retry_after_secs))
    }

    /// Whether load shedding is refusing a share of new requests now.
    pub fn shedding_now(&self) -> bool {
        self.shedding.is_some() && self.shedder.fraction() > 0.0
    }

    /// Ready while the shard is under its connection cap (or draining).
    pub(crate) fn poll_capacity(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.open.get() < self.max_connections || self.drain.is_started() {
            Poll::Ready(())
        } else {
            *self.accept_waiter.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        }
    }
}
