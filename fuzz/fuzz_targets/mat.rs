//! MATLAB v5/v7 files, compressed variables included: never a panic, and never more than the
//! limit allocated for inflated data and numbers (a zlib bomb stops at the cap).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = snnlab::neural::mat::parse_mat_limited(data, 64 << 20);
});
