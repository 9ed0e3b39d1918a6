//! From a request's path to a relative file name: percent-decoding and refusals.
//!
//! The kernel has the last word on where a name leads (`openat2` with `RESOLVE_BENEATH`,
//! engine/io/fs.rs); this refuses early, with a clear status, what no file name needs.

/// Why a path names no file to serve.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// `400`: a `..` segment, an encoded `/` or `\`, a NUL, bad percent-encoding or UTF-8.
    BadPath,
    /// `404`: a hidden segment (starting with `.`) while hidden files are off.
    Hidden,
}

/// A decoded path: relative to the root (no leading `/`, `""` for the root itself), and
/// whether the request's path ended with `/` (a directory's own URL).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Decoded {
    pub relative: String,
    pub trailing_slash: bool,
}

/// Decodes `raw` (the part of the request path after the mount point, still
/// percent-encoded) segment by segment: empty and `.` segments are dropped, and a segment
/// is refused if it decodes to `..` or contains `/`, `\` or NUL. Hidden segments are
/// refused unless `hidden`.
pub(crate) fn decode_path(raw: &str, hidden: bool) -> Result<Decoded, Refused> {
    let mut relative = String::with_capacity(raw.len());
    for segment in raw.split('/') {
        if segment.is_empty() {
            continue;
        }
        if !well_encoded(segment.as_bytes()) {
            return Err(Refused::BadPath);
        }
        let decoded = percent_encoding::percent_decode_str(segment)
            .decode_utf8()
            .map_err(|_| Refused::BadPath)?;
        if decoded.bytes().any(|b| matches!(b, b'/' | b'\\' | 0)) || decoded == ".." {
            return Err(Refused::BadPath);
        }
        if decoded == "." {
            continue;
        }
        if decoded.starts_with('.') && !hidden {
            return Err(Refused::Hidden);
        }
        if !relative.is_empty() {
            relative.push('/');
        }
        relative.push_str(&decoded);
    }
    Ok(Decoded {
        relative,
        trailing_slash: raw.ends_with('/'),
    })
}

/// Every `%` is followed by two hex digits (a lone `%` would otherwise pass as itself).
fn well_encoded(segment: &[u8]) -> bool {
    let mut rest = segment;
    while let Some(at) = rest.iter().position(|&b| b == b'%') {
        let (_, after) = rest.split_at(at);
        match after.get(1..3) {
            Some(hex) if hex.iter().all(u8::is_ascii_hexdigit) => {}
            _ => return false,
        }
        rest = after.get(3..).unwrap_or_default();
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_cases() {
        let ok = |rel: &str, slash: bool| {
            Ok(Decoded {
                relative: rel.to_string(),
                trailing_slash: slash,
            })
        };
        let cases: &[(&str, bool, Result<Decoded, Refused>)] = &[
            ("/", false, ok("", true)),
            ("", false, ok("", false)),
            ("/index.html", false, ok("index.html", false)),
            ("/a/b.txt", false, ok("a/b.txt", false)),
            ("/a//b/./c", false, ok("a/b/c", false)),
            ("/dir/", false, ok("dir", true)),
            ("/sp%20ace", false, ok("sp ace", false)),
            ("/caf%C3%A9", false, ok("café", false)),
            ("/..", false, Err(Refused::BadPath)),
            ("/../etc/passwd", false, Err(Refused::BadPath)),
            ("/a/../../etc", false, Err(Refused::BadPath)),
            ("/%2e%2e/etc/passwd", false, Err(Refused::BadPath)),
            ("/%2E%2E", false, Err(Refused::BadPath)),
            ("/.%2e/x", false, Err(Refused::BadPath)),
            ("/a%2fb", false, Err(Refused::BadPath)),
            ("/a%2Fb", false, Err(Refused::BadPath)),
            ("/a%5cb", false, Err(Refused::BadPath)),
            ("/a%00b", false, Err(Refused::BadPath)),
            ("/a%zz", false, Err(Refused::BadPath)),
            ("/a%4", false, Err(Refused::BadPath)),
            ("/a%", false, Err(Refused::BadPath)),
            ("/%ff", false, Err(Refused::BadPath)),
            ("/.env", false, Err(Refused::Hidden)),
            ("/a/.git/config", false, Err(Refused::Hidden)),
            ("/%2eenv", false, Err(Refused::Hidden)),
            ("/.env", true, ok(".env", false)),
            ("/..", true, Err(Refused::BadPath)),
        ];
        for (raw, hidden, want) in cases {
            assert_eq!(decode_path(raw, *hidden), *want, "{raw:?} hidden={hidden}");
        }
    }
}
