//! Static files over loopback: curl for ranges, conditionals, HEAD and precompressed
//! siblings; raw bytes for traversal attempts; a file that shrinks mid-response; both I/O
//! paths (tests/run.sh runs this again with RINGPIN_IO=glommio).

mod common;

#[path = "../examples/static_files.rs"]
#[allow(dead_code, clippy::duplicate_mod)]
mod static_example;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use common::{connect, start, test_config, Replies};
use ringpin::ServerHandle;

/// A fresh directory under the system's temp dir, removed when dropped.
struct Site {
    dir: PathBuf,
    server: Option<ServerHandle>,
}

impl Drop for Site {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown();
            let _ = server.join();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

static NEXT: AtomicU32 = AtomicU32::new(0);

/// Bytes that differ at every offset (so a wrong range shows).
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// A directory with a small and a large file, an index, a hidden file, a precompressed
/// sibling, a symlink out of the root and one inside it, served by the example's router.
fn site() -> Site {
    site_with(static_example::Options {
        inline_max_bytes: ringpin::DEFAULT_INLINE_MAX_BYTES,
        ..Default::default()
    })
}

/// [`site`], served with `options`.
fn site_with(options: static_example::Options) -> Site {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("ringpin-static-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("docs")).expect("mkdir");
    std::fs::create_dir_all(dir.join("empty")).expect("mkdir");
    std::fs::write(dir.join("index.html"), b"<h1>home</h1>\n").expect("write");
    std::fs::write(dir.join("docs/index.html"), b"docs\n").expect("write");
    std::fs::write(dir.join("small.txt"), pattern(1000)).expect("write");
    std::fs::write(dir.join("large.bin"), pattern(300_000)).expect("write");
    std::fs::write(dir.join(".env"), b"SECRET=1\n").expect("write");
    std::fs::write(dir.join("app.js"), b"console.log('plain');\n").expect("write");
    let gz = Command::new("gzip")
        .args(["-k", "-9"])
        .arg(dir.join("app.js"))
        .status()
        .expect("gzip runs");
    assert!(gz.success());
    std::os::unix::fs::symlink("/etc/passwd", dir.join("passwd")).expect("symlink");
    std::os::unix::fs::symlink("small.txt", dir.join("alias.txt")).expect("symlink");
    let root = dir.clone();
    let server = start(test_config(), move |_| static_example::site(&root, options));
    Site {
        dir,
        server: Some(server),
    }
}

impl Site {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.server().addr())
    }

    fn server(&self) -> &ServerHandle {
        self.server.as_ref().expect("running")
    }

    /// curl with `args` against `path`: (status, headers as lowercase lines, body).
    fn curl(&self, args: &[&str], path: &str) -> (u16, String, Vec<u8>) {
        let head_file = self
            .dir
            .with_extension(format!("head-{}", NEXT.fetch_add(1, Ordering::Relaxed)));
        let output = Command::new("curl")
            .args(["-s", "--max-time", "20", "-D"])
            .arg(&head_file)
            .args(args)
            .arg(self.url(path))
            .output()
            .expect("curl runs (apt-get install curl)");
        assert!(output.status.success(), "curl {args:?} {path}: {output:?}");
        let head = std::fs::read_to_string(&head_file)
            .expect("head")
            .to_ascii_lowercase();
        let _ = std::fs::remove_file(&head_file);
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("status");
        (status, head, output.stdout)
    }
}

/// The value of `name` (lowercase) in curl's dumped head.
fn field<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .map(str::trim)
}

#[test]
fn whole_files_types_and_validators() {
    let site = site();
    let (status, head, body) = site.curl(&[], "/small.txt");
    assert_eq!(status, 200);
    assert_eq!(body, pattern(1000));
    assert_eq!(field(&head, "content-type"), Some("text/plain"));
    assert_eq!(field(&head, "accept-ranges"), Some("bytes"));
    assert!(
        field(&head, "etag").is_some_and(|e| e.starts_with('"')),
        "{head}"
    );
    assert!(field(&head, "last-modified").is_some(), "{head}");
    // Sent with sendfile (above the inline limit): every byte, in order.
    let (status, _, body) = site.curl(&[], "/large.bin");
    assert_eq!(status, 200);
    assert_eq!(body.len(), 300_000);
    assert!(body == pattern(300_000), "large body differs");
    // The index of the root and of a directory; a directory without its slash redirects.
    let (status, _, body) = site.curl(&[], "/");
    assert_eq!((status, body.as_slice()), (200, &b"<h1>home</h1>\n"[..]));
    let (status, head, _) = site.curl(&[], "/docs");
    assert_eq!(status, 301);
    assert_eq!(field(&head, "location"), Some("/docs/"));
    assert_eq!(site.curl(&[], "/docs/").2, b"docs\n");
    // Never a redirect to another host (`//docs` would be one).
    let (status, head, _) = site.curl(&[], "//docs");
    assert_eq!(status, 301);
    assert_eq!(field(&head, "location"), Some("/docs/"));
    // No listing unless asked; a symlink inside the root is followed.
    assert_eq!(site.curl(&[], "/empty/").0, 404);
    assert_eq!(site.curl(&[], "/alias.txt").2, pattern(1000));
    assert_eq!(site.curl(&[], "/missing.txt").0, 404);
    // A FIFO in the root is no file to serve, and opening it does not stall the shard.
    let fifo = Command::new("mkfifo")
        .arg(site.dir.join("pipe"))
        .status()
        .expect("mkfifo runs");
    assert!(fifo.success());
    assert_eq!(site.curl(&[], "/pipe").0, 404);
    assert_eq!(site.curl(&[], "/small.txt").0, 200);
}

#[test]
fn ranges() {
    let site = site();
    for path in ["/small.txt", "/large.bin"] {
        let size = if path == "/small.txt" { 1000 } else { 300_000 };
        let (status, head, body) = site.curl(&["-r", "0-99"], path);
        assert_eq!(status, 206, "{path}");
        assert_eq!(body, pattern(size)[..100].to_vec(), "{path}");
        assert_eq!(
            field(&head, "content-range"),
            Some(&*format!("bytes 0-99/{size}"))
        );
        let (status, head, body) = site.curl(&["-r", "-10"], path);
        assert_eq!(status, 206);
        assert_eq!(body, pattern(size)[size - 10..].to_vec());
        assert_eq!(field(&head, "content-length"), Some("10"));
        let (status, _, body) = site.curl(&["-r", "250000-"], "/large.bin");
        assert_eq!((status, body.len()), (206, 50_000));
        // Several ranges: the whole file, 200.
        let (status, _, body) = site.curl(&["-r", "0-1,5-9"], path);
        assert_eq!((status, body.len()), (200, size));
        // Nothing satisfiable: 416 naming the size.
        let (status, head, _) = site.curl(&["-r", "999999999-"], path);
        assert_eq!(status, 416);
        assert_eq!(
            field(&head, "content-range"),
            Some(&*format!("bytes */{size}"))
        );
    }
    // If-Range: the current ETag keeps the range, another one gets the whole file.
    let (_, head, _) = site.curl(&[], "/large.bin");
    let etag = field(&head, "etag").expect("etag").to_string();
    let if_range = format!("If-Range: {etag}");
    let (status, _, body) = site.curl(&["-r", "0-9", "-H", &if_range], "/large.bin");
    assert_eq!((status, body.len()), (206, 10));
    let (status, _, body) = site.curl(&["-r", "0-9", "-H", "If-Range: \"old\""], "/large.bin");
    assert_eq!((status, body.len()), (200, 300_000));
}

#[test]
fn conditionals_and_head() {
    let site = site();
    let (_, head, _) = site.curl(&[], "/small.txt");
    let etag = field(&head, "etag").expect("etag").to_string();
    let inm = format!("If-None-Match: {etag}");
    let (status, head, body) = site.curl(&["-H", &inm], "/small.txt");
    assert_eq!(status, 304);
    assert!(body.is_empty());
    assert_eq!(field(&head, "etag"), Some(&*etag));
    let (status, _, _) = site.curl(&["-H", "If-None-Match: \"other\""], "/small.txt");
    assert_eq!(status, 200);
    // -z: If-Modified-Since, a date after the file's (304) and long before (200).
    assert_eq!(
        site.curl(&["-z", "Jan 1 2100 00:00:00 GMT"], "/small.txt")
            .0,
        304
    );
    assert_eq!(
        site.curl(&["-z", "Jan 1 2000 00:00:00 GMT"], "/small.txt")
            .0,
        200
    );
    assert_eq!(
        site.curl(&["-H", "If-Match: \"other\""], "/small.txt").0,
        412
    );
    // HEAD: the GET's head, Content-Length included, and no body.
    for (path, size) in [("/small.txt", "1000"), ("/large.bin", "300000")] {
        let (status, head, body) = site.curl(&["-I"], path);
        assert_eq!(status, 200);
        assert_eq!(field(&head, "content-length"), Some(size));
        assert!(body.starts_with(b"HTTP/1.1 200"), "curl -I prints the head");
    }
    // A HEAD, then a GET on the same connection: the HEAD sent no body bytes.
    let mut replies = Replies::new(connect(site.server().addr()));
    replies.head_request = true;
    replies.send(b"HEAD /large.bin HTTP/1.1\r\nHost: x\r\n\r\n");
    let reply = replies.next().expect("head reply");
    assert_eq!(reply.header("content-length"), Some("300000"));
    replies.head_request = false;
    replies.send(b"GET /small.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(replies.next().expect("get reply").body, pattern(1000));
}

#[test]
fn precompressed_siblings() {
    let site = site();
    let (status, head, body) = site.curl(&["--compressed"], "/app.js");
    assert_eq!(status, 200);
    assert_eq!(field(&head, "content-encoding"), Some("gzip"));
    assert_eq!(field(&head, "vary"), Some("accept-encoding"));
    assert_eq!(field(&head, "content-type"), Some("text/javascript"));
    assert_eq!(body, b"console.log('plain');\n");
    let (status, head, body) = site.curl(&[], "/app.js");
    assert_eq!(status, 200);
    assert_eq!(field(&head, "content-encoding"), None);
    assert_eq!(body, b"console.log('plain');\n");
    let (_, head, _) = site.curl(&["-H", "Accept-Encoding: gzip;q=0"], "/app.js");
    assert_eq!(field(&head, "content-encoding"), None);
}

/// The raw answer to `request`: its status line and whole text.
fn raw(site: &Site, request: &[u8]) -> (String, String) {
    let mut stream = connect(site.server().addr());
    stream.write_all(request).expect("write");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text.lines().next().unwrap_or_default().to_string();
    (status, text)
}

#[test]
fn traversal_attempts_stay_inside_the_root() {
    let site = site();
    let cases: &[(&str, &str)] = &[
        ("/../etc/passwd", "400"),
        ("/a/../../etc/passwd", "400"),
        ("/%2e%2e/%2e%2e/etc/passwd", "400"),
        ("/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd", "400"),
        ("/docs%2findex.html", "400"),
        ("/docs%5cindex.html", "400"),
        ("/small.txt%00.html", "400"),
        ("/passwd", "404"),
        ("/.env", "404"),
        ("/%2eenv", "404"),
        ("/docs/../.env", "400"),
    ];
    for (path, want) in cases {
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let (status, text) = raw(&site, request.as_bytes());
        assert!(
            status.starts_with(&format!("HTTP/1.1 {want}")),
            "{path}: {status}"
        );
        assert!(!text.contains("root:"), "{path} leaked /etc/passwd");
        assert!(!text.contains("SECRET"), "{path} leaked .env");
    }
}

#[test]
fn listing_only_when_asked_and_without_hidden_names() {
    let site = site_with(static_example::Options {
        listing: true,
        inline_max_bytes: ringpin::DEFAULT_INLINE_MAX_BYTES,
        ..Default::default()
    });
    std::fs::write(site.dir.join("empty/a <b>.txt"), b"x").expect("write");
    std::fs::write(site.dir.join("empty/.hidden"), b"x").expect("write");
    let (status, head, body) = site.curl(&[], "/empty/");
    let html = String::from_utf8_lossy(&body);
    assert_eq!(status, 200);
    assert!(field(&head, "content-type").is_some_and(|t| t.starts_with("text/html")));
    assert!(html.contains("href=\"a%20%3Cb%3E.txt\""), "{html}");
    assert!(html.contains("a &lt;b&gt;.txt"), "{html}");
    assert!(!html.contains("hidden"), "{html}");
    // A directory with an index still serves the index.
    assert_eq!(site.curl(&[], "/docs/").2, b"docs\n");
}

#[test]
fn pipelined_file_bodies_stay_in_order() {
    let site = site();
    let mut replies = Replies::new(connect(site.server().addr()));
    replies.send(
        b"GET /large.bin HTTP/1.1\r\nHost: x\r\n\r\nGET /small.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /large.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=10-19\r\n\r\n",
    );
    let first = replies.next().expect("first");
    assert!(first.body == pattern(300_000), "first body");
    assert_eq!(replies.next().expect("second").body, pattern(1000));
    let third = replies.next().expect("third");
    assert_eq!(
        (third.status, third.body),
        (206, pattern(20)[10..].to_vec())
    );
}

#[test]
fn a_changed_file_is_seen_after_revalidation() {
    let site = site();
    assert_eq!(site.curl(&[], "/small.txt").2, pattern(1000));
    std::fs::write(site.dir.join("small.txt"), b"rewritten\n").expect("rewrite");
    // The cache trusts an entry for a second (DEFAULT_REVALIDATE_AFTER), then looks again.
    std::thread::sleep(Duration::from_millis(1300));
    assert_eq!(site.curl(&[], "/small.txt").2, b"rewritten\n");
}

#[test]
fn a_file_that_shrinks_mid_response_ends_the_connection() {
    let site = site();
    let path = site.dir.join("huge.bin");
    let size = 64 * 1024 * 1024;
    write_file(&path, size);
    let mut stream = connect(site.server().addr());
    // The head is read, then nothing for a while: most of the body is still in the file
    // (64 MiB, far more than the socket buffers hold) when it shrinks.
    stream
        .write_all(b"GET /huge.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    let mut first = vec![0u8; 4096];
    let n = stream.read(&mut first).expect("head");
    let text = String::from_utf8_lossy(&first[..n]).into_owned();
    assert!(text.contains(&format!("Content-Length: {size}")), "{text}");
    std::thread::sleep(Duration::from_millis(200));
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .and_then(|f| f.set_len(1024 * 1024))
        .expect("truncate");
    // The slow reader reads on: the body must end short, by a close, not hang.
    let started = Instant::now();
    let mut total = n;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(k) => total += k,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("connection hung or failed after the file shrank: {e}"),
        }
        assert!(started.elapsed() < Duration::from_secs(10), "no close");
    }
    assert!(
        total < size,
        "a {size}-byte body arrived whole from a 1 MiB file"
    );
}

/// Writes a `len`-byte file of the pattern at `path`.
fn write_file(path: &Path, len: usize) {
    let mut file = std::fs::File::create(path).expect("create");
    let chunk = pattern(1024 * 1024);
    let mut left = len;
    while left > 0 {
        let n = left.min(chunk.len());
        file.write_all(&chunk[..n]).expect("write");
        left -= n;
    }
}

#[test]
fn a_slow_reader_gets_every_byte_of_a_large_file() {
    let site = site();
    let size = 8 * 1024 * 1024;
    write_file(&site.dir.join("big.bin"), size);
    let mut stream = connect(site.server().addr());
    stream
        .write_all(
            b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\nGET /small.txt HTTP/1.1\r\nHost: x\r\n\r\n",
        )
        .expect("write");
    // Reads in small steps with pauses: the server's send buffer fills again and again,
    // and each time it waits for room (a POLLOUT poll on the own ring, a one-byte write
    // on glommio's socket) and resumes sendfile.
    let mut received = Vec::with_capacity(size + 4096);
    let mut buf = vec![0u8; 64 * 1024];
    let started = Instant::now();
    let mut head_end = None;
    // Both responses: the large one, then the small one's head and 1,000 bytes.
    let mut wanted = usize::MAX;
    while received.len() < wanted {
        let n = stream.read(&mut buf).expect("read (server hung?)");
        assert!(n > 0, "closed after {} bytes", received.len());
        received.extend_from_slice(&buf[..n]);
        if head_end.is_none() {
            head_end = find(&received, b"\r\n\r\n").map(|at| at + 4);
        }
        if let (Some(end), usize::MAX) = (head_end, wanted) {
            let tail = received.get(end + size..).unwrap_or_default();
            if let Some(second) = find(tail, b"\r\n\r\n") {
                wanted = end + size + second + 4 + 1000;
            }
        }
        if received.len() < size / 2 {
            std::thread::sleep(Duration::from_millis(2));
        }
        assert!(started.elapsed() < Duration::from_secs(30), "too slow");
    }
    let end = head_end.expect("head");
    let head = String::from_utf8_lossy(&received[..end]).into_owned();
    assert!(head.contains(&format!("Content-Length: {size}")), "{head}");
    let whole = pattern(1024 * 1024);
    assert!(
        received[end..end + size]
            .chunks(whole.len())
            .all(|c| c == &whole[..c.len()]),
        "body differs"
    );
    assert!(
        received[received.len() - 1000..] == pattern(1000)[..],
        "second body differs"
    );
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A file body that is not in the page cache is read into it off the shard (glommio's
/// blocking thread), then sent whole and right; the shard counts the pieces.
#[test]
fn a_cold_file_is_read_into_the_cache_off_the_shard() {
    use std::os::fd::AsRawFd;
    let site = site();
    let size = 3 * 1024 * 1024 + 4321;
    let path = site.dir.join("cold.bin");
    write_file(&path, size);
    let file = std::fs::File::open(&path).expect("open");
    file.sync_all().expect("fsync");
    // SAFETY: posix_fadvise passes no memory; `file` stays open for the call. DONTNEED
    // drops the file's clean pages from the page cache.
    let rc = unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    assert_eq!(rc, 0, "posix_fadvise");
    let (status, _, body) = site.curl(&[], "/cold.bin");
    assert_eq!(status, 200);
    assert_eq!(body.len(), size);
    let whole = pattern(1024 * 1024);
    assert!(
        body.chunks(whole.len()).all(|c| c == &whole[..c.len()]),
        "body differs"
    );
    // Counters are published on the shard's clock tick.
    let started = Instant::now();
    loop {
        let cold = site
            .server()
            .metrics()
            .snapshot()
            .total
            .counters
            .file_cold_reads;
        if cold >= 1 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "no piece of the evicted file was counted as read off the shard"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
