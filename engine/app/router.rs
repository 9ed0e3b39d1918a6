//! Routing: a segment trie of static parts, `{param}` / `:param` and `{*rest}` / `*rest` captures, then the method.

use std::any::Any;
use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use crate::app::files::ServeDir;
use crate::app::handler::Handler;
use crate::app::json::error_response;
use crate::http::request::{Request, RouteInfo, MAX_PARAMS};
use crate::http::response::{IntoResponse, Response};

/// The future a routed handler returns, boxed so routes of different types share one table.
pub type BoxFuture = Pin<Box<dyn Future<Output = Response>>>;

type BoxHandler = Rc<dyn Fn(Request) -> BoxFuture>;

fn boxed<F, Fut, R>(handler: F) -> BoxHandler
where
    F: Fn(Request) -> Fut + 'static,
    Fut: Future<Output = R> + 'static,
    R: IntoResponse,
{
    Rc::new(move |request| {
        let fut = handler(request);
        Box::pin(async move { fut.await.into_response() })
    })
}

/// The handlers of one path, by method.
#[derive(Clone, Default)]
pub struct MethodRouter {
    handlers: Vec<(Box<str>, BoxHandler)>,
    stream_limit: Option<u64>,
}

macro_rules! method_fns {
    ($($(#[$doc:meta])* $free:ident $method:ident $name:literal;)*) => {
        $(
            $(#[$doc])*
            pub fn $free<F, Fut, R>(handler: F) -> MethodRouter
            where
                F: Fn(Request) -> Fut + 'static,
                Fut: Future<Output = R> + 'static,
                R: IntoResponse,
            {
                MethodRouter::default().on($name, handler)
            }
        )*
        impl MethodRouter {
            $(
                $(#[$doc])*
                pub fn $method<F, Fut, R>(self, handler: F) -> MethodRouter
                where
                    F: Fn(Request) -> Fut + 'static,
                    Fut: Future<Output = R> + 'static,
                    R: IntoResponse,
                {
                    self.on($name, handler)
                }
            )*
        }
    };
}

method_fns! {
    /// Routes GET (and HEAD, unless a HEAD handler is given) to `handler`.
    get get "GET";
    /// Routes POST to `handler`.
    post post "POST";
    /// Routes PUT to `handler`.
    put put "PUT";
    /// Routes DELETE to `handler`.
    delete delete "DELETE";
    /// Routes PATCH to `handler`.
    patch patch "PATCH";
}

impl MethodRouter {
    /// Routes `method` (case-sensitive, as RFC 9110 §9.1 says) to `handler`.
    pub fn on<F, Fut, R>(mut self, method: &str, handler: F) -> MethodRouter
    where
        F: Fn(Request) -> Fut + 'static,
        Fut: Future<Output = R> + 'static,
        R: IntoResponse,
    {
        self.handlers.retain(|(m, _)| &**m != method);
        self.handlers.push((method.into(), boxed(handler)));
        self
    }

    /// The handlers of this path read request bodies as streams
    /// ([`Request::take_body_stream`]) of at most `max_bytes` each, instead of receiving
    /// them buffered: for uploads larger than `Limits::max_body_bytes`.
    pub fn with_streaming_body(mut self, max_bytes: u64) -> MethodRouter {
        self.stream_limit = Some(max_bytes);
        self
    }

    fn find(&self, method: &str) -> Option<&BoxHandler> {
        let exact = self.handlers.iter().find(|(m, _)| &**m == method);
        let head_as_get = || {
            (method == "HEAD")
                .then(|| self.handlers.iter().find(|(m, _)| &**m == "GET"))
                .flatten()
        };
        exact.or_else(head_as_get).map(|(_, h)| h)
    }

    /// The `Allow` value: every routed method, HEAD with GET, and OPTIONS.
    fn allow(&self) -> String {
        let mut methods: Vec<&str> = self.handlers.iter().map(|(m, _)| &**m).collect();
        if methods.contains(&"GET") && !methods.contains(&"HEAD") {
            methods.push("HEAD");
        }
        if !methods.contains(&"OPTIONS") {
            methods.push("OPTIONS");
        }
        methods.join(", ")
    }
}

/// A route's handlers with the names of its captures.
struct Endpoint {
    methods: MethodRouter,
    names: Rc<RouteInfo>,
    /// The pattern as written: the `route` label of a caught panic.
    pattern: Rc<str>,
}

#[derive(Default)]
struct Node {
    statics: Vec<(Box<str>, Node)>,
    param: Option<Box<Node>>,
    catch_all: Option<Endpoint>,
    endpoint: Option<Endpoint>,
}

/// Captured ranges of the path, without allocating.
struct Captures {
    ranges: [(usize, usize); MAX_PARAMS],
    len: usize,
}

impl Node {
    /// Gives every endpoint under this node the router's `state`.
    fn set_state(&mut self, state: &Rc<dyn Any>) {
        let endpoints = self.endpoint.iter_mut().chain(self.catch_all.iter_mut());
        for endpoint in endpoints {
            endpoint.names = Rc::new(RouteInfo {
                names: endpoint.names.names.clone(),
                state: Some(state.clone()),
            });
        }
        for (_, child) in &mut self.statics {
            child.set_state(state);
        }
        if let Some(child) = &mut self.param {
            child.set_state(state);
        }
    }

    fn find<'a>(&'a self, path: &str, pos: usize, caps: &mut Captures) -> Option<&'a Endpoint> {
        if pos > path.len() {
            return self.endpoint.as_ref();
        }
        let rest = path.get(pos..).unwrap_or_default();
        let end = rest.find('/').map_or(path.len(), |i| pos + i);
        let segment = path.get(pos..end).unwrap_or_default();
        for (name, child) in &self.statics {
            if &**name == segment {
                if let Some(found) = child.find(path, end + 1, caps) {
                    return Some(found);
                }
            }
        }
        if let Some(child) = &self.param {
            if !segment.is_empty() && caps.len < MAX_PARAMS {
                if let Some(slot) = caps.ranges.get_mut(caps.len) {
                    *slot = (pos, end);
                }
                caps.len += 1;
                if let Some(found) = child.find(path, end + 1, caps) {
                    return Some(found);
                }
                caps.len -= 1;
            }
        }
        if let Some(endpoint) = &self.catch_all {
            if caps.len < MAX_PARAMS {
                if let Some(slot) = caps.ranges.get_mut(caps.len) {
                    *slot = (pos, path.len());
                }
                caps.len += 1;
                return Some(endpoint);
            }
        }
        None
    }
}

fn route_info(names: Vec<Box<str>>, state: &Option<Rc<dyn Any>>) -> Rc<RouteInfo> {
    Rc::new(RouteInfo {
        names: names.into(),
        state: state.clone(),
    })
}

/// `{name}` as `:name`, `{*name}` as `*name`; any other segment as it is.
///
/// # Panics
/// On a brace that does not wrap the whole segment, or an empty name.
fn braced_capture<'a>(pattern: &str, segment: &'a str) -> Cow<'a, str> {
    let Some(inner) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) else {
        assert!(
            !segment.contains(['{', '}']),
            "route {pattern:?}: a {{capture}} must be a whole segment, not {segment:?}"
        );
        return Cow::Borrowed(segment);
    };
    let (marker, name) = match inner.strip_prefix('*') {
        Some(name) => ("*", name),
        None => (":", inner),
    };
    assert!(
        !name.is_empty() && !name.contains(['{', '}', '*', ':']),
        "route {pattern:?}: bad capture name in {segment:?}"
    );
    Cow::Owned(format!("{marker}{name}"))
}

/// Maps paths and methods to handlers. Build one per shard (inside the factory given to
/// [`crate::Server::serve`]) from one description; it is itself a [`Handler`].
///
/// Unknown paths get 404; a known path with another method gets 405 with `Allow`; HEAD is
/// answered by the GET handler (the engine drops the body); OPTIONS gets 204 with `Allow`
/// unless routed.
///
/// ```
/// use ringpin::{get, Json, Request, Router};
///
/// let router = Router::new()
///     .route("/", get(|_req: Request| async { "hello" }))
///     .route("/users/{id}", get(|req: Request| async move {
///         Json(req.param("id").map(|id| id.into_owned()))
///     }));
/// ```
#[derive(Default)]
pub struct Router {
    root: Node,
    json_errors: bool,
    state: Option<Rc<dyn Any>>,
}

impl Router {
    /// An empty router (every path 404).
    pub fn new() -> Router {
        Router::default()
    }

    /// Gives every request this router dispatches `state`, for the
    /// [`State<T>`](crate::extract::State) extractor and [`Request::state`]. The router is
    /// built per shard, so this is per-shard state: hold `Rc`/`RefCell` in it, never locks.
    pub fn with_state<T: 'static>(mut self, state: T) -> Router {
        let state: Rc<dyn Any> = Rc::new(state);
        self.state = Some(state.clone());
        self.root.set_state(&state);
        self
    }

    /// Answers 404, 405 and the default OPTIONS with JSON bodies (`{"error": ...}`) instead of
    /// plain text.
    pub fn with_json_errors(mut self) -> Router {
        self.json_errors = true;
        self
    }

    /// Adds a route. `pattern` is `/`-separated: literal segments, `{name}` (axum 0.8's
    /// syntax) or `:name` (axum 0.7's, matchit's) for one segment, `{*name}` or `*name`
    /// (last only) for the rest of the path. The two syntaxes mean the same and may be
    /// mixed; a capture must be a whole segment (`/{id}.json` is refused).
    ///
    /// # Panics
    /// On a malformed pattern (not starting with `/`, `*` not last, more than
    /// [`MAX_PARAMS`] captures, or two different `:names` at one position): a programming
    /// error, reported when the router is built at startup, never while serving.
    pub fn route(mut self, pattern: &str, methods: MethodRouter) -> Router {
        let Some(rest) = pattern.strip_prefix('/') else {
            panic!("route {pattern:?} must start with '/'");
        };
        let mut names: Vec<Box<str>> = Vec::new();
        let state = self.state.clone();
        let mut node = &mut self.root;
        let segments: Vec<&str> = if rest.is_empty() {
            Vec::new()
        } else {
            rest.split('/').collect()
        };
        let count = segments.len();
        for (i, segment) in segments.into_iter().enumerate() {
            let segment = braced_capture(pattern, segment);
            if let Some(name) = segment.strip_prefix('*') {
                assert!(
                    i + 1 == count,
                    "route {pattern:?}: *{name} must be the last segment"
                );
                names.push(name.into());
                assert!(
                    names.len() <= MAX_PARAMS,
                    "route {pattern:?}: too many captures"
                );
                node.catch_all = Some(Endpoint {
                    methods,
                    names: route_info(names, &state),
                    pattern: pattern.into(),
                });
                return self;
            }
            if let Some(name) = segment.strip_prefix(':') {
                names.push(name.into());
                assert!(
                    names.len() <= MAX_PARAMS,
                    "route {pattern:?}: too many captures"
                );
                node = node.param.get_or_insert_with(Box::default);
            } else {
                let index = match node.statics.iter().position(|(s, _)| **s == *segment) {
                    Some(index) => index,
                    None => {
                        node.statics.push((segment.into(), Node::default()));
                        node.statics.len() - 1
                    }
                };
                node = match node.statics.get_mut(index) {
                    Some((_, child)) => child,
                    None => unreachable!("index was just found or pushed"),
                };
            }
        }
        if let Some(existing) = &node.endpoint {
            assert!(
                *existing.names.names == *names,
                "route {pattern:?} conflicts with a route naming its captures {:?}",
                existing.names.names
            );
        }
        let methods = match node.endpoint.take() {
            Some(mut existing) => {
                for (method, handler) in methods.handlers {
                    existing.methods.handlers.retain(|(m, _)| *m != method);
                    existing.methods.handlers.push((method, handler));
                }
                existing.methods.stream_limit =
                    methods.stream_limit.or(existing.methods.stream_limit);
                existing.methods
            }
            None => methods,
        };
        node.endpoint = Some(Endpoint {
            methods,
            names: route_info(names, &state),
            pattern: pattern.into(),
        });
        self
    }

    /// Serves the directory of `files` under `prefix` (`"/static"`, or `"/"` for the whole
    /// site): a request for `prefix/a/b.css` gets the file `a/b.css` of its root, GET and
    /// HEAD only. Routes `prefix` and `prefix/*path`.
    ///
    /// # Panics
    /// As [`Router::route`], on a malformed `prefix`.
    pub fn mount(self, prefix: &str, files: ServeDir) -> Router {
        let prefix = prefix.trim_end_matches('/');
        let files = Rc::new(files);
        let strip = prefix.len();
        let serve = move |request: Request| {
            let tail = request.path().get(strip..).unwrap_or_default();
            std::future::ready(files.respond(&request, tail))
        };
        let exact = if prefix.is_empty() { "/" } else { prefix };
        let rest = format!("{prefix}/*path");
        self.route(exact, get(serve.clone()))
            .route(&rest, get(serve))
    }

    fn error(&self, status: u16, text: &'static str) -> Response {
        if self.json_errors {
            error_response(status, text, "")
        } else {
            Response::text(text).with_status(status)
        }
    }

    fn lookup(&self, path: &str, caps: &mut Captures) -> Option<&Endpoint> {
        if path == "/" {
            self.root.endpoint.as_ref()
        } else {
            self.root.find(path, 1, caps)
        }
    }

    fn dispatch(&self, mut request: Request) -> Result<BoxFuture, Response> {
        let mut caps = Captures {
            ranges: [(0, 0); MAX_PARAMS],
            len: 0,
        };
        let Some(endpoint) = self.lookup(request.path(), &mut caps) else {
            return Err(self.error(404, "not found"));
        };
        let Some(handler) = endpoint.methods.find(request.method()) else {
            let allow = endpoint.methods.allow();
            return Err(if request.method() == "OPTIONS" {
                Response::new(204).with_header("allow", allow)
            } else {
                self.error(405, "method not allowed")
                    .with_header("allow", allow)
            });
        };
        let handler = handler.clone();
        crate::server::unwind::note_route(&endpoint.pattern);
        request.set_params(
            &endpoint.names,
            caps.ranges.get(..caps.len).unwrap_or_default(),
        );
        Ok(handler(request))
    }
}

impl Handler for Router {
    type Future = BoxFuture;

    fn body_stream_limit(&self, request: &Request) -> Option<u64> {
        let mut caps = Captures {
            ranges: [(0, 0); MAX_PARAMS],
            len: 0,
        };
        let endpoint = self.lookup(request.path(), &mut caps)?;
        endpoint.methods.find(request.method())?;
        endpoint.methods.stream_limit
    }

    fn call(&self, request: Request) -> BoxFuture {
        match self.dispatch(request) {
            Ok(fut) => fut,
            Err(response) => Box::pin(std::future::ready(response)),
        }
    }
}
