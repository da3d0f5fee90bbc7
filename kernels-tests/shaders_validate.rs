//! Every WGSL kernel (with the preludes, its generated bindings and the snippets it calls) parses
//! and validates with naga; every file under shaders/ is registered; each kernel file's header
//! names its bindings as the table does, its Rust wrapper and its CPU twin. No device needed.

use snnlab::gpu::kernels::{PRELUDES, SHADERS, SNIPPETS, ShaderFile, full_source, parts_of};

fn validate(src: &str) -> Result<naga::valid::ModuleInfo, String> {
    let module = naga::front::wgsl::parse_str(src).map_err(|e| e.emit_to_string(src))?;
    naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::empty(),
    )
    .validate(&module)
    .map_err(|e| e.emit_to_string(src))
}

/// The shader folders: preludes, the two kinds' kernels, what both build with.
const FOLDERS: [&str; 4] = ["common", "rate", "spike", "shared"];

#[test]
fn every_kernel_validates_with_naga() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/shaders");
    let mut on_disk: Vec<String> = Vec::new();
    for entry in std::fs::read_dir(root).unwrap().filter_map(|e| e.ok()) {
        let name = entry.file_name().to_string_lossy().into_owned();
        assert!(
            FOLDERS.contains(&name.as_str()),
            "shaders/{name}: every shader lives in one of shaders/{FOLDERS:?}"
        );
        for f in std::fs::read_dir(entry.path())
            .unwrap()
            .filter_map(|e| e.ok())
        {
            on_disk.push(format!("{name}/{}", f.file_name().to_string_lossy()));
        }
    }
    on_disk.sort();
    let mut registered: Vec<String> = PRELUDES
        .iter()
        .chain(SHADERS)
        .chain(SNIPPETS)
        .map(|f| f.path.to_string())
        .collect();
    registered.sort();
    assert_eq!(
        on_disk, registered,
        "every file under shaders/ must be registered in gpu::kernels::{{PRELUDES, SHADERS, SNIPPETS}}"
    );
    for f in PRELUDES.iter().chain(SHADERS).chain(SNIPPETS) {
        assert!(
            f.source.starts_with(&format!("// {}.wgsl", f.name)),
            "{} must open with its header comment",
            f.path
        );
    }
    for spec in KERNELS {
        // As built: preludes, generated bindings, kernel, then the snippets it calls.
        validate(&built_source(spec)).unwrap_or_else(|e| {
            panic!("{} ({:?}) failed validation:\n{e}", spec.name, spec.prelude)
        });
    }
}

/// The header comment of a shader file: its leading `//` lines.
fn header(src: &str) -> Vec<&str> {
    src.lines()
        .take_while(|l| l.starts_with("//"))
        .map(|l| l.trim_start_matches('/').trim())
        .collect()
}

/// The binding list of a header, as (binding, name, description in parentheses): the entries
/// after `Bindings:`, separated by `|` and continued on the following lines that start with a
/// binding number. Text after an entry's parentheses (a shape, a remark) is free.
fn header_bindings(src: &str) -> Result<Vec<(String, String, String)>, String> {
    let lines = header(src);
    let at = lines
        .iter()
        .position(|l| l.starts_with("Bindings:"))
        .ok_or("no `Bindings:` line in the header")?;
    let mut text = lines[at].trim_start_matches("Bindings:").to_string();
    for l in &lines[at + 1..] {
        if !l.starts_with(|c: char| c.is_ascii_digit()) {
            break;
        }
        text.push('|');
        text.push_str(l);
    }
    text.split('|')
        .map(|entry| {
            let entry = entry.trim();
            let bad = || format!("binding entry `{entry}` is not `N name (description)`");
            let (index, rest) = entry.split_once(' ').ok_or_else(bad)?;
            let (name, rest) = rest.split_once(" (").ok_or_else(bad)?;
            let (desc, _) = rest.split_once(')').ok_or_else(bad)?;
            Ok((index.to_string(), name.to_string(), desc.to_string()))
        })
        .collect()
}

/// What a header line `key PATH...` names, checked against the tree: the file exists and, for a
/// `path::function`, defines that function.
fn named_path_problem(file: &ShaderFile, line: &str, key: &str) -> Option<String> {
    let rest = line.strip_prefix(key)?.trim();
    let target = rest.split_whitespace().next().unwrap_or("");
    let (path, function) = match target.split_once("::") {
        Some((p, f)) => (p, Some(f)),
        None => (target, None),
    };
    let full = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    let Ok(text) = std::fs::read_to_string(&full) else {
        return Some(format!("{}: `{key} {target}`: no file {path}", file.path));
    };
    let function = function?;
    let defined =
        text.contains(&format!("fn {function}(")) || text.contains(&format!("fn {function}<"));
    (!defined).then(|| {
        format!(
            "{}: `{key} {target}`: {path} defines no fn {function}",
            file.path
        )
    })
}

/// Every way a kernel file's header disagrees with the table and the tree.
fn header_problems(file: &ShaderFile) -> Vec<String> {
    let mut out = Vec::new();
    let lines = header(file.source);
    for key in ["Rust wrapper:", "CPU twin:"] {
        match lines.iter().find(|l| l.starts_with(key)) {
            Some(l) => out.extend(named_path_problem(file, l, key)),
            None => out.push(format!("{}: the header names no `{key}`", file.path)),
        }
    }
    let listed = match header_bindings(file.source) {
        Ok(b) => b,
        Err(e) => return [out, vec![format!("{}: {e}", file.path)]].concat(),
    };
    let built_from_here = KERNELS.iter().filter(|k| parts_of(k.name).0 == file.name);
    for spec in built_from_here {
        let want: Vec<(String, String, String)> = spec
            .bindings
            .iter()
            .enumerate()
            .map(|(i, (name, slot))| (i.to_string(), name.to_string(), slot.header()))
            .collect();
        if listed != want {
            out.push(format!(
                "{}: header bindings {listed:?}, the table of {} ({:?}) says {want:?}",
                file.path, spec.name, spec.prelude
            ));
        }
    }
    out
}

#[test]
fn kernel_headers_match_the_table_and_the_tree() {
    let problems: Vec<String> = SHADERS.iter().flat_map(header_problems).collect();
    assert!(
        problems.is_empty(),
        "shader headers out of date:\n{}",
        problems.join("\n")
    );
    // Snippets that name a CPU twin name one that exists.
    for f in SNIPPETS {
        for l in header(f.source) {
            assert_eq!(named_path_problem(f, l, "CPU twin:"), None);
        }
    }
}

#[test]
fn header_check_catches_a_stale_binding_list() {
    // The check above must be able to fail: the header of rate_init with two bindings traded.
    let file = SHADERS.iter().find(|f| f.name == "rate_init").unwrap();
    assert!(header_problems(file).is_empty());
    let stale = file
        .source
        .replacen("2 ah (read_write) | 3 h", "2 h (read_write) | 3 ah", 1);
    assert_ne!(stale, file.source);
    let leaked: &'static str = String::leak(stale);
    let problems = header_problems(&ShaderFile {
        source: leaked,
        ..*file
    });
    assert_eq!(problems.len(), 1, "{problems:?}");
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

/// How the entry point `main` uses each global (including through the functions it calls), or
/// the validation error of the kernel as built (a store to a binding the table made read-only,
/// a binding of the wrong type).
fn uses(spec: &KernelSpec, module: &naga::Module) -> Result<Vec<naga::valid::GlobalUse>, String> {
    let src = built_source(spec);
    let info = naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::empty(),
    )
    .validate(module)
    .map_err(|e| e.emit_to_string(&src))?;
    let ep = module
        .entry_points
        .iter()
        .position(|e| e.name == "main")
        .ok_or("no entry point main")?;
    let main = info.get_entry_point(ep);
    Ok(module
        .global_variables
        .iter()
        .map(|(h, _)| main[h])
        .collect())
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
    let used = uses(spec, module).map_err(|e| out.push(format!("{at}: invalid as built:\n{e}")));
    let mut bound: Vec<(usize, &naga::GlobalVariable)> = module
        .global_variables
        .iter()
        .map(|(_, g)| g)
        .enumerate()
        .filter(|(_, g)| g.binding.is_some())
        .collect();
    bound.sort_by_key(|(_, g)| g.binding.as_ref().map(|b| (b.group, b.binding)));
    if bound.len() != spec.bindings.len() {
        out.push(format!(
            "{at}: {} bindings in WGSL, {} in the table",
            bound.len(),
            spec.bindings.len()
        ));
    }
    for (i, ((gi, g), (name, slot))) in bound.iter().zip(spec.bindings).enumerate() {
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
        // The table's access is the kernel's: every binding used, read_write only where written.
        if let Ok(used) = &used {
            use naga::valid::GlobalUse;
            let u = used[*gi];
            if !u.intersects(GlobalUse::READ | GlobalUse::WRITE) {
                out.push(format!(
                    "{at}: binding {i} {name} is never used by the kernel"
                ));
            } else if matches!(slot, Slot::ReadWrite(_)) && !u.contains(GlobalUse::WRITE) {
                out.push(format!(
                    "{at}: binding {i} {name} is read_write in the table but the kernel only reads it"
                ));
            }
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
    // Every kernel file builds at least one kernel of the table, with the preludes of its folder.
    for f in SHADERS {
        let preludes: Vec<Prelude> = KERNELS
            .iter()
            .filter(|k| parts_of(k.name).0 == f.name)
            .map(|k| k.prelude)
            .collect();
        let folder = f.path.split('/').next().unwrap();
        let want: &[Prelude] = match folder {
            "rate" => &[Prelude::Rate],
            "spike" => &[Prelude::Spike],
            "shared" => &[Prelude::Rate, Prelude::Spike],
            other => panic!("kernel file {} in shaders/{other}", f.path),
        };
        for p in want {
            assert!(
                preludes.contains(p),
                "{}: gpu::abi::KERNELS must build it with the {p:?} prelude",
                f.path
            );
        }
        assert!(
            preludes.iter().all(|p| want.contains(p)),
            "{}: built with {preludes:?}, its folder says {want:?}",
            f.path
        );
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
    // The check above must be able to fail. The declarations follow the table, so a table whose
    // first kernel has a read and a written binding traded (mask_rec, w_eff) yields a kernel that
    // stores to a read-only binding and a read_write binding it never writes:
    let spec = KERNELS[0];
    assert_eq!(spec.bindings[2].0, "mask_rec");
    assert!(kernel_problems(&spec, &parse(&spec)).is_empty());
    let mut swapped = spec.bindings.to_vec();
    let (read, written) = (swapped[2].1, swapped[3].1);
    swapped[2].1 = written;
    swapped[3].1 = read;
    let leaked: &'static [_] = Vec::leak(swapped);
    let bad = KernelSpec {
        bindings: leaked,
        ..spec
    };
    let problems = kernel_problems(&bad, &parse(&bad));
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("invalid as built"), "{problems:?}");
    // Two bindings of different element types traded (params: f32, nets: NetParams) do not build:
    let spec = KERNELS.iter().find(|k| k.name == "adam").unwrap();
    let mut swapped = spec.bindings.to_vec();
    let (p, n) = (
        swapped.iter().position(|b| b.0 == "grads").unwrap(),
        swapped.iter().position(|b| b.0 == "nets").unwrap(),
    );
    let (tp, tn) = (swapped[p].1, swapped[n].1);
    swapped[p].1 = tn;
    swapped[n].1 = tp;
    let bad = KernelSpec {
        bindings: Vec::leak(swapped),
        ..*spec
    };
    assert!(validate(&built_source(&bad)).is_err());
    // A table that says read_write where the kernel only reads (grads of adam):
    let mut loose = spec.bindings.to_vec();
    loose[p].1 = Slot::ReadWrite("f32");
    let bad = KernelSpec {
        bindings: Vec::leak(loose),
        ..*spec
    };
    let problems = kernel_problems(&bad, &parse(&bad));
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("only reads"), "{problems:?}");
    // A Rust Dims whose first two fields trade places:
    let module = parse(&KERNELS[0]);
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
