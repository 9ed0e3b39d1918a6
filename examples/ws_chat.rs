//! WebSocket chat across shards: a text message sent on `/chat` reaches every client
//! connected to every shard, carried between shards by the mesh.
//!
//! ```text
//! cargo run --release --example ws_chat -- --addr 127.0.0.1:8080 --cores 0-1
//! websocat ws://127.0.0.1:8080/chat      # in two terminals: what one sends, both see
//! ```
//!
//! Each shard keeps its own clients (an `Rc<RefCell<..>>`: nothing shared between cores).
//! A message from a client goes to every shard over the mesh, itself included, and each
//! shard hands it to its clients' queues; a client's task sends from its queue. A client
//! whose queue is full (it does not read) misses messages instead of slowing the others.

#[path = "common/cli.rs"]
mod cli;

use std::cell::RefCell;
use std::rc::Rc;

use clap::Parser;
use futures_lite::future;
use glommio::channels::local_channel::{self, LocalSender};
use ringpin::ws::{self, Message, WebSocket, WsConfig};
use ringpin::{get, Mesh, Peers, Request, Response, Router, ShardInfo};

#[derive(Parser)]
#[command(about = "ringpin ws_chat: a chat room over every shard")]
struct Args {
    #[command(flatten)]
    serve: cli::ServeArgs,
}

/// Messages a client may fall behind by before it misses some.
const CLIENT_QUEUE: usize = 256;

/// One shard's clients: a queue each.
#[derive(Default)]
pub struct Room {
    clients: RefCell<Vec<LocalSender<String>>>,
}

impl Room {
    /// Hands `text` to every client of this shard.
    fn deliver(&self, text: &str) {
        self.clients.borrow_mut().retain(|client| {
            // A closed queue is a client gone; a full one misses this message.
            !matches!(
                client.try_send(text.to_owned()),
                Err(glommio::GlommioError::Closed(_))
            )
        });
    }
}

/// What a client's task woke for.
enum Incoming {
    Client(Option<Result<Message, ws::Error>>),
    Room(Option<String>),
}

/// A client's life: its messages go to every shard, the room's come back to it.
async fn chat(mut socket: WebSocket, room: Rc<Room>, peers: Rc<Peers<String, ()>>) {
    let (sender, queue) = local_channel::new_bounded(CLIENT_QUEUE);
    room.clients.borrow_mut().push(sender);
    loop {
        // `recv` may be dropped while it waits: what has arrived stays for the next call.
        let incoming = future::or(async { Incoming::Client(socket.recv().await) }, async {
            Incoming::Room(queue.recv().await)
        })
        .await;
        match incoming {
            Incoming::Client(Some(Ok(Message::Text(text)))) => {
                let text = text.to_string();
                for shard in 0..peers.count() {
                    if let Err(e) = peers.call(shard, text.clone()).await {
                        log::warn!("chat: shard {shard} missed a message: {e}");
                    }
                }
            }
            Incoming::Client(Some(Ok(_))) => {}
            Incoming::Client(_) => break,
            Incoming::Room(Some(text)) => {
                if socket.send(Message::text(text)).await.is_err() {
                    break;
                }
            }
            Incoming::Room(None) => break,
        }
    }
}

/// One shard's routes: joins the mesh (every shard must) and serves the room on `/chat`.
pub fn router(shard: &ShardInfo, mesh: &Mesh<String, ()>) -> Router {
    let room = Rc::new(Room::default());
    let delivering = room.clone();
    let peers = Rc::new(mesh.join(shard, move |text: String| {
        delivering.deliver(&text);
        std::future::ready(())
    }));
    Router::new()
        .route(
            "/chat",
            get(move |request: Request| {
                let (room, peers) = (room.clone(), peers.clone());
                async move {
                    ws::upgrade(&request, WsConfig::default(), move |socket| {
                        chat(socket, room, peers)
                    })
                }
            }),
        )
        .route("/", get(|_| async { Response::text("chat on /chat\n") }))
}

fn main() -> std::process::ExitCode {
    cli::init_logging();
    let args = Args::parse();
    let mesh = Mesh::<String, ()>::new(1024);
    cli::serve_until_signal(&args.serve, move |shard| router(shard, &mesh))
}
