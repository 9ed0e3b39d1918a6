//! Where a request comes from: the TCP peer, the PROXY header's source, and what trusted
//! proxies say in `Forwarded` (RFC 7239) or `X-Forwarded-For`.
//!
//! [`client_addr`] is pure over the request's fields and runs only when a handler (or the
//! access log) asks, so a request whose origin nobody reads costs nothing. The walk goes
//! from the right: each proxy appends the address it received from, so the rightmost
//! entries were written by the proxies nearest to ringpin. Entries are read while they name
//! trusted proxies; the first untrusted one is the client. A client's own entries sit to
//! the left of that, are never read, and so cannot forge an address; a malformed entry that
//! is read, or one that names no address (`unknown`, an obfuscated node), gives up, and the
//! answer is the nearest address the engine saw itself.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::rc::Rc;

use ipnet::IpNet;

/// One connection's origin, shared by its requests (a reference count each, no copy).
#[derive(Debug)]
pub(crate) struct Origin {
    /// The TCP peer, as accept returned it.
    pub peer: SocketAddr,
    /// The source address of the PROXY header, when it carried one.
    pub proxied: Option<SocketAddr>,
    /// The shard's [`Config::trusted_proxies`](crate::Config::trusted_proxies).
    pub trusted: Rc<[IpNet]>,
}

impl Origin {
    /// The nearest address the engine knows first-hand: the PROXY source, else the peer.
    pub fn nearest(&self) -> SocketAddr {
        self.proxied.unwrap_or(self.peer)
    }
}

/// Whether `ip` (an IPv4-mapped IPv6 address as its IPv4 address) is in one of `trusted`.
fn is_trusted(ip: IpAddr, trusted: &[IpNet]) -> bool {
    let ip = ip.to_canonical();
    trusted.iter().any(|net| net.contains(&ip))
}

/// The client's address: `nearest` (the PROXY source or TCP peer) unless it is trusted,
/// then what the `Forwarded` fields say, or without any, the `X-Forwarded-For` fields;
/// `nearest` again if neither is present or the walk gives up (see the module doc). An
/// address from a header without a port has port 0. `fields` lists the request's fields
/// in order, as often as asked.
pub(crate) fn client_addr<'h, I>(
    nearest: SocketAddr,
    trusted: &[IpNet],
    fields: impl Fn() -> I,
) -> SocketAddr
where
    I: Iterator<Item = (&'h str, &'h [u8])>,
{
    if !is_trusted(nearest.ip(), trusted) {
        return nearest;
    }
    let named = |name: &'static str| {
        let fields = &fields;
        move || {
            fields()
                .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        }
    };
    let forwarded = named("forwarded");
    let x_forwarded_for = named("x-forwarded-for");
    let found = if forwarded().next().is_some() {
        walk(forwarded, parse_forwarded_element, trusted)
    } else if x_forwarded_for().next().is_some() {
        walk(x_forwarded_for, parse_x_forwarded_for_element, trusted)
    } else {
        None
    };
    found.unwrap_or(nearest)
}

/// Walks the comma-separated entries of `values` (the fields of one name, in order) from
/// the right past trusted addresses; returns the first untrusted one, or the leftmost when
/// all are trusted; `None` at the first entry `parse` refuses.
fn walk<'h, I: Iterator<Item = &'h [u8]>>(
    values: impl Fn() -> I,
    parse: fn(&[u8]) -> Option<SocketAddr>,
    trusted: &[IpNet],
) -> Option<SocketAddr> {
    // Fields are found again by index rather than collected: no allocation, and a head
    // holds at most `Limits::max_headers` of them.
    let count = values().count();
    let mut farthest = None;
    for index in (0..count).rev() {
        let value = values().nth(index)?;
        for entry in value.rsplit(|&b| b == b',') {
            let addr = parse(entry.trim_ascii())?;
            if !is_trusted(addr.ip(), trusted) {
                return Some(addr);
            }
            farthest = Some(addr);
        }
    }
    farthest
}

/// An `X-Forwarded-For` entry: an IP address, optionally `[bracketed]` (IPv6) or with a
/// `:port`.
fn parse_x_forwarded_for_element(entry: &[u8]) -> Option<SocketAddr> {
    let text = std::str::from_utf8(entry).ok()?;
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(SocketAddr::new(ip, 0));
    }
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Some(addr);
    }
    let v6 = text.strip_prefix('[')?.strip_suffix(']')?;
    Some(SocketAddr::new(IpAddr::V6(v6.parse().ok()?), 0))
}

/// A `Forwarded` element (RFC 7239 §4): `;`-separated `name=value` pairs; its one `for`
/// pair's node, when that is an address.
fn parse_forwarded_element(element: &[u8]) -> Option<SocketAddr> {
    let mut node = None;
    for pair in element.split(|&b| b == b';') {
        let pair = pair.trim_ascii();
        if pair.is_empty() {
            continue;
        }
        let eq = memchr::memchr(b'=', pair)?;
        let (name, value) = (pair.get(..eq)?, pair.get(eq + 1..)?);
        if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
            return None;
        }
        let value = unquote(value)?;
        if name.eq_ignore_ascii_case(b"for") {
            if node.is_some() {
                return None;
            }
            node = Some(value);
        }
    }
    parse_node(node?)
}

/// A token, or a quoted-string without quoted-pairs (no node needs one).
fn unquote(value: &[u8]) -> Option<&[u8]> {
    match value {
        [b'"', inner @ .., b'"'] => inner
            .iter()
            .all(|&b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\')
            .then_some(inner),
        token if !token.is_empty() && token.iter().all(|&b| is_tchar(b)) => Some(token),
        _ => None,
    }
}

/// RFC 9110 §5.6.2 token characters.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A node (RFC 7239 §6): `IPv4[:port]` or `"[IPv6]"[:port]`; `None` for `unknown`, an
/// obfuscated `_name` or anything malformed. An obfuscated port reads as 0.
fn parse_node(node: &[u8]) -> Option<SocketAddr> {
    let text = std::str::from_utf8(node).ok()?;
    let (ip, port) = match text.strip_prefix('[') {
        Some(rest) => {
            let (v6, port) = rest.split_once(']')?;
            let port = match port {
                "" => None,
                port => Some(port.strip_prefix(':')?),
            };
            (IpAddr::V6(v6.parse::<Ipv6Addr>().ok()?), port)
        }
        None => {
            let (v4, port) = match text.split_once(':') {
                Some((v4, port)) => (v4, Some(port)),
                None => (text, None),
            };
            (IpAddr::V4(v4.parse().ok()?), port)
        }
    };
    let port = match port {
        None => 0,
        Some(obfuscated) if obfuscated.starts_with('_') => {
            let rest = obfuscated.get(1..)?;
            let valid = !rest.is_empty()
                && rest
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-');
            if !valid {
                return None;
            }
            0
        }
        Some(digits)
            if (1..=5).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) =>
        {
            digits.parse().ok()?
        }
        Some(_) => return None,
    };
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEER: &str = "127.0.0.1:40000";

    /// Name, the request's fields, the nearest address, the expected client address.
    type Case = (
        &'static str,
        &'static [(&'static str, &'static [u8])],
        &'static str,
        &'static str,
    );

    fn trusted() -> Vec<IpNet> {
        ["127.0.0.0/8", "10.0.0.0/8", "::1/128"]
            .iter()
            .map(|n| n.parse().unwrap())
            .collect()
    }

    fn from(fields: &[(&'static str, &'static [u8])], nearest: &str) -> String {
        let nearest: SocketAddr = nearest.parse().unwrap();
        client_addr(nearest, &trusted(), || fields.iter().copied()).to_string()
    }

    #[test]
    fn forwarded_and_x_forwarded_for() {
        let same = PEER;
        #[rustfmt::skip]
        let cases: &[Case] = &[
            ("no fields", &[], PEER, same),
            ("untrusted peer: headers ignored", &[("x-forwarded-for", b"203.0.113.7")], "192.0.2.9:1", "192.0.2.9:1"),
            ("xff one hop", &[("X-Forwarded-For", b"203.0.113.7")], PEER, "203.0.113.7:0"),
            ("xff rightmost untrusted", &[("x-forwarded-for", b"198.51.100.1, 203.0.113.7, 10.1.2.3")], PEER, "203.0.113.7:0"),
            ("xff all trusted: the leftmost", &[("x-forwarded-for", b"10.9.9.9,127.0.0.5")], PEER, "10.9.9.9:0"),
            ("xff across fields", &[("x-forwarded-for", b"203.0.113.7"), ("x-forwarded-for", b"10.1.1.1")], PEER, "203.0.113.7:0"),
            ("xff later field first", &[("x-forwarded-for", b"10.1.1.1"), ("x-forwarded-for", b"203.0.113.8")], PEER, "203.0.113.8:0"),
            ("xff v6", &[("x-forwarded-for", b"2001:db8::7")], PEER, "[2001:db8::7]:0"),
            ("xff bracketed v6", &[("x-forwarded-for", b"[2001:db8::7]")], PEER, "[2001:db8::7]:0"),
            ("xff with port", &[("x-forwarded-for", b"203.0.113.7:4711")], PEER, "203.0.113.7:4711"),
            ("xff garbage", &[("x-forwarded-for", b"not-an-ip")], PEER, same),
            ("xff empty", &[("x-forwarded-for", b"")], PEER, same),
            ("xff empty entry", &[("x-forwarded-for", b"203.0.113.7,,10.0.0.1")], PEER, same),
            ("xff garbage left of the client", &[("x-forwarded-for", b"<script>, 203.0.113.7")], PEER, "203.0.113.7:0"),
            ("xff not UTF-8", &[("x-forwarded-for", b"\xff\xfe")], PEER, same),
            ("xff v4-mapped trusted hop", &[("x-forwarded-for", b"203.0.113.7, ::ffff:10.0.0.1")], PEER, "203.0.113.7:0"),
            ("forwarded v4", &[("Forwarded", b"for=203.0.113.7")], PEER, "203.0.113.7:0"),
            ("forwarded quoted v4 with port", &[("forwarded", b"for=\"203.0.113.7:4711\";proto=https")], PEER, "203.0.113.7:4711"),
            ("forwarded v6", &[("forwarded", b"for=\"[2001:db8:cafe::17]:4711\"")], PEER, "[2001:db8:cafe::17]:4711"),
            ("forwarded case and order", &[("forwarded", b"proto=http;FOR=203.0.113.7;by=10.0.0.1")], PEER, "203.0.113.7:0"),
            ("forwarded chain", &[("forwarded", b"for=198.51.100.1, for=203.0.113.7, for=10.0.0.2")], PEER, "203.0.113.7:0"),
            ("forwarded beats xff", &[("x-forwarded-for", b"198.51.100.1"), ("forwarded", b"for=203.0.113.7")], PEER, "203.0.113.7:0"),
            ("forwarded obfuscated port", &[("forwarded", b"for=\"203.0.113.7:_abc\"")], PEER, "203.0.113.7:0"),
            ("forwarded unknown", &[("forwarded", b"for=unknown")], PEER, same),
            ("forwarded obfuscated node", &[("forwarded", b"for=_hidden")], PEER, same),
            ("forwarded no for", &[("forwarded", b"proto=https")], PEER, same),
            ("forwarded two fors", &[("forwarded", b"for=203.0.113.7;for=198.51.100.1")], PEER, same),
            ("forwarded unquoted v6", &[("forwarded", b"for=[2001:db8::1]")], PEER, same),
            ("forwarded unquoted port", &[("forwarded", b"for=203.0.113.7:80")], PEER, same),
            ("forwarded open quote", &[("forwarded", b"for=\"203.0.113.7")], PEER, same),
            ("forwarded no value", &[("forwarded", b"for=")], PEER, same),
            ("forwarded no equals", &[("forwarded", b"for")], PEER, same),
            ("forwarded bad port", &[("forwarded", b"for=\"203.0.113.7:123456\"")], PEER, same),
            ("forwarded garbage", &[("forwarded", b";;==,;\"\\")], PEER, same),
            ("forwarded garbage beats xff", &[("forwarded", b"for=%%%"), ("x-forwarded-for", b"203.0.113.7")], PEER, same),
            ("proxied source trusted", &[("x-forwarded-for", b"203.0.113.7")], "10.0.0.1:5", "203.0.113.7:0"),
        ];
        for (name, fields, nearest, expected) in cases {
            assert_eq!(from(fields, nearest), *expected, "{name}");
        }
    }

    #[test]
    fn nothing_trusted_means_the_nearest() {
        let nearest: SocketAddr = PEER.parse().unwrap();
        let fields: &[(&str, &[u8])] = &[("x-forwarded-for", b"203.0.113.7")];
        assert_eq!(
            client_addr(nearest, &[], || fields.iter().copied()),
            nearest
        );
    }
}
