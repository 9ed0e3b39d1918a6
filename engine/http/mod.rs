//! The protocol without sockets or executors: bytes in, requests out, responses to bytes.
//!
//! Nothing here uses glommio or `crate::io` (`.ci/check-layout` checks it): every stage is
//! a function or a state machine over buffers, testable without a runtime.

pub(crate) mod body;
pub(crate) mod chunked;
pub(crate) mod date;
pub(crate) mod decode;
pub(crate) mod encode;
pub(crate) mod error;
pub(crate) mod head;
pub(crate) mod origin;
pub(crate) mod proxy_protocol;
pub(crate) mod request;
pub(crate) mod response;
pub(crate) mod session;
pub(crate) mod timing;
