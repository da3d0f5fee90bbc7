//! `.npy` headers (also every `.npz` entry's): parsing and the size checks never panic, and a
//! header that passes the checks claims no more than the bytes after it and the budget.
#![no_main]

use libfuzzer_sys::fuzz_target;

const LIMIT: u64 = 64 << 20;

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = snnlab::io::parse_npy_header(data) {
        let after = (data.len() as u64).saturating_sub(h.data_offset);
        if h.check("array", after, LIMIT).is_ok() {
            assert_eq!(h.elements().map(|n| n * h.item_size), Some(after));
            assert!(after <= LIMIT);
        }
    }
    let mut r = data;
    let _ = snnlab::io::check_npy_stream(&mut r, data.len() as u64, "array", LIMIT);
});
