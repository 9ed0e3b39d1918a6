//! How to move a file's bytes from the page cache to a TCP socket, measured as CPU time:
//! the choice behind `ServeDir`'s send path (docs/static-files.md, "Which zero-copy path").
//!
//! Three ways, each sending a whole file (64 KiB, 1 MiB, 4 MiB, warm in the page cache) over
//! a loopback connection to a thread that reads and discards:
//! - `sendfile`: `sendfile(2)` on the socket, what ringpin does on both I/O paths;
//! - `ring_splice`: io_uring `IORING_OP_SPLICE` file → pipe → socket, the two SQEs linked,
//!   through a 1 MiB pipe (the other zero-copy candidate on the own ring);
//! - `read_send`: `pread` into a 256 KiB buffer and `send` (one copy through user space,
//!   what TLS must do), the baseline.
//!
//! What is timed is CPU, not wall time: criterion's "time" is the CPU the sending side
//! spent (the process's `getrusage` minus the receiving thread's `schedstat`, so the
//! io_uring worker threads a splice runs on are counted, exited ones too) in the group
//! `file_send`, and the whole process's (the receiver's copy-out included: on loopback the
//! kernel does part of the sender's work in the receiver's context) in `file_send_total`.
//!
//! The sender is pinned to CPU 1 and the receiver to CPU 0.
//!
//! `cargo bench --bench file_send`; a smoke run: `cargo bench --bench file_send -- --quick`.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use io_uring::{opcode, squeue, types, IoUring};

const SIZES: [usize; 3] = [64 * 1024, 1024 * 1024, 4 * 1024 * 1024];
const PIPE_BYTES: usize = 1024 * 1024;
const COPY_BYTES: usize = 256 * 1024;
/// The sender (and the io_uring workers it starts, which inherit its affinity) on one CPU,
/// the receiver on another, as the harness pins server and client; on a one-CPU machine
/// both share it.
const SENDER_CPU: usize = 1;
const RECEIVER_CPU: usize = 0;

fn pin(cpu: usize) {
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    if let Some(core) = cores.iter().find(|c| c.id == cpu).or(cores.first()) {
        core_affinity::set_for_current(*core);
    }
}

/// A loopback connection whose far end a thread drains; `receiver` is that thread's tid.
struct Sink {
    stream: TcpStream,
    receiver: Arc<AtomicI32>,
}

fn sink() -> Sink {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    let receiver = Arc::new(AtomicI32::new(0));
    let tid = receiver.clone();
    std::thread::spawn(move || {
        pin(RECEIVER_CPU);
        // SAFETY: gettid takes no arguments and cannot fail.
        tid.store(unsafe { libc::gettid() }, Ordering::SeqCst);
        let (mut conn, _) = listener.accept().expect("accept");
        let mut buf = vec![0u8; 256 * 1024];
        while let Ok(n) = conn.read(&mut buf) {
            if n == 0 {
                break;
            }
        }
    });
    let stream = TcpStream::connect(addr).expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    while receiver.load(Ordering::SeqCst) == 0 {
        std::thread::yield_now();
    }
    Sink { stream, receiver }
}

/// CPU time of the whole process, exited threads included.
fn process_cpu() -> Duration {
    // SAFETY: `usage` is a valid, exclusively borrowed rusage for the call.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above; RUSAGE_SELF is a valid target.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    assert_eq!(rc, 0, "getrusage");
    let us = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    Duration::from_micros(us(usage.ru_utime) + us(usage.ru_stime))
}

/// CPU time of one thread of this process (ns on CPU, from schedstat).
fn thread_cpu(tid: i32) -> Duration {
    let text = std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat"))
        .expect("the receiver's schedstat");
    let ns = text
        .split_whitespace()
        .next()
        .and_then(|f| f.parse().ok())
        .expect("schedstat's first field");
    Duration::from_nanos(ns)
}

fn sendfile_all(sock: RawFd, file: &File, len: usize) {
    let mut off: libc::off_t = 0;
    while (off as usize) < len {
        // SAFETY: `off` is a valid off_t the kernel updates; both descriptors are open.
        let n = unsafe { libc::sendfile(sock, file.as_raw_fd(), &mut off, len - off as usize) };
        assert!(n > 0, "sendfile: {}", std::io::Error::last_os_error());
    }
}

fn read_send_all(sock: &mut TcpStream, file: &File, len: usize, buf: &mut [u8]) {
    let mut off = 0;
    while off < len {
        let want = (len - off).min(buf.len());
        let n =
            std::os::unix::fs::FileExt::read_at(file, &mut buf[..want], off as u64).expect("pread");
        sock.write_all(&buf[..n]).expect("send");
        off += n;
    }
}

/// An io_uring and a pipe for splicing file → pipe → socket.
struct Splicer {
    ring: IoUring,
    read_end: OwnedFd,
    write_end: OwnedFd,
}

impl Splicer {
    fn new() -> Splicer {
        let mut fds = [0; 2];
        // SAFETY: `fds` is a valid array of two c_ints for the call.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        // SAFETY: pipe2 succeeded: both are open descriptors this process owns.
        let (read_end, write_end) =
            unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // SAFETY: F_SETPIPE_SZ with an integer passes no memory.
        let size = unsafe { libc::fcntl(fds[1], libc::F_SETPIPE_SZ, PIPE_BYTES as libc::c_int) };
        assert!(size >= PIPE_BYTES as i32, "F_SETPIPE_SZ: {size}");
        Splicer {
            ring: IoUring::new(8).expect("io_uring"),
            read_end,
            write_end,
        }
    }

    /// Pushes `entries`, submits, and returns their results in order.
    fn run(&mut self, entries: &[squeue::Entry]) -> Vec<i32> {
        for entry in entries {
            // SAFETY: a splice points at no user memory; the descriptors outlive it, as
            // `submit_and_wait` returns only once every entry has completed.
            unsafe { self.ring.submission().push(entry).expect("sq room") };
        }
        self.ring
            .submit_and_wait(entries.len())
            .expect("submit_and_wait");
        let mut done: Vec<(u64, i32)> = self
            .ring
            .completion()
            .map(|c| (c.user_data(), c.result()))
            .collect();
        assert_eq!(done.len(), entries.len());
        done.sort_unstable();
        done.into_iter().map(|(_, r)| r).collect()
    }

    fn send_all(&mut self, sock: RawFd, file: &File, len: usize) {
        let (pipe_in, pipe_out) = (self.write_end.as_raw_fd(), self.read_end.as_raw_fd());
        let mut off = 0usize;
        while off < len {
            let chunk = (len - off).min(PIPE_BYTES) as u32;
            let into_pipe = opcode::Splice::new(
                types::Fd(file.as_raw_fd()),
                off as i64,
                types::Fd(pipe_in),
                -1,
                chunk,
            )
            .build()
            .flags(squeue::Flags::IO_LINK)
            .user_data(1);
            let out = opcode::Splice::new(types::Fd(pipe_out), -1, types::Fd(sock), -1, chunk)
                .build()
                .user_data(2);
            let results = self.run(&[into_pipe, out]);
            let (filled, mut sent) = (results[0], results[1]);
            assert!(filled > 0, "splice into the pipe: {filled}");
            assert!(sent >= 0 || sent == -libc::ECANCELED, "splice out: {sent}");
            sent = sent.max(0);
            while sent < filled {
                let rest = opcode::Splice::new(
                    types::Fd(pipe_out),
                    -1,
                    types::Fd(sock),
                    -1,
                    (filled - sent) as u32,
                )
                .build()
                .user_data(3);
                let n = self.run(&[rest])[0];
                assert!(n > 0, "splice out: {n}");
                sent += n;
            }
            off += filled as usize;
        }
    }
}

fn file_of(len: usize) -> (File, std::path::PathBuf) {
    let path = std::env::temp_dir().join(format!("ringpin-file-send-{}-{len}", std::process::id()));
    let bytes: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
    std::fs::write(&path, &bytes).expect("write the file");
    let file = File::open(&path).expect("open the file");
    let mut warm = Vec::new();
    File::open(&path)
        .and_then(|mut f| f.read_to_end(&mut warm))
        .expect("read it once, into the page cache");
    (file, path)
}

fn bench(c: &mut Criterion, group_name: &str, sender_only: bool) {
    pin(SENDER_CPU);
    let mut group = c.benchmark_group(group_name);
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for len in SIZES {
        let (file, path) = file_of(len);
        group.throughput(Throughput::Bytes(len as u64));
        for method in ["sendfile", "ring_splice", "read_send"] {
            let mut sink = sink();
            let mut splicer = Splicer::new();
            let mut buf = vec![0u8; COPY_BYTES];
            group.bench_function(BenchmarkId::new(method, len), |b| {
                b.iter_custom(|iters| {
                    let receiver = sink.receiver.load(Ordering::SeqCst);
                    let (p0, r0) = (process_cpu(), thread_cpu(receiver));
                    let sock = sink.stream.as_raw_fd();
                    for _ in 0..iters {
                        match method {
                            "sendfile" => sendfile_all(sock, &file, len),
                            "ring_splice" => splicer.send_all(sock, &file, len),
                            _ => read_send_all(&mut sink.stream, &file, len, &mut buf),
                        }
                    }
                    let (p1, r1) = (process_cpu(), thread_cpu(receiver));
                    let total = p1.saturating_sub(p0);
                    if sender_only {
                        total.saturating_sub(r1.saturating_sub(r0))
                    } else {
                        total
                    }
                })
            });
        }
        let _ = std::fs::remove_file(path);
    }
    group.finish();
}

fn sender(c: &mut Criterion) {
    bench(c, "file_send", true);
}

fn total(c: &mut Criterion) {
    bench(c, "file_send_total", false);
}

criterion_group!(benches, sender, total);
criterion_main!(benches);
