//! The `Range` field (RFC 9110 §14.2) read against a file's size: pure, over bytes.

/// What a `Range` field asks of a representation of `size` bytes.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum RangeAsk {
    /// No usable range (absent, another unit, malformed): send the whole body, `200`.
    Whole,
    /// One satisfiable range, first and last byte inclusive: `206` with `Content-Range`.
    Single { first: u64, last: u64 },
    /// More than one range: answered `200` with the whole body (see docs/static-files.md).
    Several,
    /// Not one range overlaps the body: `416` with `Content-Range: bytes */size`.
    Unsatisfiable,
}

/// Reads `value` (the field's bytes) for a body of `size` bytes.
pub(crate) fn parse_range(value: &[u8], size: u64) -> RangeAsk {
    let value = value.trim_ascii();
    let Some(unit_end) = value.iter().position(|&b| b == b'=') else {
        return RangeAsk::Whole;
    };
    let (unit, specs) = value.split_at(unit_end);
    if !unit.trim_ascii().eq_ignore_ascii_case(b"bytes") {
        return RangeAsk::Whole;
    }
    let specs = specs.get(1..).unwrap_or_default();
    let mut found = None;
    let mut count = 0usize;
    for spec in specs.split(|&b| b == b',') {
        let spec = spec.trim_ascii();
        if spec.is_empty() {
            // The list grammar (RFC 9110 §5.6.1) allows empty elements.
            continue;
        }
        count += 1;
        match parse_spec(spec, size) {
            Spec::Invalid => return RangeAsk::Whole,
            Spec::Unsatisfiable => {}
            Spec::Range(first, last) => found = found.or(Some((first, last))),
        }
    }
    match (count, found) {
        (0, _) => RangeAsk::Whole,
        (_, None) => RangeAsk::Unsatisfiable,
        (1, Some((first, last))) => RangeAsk::Single { first, last },
        (_, Some(_)) => RangeAsk::Several,
    }
}

enum Spec {
    Invalid,
    Unsatisfiable,
    Range(u64, u64),
}

fn parse_spec(spec: &[u8], size: u64) -> Spec {
    let Some(dash) = spec.iter().position(|&b| b == b'-') else {
        return Spec::Invalid;
    };
    let (first, rest) = spec.split_at(dash);
    let last = rest.get(1..).unwrap_or_default();
    match (number(first), number(last)) {
        // `-n`: the last n bytes.
        (None, Some(n)) if first.is_empty() => {
            if n == 0 || size == 0 {
                Spec::Unsatisfiable
            } else {
                Spec::Range(size.saturating_sub(n), size - 1)
            }
        }
        // `a-`: from a to the end.
        (Some(a), None) if last.is_empty() => {
            if a < size {
                Spec::Range(a, size - 1)
            } else {
                Spec::Unsatisfiable
            }
        }
        (Some(a), Some(b)) if a <= b => {
            if a < size {
                Spec::Range(a, b.min(size - 1))
            } else {
                Spec::Unsatisfiable
            }
        }
        _ => Spec::Invalid,
    }
}

/// A decimal of digits only (no sign, no space), `None` if empty, not digits or too big.
fn number(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::parse_range;
    use super::RangeAsk::{self, *};

    #[test]
    fn range_cases() {
        let cases: &[(&[u8], u64, RangeAsk)] = &[
            (b"bytes=0-99", 1000, Single { first: 0, last: 99 }),
            (b"bytes=0-0", 1, Single { first: 0, last: 0 }),
            (
                b"bytes=500-",
                1000,
                Single {
                    first: 500,
                    last: 999,
                },
            ),
            (
                b"bytes=-100",
                1000,
                Single {
                    first: 900,
                    last: 999,
                },
            ),
            (
                b"bytes=-5000",
                1000,
                Single {
                    first: 0,
                    last: 999,
                },
            ),
            (
                b"bytes=900-5000",
                1000,
                Single {
                    first: 900,
                    last: 999,
                },
            ),
            (b"BYTES = 1-2", 10, Single { first: 1, last: 2 }),
            (b"bytes=1-2,", 10, Single { first: 1, last: 2 }),
            (b"bytes=1000-", 1000, Unsatisfiable),
            (b"bytes=1000-2000", 1000, Unsatisfiable),
            (b"bytes=-0", 1000, Unsatisfiable),
            (b"bytes=0-", 0, Unsatisfiable),
            (b"bytes=0-1,5-9", 10, Several),
            (b"bytes=0-1, 50-60", 10, Several),
            (b"bytes=50-60, 70-", 10, Unsatisfiable),
            (b"bytes=5-1", 10, Whole),
            (b"bytes=a-b", 10, Whole),
            (b"bytes=-", 10, Whole),
            (b"bytes=1", 10, Whole),
            (b"bytes=+1-2", 10, Whole),
            (b"bytes=", 10, Whole),
            (b"items=0-1", 10, Whole),
            (b"0-1", 10, Whole),
            (b"bytes=99999999999999999999999-", 10, Whole),
            (b"", 10, Whole),
        ];
        for (value, size, want) in cases {
            assert_eq!(
                parse_range(value, *size),
                *want,
                "{:?} of {size}",
                String::from_utf8_lossy(value)
            );
        }
    }
}
