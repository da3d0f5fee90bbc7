//! Neural data loaders: `.npy`/`.npz`/MAT v5 arrays `[neurons, T, C]`, and the Mante 2013
//! per-unit layout with the paper's recipe. The Mante release cannot be downloaded here: these
//! tests write small `.mat` files in its layout (a minimal MAT v5 writer is below).

use std::fs::File;
use std::path::{Path, PathBuf};

use ndarray::{Array1, Array2, Array3};
use ndarray_npy::NpzWriter;
use snnlab::error::Error;

use crate::common::assert_contains_all;
use snnlab::neural::{
    self, check_shape, check_shape_for, load_mante_units, load_mante_units_report, load_neural,
};
use snnlab::tasks::mante::{self, PAPER_COHERENCES};

/// A fresh scratch directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!("snnlab-neural-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Minimal MAT v5 writer (uncompressed `miMATRIX` elements, little-endian), plus a zlib wrapper
/// made of stored blocks for `miCOMPRESSED` variables.
mod matw {
    pub enum V {
        /// Double array, `data` in column-major order.
        Num(Vec<usize>, Vec<f64>),
        /// 1×1 struct.
        Struct(Vec<(&'static str, V)>),
    }

    fn pad8(b: &mut Vec<u8>) {
        while !b.len().is_multiple_of(8) {
            b.push(0);
        }
    }

    /// Dimensions as the miINT32 data of a dimensions element.
    fn int32s(dims: &[usize]) -> Vec<u8> {
        dims.iter()
            .flat_map(|&x| (x as i32).to_le_bytes())
            .collect()
    }

    fn elem(out: &mut Vec<u8>, ty: u32, data: &[u8]) {
        if data.len() <= 4 && !data.is_empty() && ty == 1 {
            // Small data element format (as MATLAB writes short names).
            out.extend_from_slice(&(ty | (data.len() as u32) << 16).to_le_bytes());
            out.extend_from_slice(data);
            pad8(out);
            return;
        }
        out.extend_from_slice(&ty.to_le_bytes());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(data);
        pad8(out);
    }

    /// A whole `miMATRIX` element (tag included).
    pub fn matrix(name: &str, v: &V) -> Vec<u8> {
        let mut body = Vec::new();
        let (class, dims): (u32, Vec<usize>) = match v {
            V::Num(d, _) => (6, d.clone()),
            V::Struct(_) => (2, vec![1, 1]),
        };
        let mut flags = class.to_le_bytes().to_vec();
        flags.extend_from_slice(&0u32.to_le_bytes());
        elem(&mut body, 6, &flags);
        elem(&mut body, 5, &int32s(&dims));
        elem(&mut body, 1, name.as_bytes());
        match v {
            V::Num(_, data) => {
                let b: Vec<u8> = data.iter().flat_map(|x| x.to_le_bytes()).collect();
                elem(&mut body, 9, &b);
            }
            V::Struct(fields) => {
                // Field-name length as a small element, then the names NUL-padded to 32 bytes.
                body.extend_from_slice(&(5u32 | 4 << 16).to_le_bytes());
                body.extend_from_slice(&32i32.to_le_bytes());
                let mut names = Vec::new();
                for (n, _) in fields {
                    let mut nb = n.as_bytes().to_vec();
                    nb.resize(32, 0);
                    names.extend_from_slice(&nb);
                }
                elem(&mut body, 1, &names);
                for (_, fv) in fields {
                    body.extend_from_slice(&matrix("", fv));
                }
            }
        }
        let mut out = 14u32.to_le_bytes().to_vec();
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(&body);
        out
    }

    pub fn header() -> Vec<u8> {
        let mut h = b"MATLAB 5.0 MAT-file, Platform: snnlab tests".to_vec();
        h.resize(116, b' ');
        h.extend_from_slice(&[0u8; 8]);
        h.extend_from_slice(&0x0100u16.to_le_bytes());
        h.extend_from_slice(b"IM");
        h
    }

    /// zlib stream of stored (uncompressed) deflate blocks.
    fn zlib_stored(data: &[u8]) -> Vec<u8> {
        let mut z = vec![0x78, 0x01];
        let chunks: Vec<&[u8]> = if data.is_empty() {
            vec![&[][..]]
        } else {
            data.chunks(65535).collect()
        };
        for (i, c) in chunks.iter().enumerate() {
            z.push(if i + 1 == chunks.len() { 1 } else { 0 });
            z.extend_from_slice(&(c.len() as u16).to_le_bytes());
            z.extend_from_slice(&(!(c.len() as u16)).to_le_bytes());
            z.extend_from_slice(c);
        }
        let (mut a, mut b) = (1u32, 0u32);
        for &x in data {
            a = (a + x as u32) % 65521;
            b = (b + a) % 65521;
        }
        z.extend_from_slice(&((b << 16) | a).to_be_bytes());
        z
    }

    pub fn file(vars: &[(&str, V)], compressed: bool) -> Vec<u8> {
        let mut f = header();
        for (name, v) in vars {
            let m = matrix(name, v);
            if compressed {
                let z = zlib_stored(&m);
                f.extend_from_slice(&15u32.to_le_bytes());
                f.extend_from_slice(&(z.len() as u32).to_le_bytes());
                f.extend_from_slice(&z);
            } else {
                f.extend_from_slice(&m);
            }
        }
        f
    }

    pub fn write(path: &std::path::Path, vars: &[(&str, V)], compressed: bool) {
        std::fs::write(path, file(vars, compressed)).unwrap();
    }
}
use matw::V;

/// A 3-D array as MATLAB stores it (column-major).
fn col_major(a: &Array3<f64>) -> V {
    let (n0, n1, n2) = a.dim();
    let mut data = Vec::with_capacity(a.len());
    for k in 0..n2 {
        for j in 0..n1 {
            for i in 0..n0 {
                data.push(a[[i, j, k]]);
            }
        }
    }
    V::Num(vec![n0, n1, n2], data)
}

fn sample3(n: usize, t: usize, c: usize) -> Array3<f64> {
    Array3::from_shape_fn((n, t, c), |(i, j, k)| {
        100.0 * i as f64 + 10.0 * j as f64 + k as f64 + 0.5
    })
}

/// `load_neural` refuses `path` with an input error naming every one of `words`.
fn assert_refused(path: &Path, words: &[&str]) {
    assert_contains_all(&input_msg(load_neural(path)), words);
}

fn input_msg<T: std::fmt::Debug>(r: snnlab::error::Result<T>) -> String {
    match r {
        Err(e @ Error::Input(_)) => {
            assert_eq!(e.exit_code(), 2);
            let m = e.to_string();
            assert!(!m.contains('\n'), "message not on one line: {m}");
            m
        }
        other => panic!("expected an input error, got {other:?}"),
    }
}

// ------------------------------------------------------------------------------------------
// MAT v5 arrays
// ------------------------------------------------------------------------------------------

#[test]
fn mat_3d_array_round_trips_column_major() {
    let s = Scratch::new("mat-rt");
    let a = sample3(2, 3, 4);
    for compressed in [false, true] {
        let p = s.path(if compressed { "z.mat" } else { "plain.mat" });
        matw::write(&p, &[("rates", col_major(&a))], compressed);
        let b = load_neural(&p).unwrap();
        assert_eq!(b, a, "compressed = {compressed}");
    }
    // The independent reader of the matfile crate sees the same numbers in the same order.
    let bytes = std::fs::read(s.path("plain.mat")).unwrap();
    let mf = matfile::MatFile::parse(&bytes[..]).unwrap();
    let arr = mf.find_by_name("rates").unwrap();
    assert_eq!(arr.size(), &vec![2, 3, 4]);
    let matfile::NumericData::Double { real, .. } = arr.data() else {
        panic!("not double")
    };
    assert_eq!(real[1], a[[1, 0, 0]]);
    assert_eq!(real[2], a[[0, 1, 0]]);
    assert_eq!(real[6], a[[0, 0, 1]]);
}

// A MAT file written by Python (zlib level 9: one miCOMPRESSED variable with a dynamic-Huffman
// deflate stream): `rates` of size [3, 40, 5] with rates(i, j, k) = 0.25 i + 2 j − 3 k (0-based).
const PY_ZLIB_MAT: &str = concat!(
    "4d41544c414220352e30204d41542d66696c652c20506c6174666f726d3a20707974686f6e207a6c6962206669787475",
    "726520202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020",
    "202020202020202020202020202020202020202000000000000000000001494d0f0000000e02000078daedd5494e5451",
    "14c7e1631b34842060df9582827ddf77d7be57d40de0c00da80b384b60097727de25b0841a3a74e0808103cbbcaf262e",
    "4027af92978ffa512104f2cf998ad16b3662eb8889e8fcf3da327a2647cfa6d1b3e4fd9fd7065f7ffef8f5d39791db46",
    "4f9b89bf5e6bf73a878cd2b1919b39cd1d9ce11eeee53e0e3a9371840b3ae3189774c6099ed6196778beb33019177526",
    "e3b2ce645cd5998ceb3a93715367326eeb4cc65d9dc928c59fc9f719f77516c6039d85f15067613cd259188f7516c613",
    "9d85f15467613cd35918cf7516c60b9d85f1526761bcd25918af7516c61b9d85f15667612c774e73c0e42a2be39dcf73",
    "c0e42a2be3bdcf73c0e42a2be383cf73c0e42a2b63a2756ee566fef8d6f99d43feb0ef9f5ce7849fb79d939ce34eeee2",
    "011ee4211ef5fb32e6795c672cf2a4ce38c5b33ae31c2ff8ff3119977426e38ace645cd3998c1b3a93714b6732eee84c",
    "c63d9d39d6be2b1bd3be2b1bd3be2b1bd3be2b1bd3be2b1bd3be2b1bd3be2b1bd3be2b1bd3be2b1bd3be2b1bd3be2b1b",
    "d3be2b1bd3be2b1bd3be2b1bd3be2b1bd3be2bdb78f776bccc1536ae71c862c7cb5c61e31a872c76bccc1536ae7138de",
    "fb1e7bddcd5d9ce6142719fc65cfebdffa3bdedff1fe8effa73b1e47bb3de611bb1c7b80fbb98f739ce54cebef787fc7",
    "fb3bfe9fee782cd9efa2bd8d5dd0e7bd1f3be0611e6afd1defef787fc7fffd1dff0d61fbdb22",
);

#[test]
fn compressed_mat_from_zlib_loads() {
    let s = Scratch::new("mat-zlib");
    let hex = PY_ZLIB_MAT.as_bytes();
    let bytes: Vec<u8> = hex
        .chunks(2)
        .map(|c| u8::from_str_radix(std::str::from_utf8(c).unwrap(), 16).unwrap())
        .collect();
    let p = s.path("py.mat");
    std::fs::write(&p, &bytes).unwrap();
    let a = load_neural(&p).unwrap();
    assert_eq!(a.dim(), (3, 40, 5));
    for ((i, j, k), v) in a.indexed_iter() {
        assert_eq!(*v, 0.25 * i as f64 + 2.0 * j as f64 - 3.0 * k as f64);
    }
    // A truncated stream is an error naming the file, not garbage.
    let q = s.path("cut.mat");
    std::fs::write(&q, &bytes[..bytes.len() - 40]).unwrap();
    assert_refused(&q, &["cut.mat"]);
}

#[test]
fn mat_variable_choice() {
    let s = Scratch::new("mat-pick");
    let a = sample3(2, 3, 4);
    let b = a.mapv(|x| -x);
    let p = s.path("two.mat");
    matw::write(
        &p,
        &[
            ("a", col_major(&a)),
            ("b", col_major(&b)),
            ("v", V::Num(vec![1, 3], vec![1., 2., 3.])),
        ],
        false,
    );
    assert_refused(&p, &["two.mat", "several", "a, b"]);
    let spec = PathBuf::from(format!("{}:b", p.display()));
    assert_eq!(load_neural(&spec).unwrap(), b);
    assert_refused(
        &PathBuf::from(format!("{}:zz", p.display())),
        &["two.mat", "'zz'", "a (double [2, 3, 4])"],
    );
    assert_refused(
        &PathBuf::from(format!("{}:v", p.display())),
        &["two.mat", "'v'", "2 axes"],
    );

    let q = s.path("fr.mat");
    matw::write(
        &q,
        &[("a", col_major(&a)), ("firing_rate", col_major(&b))],
        false,
    );
    assert_eq!(load_neural(&q).unwrap(), b);

    let r = s.path("flat.mat");
    matw::write(&r, &[("x", V::Num(vec![4, 5], vec![0.0; 20]))], false);
    assert_refused(&r, &["flat.mat", "no 3-D", "x (double [4, 5])"]);

    let t = s.path("nan.mat");
    let mut c = a.clone();
    c[[1, 2, 3]] = f64::NAN;
    matw::write(&t, &[("a", col_major(&c))], true);
    assert_refused(&t, &["nan.mat", "NaN", "neuron 1, time bin 2, condition 3"]);

    let u = s.path("junk.mat");
    std::fs::write(&u, b"definitely not a mat file").unwrap();
    assert_refused(&u, &["junk.mat"]);
}

// ------------------------------------------------------------------------------------------
// .npy / .npz
// ------------------------------------------------------------------------------------------

#[test]
fn npy_and_npz_loading_and_errors() {
    let s = Scratch::new("npy");
    let a = sample3(3, 4, 2);
    let p = s.path("data.npy");
    ndarray_npy::write_npy(&p, &a).unwrap();
    assert_eq!(load_neural(&p).unwrap(), a);

    let q = s.path("flat.npy");
    ndarray_npy::write_npy(&q, &Array2::<f64>::zeros((4, 5))).unwrap();
    assert_refused(&q, &["flat.npy", "2 axes", "[neurons, T, C]"]);

    let r = s.path("inf.npy");
    let mut b = a.clone();
    b[[2, 0, 1]] = f64::INFINITY;
    ndarray_npy::write_npy(&r, &b).unwrap();
    assert_refused(
        &r,
        &["inf.npy", "infinity", "neuron 2, time bin 0, condition 1"],
    );

    // f32 arrays are accepted.
    let f = s.path("f32.npy");
    ndarray_npy::write_npy(&f, &a.mapv(|x| x as f32)).unwrap();
    assert_eq!(load_neural(&f).unwrap(), a);

    let z = s.path("one.npz");
    {
        let mut w = NpzWriter::new(File::create(&z).unwrap());
        w.add_array("labels", &Array1::<f64>::zeros(3)).unwrap();
        w.add_array("rates", &a).unwrap();
        w.finish().unwrap();
    }
    assert_eq!(load_neural(&z).unwrap(), a);

    let z2 = s.path("two.npz");
    {
        let mut w = NpzWriter::new(File::create(&z2).unwrap());
        w.add_array("x", &a).unwrap();
        w.add_array("y", &a.mapv(|v| 2.0 * v)).unwrap();
        w.finish().unwrap();
    }
    assert_refused(&z2, &["two.npz", "x, y"]);
    assert_eq!(
        load_neural(&PathBuf::from(format!("{}:y", z2.display()))).unwrap(),
        a.mapv(|v| 2.0 * v)
    );

    let z3 = s.path("fr.npz");
    {
        let mut w = NpzWriter::new(File::create(&z3).unwrap());
        w.add_array("x", &a).unwrap();
        w.add_array("firing_rate", &a.mapv(|v| -v)).unwrap();
        w.finish().unwrap();
    }
    assert_eq!(load_neural(&z3).unwrap(), a.mapv(|v| -v));

    let z4 = s.path("none.npz");
    {
        let mut w = NpzWriter::new(File::create(&z4).unwrap());
        w.add_array("labels", &Array1::<f64>::zeros(3)).unwrap();
        w.finish().unwrap();
    }
    assert_refused(&z4, &["none.npz", "labels [3]"]);

    assert_refused(&s.path("missing.npy"), &["missing.npy"]);
    let txt = s.path("data.csv");
    std::fs::write(&txt, "1,2").unwrap();
    assert_refused(&txt, &["data.csv", "unknown"]);
}

#[test]
fn shape_checks_name_the_file_and_the_mismatch() {
    let a = Array3::<f64>::zeros((5, 100, 8));
    let p = Path::new("data.npy");
    check_shape(&a, p, 100, 8).unwrap();
    let m = input_msg(check_shape_for(&a, p, 121, 8, "the reach task's model"));
    assert!(
        m.starts_with("data.npy: has 100 time bins but the reach task's model gives 121"),
        "{m}"
    );
    let m = input_msg(check_shape(&a, p, 100, 72));
    assert!(
        m.starts_with("data.npy: has 8 conditions but the model gives 72"),
        "{m}"
    );
    let mut b = a.clone();
    b[[0, 1, 2]] = f64::NAN;
    let m = input_msg(check_shape(&b, p, 100, 8));
    assert!(m.contains("data.npy") && m.contains("NaN"), "{m}");
    let m = input_msg(check_shape(&Array3::<f64>::zeros((0, 100, 8)), p, 100, 8));
    assert!(m.contains("data.npy") && m.contains("no neurons"), "{m}");
}

// ------------------------------------------------------------------------------------------
// The Mante 2013 per-unit layout
// ------------------------------------------------------------------------------------------

const SAMPLES: usize = 751;
/// Coherence levels of the synthetic "session" (not the model's: conditions match by rank).
const NEURAL_MOTION: [f64; 6] = [-0.36, -0.12, -0.035, 0.04, 0.13, 0.5];
const NEURAL_COLOR: [f64; 6] = [-0.9, -0.3, -0.1, 0.07, 0.2, 0.61];

/// One synthetic trial.
struct Trial {
    targ_dir: f64,
    stim_dir: f64,
    col: f64,
    context: f64,
    correct: f64,
    /// response[s] for s in 0..751
    response: Vec<f64>,
}

/// Trials for every batch condition `c` (as listed in the bundled npz): two trials whose
/// responses are `base + 1000 c + s ∓ 0.5`, so the condition average is `base + 1000 c + s` and
/// bin `k` is `base + 1000 c + 15 k + 7`. Sample 750 is poisoned (must not be used).
fn full_unit(base: f64) -> Vec<Trial> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/data/paper/mante_task_72conditions.npz"
    );
    let (_, info) = mante::load_fixed_batch(path).unwrap();
    let rank = |v: f64| PAPER_COHERENCES.iter().position(|&l| l == v).unwrap();
    let mut trials = Vec::new();
    for c in 0..72 {
        for off in [-0.5, 0.5] {
            let mut response: Vec<f64> = (0..SAMPLES)
                .map(|s| base + 1000.0 * c as f64 + s as f64 + off)
                .collect();
            response[SAMPLES - 1] = 1e9;
            trials.push(Trial {
                targ_dir: if info.ground_truth[c] == 2.0 {
                    1.0
                } else {
                    -1.0
                },
                stim_dir: NEURAL_MOTION[rank(info.coh_motion[c])],
                col: NEURAL_COLOR[rank(info.coh_color[c])],
                context: info.context[c],
                correct: 1.0,
                response,
            });
        }
    }
    // Recorded order is not condition order: a fixed shuffle.
    let n = trials.len();
    let mut order: Vec<usize> = (0..n).map(|i| (i * 37 + 11) % n).collect();
    order.dedup();
    assert_eq!(order.len(), n);
    let mut slots: Vec<Option<Trial>> = trials.into_iter().map(Some).collect();
    order
        .into_iter()
        .map(|i| slots[i].take().unwrap())
        .collect()
}

fn expected_unit(base: f64) -> Array2<f64> {
    Array2::from_shape_fn((50, 72), |(k, c)| {
        base + 1000.0 * c as f64 + 15.0 * k as f64 + 7.0
    })
}

fn unit_file(path: &Path, trials: &[Trial], with_time: bool, compressed: bool) {
    let n = trials.len();
    let mut resp = vec![0.0; n * SAMPLES];
    for (tr, t) in trials.iter().enumerate() {
        for s in 0..SAMPLES {
            resp[tr + n * s] = t.response[s];
        }
    }
    let col = |f: fn(&Trial) -> f64| V::Num(vec![n, 1], trials.iter().map(f).collect());
    let task_variable = V::Struct(vec![
        ("targ_dir", col(|t| t.targ_dir)),
        ("stim_dir", col(|t| t.stim_dir)),
        ("stim_col2dir", col(|t| t.col)),
        ("context", col(|t| t.context)),
        ("correct", col(|t| t.correct)),
        ("stim_trial", col(|_| 0.0)),
    ]);
    let mut fields = vec![
        ("response", V::Num(vec![n, SAMPLES], resp)),
        ("task_variable", task_variable),
    ];
    if with_time {
        let time: Vec<f64> = (0..SAMPLES).map(|s| 0.1 + s as f64 * 0.001).collect();
        fields.push(("time", V::Num(vec![1, SAMPLES], time)));
    }
    matw::write(path, &[("unit", V::Struct(fields))], compressed);
}

#[test]
fn mante_recipe_on_synthetic_units() {
    let s = Scratch::new("mante");
    let dir = s.path("PFC data 1");
    std::fs::create_dir_all(&dir).unwrap();

    // a: complete, with a `time` field (1 ms) and stored compressed.
    unit_file(&dir.join("a_full.mat"), &full_unit(0.0), true, true);

    // b: one condition (batch condition 5) has no trials at all → 71 conditions → dropped.
    let mut b = full_unit(0.25);
    let gone = 5.0 * 1000.0 + 0.25;
    b.retain(|t| (t.response[0] - gone).abs() > 0.6);
    unit_file(&dir.join("b_missing.mat"), &b, false, false);

    // c: one incorrect trial in condition 40 → that condition is dropped → 71 → unit dropped.
    let mut c = full_unit(0.5);
    let bad = 40.0 * 1000.0 + 0.5;
    c.iter_mut()
        .find(|t| (t.response[0] - bad).abs() < 0.6)
        .unwrap()
        .correct = 0.0;
    unit_file(&dir.join("c_incorrect.mat"), &c, false, false);

    // d: complete, plus an extra condition (a 7th motion level, 0.0) whose trials include an
    // incorrect one: that condition is dropped and the unit kept, its values unaffected.
    let mut d = full_unit(0.75);
    for correct in [1.0, 0.0] {
        d.push(Trial {
            targ_dir: -1.0,
            stim_dir: 0.0,
            col: -0.9,
            context: 1.0,
            correct,
            response: vec![-1e6; SAMPLES],
        });
    }
    unit_file(&dir.join("d_extra_dropped.mat"), &d, false, false);

    // Not .mat files: ignored.
    std::fs::write(dir.join("README.txt"), "notes").unwrap();

    let (a, report) = load_mante_units_report(&dir).unwrap();
    assert_eq!(a.dim(), (2, 50, 72));
    let kept: Vec<bool> = report.iter().map(|r| r.kept).collect();
    assert_eq!(kept, [true, false, false, true]);
    assert_eq!(report[1].n_conditions, 71);
    assert_eq!(report[2].n_conditions, 71);
    assert!(report[1].reason.contains("71"), "{}", report[1].reason);

    let want0 = expected_unit(0.0);
    let want1 = expected_unit(0.75);
    for k in 0..50 {
        for c in 0..72 {
            assert_eq!(
                a[[0, k, c]],
                want0[[k, c]],
                "unit a, bin {k}, condition {c}"
            );
            assert_eq!(
                a[[1, k, c]],
                want1[[k, c]],
                "unit d, bin {k}, condition {c}"
            );
        }
    }
    // load_neural on a directory is the same recipe.
    assert_eq!(load_neural(&dir).unwrap(), a);
    assert_eq!(load_mante_units(&dir).unwrap(), a);
    // And it fits the Mante model's recording window.
    check_shape(&a, &dir, 50, mante::N_CONDITIONS).unwrap();
}

#[test]
fn mante_layout_errors_name_the_file() {
    let s = Scratch::new("mante-bad");

    // No complete unit at all.
    let d1 = s.path("incomplete");
    std::fs::create_dir_all(&d1).unwrap();
    let mut t = full_unit(0.0);
    t.truncate(100);
    unit_file(&d1.join("u.mat"), &t, false, false);
    assert_contains_all(
        &input_msg(load_mante_units(&d1)),
        &["incomplete", "no unit has all 72 conditions"],
    );

    // A file without the struct `unit`.
    let d2 = s.path("nounit");
    std::fs::create_dir_all(&d2).unwrap();
    matw::write(
        &d2.join("x.mat"),
        &[("rates", col_major(&sample3(1, 2, 3)))],
        false,
    );
    assert_contains_all(&input_msg(load_mante_units(&d2)), &["x.mat", "'unit'"]);

    // task_variable of the wrong length.
    let d3 = s.path("short");
    std::fs::create_dir_all(&d3).unwrap();
    let n = 4;
    let tv = V::Struct(vec![
        ("targ_dir", V::Num(vec![n, 1], vec![1.0; n])),
        ("stim_dir", V::Num(vec![n, 1], vec![0.1; n])),
        ("stim_col2dir", V::Num(vec![n - 1, 1], vec![0.1; n - 1])),
        ("context", V::Num(vec![n, 1], vec![1.0; n])),
        ("correct", V::Num(vec![n, 1], vec![1.0; n])),
    ]);
    let unit = V::Struct(vec![
        ("response", V::Num(vec![n, SAMPLES], vec![0.0; n * SAMPLES])),
        ("task_variable", tv),
    ]);
    matw::write(&d3.join("s.mat"), &[("unit", unit)], false);
    assert_contains_all(
        &input_msg(load_mante_units(&d3)),
        &["s.mat", "stim_col2dir", "3 values", "4 trials"],
    );

    // Missing field.
    let d4 = s.path("nofield");
    std::fs::create_dir_all(&d4).unwrap();
    let tv = V::Struct(vec![("targ_dir", V::Num(vec![1, 1], vec![1.0]))]);
    let unit = V::Struct(vec![
        ("response", V::Num(vec![1, SAMPLES], vec![0.0; SAMPLES])),
        ("task_variable", tv),
    ]);
    matw::write(&d4.join("f.mat"), &[("unit", unit)], false);
    assert_contains_all(&input_msg(load_mante_units(&d4)), &["f.mat", "stim_dir"]);

    // Empty directory.
    let d5 = s.path("empty");
    std::fs::create_dir_all(&d5).unwrap();
    assert_refused(&d5, &["empty", "no .mat files"]);

    // The MAT parser itself is reachable for other layouts.
    let vars = neural::mat::read_mat(&d3.join("s.mat")).unwrap();
    assert_eq!(vars.len(), 1);
    assert_eq!(vars[0].name, "unit");
    assert!(
        vars[0]
            .value
            .field("task_variable")
            .unwrap()
            .field("context")
            .is_some()
    );
}
