//! A deterministic corpus of malformed inputs run through every input path of the command line:
//! header lies, truncations, byte flips, zlib bombs, wrong dtypes, NaNs and overflows, absurd
//! configs and grids, bad flags, outputs that are inputs or links, and inputs that are not
//! regular files. Every case must end in exit status 2 with one line on stderr (or 0 for a valid
//! file), never a signal; leave nothing behind in its folder when it fails; and peak at most
//! `PEAK_RSS_MIB` of resident memory (measured per child with wait4's rusage).
//!
//! Every child runs with `--max-memory 64M`. The parser entry points that the `cargo fuzz`
//! targets in fuzz/ call are also run in-process on every corpus file (no panic allowed).
//!
//! A test binary of its own (the others are tests/cli, tests/cpu, tests/sweep): a child's
//! measured peak includes its parent's resident memory, and the in-process pass sets the
//! process-wide memory budget, so no other test may share this process.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ndarray::{Array3, IxDyn};
use snnlab::model::{RateConfig, RateModel};

mod common;
use common::tmpdir;

/// The memory budget every child is given.
const BUDGET: &str = "64M";
/// Peak resident memory allowed per child (its budget plus the binary's own ~30 MiB).
const PEAK_RSS_MIB: u64 = 160;
/// A child still running after this long fails the test (a FIFO read would block forever).
const CHILD_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Expect {
    /// Exit 0.
    Ok,
    /// Exit 2, one line, the message contains the text.
    Bad(&'static str),
    /// A random mutation may still be a valid file: exit 0, or exit 2 with one line.
    Either,
}
use Expect::Bad;

struct Case {
    class: &'static str,
    name: String,
    dir: PathBuf,
    args: Vec<OsString>,
    expect: Expect,
}

/// A tiny xorshift generator: the corpus is the same on every run and platform.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

// ------------------------------------------------------------------------------------------
// Valid seed files
// ------------------------------------------------------------------------------------------

fn npy_bytes(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
    let mut h = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + h.len() + 1) % 64 != 0 {
        h.push(' ');
    }
    h.push('\n');
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend((h.len() as u16).to_le_bytes());
    b.extend(h.as_bytes());
    b.extend(data);
    b
}

fn f64_bytes(v: &[f64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Neural data `[4 units, 5 steps, 3 conditions]`.
fn data_values() -> Vec<f64> {
    (0..60).map(|i| ((i * 7 % 11) as f64 * 0.3).sin()).collect()
}

/// An `.npz` of raw `.npy` entries, each stored or deflated.
fn npz_bytes(entries: &[(&str, Vec<u8>)], deflate: bool) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let method = if deflate {
        zip::CompressionMethod::Deflated
    } else {
        zip::CompressionMethod::Stored
    };
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(method)
        .large_file(true);
    for (name, bytes) in entries {
        w.start_file(format!("{name}.npy"), opts).unwrap();
        w.write_all(bytes).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// Write `n` zero bytes to `w` in 1 MiB pieces (the bombs are never whole in this process's
/// memory: the parent's peak would count in every child's, which exec inherits).
fn write_zeros(w: &mut impl Write, n: usize) {
    let chunk = vec![0u8; 1 << 20];
    let mut left = n;
    while left > 0 {
        let k = left.min(chunk.len());
        w.write_all(&chunk[..k]).unwrap();
        left -= k;
    }
}

/// A zlib stream of `prefix` followed by `zeros` zero bytes.
fn zlib_zeros(prefix: &[u8], zeros: usize) -> Vec<u8> {
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    z.write_all(prefix).unwrap();
    write_zeros(&mut z, zeros);
    z.finish().unwrap()
}

/// A deflated `.npz` whose `inputs` entry is `head` then `zeros` zero bytes.
fn npz_zeros(head: &[u8], zeros: usize, targets: &[u8]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(true);
    w.start_file("inputs.npy", opts).unwrap();
    w.write_all(head).unwrap();
    write_zeros(&mut w, zeros);
    w.start_file("targets.npy", opts).unwrap();
    w.write_all(targets).unwrap();
    w.finish().unwrap().into_inner()
}

fn mat_element(ty: u32, data: &[u8]) -> Vec<u8> {
    let mut b = ty.to_le_bytes().to_vec();
    b.extend((data.len() as u32).to_le_bytes());
    b.extend(data);
    while !b.len().is_multiple_of(8) {
        b.push(0);
    }
    b
}

/// A MAT v5 `miMATRIX` element: a double array `name` of `dims` (column-major `data`).
fn mat_matrix(name: &str, dims: &[i32], data: &[u8]) -> Vec<u8> {
    let mut body = mat_element(6, &[6u32.to_le_bytes(), 0u32.to_le_bytes()].concat());
    body.extend(mat_element(
        5,
        &dims
            .iter()
            .flat_map(|d| d.to_le_bytes())
            .collect::<Vec<_>>(),
    ));
    body.extend(mat_element(1, name.as_bytes()));
    body.extend(mat_element(9, data));
    mat_element(14, &body)
}

fn mat_file(elements: &[Vec<u8>]) -> Vec<u8> {
    let mut h = b"MATLAB 5.0 MAT-file, written by snnlab's fuzz corpus".to_vec();
    h.resize(116, b' ');
    h.extend([0u8; 8]);
    h.extend(0x0100u16.to_le_bytes());
    h.extend(b"IM");
    for e in elements {
        h.extend(e);
    }
    h
}

fn zlib(bytes: &[u8]) -> Vec<u8> {
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    z.write_all(bytes).unwrap();
    z.finish().unwrap()
}

/// A compressed MAT element (no padding after it, as MATLAB writes it).
fn mat_compressed(inner: &[u8]) -> Vec<u8> {
    mat_zlib_element(zlib(inner))
}

/// A miCOMPRESSED element holding the zlib stream `z`.
fn mat_zlib_element(z: Vec<u8>) -> Vec<u8> {
    let mut b = 15u32.to_le_bytes().to_vec();
    b.extend((z.len() as u32).to_le_bytes());
    b.extend(z);
    b
}

/// The TOML list `[1, 2, …, n]`.
fn axis(n: usize) -> String {
    let values: Vec<String> = (1..=n).map(|i| i.to_string()).collect();
    format!("[{}]", values.join(", "))
}

fn column_major(v: &[f64], (a, b, c): (usize, usize, usize)) -> Vec<f64> {
    let mut out = Vec::with_capacity(v.len());
    for k in 0..c {
        for j in 0..b {
            for i in 0..a {
                out.push(v[(i * b + j) * c + k]);
            }
        }
    }
    out
}

fn batch_npz(path: &Path, nan: bool) {
    let mut x = Array3::<f32>::from_shape_fn((2, 6, 3), |(b, t, i)| {
        ((b + 2 * t + 3 * i) as f32 * 0.37).sin()
    });
    if nan {
        x[[1, 2, 0]] = f32::NAN;
    }
    let y = Array3::<f32>::from_shape_fn((2, 6, 2), |(b, t, k)| ((b + t + k) as f32 * 0.5).cos());
    let d = |a: Array3<f32>| a.into_dimensionality::<IxDyn>().unwrap();
    snnlab::io::write_npz(path, &[("inputs", d(x)), ("targets", d(y))]).unwrap();
}

fn rate_model(seed: u64) -> RateModel {
    RateModel::init(RateConfig::new(3, 10, 2), 1.0, seed).unwrap()
}

struct Seeds {
    model: PathBuf,
    batch: PathBuf,
    npy: PathBuf,
    paper: PathBuf,
    bytes: Vec<(&'static str, &'static str, Vec<u8>)>,
}

/// Small sizes first: a truncated copy that still parses trains for one short update.
const TRAIN_TOML: &str = "updates = 1\nn_steps = 20\nbatch_size = 2\nn_rec = 4\ntask = \"reach\"\nrule = \"bptt\"\nlr = 1e-3\nseeds = [1]\ncheckpoints = [0, 1]\ndevice = \"cpu\"\n";
const SWEEP_TOML: &str = "[base]\ntask = \"reach\"\nn_rec = 4\nupdates = 1\nbatch_size = 2\nn_steps = 20\ndevice = \"cpu\"\n[grid]\nseed = [1, 2]\nlr = [1e-3, 3e-4]\n";

fn seeds(dir: &Path) -> Seeds {
    std::fs::create_dir_all(dir).unwrap();
    let model = dir.join("model.safetensors");
    snnlab::io::save_model(&model, &rate_model(4)).unwrap();
    let batch = dir.join("batch.npz");
    batch_npz(&batch, false);
    let values = data_values();
    let npy_b = npy_bytes("<f8", "(4, 5, 3)", &f64_bytes(&values));
    let npy = dir.join("data.npy");
    std::fs::write(&npy, &npy_b).unwrap();
    let cm = f64_bytes(&column_major(&values, (4, 5, 3)));
    let mat = mat_file(&[mat_matrix("firing_rate", &[4, 5, 3], &cm)]);
    let matz = mat_file(&[mat_compressed(&mat_matrix("firing_rate", &[4, 5, 3], &cm))]);
    let m = rate_model(5);
    let paper = dir.join("paper.npz");
    let p = &m.params;
    snnlab::io::write_npz(
        &paper,
        &[
            ("p0_w_in", p.w_in.clone().into_dyn()),
            ("p0_b_in", p.b_in.clone().into_dyn()),
            ("p0_w_rec", p.w_rec.clone().into_dyn()),
            ("p0_w_out", p.w_out.clone().into_dyn()),
            ("p0_b_out", p.b_out.clone().into_dyn()),
            ("p0_ah0", p.ah0.clone().into_dyn()),
        ],
    )
    .unwrap();
    let bytes = vec![
        ("batch", "npz", std::fs::read(&batch).unwrap()),
        ("model", "safetensors", std::fs::read(&model).unwrap()),
        ("data", "npy", npy_b),
        ("data", "mat", mat),
        ("dataz", "mat", matz),
        ("paper", "npz", std::fs::read(&paper).unwrap()),
        ("train", "toml", TRAIN_TOML.as_bytes().to_vec()),
        ("sweep", "toml", SWEEP_TOML.as_bytes().to_vec()),
    ];
    Seeds {
        model,
        batch,
        npy,
        paper,
        bytes,
    }
}

// ------------------------------------------------------------------------------------------
// The corpus
// ------------------------------------------------------------------------------------------

struct Corpus {
    root: PathBuf,
    cases: Vec<Case>,
    /// Every generated input file, for the in-process parser pass (read back one at a time: the
    /// parent's resident memory counts in each child's peak, which exec inherits).
    files: Vec<PathBuf>,
}

impl Corpus {
    fn dir(&self) -> PathBuf {
        let d = self.root.join(format!("case{:04}", self.cases.len()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// A case whose input file `file` (written into the case's folder) goes to the command that
    /// reads a file of its name ([`command_for`]).
    fn with_file(
        &mut self,
        s: &Seeds,
        class: &'static str,
        name: String,
        file: &str,
        bytes: &[u8],
        expect: Expect,
    ) {
        let dir = self.dir();
        let p = dir.join(file);
        std::fs::write(&p, bytes).unwrap();
        self.files.push(p.clone());
        let (stem, ext) = file.split_once('.').unwrap();
        let args = command_for(s, stem, ext, &p, &dir);
        self.cases.push(Case {
            class,
            name,
            dir,
            args,
            expect,
        });
    }

    /// Cases of one class, each through [`Corpus::with_file`].
    fn section<'a>(&'a mut self, seeds: &'a Seeds, class: &'static str) -> Section<'a> {
        Section {
            corpus: self,
            seeds,
            class,
        }
    }

    fn plain(&mut self, class: &'static str, name: &str, args: Vec<OsString>, expect: Expect) {
        let dir = self.dir();
        self.cases.push(Case {
            class,
            name: name.into(),
            dir,
            args,
            expect,
        });
    }
}

struct Section<'a> {
    corpus: &'a mut Corpus,
    seeds: &'a Seeds,
    class: &'static str,
}

impl Section<'_> {
    fn add(&mut self, name: String, file: &str, bytes: &[u8], expect: Expect) {
        self.corpus
            .with_file(self.seeds, self.class, name, file, bytes, expect);
    }
}

fn os(v: &[&dyn AsRef<std::ffi::OsStr>]) -> Vec<OsString> {
    v.iter().map(|s| s.as_ref().to_os_string()).collect()
}

/// The command that reads a file of `kind` (`stem.ext`), writing into `out_dir`.
type Arg<'a> = &'a dyn AsRef<std::ffi::OsStr>;

/// `forward` of `model` on `batch` into `out` on the CPU.
fn forward_args(model: Arg, batch: Arg, out: Arg) -> Vec<OsString> {
    os(&[
        &"forward",
        &"--model",
        model,
        &"--batch",
        batch,
        &"--out",
        out,
        &"--device",
        &"cpu",
    ])
}

/// `grad` of `model` on `batch` with `rule` and `loss` into `out` on the CPU.
fn grad_args(model: Arg, batch: Arg, (rule, loss): (&str, &str), out: Arg) -> Vec<OsString> {
    let mut args = os(&[
        &"grad", &"--model", model, &"--batch", batch, &"--rule", &rule,
    ]);
    args.extend(os(&[&"--loss", &loss, &"--out", out, &"--device", &"cpu"]));
    args
}

fn command_for(s: &Seeds, stem: &str, ext: &str, file: &Path, out_dir: &Path) -> Vec<OsString> {
    let out = out_dir.join("out.npz");
    match (stem, ext) {
        ("batch", _) => forward_args(&s.model, &file, &out),
        ("model", _) => grad_args(&file, &s.batch, ("bptt", "mse"), &out),
        ("paper", _) => os(&[
            &"import-npz",
            &"--npz",
            &file,
            &"--prefix",
            &"p0_",
            &"--out",
            &out_dir.join("m.safetensors"),
        ]),
        ("train", _) => os(&[&"train", &file, &"--out", &out_dir.join("run"), &"--quiet"]),
        ("sweep", _) => os(&[
            &"sweep",
            &"status",
            &file,
            &"--results",
            &out_dir.join("results"),
        ]),
        _ => os(&[&"procrustes", &"--x", &file, &"--y", &s.npy]),
    }
}

fn build(root: &Path) -> (Corpus, Seeds) {
    let s = seeds(&root.join("seeds"));
    let mut c = Corpus {
        root: root.join("cases"),
        cases: vec![],
        files: vec![],
    };
    let mut rng = Rng(0x5eed_1234_abcd_ef01);

    // Valid files: exit 0.
    for (stem, ext, bytes) in &s.bytes {
        let file = format!("{stem}.{ext}");
        c.with_file(
            &s,
            "valid",
            format!("valid {file}"),
            &file,
            bytes,
            Expect::Ok,
        );
    }
    // Truncations: every file cut at 25 places (any cut of a binary file is invalid; a cut TOML
    // may still parse).
    for (stem, ext, bytes) in &s.bytes {
        for k in 0..25 {
            let at = bytes.len() * k / 25;
            let file = format!("{stem}.{ext}");
            let expect = if *ext == "toml" {
                Expect::Either
            } else {
                Expect::Bad("")
            };
            c.with_file(
                &s,
                "truncation",
                format!("{file} cut at {at}"),
                &file,
                &bytes[..at],
                expect,
            );
        }
    }
    // Byte flips: 1 to 4 random bytes set to random values, 30 per file.
    for (stem, ext, bytes) in &s.bytes {
        for k in 0..30 {
            let mut b = bytes.clone();
            for _ in 0..1 + k % 4 {
                let i = rng.below(b.len());
                b[i] = rng.next() as u8;
            }
            let file = format!("{stem}.{ext}");
            c.with_file(
                &s,
                "byte flip",
                format!("{file} flip #{k}"),
                &file,
                &b,
                Expect::Either,
            );
        }
    }
    header_lies(&mut c, &s);
    bombs(&mut c, &s);
    dtypes_and_nans(&mut c, &s);
    absurd_configs(&mut c, &s);
    flags_and_outputs(&mut c, &s);
    (c, s)
}

fn header_lies(c: &mut Corpus, s: &Seeds) {
    let mut lies = c.section(s, "header lie");
    let vals = f64_bytes(&data_values());
    // .npy shapes that claim more than the file holds (the original case: 10^12 elements).
    for shape in [
        "(1000000, 1000000)",
        "(4, 5, 30)",
        "(4, 5, 2)",
        "(18446744073709551615, 2)",
        "(4294967296, 4294967296, 4)",
        "(60,)",
        "(0, 5, 3)",
    ] {
        let b = npy_bytes("<f8", shape, &vals);
        let expect = if shape == "(60,)" {
            Bad("expected 3")
        } else {
            Bad("data.npy")
        };
        lies.add(format!("npy shape {shape}"), "data.npy", &b, expect);
    }
    // Header lengths past the file, and a bad magic.
    for (label, patch) in [
        ("npy header length 65535", 0usize),
        ("npy magic", 1),
        ("npy version 9", 2),
    ] {
        let mut b = npy_bytes("<f8", "(4, 5, 3)", &vals);
        match patch {
            0 => b[8..10].copy_from_slice(&u16::MAX.to_le_bytes()),
            1 => b[1] = b'X',
            _ => b[6] = 9,
        }
        lies.add(label.into(), "data.npy", &b, Bad("data.npy"));
    }
    // .npz batch entries whose headers claim 10^12 elements (stored and deflated).
    for deflate in [false, true] {
        let x = npy_bytes("<f4", "(1000000, 1000000, 3)", &[0u8; 144]);
        let y = npy_bytes("<f4", "(2, 6, 2)", &[0u8; 96]);
        let b = npz_bytes(&[("inputs", x), ("targets", y)], deflate);
        lies.add(
            format!("npz inputs 10^12 elements (deflate {deflate})"),
            "batch.npz",
            &b,
            Bad("inputs"),
        );
    }
    // MAT dimensions that overflow or disagree with the data.
    let cm = f64_bytes(&column_major(&data_values(), (4, 5, 3)));
    for dims in [
        [i32::MAX, i32::MAX, 3],
        [4, 5, 30],
        [-1, 5, 3],
        [65536, 65536, 65536],
    ] {
        let m = mat_file(&[mat_matrix("firing_rate", &dims, &cm)]);
        lies.add(
            format!("mat dims {dims:?}"),
            "data.mat",
            &m,
            Bad("data.mat"),
        );
    }
    // Safetensors header length and tensor shapes that lie.
    let model = std::fs::read(&s.model).unwrap();
    for (label, patch) in [
        ("header length 2^40", 0),
        ("header length 0", 1),
        ("shape 10^11", 2),
    ] {
        let mut b = model.clone();
        match patch {
            0 => b[..8].copy_from_slice(&(1u64 << 40).to_le_bytes()),
            1 => b[..8].copy_from_slice(&0u64.to_le_bytes()),
            _ => {
                let text = String::from_utf8_lossy(&b).into_owned();
                let at = text.find("\"shape\":[").unwrap() + 9;
                b[at] = b'9';
                b.splice(at..at, b"9999999999".iter().copied());
                let hl = u64::from_le_bytes(b[..8].try_into().unwrap()) + 10;
                b[..8].copy_from_slice(&hl.to_le_bytes());
            }
        }
        lies.add(
            format!("safetensors {label}"),
            "model.safetensors",
            &b,
            Bad("model.safetensors"),
        );
    }
}

fn bombs(c: &mut Corpus, s: &Seeds) {
    let mut bombs = c.section(s, "zlib bomb");
    // The original case: a compressed MAT variable of ~0.5 MiB inflating past the budget. The
    // element is built with an 8-byte stand-in for its data, whose length tags are then patched.
    let n = 128usize << 20;
    let mut head = mat_matrix("firing_rate", &[4096, 4096, 1], &[0u8; 8]);
    head.truncate(head.len() - 8);
    let body_len = (head.len() - 8 + n) as u32;
    head[4..8].copy_from_slice(&body_len.to_le_bytes());
    let data_tag = head.len() - 4;
    head[data_tag..].copy_from_slice(&(n as u32).to_le_bytes());
    let m = mat_file(&[mat_zlib_element(zlib_zeros(&head, n))]);
    bombs.add(
        "mat variable inflating to 128 MiB".into(),
        "data.mat",
        &m,
        Bad("memory budget"),
    );
    // A small MAT variable followed, in its compressed stream, by 64 MiB of zeros.
    let inner = mat_matrix("firing_rate", &[1, 1, 1], &f64_bytes(&[1.0]));
    let m = mat_file(&[mat_zlib_element(zlib_zeros(&inner, 64 << 20))]);
    bombs.add(
        "mat stream longer than its variable".into(),
        "data.mat",
        &m,
        Bad("data.mat"),
    );
    // .npz entries: an honest 384 MiB header (over the budget) and a lying 96-byte one.
    let y = npy_bytes("<f4", "(2, 6, 2)", &[0u8; 96]);
    for (label, head, zeros) in [
        (
            "honest 384 MiB",
            npy_bytes("<f4", "(2, 16777216, 3)", &[]),
            2 * 16777216 * 3 * 4,
        ),
        (
            "lying header",
            npy_bytes("<f4", "(2, 6, 2)", &[]),
            96 + (64 << 20),
        ),
    ] {
        let b = npz_zeros(&head, zeros, &y);
        bombs.add(
            format!("npz deflated inputs, {label}"),
            "batch.npz",
            &b,
            Bad("batch.npz"),
        );
    }
}

fn dtypes_and_nans(c: &mut Corpus, s: &Seeds) {
    for (descr, size) in [
        ("<U10", 40),
        ("|O", 8),
        ("<c16", 16),
        ("<f2", 2),
        ("|V8", 8),
        ("<M8[ns]", 8),
        ("|S5", 5),
    ] {
        let b = npy_bytes(descr, "(4, 5, 3)", &vec![0u8; 60 * size]);
        c.with_file(
            s,
            "wrong dtype",
            format!("npy dtype {descr}"),
            "data.npy",
            &b,
            Expect::Bad("data.npy"),
        );
    }
    // Integer and bool data are read as f64: valid.
    let ramp = |i: usize| (i * 7 % 11) as u8;
    let encodings: [(&str, Vec<u8>); 4] = [
        (
            "<i4",
            (0..60)
                .flat_map(|i| (ramp(i) as i32).to_le_bytes())
                .collect(),
        ),
        ("|u1", (0..60).map(ramp).collect()),
        ("|b1", (0..60).map(|i| ramp(i) % 2).collect()),
        (
            "<f4",
            (0..60)
                .flat_map(|i| (ramp(i) as f32).to_le_bytes())
                .collect(),
        ),
    ];
    for (descr, data) in encodings {
        let b = npy_bytes(descr, "(4, 5, 3)", &data);
        c.with_file(
            s,
            "wrong dtype",
            format!("npy dtype {descr} (accepted)"),
            "data.npy",
            &b,
            Expect::Ok,
        );
    }
    // NaN and infinity in data, batches and models.
    for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let mut vals = data_values();
        vals[7] = v;
        let b = npy_bytes("<f8", "(4, 5, 3)", &f64_bytes(&vals));
        c.with_file(
            s,
            "NaN",
            format!("npy holding {v}"),
            "data.npy",
            &b,
            Expect::Bad("data.npy"),
        );
    }
    let dir = c.dir();
    let nan_batch = dir.join("nan.npz");
    batch_npz(&nan_batch, true);
    c.files.push(nan_batch.clone());
    let args = command_for(s, "batch", "npz", &nan_batch, &dir);
    c.cases.push(Case {
        class: "NaN",
        name: "batch inputs holding NaN".into(),
        dir,
        args,
        expect: Expect::Bad("nan.npz"),
    });
    // Overflow (the original case: w_out = 1e38): forward and grad exit 2 naming the model.
    for (label, scale) in [("w_out = 1e38", 1e38f32), ("w_in = 3e38", 3e38)] {
        let dir = c.dir();
        let mut m = rate_model(4);
        if label.starts_with("w_out") {
            m.params.w_out.fill(scale);
        } else {
            m.params.w_in.fill(scale);
            m.params.w_out.fill(1e38);
        }
        let p = dir.join("huge.safetensors");
        snnlab::io::save_model(&p, &m).unwrap();
        let out = dir.join("out.npz");
        for cmd in ["forward", "grad"] {
            let mut args = os(&[&cmd, &"--model", &p, &"--batch", &s.batch, &"--out", &out]);
            args.extend(os(&[&"--device", &"cpu"]));
            if cmd == "grad" {
                args.extend(os(&[&"--rule", &"bptt", &"--loss", &"mse"]));
            }
            // w_out = 1e38 alone keeps the outputs finite (|h| < 1) but not the gradient.
            let expect = if cmd == "forward" && label.starts_with("w_out") {
                Expect::Either
            } else {
                Expect::Bad("huge.safetensors")
            };
            c.cases.push(Case {
                class: "overflow",
                name: format!("{cmd} with {label}"),
                dir: dir.clone(),
                args,
                expect,
            });
        }
    }
}

fn absurd_configs(c: &mut Corpus, s: &Seeds) {
    let mut absurd = c.section(s, "absurd config");
    // The original cases: sizes that ended in an allocation abort.
    let train = [
        ("n_rec = 4", "n_rec = 1000000000", "n_rec"),
        ("batch_size = 2", "batch_size = 1000000000", "batch_size"),
        ("n_steps = 20", "n_steps = 1000000000", "n_steps"),
        ("n_rec = 4", "n_rec = 4000000", "n_rec"),
        ("n_rec = 4", "n_rec = -1", "n_rec"),
        ("n_rec = 4", "n_rec = 1e9", "n_rec"),
        ("lr = 1e-3", "lr = nan", "lr"),
        ("lr = 1e-3", "lr = inf", "lr"),
        ("updates = 1", "updates = -5", "updates"),
        ("task = \"reach\"", "task = \"nope\"", "task"),
        ("rule = \"bptt\"", "rule = \"tbptt:0\"", "tbptt"),
        ("n_steps = 20", "n_steps = 0", "n_steps"),
        ("seeds = [1]", "seeds = []", "seeds"),
        ("seeds = [1]", "seeds = [1, 1]", "seeds"),
        ("device = \"cpu\"", "device = \"tpu\"", "device"),
        ("n_rec = 4", "n_rec = 4\nbogus_key = 1", "bogus_key"),
    ];
    for (from, to, culprit) in train {
        let text = TRAIN_TOML.replace(from, to);
        absurd.add(
            format!("train {}", to.chars().take(40).collect::<String>()),
            "train.toml",
            text.as_bytes(),
            Bad(culprit),
        );
    }
    // Spiking: dt_ms = 1e-7 (10^8 steps per bin), and a dt that does not divide the bin.
    for (dt, culprit) in [("0.0000001", "memory budget"), ("3.0", "dt_ms")] {
        let text = TRAIN_TOML.replace("rule = \"bptt\"", "rule = \"eprop\"\nkind = \"lif\"")
            + &format!("[spiking]\ndt_ms = {dt}\n");
        absurd.add(
            format!("spiking dt_ms = {dt}"),
            "train.toml",
            text.as_bytes(),
            Bad(culprit),
        );
    }
    // Sweeps: a 10^10-run grid (the original case), a 10^30 one, and bad axes.
    let grids = [
        (
            format!(
                "{}seed = {}\nn_steps = {}\nbatch_size = {}\n",
                SWEEP_TOML.replace("seed = [1, 2]\n", ""),
                axis(100_000),
                axis(100_000),
                axis(1_000)
            ),
            "runs",
        ),
        (
            format!(
                "{}seed = {}\nn_steps = {}\nbatch_size = {}\nn_rec = {}\n",
                SWEEP_TOML.replace("seed = [1, 2]\n", ""),
                axis(10_000),
                axis(10_000),
                axis(10_000),
                axis(10_000)
            ),
            "runs",
        ),
        (SWEEP_TOML.replace("[1, 2]", "[]"), "no values"),
        (SWEEP_TOML.replace("[1, 2]", "[-1, 2]"), "seed"),
        (SWEEP_TOML.replace("[1, 2]", "[1, 1]"), "same settings"),
        (
            SWEEP_TOML.replace("n_rec = 4", "n_rec = 1000000000"),
            "n_rec",
        ),
        (SWEEP_TOML.replace("[base]", "[base]\nseeds = [1]"), "seeds"),
        (
            SWEEP_TOML.replace("[grid]", "pack_max = 0\n[grid]"),
            "pack_max",
        ),
        (SWEEP_TOML.replace("lr = [", "lr_typo = ["), "lr_typo"),
    ];
    for (text, culprit) in grids {
        absurd.add(
            format!("sweep needing '{culprit}'"),
            "sweep.toml",
            text.as_bytes(),
            Bad(culprit),
        );
    }
}

fn flags_and_outputs(c: &mut Corpus, s: &Seeds) {
    let fwd = forward_args;
    // Bad flags.
    let d = c.root.join("unused");
    let out = d.join("out.npz");
    let grad = |rule: &str, loss: &str, extra: &[&str]| {
        let mut a = grad_args(&s.model, &s.batch, (rule, loss), &out);
        a.extend(extra.iter().map(OsString::from));
        a
    };
    let with = |mut a: Vec<OsString>, extra: &[Arg]| {
        a.extend(os(extra));
        a
    };
    let procrustes = |extra| with(os(&[&"procrustes", &"--x", &s.npy, &"--y", &s.npy]), extra);
    let import = |extra| with(os(&[&"import-npz", &"--npz", &s.paper, &"--prefix"]), extra);
    let bptt = |extra: &[&str]| grad("bptt", "mse", extra);
    let bench_spiking = |flag| os(&[&"bench-spiking", &flag, &"0", &"--devices", &"cpu"]);
    // (case, arguments, what the message names): one line each.
    #[rustfmt::skip]
    let flag_cases: Vec<(&str, Vec<OsString>, &'static str)> = vec![
        ("rule nonsense", grad("nonsense", "mse", &[]), "nonsense"),
        ("rule tbptt:x", grad("tbptt:x", "mse", &[]), "tbptt"),
        ("loss xx", grad("bptt", "xx", &[]), "xx"),
        ("activity-l2 -1", bptt(&["--activity-l2=-1"]), "activity-l2"),
        ("activity-l2 nan", bptt(&["--activity-l2", "nan"]), "activity-l2"),
        ("rate-target inf", bptt(&["--rate-target", "inf"]), "rate-target"),
        ("unknown flag", bptt(&["--bogus"]), "bogus"),
        ("max-memory 0", bptt(&["--max-memory", "0"]), "max-memory"),
        ("max-memory abc", bptt(&["--max-memory", "abc"]), "max-memory"),
        ("max-memory 1K", bptt(&["--max-memory", "1K"]), "memory budget"),
        ("procrustes alpha 2", procrustes(&[&"--alpha", &"2"]), "alpha"),
        ("procrustes metric", procrustes(&[&"--metric", &"cosine"]), "metric"),
        ("import-npz kind", import(&[&"p0_", &"--kind", &"lif", &"--out", &out]), "kind"),
        ("import-npz prefix", import(&[&"p9_", &"--out", &out]), "p9_"),
        ("bench-spiking --t 0", bench_spiking("--t"), "--t"),
        ("bench-spiking --n 0", bench_spiking("--n"), "--n"),
        ("missing file", fwd(&d.join("none"), &s.batch, &out), "none"),
    ];
    for (name, args, culprit) in flag_cases {
        c.plain("bad flag", name, args, Expect::Bad(culprit));
    }
    // Inputs that are not regular files: a FIFO, /dev/zero, a directory.
    let dir = c.dir();
    let fifo = dir.join("fifo.npz");
    let cpath = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(cpath.as_ptr(), 0o600) }, 0);
    let out = dir.join("out.npz");
    for (name, batch, culprit) in [
        ("FIFO batch", fifo.as_path(), "not a regular file"),
        (
            "/dev/zero batch",
            Path::new("/dev/zero"),
            "not a regular file",
        ),
        ("directory batch", dir.as_path(), "is a directory"),
    ] {
        c.cases.push(Case {
            class: "not a regular file",
            name: name.into(),
            dir: dir.clone(),
            args: fwd(&s.model, &batch, &out),
            expect: Expect::Bad(culprit),
        });
    }
    for (name, x, culprit) in [
        ("FIFO data", fifo.as_path(), "not a regular file"),
        ("/dev/zero data", Path::new("/dev/zero"), "/dev/zero"),
    ] {
        c.cases.push(Case {
            class: "not a regular file",
            name: name.into(),
            dir: dir.clone(),
            args: os(&[&"procrustes", &"--x", &x, &"--y", &s.npy]),
            expect: Expect::Bad(culprit),
        });
    }
    for (name, args) in [
        ("FIFO model", fwd(&fifo, &s.batch, &out)),
        (
            "/dev/zero config",
            os(&[&"train", &"/dev/zero", &"--out", &dir.join("run")]),
        ),
        (
            "FIFO sweep",
            os(&[&"sweep", &"status", &fifo, &"--results", &dir.join("res")]),
        ),
    ] {
        c.cases.push(Case {
            class: "not a regular file",
            name: name.into(),
            dir: dir.clone(),
            args,
            expect: Expect::Bad("not a regular file"),
        });
    }
    // Outputs that are inputs (the original cases) and outputs that are symbolic links.
    let dir = c.dir();
    let (m, b) = (dir.join("m.safetensors"), dir.join("b.npz"));
    std::fs::copy(&s.model, &m).unwrap();
    std::fs::copy(&s.batch, &b).unwrap();
    let hard = dir.join("hard.npz");
    std::fs::hard_link(&b, &hard).unwrap();
    let soft = dir.join("soft.npz");
    std::os::unix::fs::symlink(&b, &soft).unwrap();
    let dangling = dir.join("dangling.npz");
    std::os::unix::fs::symlink(dir.join("nowhere.npz"), &dangling).unwrap();
    let paper = dir.join("paper.npz");
    std::fs::copy(&s.paper, &paper).unwrap();
    let data = dir.join("data.npy");
    std::fs::copy(&s.npy, &data).unwrap();
    let grad_out = |out: &Path| grad_args(&m, &b, ("bptt", "mse"), &out);
    let evaluate = |extra: &[Arg]| {
        with(
            os(&[&"evaluate", &"--model", &m, &"--task", &"reach"]),
            extra,
        )
    };
    let dotted = dir.join("..").join(dir.file_name().unwrap()).join("b.npz");
    // (case, arguments, what the message names): one line each.
    #[rustfmt::skip]
    let same: Vec<(&str, Vec<OsString>, &'static str)> = vec![
        ("forward --out = --batch", fwd(&m, &b, &b), "same file as --batch"),
        ("forward --out = --model", fwd(&m, &b, &m), "same file as --model"),
        ("forward --out hard link of --batch", fwd(&m, &b, &hard), "same file"),
        ("forward --out via ./ and ..", fwd(&m, &b, &dotted), "same file"),
        ("forward --out symlink", fwd(&m, &b, &soft), "symbolic link"),
        ("forward --out dangling symlink", fwd(&m, &b, &dangling), "symbolic link"),
        ("grad --out = --model", grad_out(&m), "same file as --model"),
        ("grad --out = --batch", grad_out(&hard), "same file as --batch"),
        (
            "import-npz --out = --npz",
            os(&[&"import-npz", &"--npz", &paper, &"--prefix", &"p0_", &"--out", &paper]),
            "same file as --npz",
        ),
        (
            "evaluate --out = --data",
            evaluate(&[&"--data", &data, &"--out", &data]),
            "same file as --data",
        ),
        ("evaluate --out = --model", evaluate(&[&"--out", &m]), "same file as --model"),
    ];
    for (name, args, culprit) in same {
        c.cases.push(Case {
            class: "output is an input",
            name: name.into(),
            dir: dir.clone(),
            args,
            expect: Expect::Bad(culprit),
        });
    }
}

// ------------------------------------------------------------------------------------------
// Running
// ------------------------------------------------------------------------------------------

struct Outcome {
    /// Exit status, or the signal that ended the child (negative).
    code: i32,
    stderr: String,
    peak_rss_kib: u64,
    seconds: f64,
}

/// Every file under `dir` (names relative to it), sorted.
fn listing(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, d: &Path, out: &mut Vec<String>) {
        let Ok(rd) = std::fs::read_dir(d) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            out.push(p.strip_prefix(root).unwrap().display().to_string());
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                walk(root, &p, out);
            }
        }
    }
    let mut v = vec![];
    walk(dir, dir, &mut v);
    v.sort();
    v
}

// The child is reaped by wait4 (for its rusage), which clippy does not see.
#[allow(clippy::zombie_processes)]
fn run_child(args: &[OsString], log: &Path) -> Outcome {
    let err = std::fs::File::create(log).unwrap();
    let t0 = Instant::now();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_snnlab"))
        .arg("--max-memory")
        .arg(BUDGET)
        .args(args)
        .env("NODEVICE_SELECT", "1")
        .env("OPENBLAS_NUM_THREADS", "1")
        .env("RAYON_NUM_THREADS", "1")
        .env_remove("SNNLAB_MAX_MEMORY")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(err)
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: rusage is plain data; wait4 fills it in for our own child.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut ru) };
        assert!(r >= 0, "wait4 failed");
        if r == pid {
            break;
        }
        if t0.elapsed() > CHILD_TIMEOUT {
            unsafe { libc::kill(pid, libc::SIGKILL) };
            unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
            return Outcome {
                code: -1000,
                stderr: "timed out".into(),
                peak_rss_kib: ru.ru_maxrss as u64,
                seconds: t0.elapsed().as_secs_f64(),
            };
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -libc::WTERMSIG(status)
    };
    Outcome {
        code,
        stderr: std::fs::read_to_string(log).unwrap_or_default(),
        peak_rss_kib: ru.ru_maxrss as u64,
        seconds: t0.elapsed().as_secs_f64(),
    }
}

/// What is wrong with one case's outcome, if anything.
fn judge(case: &Case, before: &[String], o: &Outcome) -> Option<String> {
    let lines: Vec<&str> = o.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    let rss =
        (o.peak_rss_kib > PEAK_RSS_MIB * 1024).then(|| format!("peak RSS {} KiB", o.peak_rss_kib));
    let failed_cleanly = || -> Option<String> {
        if lines.len() != 1 || !lines[0].starts_with("snnlab: ") {
            return Some(format!("stderr is not one 'snnlab: ' line: {:?}", o.stderr));
        }
        let after = listing(&case.dir);
        if after != before {
            return Some(format!(
                "left behind: {:?}",
                after
                    .iter()
                    .filter(|f| !before.contains(f))
                    .collect::<Vec<_>>()
            ));
        }
        None
    };
    let verdict = match (case.expect, o.code) {
        (Expect::Ok, 0) | (Expect::Either, 0) => None,
        (Expect::Bad(culprit), 2) => failed_cleanly().or_else(|| {
            (!lines[0].contains(culprit))
                .then(|| format!("message does not name '{culprit}': {}", lines[0]))
        }),
        (Expect::Either, 2) => failed_cleanly(),
        (_, code) => Some(format!("exit {code}, stderr {:?}", o.stderr)),
    };
    verdict.or(rss)
}

/// The tests of this file one at a time: a child's measured peak includes its parent's resident
/// memory at the fork, so nothing else may run in this process while the corpus is measured.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn every_malformed_input_is_a_clean_exit_2() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let root = tmpdir("corpus");
    let t0 = Instant::now();
    let (corpus, _seeds) = build(&root);
    let built = t0.elapsed().as_secs_f64();

    // The parsers the cargo-fuzz targets call, in-process, on every file: no panic. The budget
    // is the children's (without it the 10^10-run grid would be expanded here).
    snnlab::io::budget::set_max_memory(64 << 20);
    for path in &corpus.files {
        let bytes = std::fs::read(path).unwrap();
        let _ = snnlab::io::parse_npy_header(&bytes);
        let _ = snnlab::neural::mat::parse_mat_limited(&bytes, 64 << 20);
        let _ = snnlab::io::model_config_json(&bytes);
        if let Ok(text) = std::str::from_utf8(&bytes) {
            let _ = snnlab::train::TrainConfig::from_toml(text);
            let _ = snnlab::sweep::Sweep::from_toml(path, text);
        }
    }

    let logs = root.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let cases = &corpus.cases;
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, Outcome, Option<String>)>> = Mutex::new(vec![]);
    // Cases sharing a folder (the FIFO, overwrite and overflow groups) run one after another
    // on one thread: a listing taken while a neighbour runs would see its outputs.
    let mut groups: Vec<Vec<usize>> = vec![];
    for (i, c) in cases.iter().enumerate() {
        match groups.last_mut() {
            Some(g) if cases[g[0]].dir == c.dir => g.push(i),
            _ => groups.push(vec![i]),
        }
    }
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .clamp(2, 8);
    std::thread::scope(|sc| {
        for _ in 0..threads {
            sc.spawn(|| {
                loop {
                    let g = next.fetch_add(1, Ordering::Relaxed);
                    let Some(group) = groups.get(g) else { break };
                    for &i in group {
                        let case = &cases[i];
                        let before = listing(&case.dir);
                        let o = run_child(&case.args, &logs.join(format!("{i}.err")));
                        let verdict = judge(case, &before, &o);
                        results.lock().unwrap().push((i, o, verdict));
                    }
                }
            });
        }
    });
    let results = results.into_inner().unwrap();
    let mut classes = std::collections::BTreeMap::<&str, (usize, u64)>::new();
    let (mut ok, mut bad) = (0, 0);
    for (i, o, _) in &results {
        let e = classes.entry(cases[*i].class).or_default();
        e.0 += 1;
        e.1 = e.1.max(o.peak_rss_kib);
        if o.code == 0 { ok += 1 } else { bad += 1 }
    }
    let peak = results.iter().map(|r| r.1.peak_rss_kib).max().unwrap_or(0);
    let slowest = results
        .iter()
        .max_by(|a, b| a.1.seconds.total_cmp(&b.1.seconds))
        .map(|r| format!("{} ({:.2} s)", cases[r.0].name, r.1.seconds))
        .unwrap_or_default();
    eprintln!(
        "fuzz corpus: {} cases in {} classes ({ok} exit 0, {bad} exit 2), built in {built:.1} s, run in {:.1} s on {threads} threads; peak RSS {:.1} MiB (bound {PEAK_RSS_MIB} MiB); slowest {slowest}",
        cases.len(),
        classes.len(),
        t0.elapsed().as_secs_f64() - built,
        peak as f64 / 1024.0
    );
    for (class, (n, rss)) in &classes {
        eprintln!(
            "  {class}: {n} cases, peak RSS {:.1} MiB",
            *rss as f64 / 1024.0
        );
    }
    let failures: Vec<String> = results
        .iter()
        .filter_map(|(i, _, v)| {
            v.as_ref()
                .map(|v| format!("[{}] {}: {v}", cases[*i].class, cases[*i].name))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures[..failures.len().min(40)].join("\n")
    );
    assert!(cases.len() >= 500, "the corpus has {} cases", cases.len());
    let _ = std::fs::remove_dir_all(&root);
}

/// `snnlab sweep CMD SWEEP`, asserted to exit 0; its stdout.
fn sweep_ok(cmd: &str, sweep: &Path) -> String {
    common::output_ok(common::bin().args(["sweep", cmd]).arg(sweep))
}

#[test]
fn merge_with_nothing_done_writes_an_empty_table() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let d = tmpdir("merge");
    let sweep = common::sweep_file_in(&d, "s", "res", SWEEP_TOML);
    let out = sweep_ok("merge", &sweep);
    assert!(out.contains("nothing to merge yet"), "{out}");
    let csv = std::fs::read_to_string(d.join("res/merged.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1, "header only: {csv}");
    assert!(csv.starts_with("run,lr,seed,status,update,"), "{csv}");
    assert!(d.join("res/report.html").is_file());
}

#[test]
fn a_large_grid_is_counted_without_expanding_it_twice() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    // 10^4 runs: status in bounded time (the grid check runs before the expansion).
    let d = tmpdir("grid");
    let body = format!(
        "{}seed = {}\n",
        SWEEP_TOML.replace("seed = [1, 2]\n", ""),
        axis(5000)
    );
    let sweep = common::sweep_file_in(&d, "s", "res", &body);
    let out = sweep_ok("status", &sweep);
    assert!(
        out.contains("10000 runs") && out.contains("pending 10000"),
        "{out}"
    );
}
