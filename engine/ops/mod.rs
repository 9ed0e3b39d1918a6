//! Running it in production: metrics, the access log, load shedding and the startup
//! preflight.

pub mod access_log;
pub mod metrics;
pub(crate) mod preflight;
pub(crate) mod shedding;
