//! The header of a `.safetensors` model file (length, JSON, tensor offsets, `__metadata__`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = snnlab::io::model_config_json(data);
});
