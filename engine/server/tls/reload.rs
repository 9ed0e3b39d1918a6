//! Reloading the certificates without a restart: on SIGHUP, and when their files change.
//!
//! One small thread per server (`ringpin-tls-reload`) wakes every second, reloads on a
//! SIGHUP received meanwhile and, every [`TlsConfig::reload_poll`], when a file's
//! modification time changed. It holds the certificate store weakly and ends once the
//! server is gone.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use super::config::{CertStore, TlsConfig};

/// How often the thread looks at the SIGHUP flag.
const TICK: Duration = Duration::from_secs(1);

/// Starts the reload thread for `tls`; with `on_sighup`, SIGHUP reloads too (the handler
/// is installed before this returns, so a SIGHUP no longer ends the process).
pub(crate) fn spawn(tls: &TlsConfig, on_sighup: bool) -> io::Result<()> {
    let poll = tls.reload_poll;
    if poll.is_none() && !on_sighup {
        return Ok(());
    }
    let hangup = Arc::new(AtomicBool::new(false));
    if on_sighup {
        signal_hook::flag::register(signal_hook::consts::SIGHUP, hangup.clone())?;
    }
    let store = Arc::downgrade(&tls.store);
    std::thread::Builder::new()
        .name("ringpin-tls-reload".into())
        .spawn(move || watch(store, poll, hangup))?;
    Ok(())
}

fn watch(store: Weak<CertStore>, poll: Option<Duration>, hangup: Arc<AtomicBool>) {
    let tick = poll.map_or(TICK, |p| p.min(TICK));
    let mut last_poll = Instant::now();
    loop {
        std::thread::sleep(tick);
        let Some(store) = store.upgrade() else {
            return;
        };
        let why = if hangup.swap(false, Ordering::AcqRel) {
            "SIGHUP"
        } else if poll.is_some_and(|p| last_poll.elapsed() >= p) {
            last_poll = Instant::now();
            if !store.changed_on_disk() {
                continue;
            }
            "the files changed"
        } else {
            continue;
        };
        match store.reload() {
            Ok(()) => log::info!("TLS certificates reloaded ({why})"),
            Err(e) => log::warn!("TLS certificates not reloaded ({why}), the old ones stay: {e}"),
        }
    }
}
