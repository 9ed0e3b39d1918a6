//! The one flag every Rust peer takes, written once: each peer's main.rs includes this file
//! (`#[path = "../../common/addr.rs"] mod addr;`), so the peers stay crates of their own.

use std::net::SocketAddr;

/// `--addr IP:PORT`, the one flag every peer takes; default 127.0.0.1:8080.
pub fn parse_addr() -> Result<SocketAddr, String> {
    let mut args = std::env::args().skip(1);
    let mut addr = SocketAddr::from(([127, 0, 0, 1], 8080));
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--addr" => addr = value.parse().map_err(|e| format!("--addr {value}: {e}"))?,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(addr)
}
