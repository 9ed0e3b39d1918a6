//! The connection state machine (`Session`: decode, handler, encode) on arbitrary client
//! bytes, fed whole, one byte at a time and cut at pseudo-random points, under the default
//! and small limits: no panic, no request answered after a refusal, and the same responses
//! and final state however the bytes arrive (`answer_split` asserts it).
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringpin::fuzzing::{answer_split, splits_for};
use ringpin::Limits;

fuzz_target!(|data: &[u8]| {
    for limits in [Limits::default(), ringpin::fuzzing::small_limits()] {
        let splits = splits_for(data);
        answer_split(data, &splits, &limits);
    }
});
