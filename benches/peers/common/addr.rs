//! The one flag every Rust peer takes, and the `--flag value` walk the peers with more flags
//! share, written once: each peer's main.rs includes this file
//! (`#[path = "../../common/addr.rs"] mod addr;`), so the peers stay crates of their own.

use std::fmt::Display;
use std::net::SocketAddr;
use std::str::FromStr;

/// `--addr IP:PORT`, the one flag every peer takes; default 127.0.0.1:8080.
#[allow(dead_code)] // the peers with flags of their own call `parse_flags` instead
pub fn parse_addr() -> Result<SocketAddr, String> {
    let default = SocketAddr::from(([127, 0, 0, 1], 8080));
    parse_flags(std::env::args().skip(1), default, |_, _| Ok(false))
}

/// Reads `--flag value` pairs: `--addr` (default `addr`) here, every other flag by `other`,
/// which returns `Ok(false)` for a flag it does not know. Returns the address.
pub fn parse_flags(
    mut args: impl Iterator<Item = String>,
    mut addr: SocketAddr,
    mut other: impl FnMut(&str, &str) -> Result<bool, String>,
) -> Result<SocketAddr, String> {
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        if flag == "--addr" {
            addr = parse_value(&flag, &value)?;
        } else if !other(&flag, &value)? {
            return Err(format!("unknown flag {flag}"));
        }
    }
    Ok(addr)
}

/// `value` parsed as `flag`'s value, or an error that names both.
pub fn parse_value<T: FromStr>(flag: &str, value: &str) -> Result<T, String>
where
    T::Err: Display,
{
    value.parse().map_err(|e| format!("{flag} {value}: {e}"))
}
