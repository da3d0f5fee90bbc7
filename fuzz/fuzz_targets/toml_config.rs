//! Train configs and sweep files (TOML): parsing, validation, the memory checks of their sizes
//! and the grid's expansion never panic or allocate past the budget.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    snnlab::io::budget::set_max_memory(64 << 20);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = snnlab::train::TrainConfig::from_toml(text);
        let _ = snnlab::sweep::Sweep::from_toml(std::path::Path::new("fuzz.toml"), text);
    }
});
