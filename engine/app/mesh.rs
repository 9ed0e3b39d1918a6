//! Cross-shard calls over glommio's channel mesh: send work to the shard that owns a key and
//! await its answer (Seastar's `submit_to`).
//!
//! Each shard joins the mesh once, from its handler factory, giving the local *service* that
//! answers calls from other shards. A call to the shard itself runs the service directly.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;
use std::future::{poll_fn, Future};
use std::hash::{Hash, Hasher};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};

use futures_lite::StreamExt;
use glommio::channels::channel_mesh::{Full, MeshBuilder, Senders};

use crate::server::info::ShardInfo;

type LocalFuture<T> = Pin<Box<dyn Future<Output = T>>>;

/// This shard's senders to every peer, once joined.
type SharedSenders<Req, Resp> = Rc<Senders<Envelope<Req, Resp>>>;

/// What travels between shards.
enum Envelope<Req, Resp> {
    Call {
        id: u64,
        from: usize,
        request: Req,
    },
    Reply {
        id: u64,
        response: Resp,
    },
    /// The service panicked on call `id`: the caller gets [`MeshError::ServicePanicked`].
    Panicked {
        id: u64,
    },
}

/// Why a cross-shard call failed.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum MeshError {
    /// The target index is not a peer of this mesh.
    NoSuchPeer,
    /// The target shard stopped (it is draining or has exited).
    PeerGone,
    /// The target shard's service panicked on this call (caught there: that shard serves
    /// on).
    ServicePanicked,
}

impl fmt::Display for MeshError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MeshError::NoSuchPeer => f.write_str("no such peer shard"),
            MeshError::PeerGone => f.write_str("peer shard has stopped"),
            MeshError::ServicePanicked => f.write_str("peer shard's service panicked"),
        }
    }
}

impl std::error::Error for MeshError {}

/// The server-wide description of a mesh: create one before [`crate::Server::serve`], move
/// an `Arc` of it into the handler factory, and call [`Mesh::join`] there on every shard.
pub struct Mesh<Req: Send + 'static, Resp: Send + 'static> {
    builder: Mutex<Option<MeshBuilder<Envelope<Req, Resp>, Full>>>,
    capacity: usize,
}

impl<Req: Send + 'static, Resp: Send + 'static> Mesh<Req, Resp> {
    /// A mesh whose channels between each pair of shards hold `capacity` messages (senders
    /// wait when one is full: backpressure, not loss).
    pub fn new(capacity: usize) -> Arc<Self> {
        Arc::new(Mesh {
            builder: Mutex::new(None),
            capacity: capacity.max(1),
        })
    }

    /// Joins the mesh from the shard `info` (call once per shard, inside the handler
    /// factory). `service` answers calls that other shards send here. Every shard of the
    /// server must join; calls wait until all have.
    pub fn join<S, Fut>(&self, info: &ShardInfo, service: S) -> Peers<Req, Resp>
    where
        S: Fn(Req) -> Fut + 'static,
        Fut: Future<Output = Resp> + 'static,
    {
        let builder = {
            let mut guard = match self.builder.lock() {
                Ok(guard) => guard,
                Err(poisoned) => poisoned.into_inner(),
            };
            guard
                .get_or_insert_with(|| MeshBuilder::full(info.shard_count, self.capacity))
                .clone()
        };
        let service: Rc<dyn Fn(Req) -> LocalFuture<Resp>> =
            Rc::new(move |request| Box::pin(service(request)));
        let inner = Rc::new(Inner {
            me: Cell::new(None),
            count: info.shard_count,
            senders: RefCell::new(None),
            waiting: RefCell::new(Vec::new()),
            pending: RefCell::new(HashMap::new()),
            next_id: Cell::new(0),
            service,
        });
        glommio::spawn_local(connect(builder, inner.clone())).detach();
        Peers { inner }
    }
}

struct Pending<Resp> {
    response: Option<Result<Resp, MeshError>>,
    waker: Option<Waker>,
}

/// Runs the mesh service on `request` with every poll under [`crate::server::unwind::catch`].
async fn serve_caught<Req, Resp>(
    service: &dyn Fn(Req) -> LocalFuture<Resp>,
    request: Req,
) -> Result<Resp, crate::server::unwind::Panic> {
    let mut answer = crate::server::unwind::catch(|| service(request))?;
    poll_fn(|cx| crate::server::unwind::poll_caught(answer.as_mut(), cx)).await
}

struct Inner<Req: Send + 'static, Resp: Send + 'static> {
    me: Cell<Option<usize>>,
    count: usize,
    senders: RefCell<Option<SharedSenders<Req, Resp>>>,
    waiting: RefCell<Vec<Waker>>,
    pending: RefCell<HashMap<u64, Pending<Resp>>>,
    next_id: Cell<u64>,
    service: Rc<dyn Fn(Req) -> LocalFuture<Resp>>,
}

impl<Req: Send + 'static, Resp: Send + 'static> Inner<Req, Resp> {
    /// Hands call `id`'s outcome to its waiting caller (if it still waits).
    fn answer(&self, id: u64, outcome: Result<Resp, MeshError>) {
        if let Some(pending) = self.pending.borrow_mut().get_mut(&id) {
            pending.response = Some(outcome);
            if let Some(waker) = pending.waker.take() {
                waker.wake();
            }
        }
    }
}

/// Joins the channel mesh, then serves every peer's stream until it closes.
async fn connect<Req: Send + 'static, Resp: Send + 'static>(
    builder: MeshBuilder<Envelope<Req, Resp>, Full>,
    inner: Rc<Inner<Req, Resp>>,
) {
    let Ok((senders, mut receivers)) = builder.join().await else {
        log::error!("joining the shard mesh failed");
        return;
    };
    let senders = Rc::new(senders);
    inner.me.set(Some(senders.peer_id()));
    *inner.senders.borrow_mut() = Some(senders.clone());
    for waker in inner.waiting.borrow_mut().drain(..) {
        waker.wake();
    }
    for (_peer, mut stream) in receivers.streams() {
        let inner = inner.clone();
        let senders = senders.clone();
        glommio::spawn_local(async move {
            while let Some(envelope) = stream.next().await {
                match envelope {
                    Envelope::Call { id, from, request } => {
                        let service = inner.service.clone();
                        let senders = senders.clone();
                        glommio::spawn_local(async move {
                            let reply = match serve_caught(&*service, request).await {
                                Ok(response) => Envelope::Reply { id, response },
                                Err(panic) => {
                                    crate::server::unwind::log(
                                        &format!("the mesh service (a call from shard {from})"),
                                        &panic,
                                    );
                                    Envelope::Panicked { id }
                                }
                            };
                            if senders.send_to(from, reply).await.is_err() {
                                log::debug!("shard {from} left before its answer");
                            }
                        })
                        .detach();
                    }
                    Envelope::Reply { id, response } => {
                        inner.answer(id, Ok(response));
                    }
                    Envelope::Panicked { id } => {
                        inner.answer(id, Err(MeshError::ServicePanicked));
                    }
                }
            }
        })
        .detach();
    }
}

/// One shard's end of a [`Mesh`]. Cheap to clone (`Rc`).
pub struct Peers<Req: Send + 'static, Resp: Send + 'static> {
    inner: Rc<Inner<Req, Resp>>,
}

impl<Req: Send + 'static, Resp: Send + 'static> Clone for Peers<Req, Resp> {
    fn clone(&self) -> Self {
        Peers {
            inner: self.inner.clone(),
        }
    }
}

impl<Req: Send + 'static, Resp: Send + 'static> Peers<Req, Resp> {
    /// How many shards are in the mesh.
    pub fn count(&self) -> usize {
        self.inner.count
    }

    /// This shard's index in the mesh, once joined (it need not equal the shard id).
    pub async fn me(&self) -> usize {
        self.ready().await;
        self.inner.me.get().unwrap_or(0)
    }

    /// The mesh index of the shard that owns `key`: a fixed hash, identical on every shard.
    pub fn owner_of<K: Hash + ?Sized>(&self, key: &K) -> usize {
        let mut hasher = std::hash::DefaultHasher::new();
        key.hash(&mut hasher);
        (hasher.finish() % self.inner.count.max(1) as u64) as usize
    }

    async fn ready(&self) {
        poll_fn(|cx| {
            if self.inner.me.get().is_some() {
                Poll::Ready(())
            } else {
                self.inner.waiting.borrow_mut().push(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }

    /// Runs `request` on shard `peer` (its service) and returns the answer. A call to this
    /// shard runs the service directly, without a message.
    pub async fn call(&self, peer: usize, request: Req) -> Result<Resp, MeshError> {
        if peer >= self.inner.count {
            return Err(MeshError::NoSuchPeer);
        }
        self.ready().await;
        let me = self.inner.me.get().unwrap_or(0);
        if peer == me {
            return serve_caught(&*self.inner.service, request)
                .await
                .map_err(|panic| {
                    crate::server::unwind::log("the mesh service (a call from this shard)", &panic);
                    MeshError::ServicePanicked
                });
        }
        let Some(senders) = self.inner.senders.borrow().clone() else {
            return Err(MeshError::PeerGone);
        };
        let id = self.inner.next_id.get();
        self.inner.next_id.set(id.wrapping_add(1));
        self.inner.pending.borrow_mut().insert(
            id,
            Pending {
                response: None,
                waker: None,
            },
        );
        let guard = PendingGuard {
            inner: &self.inner,
            id,
        };
        let call = Envelope::Call {
            id,
            from: me,
            request,
        };
        if senders.send_to(peer, call).await.is_err() {
            return Err(MeshError::PeerGone);
        }
        let response = poll_fn(|cx| {
            let mut pending = guard.inner.pending.borrow_mut();
            match pending.get_mut(&id) {
                Some(slot) => match slot.response.take() {
                    Some(response) => Poll::Ready(Some(response)),
                    None => {
                        slot.waker = Some(cx.waker().clone());
                        Poll::Pending
                    }
                },
                None => Poll::Ready(None),
            }
        })
        .await;
        response.unwrap_or(Err(MeshError::PeerGone))
    }
}

/// Forgets a pending call however the caller's future ends (answered or dropped).
struct PendingGuard<'a, Req: Send + 'static, Resp: Send + 'static> {
    inner: &'a Inner<Req, Resp>,
    id: u64,
}

impl<Req: Send + 'static, Resp: Send + 'static> Drop for PendingGuard<'_, Req, Resp> {
    fn drop(&mut self) {
        self.inner.pending.borrow_mut().remove(&self.id);
    }
}
