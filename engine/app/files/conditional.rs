//! Conditional requests (RFC 9110 §13) against a file's validators: pure, over bytes.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A file's validators: its strong entity tag (quoted) and its modification time.
#[derive(Copy, Clone, Debug)]
pub(crate) struct Validators<'a> {
    /// The entity tag, quotes included: `"ino-size-mtime"`.
    pub etag: &'a [u8],
    /// The modification time.
    pub modified: SystemTime,
}

/// What the preconditions decide, before any range is looked at.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Precondition {
    /// Serve the file (and honour `Range`, subject to [`range_applies`]).
    Serve,
    /// `304 Not Modified` (a GET or HEAD whose cached copy is current).
    NotModified,
    /// `412 Precondition Failed` (`If-Match` or `If-Unmodified-Since` failed).
    Failed,
}

/// The conditional fields of a request, as bytes.
#[derive(Copy, Clone, Debug, Default)]
pub(crate) struct Conditions<'a> {
    pub if_match: Option<&'a [u8]>,
    pub if_none_match: Option<&'a [u8]>,
    pub if_modified_since: Option<&'a [u8]>,
    pub if_unmodified_since: Option<&'a [u8]>,
}

/// Evaluates the preconditions in RFC 9110 §13.2.2's order. `safe` is GET or HEAD (a 304
/// is only for them; for other methods a matching `If-None-Match` fails with 412).
pub(crate) fn evaluate(cond: &Conditions<'_>, file: &Validators<'_>, safe: bool) -> Precondition {
    if let Some(value) = cond.if_match {
        if !tag_list_matches(value, file.etag, true) {
            return Precondition::Failed;
        }
    } else if let Some(date) = cond.if_unmodified_since.and_then(parse_date) {
        if seconds(file.modified) > date {
            return Precondition::Failed;
        }
    }
    if let Some(value) = cond.if_none_match {
        if tag_list_matches(value, file.etag, false) {
            return if safe {
                Precondition::NotModified
            } else {
                Precondition::Failed
            };
        }
    } else if let Some(date) = cond.if_modified_since.filter(|_| safe).and_then(parse_date) {
        if seconds(file.modified) <= date {
            return Precondition::NotModified;
        }
    }
    Precondition::Serve
}

/// Whether a `Range` is honoured given the request's `If-Range` (RFC 9110 §13.1.5): yes
/// without one; with an entity tag, only if it is strong and equal to ours; with a date,
/// only if it is exactly our modification time (to the second).
pub(crate) fn range_applies(if_range: Option<&[u8]>, file: &Validators<'_>) -> bool {
    let Some(value) = if_range.map(<[u8]>::trim_ascii) else {
        return true;
    };
    if value.starts_with(b"\"") {
        return value == file.etag;
    }
    if value.starts_with(b"W/") {
        return false;
    }
    parse_date(value) == Some(seconds(file.modified))
}

/// Whether a list of entity tags (or `*`) matches `etag`: strong comparison (both strong
/// and equal) for `If-Match`, weak (equal opaque parts) for `If-None-Match`.
fn tag_list_matches(list: &[u8], etag: &[u8], strong: bool) -> bool {
    let list = list.trim_ascii();
    if list == b"*" {
        return true;
    }
    let mut rest = list;
    loop {
        rest = rest.trim_ascii_start();
        while let Some(after) = rest.strip_prefix(b",") {
            rest = after.trim_ascii_start();
        }
        if rest.is_empty() {
            return false;
        }
        let (weak, tagged) = match rest.strip_prefix(b"W/") {
            Some(after) => (true, after),
            None => (false, rest),
        };
        let Some(opaque) = tagged.strip_prefix(b"\"") else {
            // Not an entity tag: the field is invalid, and matches nothing.
            return false;
        };
        let Some(close) = opaque.iter().position(|&b| b == b'"') else {
            return false;
        };
        let (inner, after) = opaque.split_at(close);
        let ours = etag
            .strip_prefix(b"\"")
            .and_then(|e| e.strip_suffix(b"\""))
            .unwrap_or(etag);
        if inner == ours && !(strong && weak) {
            return true;
        }
        rest = after.get(1..).unwrap_or_default();
    }
}

/// An HTTP date (IMF-fixdate, or the two obsolete forms) as seconds since the epoch.
fn parse_date(value: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(value.trim_ascii()).ok()?;
    let time = httpdate::parse_http_date(text).ok()?;
    Some(seconds(time))
}

/// Seconds since the epoch, the resolution of HTTP dates.
pub(crate) fn seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ETAG: &[u8] = b"\"1a-2b-3c\"";
    // Sun, 06 Nov 1994 08:49:37 GMT
    const MODIFIED: u64 = 784_111_777;

    fn file() -> Validators<'static> {
        Validators {
            etag: ETAG,
            modified: UNIX_EPOCH + Duration::from_millis(MODIFIED * 1000 + 250),
        }
    }

    #[test]
    fn precondition_cases() {
        use Precondition::*;
        type Case = (
            Option<&'static [u8]>,
            Option<&'static [u8]>,
            Option<&'static [u8]>,
            Option<&'static [u8]>,
            bool,
            Precondition,
        );
        // (If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since, safe, answer)
        let cases: &[Case] = &[
            (None, None, None, None, true, Serve),
            (None, Some(b"\"1a-2b-3c\""), None, None, true, NotModified),
            (None, Some(b"W/\"1a-2b-3c\""), None, None, true, NotModified),
            (
                None,
                Some(b"\"x\", \"1a-2b-3c\""),
                None,
                None,
                true,
                NotModified,
            ),
            (
                None,
                Some(b"\"a,b\" ,,\"1a-2b-3c\""),
                None,
                None,
                true,
                NotModified,
            ),
            (None, Some(b"*"), None, None, true, NotModified),
            (None, Some(b"\"other\""), None, None, true, Serve),
            (None, Some(b"1a-2b-3c"), None, None, true, Serve),
            (None, Some(b"\"1a-2b-3c"), None, None, true, Serve),
            (None, Some(b"\"1a-2b-3c\""), None, None, false, Failed),
            (
                None,
                None,
                Some(b"Sun, 06 Nov 1994 08:49:37 GMT"),
                None,
                true,
                NotModified,
            ),
            (
                None,
                None,
                Some(b"Sun, 06 Nov 1994 09:00:00 GMT"),
                None,
                true,
                NotModified,
            ),
            (
                None,
                None,
                Some(b"Sun, 06 Nov 1994 08:49:36 GMT"),
                None,
                true,
                Serve,
            ),
            (
                None,
                None,
                Some(b"Sunday, 06-Nov-94 08:49:37 GMT"),
                None,
                true,
                NotModified,
            ),
            (
                None,
                None,
                Some(b"Sun Nov  6 08:49:37 1994"),
                None,
                true,
                NotModified,
            ),
            (None, None, Some(b"yesterday"), None, true, Serve),
            (
                None,
                None,
                Some(b"Sun, 06 Nov 1994 08:49:37 GMT"),
                None,
                false,
                Serve,
            ),
            // If-None-Match wins over If-Modified-Since (RFC 9110 §13.1.3).
            (
                None,
                Some(b"\"other\""),
                Some(b"Sun, 06 Nov 1994 08:49:37 GMT"),
                None,
                true,
                Serve,
            ),
            (Some(b"\"1a-2b-3c\""), None, None, None, true, Serve),
            (Some(b"W/\"1a-2b-3c\""), None, None, None, true, Failed),
            (Some(b"\"other\""), None, None, None, true, Failed),
            (Some(b"*"), None, None, None, true, Serve),
            (
                None,
                None,
                None,
                Some(b"Sun, 06 Nov 1994 08:49:37 GMT"),
                true,
                Serve,
            ),
            (
                None,
                None,
                None,
                Some(b"Sun, 06 Nov 1994 08:49:36 GMT"),
                true,
                Failed,
            ),
        ];
        for (i, (im, inm, ims, ius, safe, want)) in cases.iter().enumerate() {
            let cond = Conditions {
                if_match: *im,
                if_none_match: *inm,
                if_modified_since: *ims,
                if_unmodified_since: *ius,
            };
            assert_eq!(evaluate(&cond, &file(), *safe), *want, "case {i}: {cond:?}");
        }
    }

    #[test]
    fn if_range_cases() {
        let cases: &[(Option<&[u8]>, bool)] = &[
            (None, true),
            (Some(b"\"1a-2b-3c\""), true),
            (Some(b"\"other\""), false),
            (Some(b"W/\"1a-2b-3c\""), false),
            (Some(b"Sun, 06 Nov 1994 08:49:37 GMT"), true),
            (Some(b"Sun, 06 Nov 1994 08:49:38 GMT"), false),
            (Some(b"garbage"), false),
        ];
        for (value, want) in cases {
            assert_eq!(range_applies(*value, &file()), *want, "{value:?}");
        }
    }
}
