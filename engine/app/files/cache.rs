//! The shard's open-file cache: descriptors and metadata by path, bounded, revalidated.
//!
//! Why: `openat2` + `fstat` per request costs two system calls and a path walk; nginx's
//! `open_file_cache` removes them the same way. An entry is trusted for the revalidation
//! period, then the path is opened and stat'ed again: a file replaced (renamed over) or
//! rewritten is picked up within that period, and a descriptor of a deleted file is let go.

use std::fs::File;
use std::io;
use std::num::NonZeroUsize;
use std::os::unix::fs::MetadataExt;
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use lru::LruCache;

/// What identifies a version of a file: if any of these changes, it is another version.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct Stamp {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub modified: SystemTime,
}

/// An open file (or directory) and what its responses need, built once per version.
#[derive(Debug)]
pub(crate) struct OpenFile {
    pub file: Rc<File>,
    pub stamp: Stamp,
    pub is_dir: bool,
    pub is_file: bool,
    /// The strong entity tag, quoted: inode, size and modification time in hex.
    pub etag: Bytes,
    /// `Last-Modified`, an IMF-fixdate.
    pub last_modified: Bytes,
    /// `Content-Type`, from the path's extension (looked up once per version, not per
    /// response).
    pub content_type: &'static str,
    /// The whole file, read once, when it is at most the inline limit: sent from memory
    /// with the head in one write instead of a `sendfile` per response.
    pub inline: Option<Bytes>,
}

impl OpenFile {
    /// Reads `file`'s metadata (and its bytes, when it is at most `inline_max` long);
    /// `content_type` is what its responses say they carry.
    pub(crate) fn new(
        file: File,
        inline_max: u64,
        content_type: &'static str,
    ) -> io::Result<OpenFile> {
        let meta = file.metadata()?;
        let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        let stamp = Stamp {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.len(),
            modified,
        };
        let nanos = modified
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_nanos();
        let etag = format!("\"{:x}-{:x}-{:x}\"", stamp.ino, stamp.size, nanos);
        let is_file = meta.is_file();
        let inline = if is_file && stamp.size <= inline_max {
            read_whole(&file, stamp.size)
        } else {
            None
        };
        Ok(OpenFile {
            file: Rc::new(file),
            stamp,
            is_dir: meta.is_dir(),
            is_file,
            etag: Bytes::from(etag),
            last_modified: Bytes::from(httpdate::fmt_http_date(modified)),
            content_type,
            inline,
        })
    }
}

/// The file's `size` bytes, or `None` if it is no longer that long (it is changing: it
/// is sent with `sendfile`, which ends the connection should it shrink).
fn read_whole(file: &File, size: u64) -> Option<Bytes> {
    let mut bytes = vec![0; usize::try_from(size).ok()?];
    std::os::unix::fs::FileExt::read_exact_at(file, &mut bytes, 0).ok()?;
    Some(Bytes::from(bytes))
}

struct Entry {
    /// `None`: the path named nothing when last looked at (a negative entry).
    file: Option<Rc<OpenFile>>,
    checked: Instant,
}

/// A shard's open files, by path relative to the root.
pub(crate) struct FileCache {
    entries: LruCache<Box<str>, Entry>,
    revalidate_after: Duration,
}

impl FileCache {
    /// A cache of at most `capacity` paths, each trusted for `revalidate_after`.
    pub(crate) fn new(capacity: NonZeroUsize, revalidate_after: Duration) -> FileCache {
        FileCache {
            entries: LruCache::new(capacity),
            revalidate_after,
        }
    }

    /// The open file at `path`: from the cache while it is fresh, else from `open` (which
    /// opens and stat's the path; `Ok(None)` when it names nothing). A revalidated path
    /// that is still the same version keeps its entry (and its inline bytes).
    pub(crate) fn get(
        &mut self,
        path: &str,
        now: Instant,
        open: impl FnOnce() -> io::Result<Option<OpenFile>>,
    ) -> io::Result<Option<Rc<OpenFile>>> {
        if let Some(entry) = self.entries.get_mut(path) {
            if now.saturating_duration_since(entry.checked) < self.revalidate_after {
                return Ok(entry.file.clone());
            }
        }
        let fresh = open()?;
        let same = match (
            self.entries.peek(path).and_then(|e| e.file.as_ref()),
            &fresh,
        ) {
            (Some(old), Some(new)) => old.stamp == new.stamp,
            _ => false,
        };
        let entry = match self.entries.get_mut(path) {
            Some(entry) => entry,
            None => {
                self.entries.put(
                    path.into(),
                    Entry {
                        file: None,
                        checked: now,
                    },
                );
                match self.entries.get_mut(path) {
                    Some(entry) => entry,
                    None => return Ok(fresh.map(Rc::new)),
                }
            }
        };
        entry.checked = now;
        if !same {
            entry.file = fresh.map(Rc::new);
        }
        Ok(entry.file.clone())
    }

    /// How many paths are cached.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn temp_file(bytes: &[u8]) -> (std::path::PathBuf, File) {
        let dir = std::env::temp_dir().join(format!(
            "ringpin-cache-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("f.txt");
        std::fs::File::create(&path)
            .and_then(|mut f| f.write_all(bytes))
            .expect("write");
        let file = File::open(&path).expect("open");
        (path, file)
    }

    #[test]
    fn hits_until_stale_then_revalidates_bounded() {
        let (path, _) = temp_file(b"hello");
        let open = || {
            File::open(&path)
                .and_then(|f| OpenFile::new(f, 1024, "text/plain"))
                .map(Some)
        };
        let mut cache = FileCache::new(NonZeroUsize::new(2).expect("2"), Duration::from_secs(1));
        let t0 = Instant::now();
        let first = cache.get("f", t0, open).expect("get").expect("file");
        assert_eq!(first.inline.as_deref(), Some(&b"hello"[..]));
        // Fresh: the opener is not called.
        let hit = cache
            .get("f", t0 + Duration::from_millis(10), || panic!("opened"))
            .expect("get")
            .expect("file");
        assert!(Rc::ptr_eq(&first, &hit));
        // Stale but unchanged: the same entry.
        let same = cache
            .get("f", t0 + Duration::from_secs(2), open)
            .expect("get")
            .expect("file");
        assert!(Rc::ptr_eq(&first, &same));
        // Changed: a new version.
        std::fs::write(&path, b"hello, longer").expect("rewrite");
        let changed = cache
            .get("f", t0 + Duration::from_secs(4), open)
            .expect("get")
            .expect("file");
        assert_eq!(changed.stamp.size, 13);
        // Negative entries, and the bound.
        assert!(cache
            .get("missing", t0, || Ok(None))
            .expect("get")
            .is_none());
        assert!(cache.get("other", t0, || Ok(None)).expect("get").is_none());
        assert_eq!(cache.len(), 2);
    }
}
