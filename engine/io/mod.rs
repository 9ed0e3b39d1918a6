//! The system calls: glommio and std do not wrap these safely. All of the crate's `unsafe`
//! code lives here: `sys` (sockets, listeners), `uring` (the shard's own ring) and `diag`
//! (sock_diag over netlink).

pub(crate) mod diag;
pub(crate) mod socket;
pub(crate) mod sys;
pub(crate) mod uring;
