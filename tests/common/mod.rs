//! Helpers shared by the test files that drive the `snnlab` binary (each says `mod common;`).
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

/// The binary under test, with GPU adapter selection left to wgpu (no device-select layer).
pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_snnlab"));
    c.env("NODEVICE_SELECT", "1");
    c
}

/// A fresh, empty directory under the temp dir, unique to this test file, `name` and process.
pub fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "snnlab-{}-{name}-{}",
        env!("CARGO_CRATE_NAME"),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub mod gpu;
