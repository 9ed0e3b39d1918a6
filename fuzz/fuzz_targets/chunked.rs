//! The chunked decoder on arbitrary bytes, whole and one byte at a time (and cut at
//! pseudo-random points), under the default and small limits: no panic, the same outcome
//! however the bytes arrive. Inputs shaped like a whole request (the h2o seeds) are also
//! decoded from just after their head, so the seeds reach past the first chunk line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringpin::fuzzing::{decode_chunked_split, splits_for};
use ringpin::Limits;

fuzz_target!(|data: &[u8]| {
    let after_head = data
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .and_then(|end| data.get(end + 4..));
    for input in [Some(data), after_head].into_iter().flatten() {
        for limits in [Limits::default(), ringpin::fuzzing::small_limits()] {
            for splits in splits_for(input) {
                decode_chunked_split(input, &splits, &limits);
            }
        }
    }
});
