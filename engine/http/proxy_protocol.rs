//! The PROXY protocol header (v1 text, v2 binary) a load balancer sends before HTTP: a pure
//! function over the bytes received so far, parsed by the `ppp` crate.
//!
//! The header is HAProxy's (<https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt>),
//! also sent by AWS, Google Cloud and Azure load balancers. Parsing is strict: anything
//! that cannot be the start of a valid header is refused as soon as it arrives, so a
//! connection that skips the header (or a client that connects past the load balancer) is
//! closed at its first bytes.

use std::net::SocketAddr;

use ppp::v2::{AddressFamily, Addresses, Command, Protocol};
use ppp::{v1, HeaderResult, PartialResult};

/// Longest PROXY header accepted, in bytes. A v1 header is at most 107 bytes; a v2 header
/// is 16 bytes plus its addresses (at most 216, for unix sockets) and TLVs. HAProxy's own
/// TLVs (authority, unique id, SSL) and the cloud ones (AWS's VPC endpoint, GCP's PSC
/// connection) fit well within; a longer header is refused.
pub(crate) const MAX_PROXY_HEADER_BYTES: usize = 4096;

/// Length of a v2 header before its addresses.
const V2_FIXED_BYTES: usize = 16;

/// What the bytes received so far hold.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum ProxyHeader {
    /// The start of a valid header: wait for more.
    Partial,
    /// A valid header of `len` bytes. `source` is the client address it carries; `None`
    /// (v1 `UNKNOWN`, v2 `LOCAL`, an unspecified or unix family, a datagram protocol) keeps
    /// the TCP peer.
    Complete {
        len: usize,
        source: Option<SocketAddr>,
    },
    /// Not a PROXY header: the connection is refused.
    Invalid,
}

/// Parses the PROXY header at the start of `bytes`; what follows it is the first request.
pub(crate) fn parse_proxy_header(bytes: &[u8]) -> ProxyHeader {
    // A v1 line cut just after a separator ends in an empty field, which `ppp` reads as a
    // port that is not a number; without its CR yet, it is judged without that space.
    let probe = match bytes {
        [b'P', .., b' '] if memchr::memchr(b'\r', bytes).is_none() => {
            bytes.get(..bytes.len() - 1).unwrap_or(bytes)
        }
        _ => bytes,
    };
    let parsed = HeaderResult::parse(probe);
    if parsed.is_incomplete() {
        return partial(&parsed, bytes);
    }
    match parsed {
        HeaderResult::V1(Ok(header)) => ProxyHeader::Complete {
            len: header.header.len(),
            source: match header.addresses {
                v1::Addresses::Tcp4(a) => Some(SocketAddr::from((a.source_address, a.source_port))),
                v1::Addresses::Tcp6(a) => Some(SocketAddr::from((a.source_address, a.source_port))),
                v1::Addresses::Unknown => None,
            },
        },
        HeaderResult::V2(Ok(header)) => {
            let proxied = header.command == Command::Proxy && header.protocol == Protocol::Stream;
            let source = match header.addresses {
                Addresses::IPv4(a) if proxied => {
                    Some(SocketAddr::from((a.source_address, a.source_port)))
                }
                Addresses::IPv6(a) if proxied => {
                    Some(SocketAddr::from((a.source_address, a.source_port)))
                }
                _ => None,
            };
            // `ppp` checks the TLVs only when they are read. A LOCAL header's block, and
            // an unspecified family's, are to be ignored whatever they hold (the spec).
            let checked = header.command == Command::Local
                || header.address_family() == AddressFamily::Unspecified;
            let tlvs_valid = checked || header.tlvs().all(|tlv| tlv.is_ok());
            match header.len() {
                len if len > MAX_PROXY_HEADER_BYTES || !tlvs_valid => ProxyHeader::Invalid,
                len => ProxyHeader::Complete { len, source },
            }
        }
        HeaderResult::V1(Err(_)) | HeaderResult::V2(Err(_)) => ProxyHeader::Invalid,
    }
}

/// An incomplete header is worth waiting for only while it can still end within
/// [`MAX_PROXY_HEADER_BYTES`], and a v1 line only until its CRLF: `ppp` calls a line that
/// ended with fields missing incomplete too.
fn partial(parsed: &HeaderResult<'_>, bytes: &[u8]) -> ProxyHeader {
    let have = bytes.len();
    let declared = match parsed {
        HeaderResult::V2(Err(ppp::v2::ParseError::Partial(_, length))) => V2_FIXED_BYTES + length,
        HeaderResult::V1(_) => match memchr::memchr(b'\r', bytes) {
            Some(cr) if cr + 1 < have => return ProxyHeader::Invalid,
            _ => have,
        },
        HeaderResult::V2(_) => have,
    };
    if declared > MAX_PROXY_HEADER_BYTES || have >= MAX_PROXY_HEADER_BYTES {
        ProxyHeader::Invalid
    } else {
        ProxyHeader::Partial
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIG: &[u8] = b"\r\n\r\n\0\r\nQUIT\n";

    /// A v2 header: signature, version/command, family/protocol, then `body`.
    fn v2(command: u8, family: u8, body: &[u8]) -> Vec<u8> {
        let mut h = SIG.to_vec();
        h.push(command);
        h.push(family);
        h.extend_from_slice(&(body.len() as u16).to_be_bytes());
        h.extend_from_slice(body);
        h
    }

    const V4_BODY: &[u8] = &[192, 0, 2, 1, 198, 51, 100, 2, 0x13, 0x88, 0, 80];

    fn v6_body() -> Vec<u8> {
        let mut b = "2001:db8::1"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets()
            .to_vec();
        b.extend_from_slice(
            &"2001:db8::2"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets(),
        );
        b.extend_from_slice(&[0x13, 0x88, 0, 80]);
        b
    }

    fn complete(len: usize, source: Option<&str>) -> ProxyHeader {
        ProxyHeader::Complete {
            len,
            source: source.map(|s| s.parse().unwrap()),
        }
    }

    #[test]
    fn v1_cases() {
        let long = format!("PROXY TCP4 {}", "1".repeat(120));
        let cases: Vec<(&str, &[u8], ProxyHeader)> = vec![
            (
                "tcp4",
                b"PROXY TCP4 192.0.2.1 198.51.100.2 5000 80\r\nGET",
                complete(43, Some("192.0.2.1:5000")),
            ),
            (
                "tcp6",
                b"PROXY TCP6 2001:db8::1 2001:db8::2 5000 80\r\n",
                complete(44, Some("[2001:db8::1]:5000")),
            ),
            ("unknown", b"PROXY UNKNOWN\r\n", complete(15, None)),
            (
                "unknown with addresses",
                b"PROXY UNKNOWN ::1 ::1 1 2\r\n",
                complete(27, None),
            ),
            ("a prefix", b"PRO", ProxyHeader::Partial),
            ("no protocol yet", b"PROXY ", ProxyHeader::Partial),
            ("half a protocol", b"PROXY TC", ProxyHeader::Partial),
            (
                "up to the ports",
                b"PROXY TCP4 192.0.2.1 198.51.100.2 5000 8",
                ProxyHeader::Partial,
            ),
            (
                "CR without LF yet",
                b"PROXY TCP4 192.0.2.1 198.51.100.2 5000 80\r",
                ProxyHeader::Partial,
            ),
            ("plain HTTP", b"GET / HTTP/1.1\r\n", ProxyHeader::Invalid),
            (
                "lowercase",
                b"proxy TCP4 192.0.2.1 198.51.100.2 5000 80\r\n",
                ProxyHeader::Invalid,
            ),
            (
                "bad family",
                b"PROXY TCP5 192.0.2.1 198.51.100.2 5000 80\r\n",
                ProxyHeader::Invalid,
            ),
            (
                "family mismatch",
                b"PROXY TCP4 2001:db8::1 2001:db8::2 5000 80\r\n",
                ProxyHeader::Invalid,
            ),
            (
                "missing port",
                b"PROXY TCP4 192.0.2.1 198.51.100.2 5000\r\n",
                ProxyHeader::Invalid,
            ),
            ("missing addresses", b"PROXY TCP4\r\n", ProxyHeader::Invalid),
            (
                "extra field",
                b"PROXY TCP4 192.0.2.1 198.51.100.2 5000 80 9\r\n",
                ProxyHeader::Invalid,
            ),
            (
                "port out of range",
                b"PROXY TCP4 192.0.2.1 198.51.100.2 65536 80\r\n",
                ProxyHeader::Invalid,
            ),
            (
                "leading zero port",
                b"PROXY TCP4 192.0.2.1 198.51.100.2 05000 80\r\n",
                ProxyHeader::Invalid,
            ),
            (
                "octal-looking address",
                b"PROXY TCP4 192.0.2.01 198.51.100.2 5000 80\r\n",
                ProxyHeader::Invalid,
            ),
            (
                "double space",
                b"PROXY TCP4  192.0.2.1 198.51.100.2 5000 80\r\n",
                ProxyHeader::Invalid,
            ),
            (
                "LF only",
                b"PROXY TCP4 192.0.2.1 198.51.100.2 5000 80\nGET",
                ProxyHeader::Invalid,
            ),
            (
                "CR then not LF",
                b"PROXY TCP4 192.0.2.1 198.51.100.2 5000 80\rX",
                ProxyHeader::Invalid,
            ),
            ("too long, no CRLF", long.as_bytes(), ProxyHeader::Invalid),
            ("not UTF-8", b"PROXY TCP4 \xff\r\n", ProxyHeader::Invalid),
        ];
        for (name, bytes, expected) in cases {
            assert_eq!(parse_proxy_header(bytes), expected, "{name}");
        }
    }

    #[test]
    fn v2_cases() {
        let v6 = v6_body();
        let mut with_tlv = V4_BODY.to_vec();
        with_tlv.extend_from_slice(&[0x04, 0, 2, b'i', b'd']); // PP2_TYPE_NOOP
        let mut bad_tlv = V4_BODY.to_vec();
        bad_tlv.extend_from_slice(&[0x04, 0, 9, b'i']);
        let mut bad_sig = v2(0x21, 0x11, V4_BODY);
        bad_sig[4] = b'X';
        let mut huge = v2(0x21, 0x11, V4_BODY);
        huge[14..16].copy_from_slice(&u16::MAX.to_be_bytes());
        let full = v2(0x21, 0x11, V4_BODY);
        let cases: Vec<(&str, Vec<u8>, ProxyHeader)> = vec![
            (
                "proxy tcp4",
                v2(0x21, 0x11, V4_BODY),
                complete(28, Some("192.0.2.1:5000")),
            ),
            (
                "proxy tcp6",
                v2(0x21, 0x21, &v6),
                complete(52, Some("[2001:db8::1]:5000")),
            ),
            (
                "with a TLV",
                v2(0x21, 0x11, &with_tlv),
                complete(33, Some("192.0.2.1:5000")),
            ),
            ("local", v2(0x20, 0x11, V4_BODY), complete(28, None)),
            ("local unspec", v2(0x20, 0x00, &[]), complete(16, None)),
            ("proxy unspec", v2(0x21, 0x00, &[]), complete(16, None)),
            ("proxy unix", v2(0x21, 0x31, &[0; 216]), complete(232, None)),
            ("proxy udp4", v2(0x21, 0x12, V4_BODY), complete(28, None)),
            (
                "half the signature",
                SIG[..6].to_vec(),
                ProxyHeader::Partial,
            ),
            (
                "truncated addresses",
                full[..22].to_vec(),
                ProxyHeader::Partial,
            ),
            ("bad signature", bad_sig, ProxyHeader::Invalid),
            ("version 3", v2(0x31, 0x11, V4_BODY), ProxyHeader::Invalid),
            ("command 2", v2(0x22, 0x11, V4_BODY), ProxyHeader::Invalid),
            ("family 4", v2(0x21, 0x41, V4_BODY), ProxyHeader::Invalid),
            (
                "too short for its family",
                v2(0x21, 0x11, &V4_BODY[..4]),
                ProxyHeader::Invalid,
            ),
            (
                "TLV past the end",
                v2(0x21, 0x11, &bad_tlv),
                ProxyHeader::Invalid,
            ),
            ("declares 64 KiB", huge, ProxyHeader::Invalid),
        ];
        for (name, bytes, expected) in cases {
            assert_eq!(parse_proxy_header(&bytes), expected, "{name}");
        }
    }

    /// Every prefix of a valid header is partial; the header then completes, whatever follows.
    #[test]
    fn every_prefix_waits() {
        let v1 = b"PROXY TCP6 2001:db8::1 2001:db8::2 5000 80\r\n".to_vec();
        let v2 = v2(0x21, 0x11, V4_BODY);
        for header in [v1, v2] {
            for end in 1..header.len() {
                assert_eq!(
                    parse_proxy_header(&header[..end]),
                    ProxyHeader::Partial,
                    "{end}"
                );
            }
            let mut then = header.clone();
            then.extend_from_slice(b"GET / HTTP/1.1\r\n\r\n");
            assert!(matches!(
                parse_proxy_header(&then),
                ProxyHeader::Complete { len, .. } if len == header.len()
            ));
        }
    }
}
