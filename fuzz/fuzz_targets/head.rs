//! The head scanner and parser on arbitrary bytes, whole and one byte at a time (and cut at
//! pseudo-random points), under the default and small limits: no panic, and the same
//! outcome however the bytes arrive (`parse_head_split` asserts it).
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringpin::fuzzing::{parse_head_split, splits_for};
use ringpin::Limits;

fuzz_target!(|data: &[u8]| {
    for limits in [Limits::default(), ringpin::fuzzing::small_limits()] {
        for splits in splits_for(data) {
            parse_head_split(data, &splits, &limits);
        }
    }
});
