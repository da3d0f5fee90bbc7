//! Every WGSL kernel (with the shared prelude and the snippets it calls) parses and validates with
//! naga; no device needed.

use snnlab::gpu::kernels::{
    SHADERS, SHARED_KERNELS, SNIPPETS, SPIKE_PRELUDE, full_source, full_source_with, kernel_source,
    prelude_of,
};

fn validate(src: &str) -> Result<naga::valid::ModuleInfo, String> {
    let module = naga::front::wgsl::parse_str(src).map_err(|e| e.emit_to_string(src))?;
    naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::empty(),
    )
    .validate(&module)
    .map_err(|e| e.emit_to_string(src))
}

#[test]
fn every_kernel_validates_with_naga() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/shaders");
    let mut on_disk: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".wgsl") && n != "common.wgsl" && n != "spike_common.wgsl")
        .collect();
    on_disk.sort();
    let mut registered: Vec<String> = SHADERS
        .iter()
        .chain(SNIPPETS)
        .map(|(n, _)| format!("{n}.wgsl"))
        .collect();
    registered.sort();
    assert_eq!(
        on_disk, registered,
        "every shaders/*.wgsl must be registered in gpu::kernels::SHADERS or SNIPPETS"
    );
    for (name, src) in SNIPPETS {
        assert!(
            src.starts_with(&format!("// {name}.wgsl")),
            "{name}.wgsl must open with its header comment"
        );
    }
    for (name, src) in SHADERS {
        // As built: prelude, kernel, then the snippets it calls.
        let info = validate(&full_source_with(prelude_of(name), &kernel_source(name)))
            .unwrap_or_else(|e| panic!("{name}.wgsl failed validation:\n{e}"));
        drop(info);
        if SHARED_KERNELS.contains(name) {
            validate(&full_source_with(SPIKE_PRELUDE, src))
                .unwrap_or_else(|e| panic!("{name}.wgsl with the spiking prelude:\n{e}"));
        }
        assert!(
            src.starts_with(&format!("// {name}.wgsl")),
            "{name}.wgsl must open with its header comment"
        );
        assert!(
            src.contains("Bindings:"),
            "{name}.wgsl header must give its binding table"
        );
    }
}

#[test]
fn validator_rejects_a_broken_kernel() {
    // The check above must be able to fail: a type error is caught.
    let bad = full_source("@compute @workgroup_size(1) fn main() { let x: f32 = 1u; }");
    assert!(validate(&bad).is_err());
}
