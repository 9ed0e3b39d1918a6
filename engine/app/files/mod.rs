//! Static files: a directory served under a route prefix, zero-copy, with HTTP's caching
//! and range semantics (docs/static-files.md).

mod cache;
mod conditional;
mod listing;
mod range;
mod resolve;

use std::cell::RefCell;
use std::fs::File;
use std::io;
use std::num::NonZeroUsize;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::http::request::Request;
use crate::http::response::Response;
use cache::{FileCache, OpenFile};
use conditional::{Conditions, Precondition, Validators};
use range::RangeAsk;
use resolve::Refused;

/// Paths a shard's open-file cache holds by default.
pub const DEFAULT_CACHE_ENTRIES: usize = 1024;

/// How long a cached file is trusted before its path is opened and stat'ed again.
pub const DEFAULT_REVALIDATE_AFTER: Duration = Duration::from_millis(1000);

/// Files at most this long are read into memory once (per version, per shard) and sent
/// with their head in one write; longer ones go from the page cache to the socket with
/// `sendfile(2)`. See docs/static-files.md for the measurement behind it.
pub const DEFAULT_INLINE_MAX_BYTES: u64 = 8 * 1024;

/// The name served for a directory's own URL (`/docs/`), when it exists.
const INDEX_FILE: &str = "index.html";

/// A directory served over HTTP, the role of tower-http's `ServeDir` or nginx's `root`.
/// Build one per shard (inside the factory given to [`crate::Server::serve`]) and mount it
/// with [`crate::Router::mount`]; each shard then keeps its own open-file cache.
///
/// GET and HEAD only. `Content-Type` from the extension, `Last-Modified`, a strong `ETag`
/// (inode, size, modification time); `If-Match`, `If-None-Match`, `If-Modified-Since`,
/// `If-Unmodified-Since` (304, 412); one `Range` (206; 416 when unsatisfiable; several
/// ranges get the whole file with 200), `If-Range`. Paths are decoded strictly: `..`,
/// an encoded `/` or `\`, NUL or bad encoding give 400; hidden names (`.env`) 404 unless
/// [`ServeDir::with_hidden`]; the kernel refuses any symlink out of the root
/// (`openat2`, `RESOLVE_BENEATH`).
///
/// ```no_run
/// use ringpin::{Router, ServeDir};
///
/// # fn shard() -> std::io::Result<Router> {
/// let files = ServeDir::open("/srv/www")?.with_precompressed(true);
/// let router = Router::new().mount("/static", files);
/// # Ok(router) }
/// ```
pub struct ServeDir {
    root: File,
    root_path: PathBuf,
    hidden: bool,
    listing: bool,
    precompressed: bool,
    inline_max: u64,
    cache: RefCell<FileCache>,
    capacity: NonZeroUsize,
    revalidate_after: Duration,
}

impl std::fmt::Debug for ServeDir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeDir")
            .field("root", &self.root_path)
            .finish()
    }
}

impl ServeDir {
    /// Serves the directory `dir`, opened now: an error if it is missing or not a
    /// directory, so a wrong path fails at startup and not at the first request.
    pub fn open(dir: impl AsRef<Path>) -> io::Result<ServeDir> {
        let root_path = dir.as_ref().to_path_buf();
        let root = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
            .open(&root_path)?;
        let capacity = NonZeroUsize::MIN.saturating_add(DEFAULT_CACHE_ENTRIES - 1);
        Ok(ServeDir {
            root,
            root_path,
            hidden: false,
            listing: false,
            precompressed: false,
            inline_max: DEFAULT_INLINE_MAX_BYTES,
            cache: RefCell::new(FileCache::new(capacity, DEFAULT_REVALIDATE_AFTER)),
            capacity,
            revalidate_after: DEFAULT_REVALIDATE_AFTER,
        })
    }

    /// Serves names starting with `.` (`.env`, `.git/`), which are 404 by default: they
    /// are usually secrets or tooling that landed in the directory by accident.
    pub fn with_hidden(mut self, hidden: bool) -> ServeDir {
        self.hidden = hidden;
        self
    }

    /// Lists a directory without an `index.html` as an HTML page; off by default (404),
    /// since a listing tells a stranger every file there is.
    pub fn with_listing(mut self, listing: bool) -> ServeDir {
        self.listing = listing;
        self
    }

    /// Serves `name.br` or `name.gz`, when it exists and the client accepts that coding,
    /// in place of `name` (with `Content-Encoding` and `Vary: Accept-Encoding`): compressed
    /// once at build time instead of per request.
    pub fn with_precompressed(mut self, precompressed: bool) -> ServeDir {
        self.precompressed = precompressed;
        self
    }

    /// Bounds the shard's open-file cache to `entries` paths (least recently used go first;
    /// each holds a descriptor). Default [`DEFAULT_CACHE_ENTRIES`]; at least 1.
    pub fn with_cache_entries(mut self, entries: usize) -> ServeDir {
        self.capacity = NonZeroUsize::new(entries).unwrap_or(NonZeroUsize::MIN);
        self.cache = RefCell::new(FileCache::new(self.capacity, self.revalidate_after));
        self
    }

    /// How long a cached file is trusted before its path is looked at again (a change on
    /// disk shows within this). Default [`DEFAULT_REVALIDATE_AFTER`]; zero looks every time.
    pub fn with_revalidate_after(mut self, after: Duration) -> ServeDir {
        self.revalidate_after = after;
        self.cache = RefCell::new(FileCache::new(self.capacity, after));
        self
    }

    /// Files at most `bytes` long are kept in memory and sent with their head in one
    /// write; longer ones are sent with `sendfile(2)`. Default [`DEFAULT_INLINE_MAX_BYTES`].
    pub fn with_inline_max_bytes(mut self, bytes: u64) -> ServeDir {
        self.inline_max = bytes;
        self
    }

    /// Answers a GET or HEAD `request` for the file at `path` (still percent-encoded,
    /// relative to the root: what follows the mount point).
    pub fn respond(&self, request: &Request, path: &str) -> Response {
        if !matches!(request.method(), "GET" | "HEAD") {
            return Response::text("method not allowed")
                .with_status(405)
                .with_header("allow", "GET, HEAD");
        }
        let decoded = match resolve::decode_path(path, self.hidden) {
            Ok(decoded) => decoded,
            Err(Refused::BadPath) => return Response::text("bad path").with_status(400),
            Err(Refused::Hidden) => return not_found(),
        };
        let relative = if decoded.relative.is_empty() {
            "."
        } else {
            decoded.relative.as_str()
        };
        let Some(found) = self.lookup(relative) else {
            return not_found();
        };
        if found.is_dir {
            if !decoded.trailing_slash {
                // The directory's own URL ends with `/`, so its relative links resolve.
                // One leading `/`: `//host/dir` would redirect to another site.
                let location = format!("/{}/", request.path().trim_start_matches('/'));
                return Response::new(301).with_header("Location", location);
            }
            let index = if relative == "." {
                INDEX_FILE.to_string()
            } else {
                format!("{relative}/{INDEX_FILE}")
            };
            return match self.lookup(&index) {
                Some(file) if file.is_file => self.serve_file(request, &index, file),
                _ if self.listing => self.list(relative, request.path()),
                _ => not_found(),
            };
        }
        if !found.is_file {
            return not_found();
        }
        self.serve_file(request, relative, found)
    }

    /// The cached open file at `relative`, `None` when it names nothing servable.
    fn lookup(&self, relative: &str) -> Option<Rc<OpenFile>> {
        let inline_max = self.inline_max;
        let opened = self.cache.borrow_mut().get(relative, Instant::now(), || {
            match crate::io::fs::open_beneath(&self.root, relative) {
                Ok(file) => {
                    let content_type = mime_guess::from_path(relative)
                        .first_raw()
                        .unwrap_or("application/octet-stream");
                    OpenFile::new(file, inline_max, content_type).map(Some)
                }
                // Missing, not a directory on the way, a symlink leaving the root
                // (EXDEV) or a loop: nothing to serve, the same for all.
                Err(e) if open_names_nothing(&e) => Ok(None),
                Err(e) => Err(e),
            }
        });
        match opened {
            Ok(found) => found,
            Err(e) => {
                log::debug!("static file {relative:?}: {e}");
                None
            }
        }
    }

    /// The precompressed sibling of `relative` the client accepts, if there is one.
    fn precompressed_variant(
        &self,
        request: &Request,
        relative: &str,
    ) -> Option<(Rc<OpenFile>, &'static str)> {
        let accepted = request.header("accept-encoding")?;
        for (coding, suffix) in [("br", "br"), ("gzip", "gz")] {
            if !accepts(accepted, coding) {
                continue;
            }
            let name = format!("{relative}.{suffix}");
            if let Some(file) = self.lookup(&name).filter(|f| f.is_file) {
                return Some((file, coding));
            }
        }
        None
    }

    fn serve_file(&self, request: &Request, relative: &str, file: Rc<OpenFile>) -> Response {
        // The original's type: a precompressed sibling (`app.js.br`) is still JavaScript.
        let content_type = file.content_type;
        let (file, coding) = match self.precompressed {
            true => match self.precompressed_variant(request, relative) {
                Some((variant, coding)) => (variant, Some(coding)),
                None => (file, None),
            },
            false => (file, None),
        };
        let validators = Validators {
            etag: &file.etag,
            modified: file.stamp.modified,
        };
        let conditions = Conditions {
            if_match: request.header("if-match"),
            if_none_match: request.header("if-none-match"),
            if_modified_since: request.header("if-modified-since"),
            if_unmodified_since: request.header("if-unmodified-since"),
        };
        let mut head = Response::new(200)
            .with_header("Last-Modified", file.last_modified.clone())
            .with_header("ETag", file.etag.clone());
        if self.precompressed {
            head = head.with_header("Vary", "Accept-Encoding");
        }
        match conditional::evaluate(&conditions, &validators, true) {
            Precondition::Serve => {}
            Precondition::NotModified => return head.with_status(304),
            Precondition::Failed => return head.with_status(412),
        }
        head = head
            .with_content_type(content_type)
            .with_header("Accept-Ranges", "bytes");
        if let Some(coding) = coding {
            head = head.with_header("Content-Encoding", coding);
        }
        let size = file.stamp.size;
        let ask = match request.header("range") {
            Some(value) if conditional::range_applies(request.header("if-range"), &validators) => {
                range::parse_range(value, size)
            }
            _ => RangeAsk::Whole,
        };
        let (first, len) = match ask {
            RangeAsk::Whole | RangeAsk::Several => (0, size),
            RangeAsk::Single { first, last } => {
                head = head
                    .with_status(206)
                    .with_header("Content-Range", format!("bytes {first}-{last}/{size}"));
                (first, last - first + 1)
            }
            RangeAsk::Unsatisfiable => {
                return head
                    .with_status(416)
                    .with_header("Content-Range", format!("bytes */{size}"))
                    .with_body(Bytes::new());
            }
        };
        match &file.inline {
            Some(bytes) => {
                let end = usize::try_from(first + len).map_or(bytes.len(), |e| e.min(bytes.len()));
                let start = usize::try_from(first).map_or(end, |s| s.min(end));
                head.with_body(bytes.slice(start..end))
            }
            None => {
                head.with_file_checked(file.file.clone(), (first, len), (size, file.stamp.modified))
            }
        }
    }

    fn list(&self, relative: &str, url_path: &str) -> Response {
        let dir = self.root_path.join(relative);
        match listing::render(&dir, url_path, self.hidden) {
            Ok(html) => Response::new(200)
                .with_content_type("text/html; charset=utf-8")
                .with_body(html),
            Err(e) => {
                log::debug!("listing {dir:?}: {e}");
                not_found()
            }
        }
    }
}

fn not_found() -> Response {
    Response::text("not found").with_status(404)
}

/// Whether an open's error means "nothing servable here" rather than a fault.
fn open_names_nothing(error: &io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(libc::ENOENT | libc::ENOTDIR | libc::EXDEV | libc::ELOOP | libc::EACCES)
            | Some(libc::ENAMETOOLONG | libc::ENXIO | libc::EAGAIN)
    )
}

/// Whether `Accept-Encoding` accepts `coding` (listed with a q-value above 0, or `*`).
fn accepts(header: &[u8], coding: &str) -> bool {
    let mut star = false;
    for item in header.split(|&b| b == b',') {
        let mut parts = item.split(|&b| b == b';');
        let name = parts.next().unwrap_or_default().trim_ascii();
        let refused = parts.any(|p| {
            let p = p.trim_ascii();
            p.strip_prefix(b"q=")
                .or_else(|| p.strip_prefix(b"Q="))
                .is_some_and(|q| q.iter().all(|&b| b == b'0' || b == b'.'))
        });
        if name.eq_ignore_ascii_case(coding.as_bytes()) {
            return !refused;
        }
        if name == b"*" {
            star = !refused;
        }
    }
    star
}

#[cfg(test)]
mod tests {
    use super::accepts;

    #[test]
    fn accept_encoding_cases() {
        let cases: &[(&[u8], &str, bool)] = &[
            (b"gzip, deflate, br", "br", true),
            (b"gzip, deflate, br", "gzip", true),
            (b"gzip", "br", false),
            (b"br;q=0", "br", false),
            (b"br;q=0.0, gzip", "br", false),
            (b"br; q=0.5", "br", true),
            (b"*", "br", true),
            (b"*;q=0", "gzip", false),
            (b"GZIP", "gzip", true),
            (b"", "gzip", false),
        ];
        for (header, coding, want) in cases {
            assert_eq!(accepts(header, coding), *want, "{header:?} {coding}");
        }
    }
}
