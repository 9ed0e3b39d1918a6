//! The file system calls the static-file handler needs: opening beneath a root, sendfile.
//!
//! `openat2(2)` with `RESOLVE_BENEATH` lets the kernel refuse any path (`..`, an absolute
//! symlink, a symlink whose target climbs out) that would leave the root directory, in the
//! same lookup that opens the file: no check-then-open race. std has no wrapper for it.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};

/// `struct open_how` of `linux/openat2.h` (libc's is `#[non_exhaustive]`, so it cannot be
/// built outside libc): the kernel's layout, three `u64`s.
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// Set once `openat2` answered `ENOSYS` (a kernel before 5.6): later opens use the
/// fallback at once.
static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

/// Opens `relative` (no leading `/`) for reading beneath the directory `root`. Symlinks
/// are followed only while they stay beneath `root` (`RESOLVE_BENEATH`), never through
/// `/proc` magic links. On a kernel without `openat2` every component is opened with
/// `O_NOFOLLOW`, so no symlink is followed at all there. `O_NONBLOCK`, so that opening a
/// FIFO someone left in the root returns at once instead of stopping the shard (reads of
/// a regular file ignore the flag).
pub(crate) fn open_beneath(root: &File, relative: &str) -> io::Result<File> {
    let path = CString::new(relative).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    if !NO_OPENAT2.load(Ordering::Relaxed) {
        let how = OpenHow {
            flags: (libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOCTTY | libc::O_NONBLOCK) as u64,
            mode: 0,
            resolve: libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS,
        };
        // SAFETY: `path` is a NUL-terminated string and `how` a properly laid out
        // `open_how`, both alive for the whole call; the size passed is `how`'s. The kernel
        // only reads them. `root` is borrowed, so its descriptor stays open.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                root.as_raw_fd(),
                path.as_ptr(),
                std::ptr::addr_of!(how),
                std::mem::size_of::<OpenHow>(),
            )
        };
        if fd >= 0 {
            let fd = RawFd::try_from(fd).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
            // SAFETY: a non-negative return is a new descriptor nobody else owns.
            return Ok(unsafe { File::from_raw_fd(fd) });
        }
        let error = io::Error::last_os_error();
        if error.raw_os_error() != Some(libc::ENOSYS) {
            return Err(error);
        }
        NO_OPENAT2.store(true, Ordering::Relaxed);
    }
    open_without_symlinks(root, relative)
}

/// The fallback of [`open_beneath`]: one `openat(O_NOFOLLOW)` per component, each beneath
/// the last; the caller has already refused `..` and empty components.
fn open_without_symlinks(root: &File, relative: &str) -> io::Result<File> {
    let mut dir = root.try_clone()?;
    let mut parts = relative.split('/').filter(|p| !p.is_empty()).peekable();
    while let Some(part) = parts.next() {
        if part == ".." {
            return Err(io::Error::from_raw_os_error(libc::EXDEV));
        }
        let name = CString::new(part).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        let flags =
            libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW | libc::O_NOCTTY | libc::O_NONBLOCK;
        // SAFETY: `name` is NUL-terminated and alive for the call; `dir` is borrowed, so
        // its descriptor stays open.
        let fd = unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), flags) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a non-negative return is a new descriptor nobody else owns.
        let next = unsafe { File::from_raw_fd(fd) };
        if parts.peek().is_none() {
            return Ok(next);
        }
        dir = next;
    }
    dir.try_clone()
}

/// Puts the socket `fd` in non-blocking mode (if it is not already), so `sendfile` returns
/// `WouldBlock` instead of stopping the shard when the send buffer is full. Every other
/// operation on a connection socket (glommio's `MSG_DONTWAIT` calls, the own ring's
/// receives and sends) behaves the same either way.
pub(crate) fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: F_GETFL passes no memory; the caller keeps `fd` open.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    if flags & libc::O_NONBLOCK != 0 {
        return Ok(());
    }
    // SAFETY: F_SETFL with an integer passes no memory; the caller keeps `fd` open.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// One non-blocking `send(2)` of `buf` with `MSG_MORE`: a response head that the file's
/// first bytes (sent next with `sendfile`) join in one segment, as nginx's `tcp_nopush`
/// does. Returns how much the socket took; `WouldBlock` if nothing.
pub(crate) fn send_more(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is a valid, readable region of `buf.len()` bytes for the whole call;
    // the kernel only reads it. The caller keeps `fd` open. MSG_DONTWAIT keeps the call
    // from blocking the shard, MSG_NOSIGNAL turns a closed peer into EPIPE, not SIGPIPE.
    let n = unsafe {
        libc::send(
            fd,
            buf.as_ptr().cast(),
            buf.len(),
            libc::MSG_MORE | libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
        )
    };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// One `sendfile(2)` of at most `len` bytes of `file` from `*offset` to the socket `fd`:
/// page cache to socket, no copy through user space. Advances `*offset`; `Ok(0)` means
/// the file ends before `*offset` (it shrank). `WouldBlock` on a full send buffer of a
/// non-blocking socket.
pub(crate) fn sendfile(fd: RawFd, file: &File, offset: &mut u64, len: usize) -> io::Result<usize> {
    let mut off =
        libc::off_t::try_from(*offset).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `off` is a valid, exclusively borrowed off_t for the call, which the kernel
    // updates; `file` is borrowed and the caller keeps `fd` open.
    let n = unsafe { libc::sendfile(fd, file.as_raw_fd(), &mut off, len) };
    let n = usize::try_from(n).map_err(|_| io::Error::last_os_error())?;
    *offset += n as u64;
    Ok(n)
}

/// `cachestat(2)`'s number: new system calls share one number on every architecture
/// (451 since Linux 6.5); the libc crate names it only for some targets.
const SYS_CACHESTAT: libc::c_long = 451;

#[repr(C)]
struct CachestatRange {
    off: u64,
    len: u64,
}

#[repr(C)]
#[derive(Default)]
struct Cachestat {
    nr_cache: u64,
    nr_dirty: u64,
    nr_writeback: u64,
    nr_evicted: u64,
    nr_recently_evicted: u64,
}

/// Whether every page of `len` bytes of `file` from `offset` is in the page cache, so
/// that `sendfile` or a read of them cannot wait for the disk. `None` where the kernel
/// cannot tell (`cachestat(2)` is Linux 6.5+; some file systems refuse it).
pub(crate) fn cached(file: &File, offset: u64, len: usize) -> Option<bool> {
    if len == 0 {
        return Some(true);
    }
    let range = CachestatRange {
        off: offset,
        len: len as u64,
    };
    let mut stat = Cachestat::default();
    // SAFETY: `range` is a valid, readable cachestat_range and `stat` a valid, writable
    // cachestat for the call; the kernel reads the one and writes the other. `file` is
    // borrowed, so its descriptor stays open; flags 0 is the only defined value.
    let rc = unsafe {
        libc::syscall(
            SYS_CACHESTAT,
            file.as_raw_fd(),
            std::ptr::addr_of!(range),
            std::ptr::addr_of_mut!(stat),
            0,
        )
    };
    if rc != 0 {
        return None;
    }
    let page = page_size();
    let pages = (offset + len as u64 - 1) / page - offset / page + 1;
    Some(stat.nr_cache >= pages)
}

fn page_size() -> u64 {
    // SAFETY: sysconf reads a constant of the system; it passes no memory.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(size).ok().filter(|&s| s > 0).unwrap_or(4096)
}

/// Reads `len` bytes of `file` from `offset` and throws them away, so that they are in the
/// page cache afterwards: a blocking read, for a thread that may wait for the disk (never a
/// shard). Stops early at the end of the file.
pub(crate) fn read_into_cache(file: &File, offset: u64, len: usize) -> io::Result<()> {
    let mut buf = vec![0u8; len.min(128 * 1024)];
    let mut at = offset;
    let end = offset.saturating_add(len as u64);
    while at < end {
        let want = usize::try_from(end - at).map_or(buf.len(), |n| n.min(buf.len()));
        let n = match std::os::unix::fs::FileExt::read_at(file, &mut buf[..want], at) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        at += n as u64;
    }
    Ok(())
}
