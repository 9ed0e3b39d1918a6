//! A JSON users API over the shard mesh: each user lives on the shard that created it.
//!
//! ```text
//! cargo run --release --example fastjson_api -- --addr 127.0.0.1:8080
//! curl -i -H 'content-type: application/json' -d '{"name":"Ada","email":"ada@example.com"}' \
//!      http://127.0.0.1:8080/users
//! curl -i http://127.0.0.1:8080/users/0
//! ```
//!
//! Routes (a contract other checks use): `POST /users` `{"name","email"}` -> 201 with the
//! stored user and its `id`; `GET /users` -> the list; `GET /users/:id` -> 200 or 404;
//! `PUT /users/:id` -> 200 or 404; `DELETE /users/:id` -> 204 or 404. Malformed JSON -> 400,
//! a missing field -> 422, a wrong Content-Type -> 415, another method -> 405 with `Allow`.
//! Every error body is JSON.
//!
//! A user's id encodes its owner: `id % shards` is the mesh index of the shard that stores
//! it, so any shard can forward a request for it without a lookup.

#[path = "common/cli.rs"]
mod cli;

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;

use clap::Parser;
use ringpin::{
    error_response, get, IntoResponse, Json, Mesh, Peers, Request, Response, Router, ShardInfo,
};
use serde::{Deserialize, Serialize};

#[derive(Parser)]
#[command(about = "ringpin fastjson_api: a users JSON API on pinned shards")]
struct Args {
    #[command(flatten)]
    serve: cli::ServeArgs,
}

/// The body of POST and PUT.
#[derive(Deserialize)]
pub struct NewUser {
    name: String,
    email: String,
}

/// A stored user.
#[derive(Serialize, Clone, Debug)]
pub struct User {
    id: u64,
    name: String,
    email: String,
}

/// Work sent to the shard that owns a user.
pub enum Op {
    Insert(User),
    Get(u64),
    List,
    Update(u64, NewUser),
    Delete(u64),
}

/// What the owner answers.
pub enum Reply {
    One(Option<User>),
    Many(Vec<User>),
    Deleted(bool),
}

type Users = Rc<RefCell<BTreeMap<u64, User>>>;

/// Applies `op` to this shard's users.
fn apply(users: &Users, op: Op) -> Reply {
    let mut users = users.borrow_mut();
    match op {
        Op::Insert(user) => {
            users.insert(user.id, user.clone());
            Reply::One(Some(user))
        }
        Op::Get(id) => Reply::One(users.get(&id).cloned()),
        Op::List => Reply::Many(users.values().cloned().collect()),
        Op::Update(id, new) => Reply::One(users.get_mut(&id).map(|user| {
            user.name = new.name;
            user.email = new.email;
            user.clone()
        })),
        Op::Delete(id) => Reply::Deleted(users.remove(&id).is_some()),
    }
}

/// One shard's view: its mesh end and the next local sequence number.
#[derive(Clone)]
struct Api {
    peers: Peers<Op, Reply>,
    next: Rc<Cell<u64>>,
}

fn unavailable() -> Response {
    error_response(503, "owner shard unavailable", "")
}

fn not_found() -> Response {
    error_response(404, "user not found", "")
}

impl Api {
    fn id_param(request: &Request) -> Option<u64> {
        request.param("id")?.parse().ok()
    }

    fn owner(&self, id: u64) -> usize {
        (id % self.peers.count() as u64) as usize
    }

    async fn create(self, request: Request) -> Response {
        let new = match request.json::<NewUser>() {
            Ok(new) => new,
            Err(rejection) => return rejection.into_response(),
        };
        let me = self.peers.me().await;
        let seq = self.next.get();
        self.next.set(seq + 1);
        let id = seq * self.peers.count() as u64 + me as u64;
        let user = User {
            id,
            name: new.name,
            email: new.email,
        };
        match self.peers.call(me, Op::Insert(user)).await {
            Ok(Reply::One(Some(user))) => (201, Json(user)).into_response(),
            _ => unavailable(),
        }
    }

    async fn list(self) -> Response {
        let mut all = Vec::new();
        for peer in 0..self.peers.count() {
            match self.peers.call(peer, Op::List).await {
                Ok(Reply::Many(users)) => all.extend(users),
                _ => return unavailable(),
            }
        }
        all.sort_by_key(|u| u.id);
        Json(all).into_response()
    }

    async fn show(self, request: Request) -> Response {
        let Some(id) = Api::id_param(&request) else {
            return not_found();
        };
        match self.peers.call(self.owner(id), Op::Get(id)).await {
            Ok(Reply::One(Some(user))) => Json(user).into_response(),
            Ok(_) => not_found(),
            Err(_) => unavailable(),
        }
    }

    async fn update(self, request: Request) -> Response {
        let Some(id) = Api::id_param(&request) else {
            return not_found();
        };
        let new = match request.json::<NewUser>() {
            Ok(new) => new,
            Err(rejection) => return rejection.into_response(),
        };
        match self.peers.call(self.owner(id), Op::Update(id, new)).await {
            Ok(Reply::One(Some(user))) => Json(user).into_response(),
            Ok(_) => not_found(),
            Err(_) => unavailable(),
        }
    }

    async fn remove(self, request: Request) -> Response {
        let Some(id) = Api::id_param(&request) else {
            return not_found();
        };
        match self.peers.call(self.owner(id), Op::Delete(id)).await {
            Ok(Reply::Deleted(true)) => Response::new(204),
            Ok(_) => not_found(),
            Err(_) => unavailable(),
        }
    }
}

/// Builds one shard's router; `mesh` is shared by all shards.
pub fn app(info: &ShardInfo, mesh: &Arc<Mesh<Op, Reply>>) -> Router {
    let users: Users = Rc::default();
    let peers = mesh.join(info, move |op| std::future::ready(apply(&users, op)));
    let api = Api {
        peers,
        next: Rc::default(),
    };
    let (a, b, c, d, e) = (api.clone(), api.clone(), api.clone(), api.clone(), api);
    Router::new()
        .with_json_errors()
        .route(
            "/users",
            get(move |_req| a.clone().list()).post(move |req| b.clone().create(req)),
        )
        .route(
            "/users/:id",
            get(move |req| c.clone().show(req))
                .put(move |req| d.clone().update(req))
                .delete(move |req| e.clone().remove(req)),
        )
}

fn main() -> std::process::ExitCode {
    cli::init_logging();
    let args = Args::parse();
    let mesh = Mesh::new(256);
    cli::serve_until_signal(&args.serve, move |info| app(info, &mesh))
}
