//! Sockets and system calls: a connection's I/O on the shard's own ring (`uring`) or on
//! glommio's socket (`socket`), and what glommio and std do not wrap (`sys`: sockets,
//! listeners, non-blocking peeks; `fs`: opening beneath a root, sendfile). All of the
//! crate's `unsafe` code lives here, in `sys`, `fs`, `uring` and `ktls` (the kernel TLS
//! probe); `diag` (sock_diag over netlink) and `socket` are safe.

pub(crate) mod diag;
pub(crate) mod fs;
pub(crate) mod ktls;
pub(crate) mod socket;
pub(crate) mod sys;
pub(crate) mod uring;
