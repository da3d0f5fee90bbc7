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

// ---- the CPU–GPU contract (gpu::abi) against the shaders, by naga reflection -----------------

use snnlab::gpu::abi::{KERNELS, KernelSpec, Prelude, Slot, StructLayout, TILE_TRIALS, WG};
use snnlab::gpu::kernels::built_source;

fn parse(spec: &KernelSpec) -> naga::Module {
    let src = built_source(spec);
    naga::front::wgsl::parse_str(&src)
        .unwrap_or_else(|e| panic!("{}: {}", spec.name, e.emit_to_string(&src)))
}

/// The WGSL spelling of a type as the contract names it: a struct's name, a scalar (`f32`,
/// `u32`), `vec2<f32>`.
fn type_name(module: &naga::Module, ty: naga::Handle<naga::Type>) -> String {
    use naga::{ScalarKind, TypeInner, VectorSize};
    let t = &module.types[ty];
    let scalar = |s: naga::Scalar| match (s.kind, s.width) {
        (ScalarKind::Float, 4) => "f32".to_string(),
        (ScalarKind::Uint, 4) => "u32".to_string(),
        (ScalarKind::Sint, 4) => "i32".to_string(),
        other => format!("{other:?}"),
    };
    match &t.inner {
        TypeInner::Struct { .. } => t.name.clone().unwrap_or_default(),
        TypeInner::Scalar(s) => scalar(*s),
        TypeInner::Vector { size, scalar: s } => {
            let n = match size {
                VectorSize::Bi => 2,
                VectorSize::Tri => 3,
                VectorSize::Quad => 4,
            };
            format!("vec{n}<{}>", scalar(*s))
        }
        TypeInner::Array { base, .. } => format!("array<{}>", type_name(module, *base)),
        other => format!("{other:?}"),
    }
}

/// The WGSL type a Rust field type stands for.
fn wgsl_of_rust(ty: &str) -> &str {
    match ty {
        "[f32; 2]" => "vec2<f32>",
        other => other,
    }
}

/// Differences between one WGSL struct and its Rust twin.
fn struct_problems(
    module: &naga::Module,
    members: &[naga::StructMember],
    span: u32,
    twin: &StructLayout,
    at: &str,
) -> Vec<String> {
    let mut out = Vec::new();
    let who = format!("{at}: struct {} (Rust {})", twin.wgsl, twin.rust);
    if span as usize != twin.size {
        out.push(format!(
            "{who}: {span} bytes in WGSL, {} in Rust",
            twin.size
        ));
    }
    let wgsl_names: Vec<&str> = members
        .iter()
        .map(|m| m.name.as_deref().unwrap_or(""))
        .collect();
    let rust_names: Vec<&str> = twin.fields.iter().map(|f| f.name).collect();
    if wgsl_names != rust_names {
        out.push(format!(
            "{who}: fields {wgsl_names:?} in WGSL, {rust_names:?} in Rust"
        ));
    }
    for (m, f) in members.iter().zip(&twin.fields) {
        let size = module.types[m.ty].inner.size(module.to_ctx()) as usize;
        let ty = type_name(module, m.ty);
        if m.offset as usize != f.offset || size != f.size || ty != wgsl_of_rust(f.ty) {
            out.push(format!(
                "{who}: field {} is {ty} at {} ({size} bytes) in WGSL, {} {} at {} ({} bytes) in Rust",
                f.name,
                m.offset,
                f.name,
                f.ty,
                f.offset,
                f.size
            ));
        }
    }
    out
}

/// Every difference between the kernel table and its kernel's module.
fn kernel_problems(spec: &KernelSpec, module: &naga::Module) -> Vec<String> {
    let mut out = Vec::new();
    let at = format!("{} ({:?})", spec.name, spec.prelude);
    match module.entry_points.iter().find(|e| e.name == "main") {
        Some(ep) if ep.workgroup_size != spec.workgroup => out.push(format!(
            "{at}: workgroup size {:?} in WGSL, {:?} in the table",
            ep.workgroup_size, spec.workgroup
        )),
        Some(_) => {}
        None => out.push(format!("{at}: no entry point main")),
    }
    let mut bound: Vec<&naga::GlobalVariable> = module
        .global_variables
        .iter()
        .map(|(_, g)| g)
        .filter(|g| g.binding.is_some())
        .collect();
    bound.sort_by_key(|g| g.binding.as_ref().map(|b| (b.group, b.binding)));
    if bound.len() != spec.bindings.len() {
        out.push(format!(
            "{at}: {} bindings in WGSL, {} in the table",
            bound.len(),
            spec.bindings.len()
        ));
    }
    for (i, (g, (name, slot))) in bound.iter().zip(spec.bindings).enumerate() {
        let rb = g.binding.as_ref().unwrap();
        let wgsl_name = g.name.as_deref().unwrap_or("");
        let (space, ty) = (g.space, type_name(module, g.ty));
        use naga::{AddressSpace, StorageAccess};
        let load = StorageAccess::LOAD;
        let load_store = StorageAccess::LOAD | StorageAccess::STORE;
        let (want_space, want_ty) = match slot {
            Slot::Uniform(t) | Slot::UniformDyn(t) => (AddressSpace::Uniform, t.to_string()),
            Slot::Read(t) => (
                AddressSpace::Storage { access: load },
                format!("array<{t}>"),
            ),
            Slot::ReadWrite(t) => (
                AddressSpace::Storage { access: load_store },
                format!("array<{t}>"),
            ),
        };
        if (rb.group, rb.binding) != (0, i as u32)
            || wgsl_name != *name
            || space != want_space
            || ty != want_ty
        {
            out.push(format!(
                "{at}: binding {i} is @group({}) @binding({}) {wgsl_name}: {space:?} {ty} in WGSL, \
                 {name}: {slot:?} in the table",
                rb.group, rb.binding
            ));
        }
    }
    let twins = spec.prelude.structs();
    for (_, t) in module.types.iter() {
        if let naga::TypeInner::Struct { members, span } = &t.inner {
            let name = t.name.as_deref().unwrap_or("");
            match twins.iter().find(|tw| tw.wgsl == name) {
                Some(tw) => out.extend(struct_problems(module, members, *span, tw, &at)),
                None => out.push(format!("{at}: struct {name} has no Rust twin in gpu::abi")),
            }
        }
    }
    // The tile sizes the dispatch assumes.
    for (_, c) in module.constants.iter() {
        let want = match c.name.as_deref() {
            Some("TB") => TILE_TRIALS,
            Some("TU") => WG,
            _ => continue,
        };
        match module.global_expressions[c.init] {
            naga::Expression::Literal(naga::Literal::U32(v)) if v == want => {}
            ref e => out.push(format!(
                "{at}: const {} = {e:?}, the Rust side assumes {want}",
                c.name.as_deref().unwrap_or("")
            )),
        }
    }
    if spec.name.ends_with("_tiled")
        && !module
            .constants
            .iter()
            .any(|(_, c)| c.name.as_deref() == Some("TB"))
    {
        out.push(format!("{at}: tiled kernel without const TB"));
    }
    out
}

/// Every difference between the contract and the shaders, including Rust twins no shader
/// declares.
fn contract_problems(specs: &[KernelSpec]) -> Vec<String> {
    let mut out = Vec::new();
    let mut seen: Vec<(Prelude, &str)> = Vec::new();
    for spec in specs {
        let module = parse(spec);
        out.extend(kernel_problems(spec, &module));
        for (_, t) in module.types.iter() {
            if let (naga::TypeInner::Struct { .. }, Some(n)) = (&t.inner, &t.name)
                && let Some(tw) = spec.prelude.structs().into_iter().find(|tw| tw.wgsl == n)
            {
                seen.push((spec.prelude, tw.rust));
            }
        }
    }
    for p in [Prelude::Rate, Prelude::Spike] {
        for tw in p.structs() {
            if !seen.contains(&(p, tw.rust)) {
                out.push(format!(
                    "Rust struct {} ({p:?}) is declared by no shader",
                    tw.rust
                ));
            }
        }
    }
    out
}

#[test]
fn every_kernel_is_in_the_table() {
    let mut table: Vec<&str> = KERNELS.iter().map(|k| k.name).collect();
    table.sort();
    table.dedup();
    let mut shaders: Vec<&str> = SHADERS.iter().map(|(n, _)| *n).collect();
    shaders.sort();
    assert_eq!(
        table, shaders,
        "gpu::abi::KERNELS must list every kernel of SHADERS"
    );
    for name in SHARED_KERNELS {
        for p in [Prelude::Rate, Prelude::Spike] {
            assert!(
                KERNELS.iter().any(|k| k.name == *name && k.prelude == p),
                "shared kernel {name} must be in the table with the {p:?} prelude"
            );
        }
    }
}

#[test]
fn abi_structs_bindings_and_workgroups_match_the_shaders() {
    let problems = contract_problems(KERNELS);
    assert!(
        problems.is_empty(),
        "CPU–GPU contract broken:\n{}",
        problems.join("\n")
    );
}

#[test]
fn abi_check_catches_a_swapped_binding_and_a_swapped_field() {
    // The check above must be able to fail. A table whose first kernel has two bindings swapped:
    let spec = KERNELS[0];
    let mut swapped = spec.bindings.to_vec();
    swapped.swap(1, 2);
    let leaked: &'static [_] = Vec::leak(swapped);
    let bad = KernelSpec {
        bindings: leaked,
        ..spec
    };
    let problems = kernel_problems(&bad, &parse(&bad));
    assert_eq!(problems.len(), 2, "{problems:?}");
    // A Rust Dims whose first two fields trade places:
    let module = parse(&spec);
    let (members, span) = module
        .types
        .iter()
        .find_map(|(_, t)| match &t.inner {
            naga::TypeInner::Struct { members, span } if t.name.as_deref() == Some("Dims") => {
                Some((members.clone(), *span))
            }
            _ => None,
        })
        .unwrap();
    let mut twin = Prelude::Rate.structs().remove(0);
    assert_eq!(twin.rust, "Dims");
    assert!(struct_problems(&module, &members, span, &twin, "ok").is_empty());
    let (a, b) = (twin.fields[0].name, twin.fields[1].name);
    twin.fields[0].name = b;
    twin.fields[1].name = a;
    assert!(!struct_problems(&module, &members, span, &twin, "swapped").is_empty());
}
