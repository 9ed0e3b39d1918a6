//! Keeps a handler's panic inside its request: caught, counted, logged at a bounded rate.
//!
//! A shard runs every connection of its core; a panic unwinding out of one request's
//! handler would end the shard thread, and with it the server. So the handler's call and
//! every poll of its future (and of a streamed body, an SSE stream, a mesh service) run
//! under [`catch`]; what panicked is reported by the caller (a `500` and a close when no
//! response had started, a close when one had). The standard panic hook would print a
//! backtrace banner for each caught panic, so while a shard runs handler code the hook
//! installed here only notes where the panic happened, and the shard logs it at most
//! [`LOG_BURST`] times per [`LOG_WINDOW`]; panics elsewhere go to the previous hook.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Once;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// At most this many caught panics are logged per shard per [`LOG_WINDOW`].
const LOG_BURST: u32 = 10;
/// The window of [`LOG_BURST`].
const LOG_WINDOW: Duration = Duration::from_secs(10);

thread_local! {
    /// Whether this thread catches at all: a shard of a crash-only server does not.
    static ENABLED: Cell<bool> = const { Cell::new(true) };
    /// Depth of [`catch`] calls on this thread: while above zero, the hook stays quiet.
    static CATCHING: Cell<u32> = const { Cell::new(0) };
    /// Where the last quiet panic happened (`file:line`), set by the hook.
    static LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
    /// The route pattern the router dispatched the current request to (see [`note_route`]).
    static ROUTE: RefCell<Option<Rc<str>>> = const { RefCell::new(None) };
    /// This shard's log budget: when the window began, and lines logged in it.
    static LOGGED: Cell<Option<(Instant, u32)>> = const { Cell::new(None) };
}

/// A caught panic: its message and where it happened.
#[derive(Debug, Clone)]
pub(crate) struct Panic {
    pub message: String,
    pub location: Option<String>,
}

/// The router names the route it dispatches to, so that a panic is counted by pattern,
/// not by path (bounded label values). Costs a reference-count increment per request.
pub(crate) fn note_route(pattern: &Rc<str>) {
    ROUTE.with(|route| *route.borrow_mut() = Some(pattern.clone()));
}

/// The route noted for the request just dispatched, if a router noted one.
pub(crate) fn take_route() -> Option<Rc<str>> {
    ROUTE.with(|route| route.borrow_mut().take())
}

/// The route noted for the request being dispatched, left in place (for the tracing
/// layer, which runs inside the handler's call and before the session takes it).
#[cfg(feature = "tracing")]
pub(crate) fn noted_route() -> Option<Rc<str>> {
    ROUTE.with(|route| route.borrow().clone())
}

/// Installs the quiet hook once per process, in front of whatever hook was there.
pub(crate) fn install_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if CATCHING.with(Cell::get) > 0 {
                let location = info
                    .location()
                    .map(|l| format!("{}:{}", l.file(), l.line()));
                LOCATION.with(|slot| *slot.borrow_mut() = location);
            } else {
                previous(info);
            }
        }));
    });
}

/// Makes [`catch`] on this thread catch (`true`, the default) or let panics unwind on
/// (a crash-only server's shards: the panic ends the shard and `join` reports it).
pub(crate) fn set_enabled(enabled: bool) {
    ENABLED.with(|e| e.set(enabled));
}

/// Runs `f`, turning a panic into `Err` (unless catching is off on this thread).
pub(crate) fn catch<R>(f: impl FnOnce() -> R) -> Result<R, Panic> {
    if !ENABLED.with(Cell::get) {
        return Ok(f());
    }
    CATCHING.with(|c| c.set(c.get() + 1));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    CATCHING.with(|c| c.set(c.get().saturating_sub(1)));
    result.map_err(|payload| {
        let message = if let Some(s) = payload.downcast_ref::<&str>() {
            (*s).to_string()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "a panic without a message".to_string()
        };
        let location = LOCATION.with(|slot| slot.borrow_mut().take());
        Panic { message, location }
    })
}

/// Polls `future` under [`catch`].
pub(crate) fn poll_caught<F: Future + ?Sized>(
    future: Pin<&mut F>,
    cx: &mut Context<'_>,
) -> Poll<Result<F::Output, Panic>> {
    match catch(|| future.poll(cx)) {
        Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
        Ok(Poll::Pending) => Poll::Pending,
        Err(panic) => Poll::Ready(Err(panic)),
    }
}

pin_project_lite::pin_project! {
    /// [`poll_caught`] as a future of its own, awaited where it is built: the task holds
    /// `future` once, with no `Pin` and `poll_fn` beside it, no tag, and no copy in an
    /// async fn's argument (the connection future's size, `conn::tests`).
    pub(crate) struct Caught<F> {
        #[pin]
        future: F,
    }
}

impl<F: Future> Caught<F> {
    /// Polls `future` under [`catch`].
    pub(crate) fn new(future: F) -> Caught<F> {
        Caught { future }
    }
}

impl<F: Future> Future for Caught<F> {
    type Output = Result<F::Output, Panic>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        poll_caught(self.project().future, cx)
    }
}

/// Logs a caught panic of `what` (e.g. "the handler of GET /boom"), within the shard's
/// budget; says how many were not logged when the next window opens.
pub(crate) fn log(what: &str, panic: &Panic) {
    let now = Instant::now();
    let (start, count) = LOGGED.with(Cell::get).unwrap_or((now, 0));
    let (start, count) = if now.saturating_duration_since(start) >= LOG_WINDOW {
        if count > LOG_BURST {
            log::error!(
                "{} more panics caught in the last {LOG_WINDOW:?} were not logged",
                count - LOG_BURST
            );
        }
        (now, 0)
    } else {
        (start, count)
    };
    if count < LOG_BURST {
        let location = panic.location.as_deref().unwrap_or("unknown location");
        log::error!(
            "{what} panicked at {location}: {}; the connection is closed, the shard serves on",
            panic.message
        );
    }
    LOGGED.with(|c| c.set(Some((start, count.saturating_add(1)))));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_an_error_with_its_message_and_location() {
        install_hook();
        let caught = catch(|| -> u32 { panic!("boom {}", 7) }).expect_err("caught");
        assert_eq!(caught.message, "boom 7");
        assert!(
            caught
                .location
                .as_deref()
                .is_some_and(|l| l.contains("unwind.rs")),
            "{caught:?}"
        );
        assert_eq!(catch(|| 5).ok(), Some(5));
    }

    #[test]
    fn a_panicking_future_is_ready_with_the_panic() {
        install_hook();
        let mut future = std::pin::pin!(async { panic!("in a future") });
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        let Poll::Ready(Err(panic)) = poll_caught(future.as_mut(), &mut cx) else {
            panic!("expected a caught panic");
        };
        assert_eq!(panic.message, "in a future");
    }
}
