//! File formats (SPEC §6): model round trip and validation, batches, gradients, paper
//! checkpoints, atomic writes.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use ndarray::{Array, Array1, Array2, Array3, ArrayD, IxDyn, arr0};
use ndarray_npy::NpzWriter;
use safetensors::tensor::{Dtype, TensorView};

use snnlab::batch::LossKind;
use snnlab::error::Error;
use snnlab::io::*;
use snnlab::model::{Kind, RateConfig, RateModel, RateParams};
use snnlab::spiking::{SpikingConfig, SpikingModel};

use crate::common::{assert_contains_all, repo};

/// A fresh, empty directory for one test, removed afterwards unless the test failed.
struct TmpDir(PathBuf);

impl std::ops::Deref for TmpDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for TmpDir {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TmpDir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn tmpdir(tag: &str) -> TmpDir {
    static N: AtomicUsize = AtomicUsize::new(0);
    let d = std::env::temp_dir().join(format!(
        "snnlab-io-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    TmpDir(d)
}

/// `dir` holds `n` entries: no temporary file was left behind.
fn assert_entries(dir: &Path, n: usize) {
    let count = std::fs::read_dir(dir).unwrap().count();
    assert_eq!(count, n, "temp file left behind in {}", dir.display());
}

/// The message of an input error (exit status 2); fails the test on success or a runtime error.
/// `load_model` refuses `path` with an input error naming every one of `words`.
fn assert_model_refused(path: &Path, words: &[&str]) {
    assert_contains_all(&input_msg(load_model(path)), words);
}

fn input_msg<T: std::fmt::Debug>(r: Result<T, Error>) -> String {
    match r {
        Err(Error::Input(m)) => {
            assert!(!m.contains('\n'), "message is not one line: {m}");
            m
        }
        other => panic!("expected an Input error, got {other:?}"),
    }
}

fn model(dale: bool) -> RateModel {
    let mut cfg = RateConfig::new(3, 6, 2);
    cfg.dale = dale;
    let mut m = RateModel::init(cfg, 1.0, 7).unwrap();
    // non-zero everywhere, so a swapped or dropped tensor shows
    m.params
        .b_in
        .iter_mut()
        .enumerate()
        .for_each(|(i, x)| *x = 0.1 * i as f32 - 0.2);
    m.params
        .ah0
        .iter_mut()
        .enumerate()
        .for_each(|(i, x)| *x = -0.05 * i as f32);
    m
}

fn assert_models_equal(a: &RateModel, b: &RateModel) {
    assert_eq!(a.config, b.config);
    assert_eq!(a.params, b.params);
    assert_eq!(a.mask_rec, b.mask_rec);
    assert_eq!(a.feedback, b.feedback);
}

/// A safetensors file written by hand: `config` as given, tensors as (name, dtype, shape, bytes).
fn raw_model(path: &Path, config: Option<&str>, tensors: &[(String, Dtype, Vec<usize>, Vec<u8>)]) {
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .map(|(n, d, s, b)| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    let meta = config.map(|c| HashMap::from([("config".to_string(), c.to_string())]));
    std::fs::write(path, safetensors::serialize(views, meta).unwrap()).unwrap();
}

/// The tensors of `m` as raw f32 entries, for editing before `raw_model`.
fn raw_tensors(m: &RateModel) -> Vec<(String, Dtype, Vec<usize>, Vec<u8>)> {
    let p = &m.params;
    let mut out = Vec::new();
    let mut push = |n: &str, s: &[usize], v: Vec<f32>| {
        out.push((
            n.to_string(),
            Dtype::F32,
            s.to_vec(),
            v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        ))
    };
    push("w_in", p.w_in.shape(), p.w_in.iter().copied().collect());
    push("b_in", p.b_in.shape(), p.b_in.to_vec());
    push("w_rec", p.w_rec.shape(), p.w_rec.iter().copied().collect());
    push("w_out", p.w_out.shape(), p.w_out.iter().copied().collect());
    push("b_out", p.b_out.shape(), p.b_out.to_vec());
    push("ah0", p.ah0.shape(), p.ah0.to_vec());
    out
}

fn config_json(m: &RateModel) -> String {
    serde_json::to_string(&m.config).unwrap()
}

// ---------------------------------------------------------------- model files

#[test]
fn model_round_trip_plain_and_with_fixed_tensors() {
    let d = tmpdir("model");
    let plain = model(false);
    let p = d.join("plain.safetensors");
    save_model(&p, &plain).unwrap();
    let back = load_model(&p).unwrap();
    assert_models_equal(&plain, &back);
    assert!(back.mask_rec.is_none() && back.feedback.is_none());

    let mut dale = model(true);
    dale.ensure_feedback(3);
    assert!(dale.mask_rec.is_some() && dale.feedback.is_some());
    let p2 = d.join("dale.safetensors");
    save_model(&p2, &dale).unwrap();
    let back = load_model(&p2).unwrap();
    assert_models_equal(&dale, &back);
    assert!(back.config.dale);

    // the config travels as JSON in __metadata__
    let bytes = std::fs::read(&p2).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let cfg: RateConfig =
        serde_json::from_str(&meta.metadata().as_ref().unwrap()["config"]).unwrap();
    assert_eq!(cfg, dale.config);
    // no temp files left behind
    assert_entries(&d, 2);
}

#[test]
fn model_f64_tensors_are_converted() {
    let d = tmpdir("f64");
    let m = model(false);
    let mut t = raw_tensors(&m);
    let w: Vec<f64> = m.params.w_rec.iter().map(|&x| x as f64).collect();
    t[2] = (
        "w_rec".into(),
        Dtype::F64,
        vec![6, 6],
        w.iter().flat_map(|x| x.to_le_bytes()).collect(),
    );
    let p = d.join("m.safetensors");
    raw_model(&p, Some(&config_json(&m)), &t);
    assert_eq!(load_model(&p).unwrap().params.w_rec, m.params.w_rec);
}

#[test]
fn model_rejects_wrong_shape_naming_the_tensor() {
    let d = tmpdir("shape");
    let m = model(false);
    let mut t = raw_tensors(&m);
    t[2] = ("w_rec".into(), Dtype::F32, vec![3, 12], t[2].3.clone());
    let p = d.join("M.safetensors");
    raw_model(&p, Some(&config_json(&m)), &t);
    assert_model_refused(&p, &["M.safetensors", "w_rec", "[3, 12]", "[6, 6]"]);
}

#[test]
fn model_rejects_nan_naming_the_tensor() {
    let d = tmpdir("nan");
    let mut m = model(false);
    m.params.w_out[[1, 2]] = f32::NAN;
    let p = d.join("M.safetensors");
    raw_model(&p, Some(&config_json(&m)), &raw_tensors(&m));
    assert_model_refused(&p, &["M.safetensors", "w_out", "NaN"]);

    let mut m = model(false);
    m.params.b_in[0] = f32::INFINITY;
    raw_model(&p, Some(&config_json(&m)), &raw_tensors(&m));
    assert_model_refused(&p, &["b_in"]);
}

#[test]
fn model_rejects_unknown_config_key() {
    let d = tmpdir("cfgkey");
    let m = model(false);
    let mut v: serde_json::Value = serde_json::from_str(&config_json(&m)).unwrap();
    v["tau_bogus"] = serde_json::json!(3.0);
    let p = d.join("M.safetensors");
    raw_model(&p, Some(&v.to_string()), &raw_tensors(&m));
    assert_model_refused(&p, &["M.safetensors", "tau_bogus"]);

    // missing config, invalid config
    raw_model(&p, None, &raw_tensors(&m));
    assert_model_refused(&p, &["config"]);
    v = serde_json::from_str(&config_json(&m)).unwrap();
    v["alpha"] = serde_json::json!(1.5);
    raw_model(&p, Some(&v.to_string()), &raw_tensors(&m));
    assert_model_refused(&p, &["alpha"]);
}

#[test]
fn model_rejects_wrong_dtype_naming_tensor_and_dtype() {
    let d = tmpdir("dtype");
    let m = model(false);
    let mut t = raw_tensors(&m);
    t[1] = ("b_in".into(), Dtype::I32, vec![6], vec![0u8; 24]);
    let p = d.join("M.safetensors");
    raw_model(&p, Some(&config_json(&m)), &t);
    assert_model_refused(&p, &["b_in", "I32"]);
}

#[test]
fn model_rejects_unknown_and_missing_tensors() {
    let d = tmpdir("names");
    let m = model(false);
    let p = d.join("M.safetensors");
    let mut t = raw_tensors(&m);
    t.push(("w_extra".into(), Dtype::F32, vec![1], vec![0u8; 4]));
    raw_model(&p, Some(&config_json(&m)), &t);
    assert_model_refused(&p, &["w_extra"]);

    let mut t = raw_tensors(&m);
    t.retain(|e| e.0 != "ah0");
    raw_model(&p, Some(&config_json(&m)), &t);
    assert_model_refused(&p, &["ah0"]);

    // a Dale model needs its mask
    let dm = model(true);
    raw_model(&p, Some(&config_json(&dm)), &raw_tensors(&dm));
    assert_model_refused(&p, &["mask_rec"]);

    // wrong feedback shape
    let mut t = raw_tensors(&m);
    t.push(("feedback".into(), Dtype::F32, vec![2, 6], vec![0u8; 48]));
    raw_model(&p, Some(&config_json(&m)), &t);
    assert_model_refused(&p, &["feedback", "[6, 2]"]);
}

#[test]
fn model_missing_or_garbage_file_is_input_error() {
    let d = tmpdir("garbage");
    assert_model_refused(&d.join("nope.safetensors"), &["nope.safetensors"]);
    let p = d.join("junk.safetensors");
    std::fs::write(&p, b"not a model at all").unwrap();
    assert_model_refused(&p, &["junk.safetensors"]);
}

// ---------------------------------------------------------------- spiking model files

fn spiking(kind: &str, feedback: bool) -> SpikingModel {
    let mut cfg = SpikingConfig::new(kind.parse().unwrap(), 3, 6, 2);
    cfg.n_ref = 3;
    cfg.tau_out_ms = 15.0;
    let mut m = SpikingModel::init(cfg, 11).unwrap();
    m.params
        .b_out
        .iter_mut()
        .enumerate()
        .for_each(|(i, x)| *x = 0.1 * i as f32 + 0.05);
    if feedback {
        m.ensure_feedback(2);
    }
    m
}

fn spiking_raw(m: &SpikingModel) -> Vec<(String, Dtype, Vec<usize>, Vec<u8>)> {
    let p = &m.params;
    let mut out = Vec::new();
    for (n, a) in [
        ("w_in", p.w_in.view().into_dyn()),
        ("w_rec", p.w_rec.view().into_dyn()),
        ("w_out", p.w_out.view().into_dyn()),
        ("b_out", p.b_out.view().into_dyn()),
    ] {
        out.push((
            n.to_string(),
            Dtype::F32,
            a.shape().to_vec(),
            a.iter().flat_map(|x| x.to_le_bytes()).collect(),
        ));
    }
    out
}

#[test]
fn spiking_model_round_trip_lif_alif_with_and_without_feedback() {
    let d = tmpdir("spk");
    for kind in ["lif", "alif"] {
        for fb in [false, true] {
            let m = spiking(kind, fb);
            let p = d.join(format!("{kind}-{fb}.safetensors"));
            save_spiking_model(&p, &m).unwrap();
            let back = load_spiking_model(&p).unwrap();
            assert_eq!(back.config, m.config);
            assert_eq!(back.params, m.params);
            assert_eq!(back.feedback, m.feedback);
            assert_eq!(back.feedback.is_some(), fb);
            match load_any_model(&p).unwrap() {
                AnyModel::Spiking(a) => assert_eq!(a.params, m.params),
                AnyModel::Rate(_) => panic!("{kind} loaded as a rate model"),
            }
            // the config JSON carries every constant of SPEC §2
            let bytes = std::fs::read(&p).unwrap();
            let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
            let v: serde_json::Value =
                serde_json::from_str(&meta.metadata().as_ref().unwrap()["config"]).unwrap();
            for key in [
                "kind",
                "n_in",
                "n_rec",
                "n_out",
                "dt_ms",
                "tau_m_ms",
                "tau_a_ms",
                "tau_out_ms",
                "v_th",
                "beta",
                "n_ref",
                "gamma",
            ] {
                assert!(v.get(key).is_some(), "config lacks {key}: {v}");
            }
            assert_eq!(v["kind"], kind);
        }
    }
    // a rate model through load_any_model; a spiking one refused by the rate loader, by name
    let r = d.join("rate.safetensors");
    save_model(&r, &model(false)).unwrap();
    assert!(matches!(load_any_model(&r).unwrap(), AnyModel::Rate(_)));
    assert_model_refused(
        &d.join("lif-false.safetensors"),
        &["lif-false.safetensors", "spiking"],
    );
    assert_entries(&d, 5);
}

#[test]
fn spiking_model_rejects_bad_tensors_naming_file_and_tensor() {
    let d = tmpdir("spkbad");
    let m = spiking("alif", false);
    let cfg = serde_json::to_string(&m.config).unwrap();
    let p = d.join("S.safetensors");
    let check = |t: &[(String, Dtype, Vec<usize>, Vec<u8>)], cfg: &str, want: &[&str]| {
        raw_model(&p, Some(cfg), t);
        for r in [
            load_spiking_model(&p).map(|_| ()),
            load_any_model(&p).map(|_| ()),
        ] {
            let msg = input_msg(r);
            assert!(msg.contains("S.safetensors"), "{msg}");
            for w in want {
                assert!(msg.contains(w), "'{msg}' should contain '{w}'");
            }
        }
    };
    let mut t = spiking_raw(&m);
    t[2] = ("w_out".into(), Dtype::F32, vec![6, 2], t[2].3.clone());
    check(&t, &cfg, &["w_out", "[6, 2]", "[2, 6]"]);
    let mut t = spiking_raw(&m);
    t[3] = ("b_out".into(), Dtype::I32, vec![2], vec![0u8; 8]);
    check(&t, &cfg, &["b_out", "I32"]);
    let mut bad = m.clone();
    bad.params.w_in[[4, 1]] = f32::NAN;
    check(&spiking_raw(&bad), &cfg, &["w_in", "NaN"]);
    let mut bad = m.clone();
    bad.params.w_rec[[3, 3]] = 0.25;
    check(&spiking_raw(&bad), &cfg, &["w_rec", "diagonal"]);
    let mut t = spiking_raw(&m);
    t.retain(|e| e.0 != "w_rec");
    check(&t, &cfg, &["w_rec", "missing"]);
    let mut t = spiking_raw(&m);
    t.push(("ah0".into(), Dtype::F32, vec![6], vec![0u8; 24]));
    check(&t, &cfg, &["ah0"]);
    let mut t = spiking_raw(&m);
    t.push(("feedback".into(), Dtype::F32, vec![2, 6], vec![0u8; 48]));
    check(&t, &cfg, &["feedback", "[6, 2]"]);
    let mut v: serde_json::Value = serde_json::from_str(&cfg).unwrap();
    v["tau_m_ms"] = serde_json::json!(-1.0);
    check(&spiking_raw(&m), &v.to_string(), &["tau_m_ms"]);
    v = serde_json::from_str(&cfg).unwrap();
    v["alpha"] = serde_json::json!(0.1);
    check(&spiking_raw(&m), &v.to_string(), &["alpha"]);

    // an unknown kind: load_any_model names the file and the kind
    v = serde_json::from_str(&cfg).unwrap();
    v["kind"] = serde_json::json!("izhikevich");
    raw_model(&p, Some(&v.to_string()), &spiking_raw(&m));
    let msg = input_msg(load_any_model(&p));
    assert!(
        msg.contains("S.safetensors") && msg.contains("izhikevich"),
        "{msg}"
    );
}

#[test]
fn batch_validates_against_a_spiking_config() {
    let d = tmpdir("spkbatch");
    let cfg = SpikingConfig::new(Kind::Lif, 3, 6, 2);
    let p = d.join("B.npz");
    ramp_batch(&p, &[2, 4, 3], &[2, 4, 2]);
    assert_eq!(
        load_batch(&p, &cfg, LossKind::Mse).unwrap().inputs.dim(),
        (2, 4, 3)
    );
    ramp_batch(&p, &[2, 4, 5], &[2, 4, 2]);
    let msg = input_msg(load_batch(&p, &cfg, LossKind::Mse));
    assert!(msg.contains("B.npz") && msg.contains("n_in = 3"), "{msg}");
    batch_npz(
        &p,
        A::F64(ramp(&[2, 4, 3])),
        A::I64(ArrayD::from_elem(IxDyn(&[2, 4]), 2)),
    );
    assert!(input_msg(load_batch(&p, &cfg, LossKind::Ce)).contains("class 2"));
}

// ---------------------------------------------------------------- batches

/// Write an npz as numpy's np.savez would (names get `.npy`), arrays of mixed dtypes.
enum A {
    F32(ArrayD<f32>),
    F64(ArrayD<f64>),
    I64(ArrayD<i64>),
    U8(ArrayD<u8>),
    Bool(ArrayD<bool>),
}

fn npz(path: &Path, arrays: Vec<(&str, A)>) {
    let mut w = NpzWriter::new(File::create(path).unwrap());
    for (n, a) in arrays {
        match a {
            A::F32(a) => w.add_array(n, &a),
            A::F64(a) => w.add_array(n, &a),
            A::I64(a) => w.add_array(n, &a),
            A::U8(a) => w.add_array(n, &a),
            A::Bool(a) => w.add_array(n, &a),
        }
        .unwrap();
    }
    w.finish().unwrap();
}

/// A batch file: `inputs` and `targets`.
fn batch_npz(path: &Path, inputs: A, targets: A) {
    npz(path, vec![("inputs", inputs), ("targets", targets)]);
}

/// A batch file of ramp inputs and targets of these shapes (f64).
fn ramp_batch(path: &Path, inputs: &[usize], targets: &[usize]) {
    batch_npz(path, A::F64(ramp(inputs)), A::F64(ramp(targets)));
}

fn ramp(shape: &[usize]) -> ArrayD<f64> {
    let n: usize = shape.iter().product();
    Array::from_shape_vec(
        IxDyn(shape),
        (0..n).map(|i| (i as f64 * 0.37).sin()).collect(),
    )
    .unwrap()
}

#[test]
fn batch_mse_with_and_without_mask() {
    let d = tmpdir("mse");
    let cfg = RateConfig::new(3, 5, 2);
    let x = ramp(&[4, 7, 3]);
    let y = ramp(&[4, 7, 2]).mapv(|v| v as f32);
    let p = d.join("b.npz");
    batch_npz(&p, A::F64(x.clone()), A::F32(y.clone()));
    let b = load_batch(&p, &cfg, LossKind::Mse).unwrap();
    assert_eq!(b.inputs.clone().into_dyn(), x);
    assert_eq!(b.targets.clone().into_dyn(), y.mapv(|v| v as f64));
    assert_eq!(b.mask, Array3::<f64>::ones((4, 7, 2)));
    assert_eq!(b.loss, LossKind::Mse);

    let mut m = ArrayD::<bool>::from_elem(IxDyn(&[4, 7, 2]), true);
    m[[0, 0, 1]] = false;
    npz(
        &p,
        vec![
            ("inputs", A::F64(x.clone())),
            ("targets", A::F32(y.clone())),
            ("mask", A::Bool(m)),
        ],
    );
    let b = load_batch(&p, &cfg, LossKind::Mse).unwrap();
    assert_eq!(b.mask[[0, 0, 1]], 0.0);
    assert_eq!(b.mask.sum(), 4.0 * 7.0 * 2.0 - 1.0);

    // mse targets must have three axes
    batch_npz(&p, A::F64(x), A::F32(ramp(&[4, 7]).mapv(|v| v as f32)));
    let msg = input_msg(load_batch(&p, &cfg, LossKind::Mse));
    assert!(msg.contains("targets") && msg.contains("[4, 7]"), "{msg}");
}

#[test]
fn batch_ce_with_int64_and_float_class_indices() {
    let d = tmpdir("ce");
    let cfg = RateConfig::new(3, 5, 3);
    let x = ramp(&[2, 4, 3]).mapv(|v| v as f32);
    let classes = Array2::from_shape_fn((2, 4), |(b, t)| ((b + t) % 3) as i64).into_dyn();
    let p = d.join("ce.npz");
    batch_npz(&p, A::F32(x.clone()), A::I64(classes.clone()));
    let b = load_batch(&p, &cfg, LossKind::Ce).unwrap();
    assert_eq!(b.targets.shape(), &[2, 4, 1]);
    assert_eq!(b.targets[[1, 3, 0]], ((1 + 3) % 3) as f64);
    assert_eq!(b.mask, Array3::<f64>::ones((2, 4, 1)));

    // the same classes as floats, with a u8 mask [B, T]
    let mut mask = ArrayD::<u8>::ones(IxDyn(&[2, 4]));
    mask[[0, 1]] = 0;
    npz(
        &p,
        vec![
            ("inputs", A::F32(x.clone())),
            ("targets", A::F64(classes.mapv(|c| c as f64))),
            ("mask", A::U8(mask)),
        ],
    );
    let b2 = load_batch(&p, &cfg, LossKind::Ce).unwrap();
    assert_eq!(b2.targets, b.targets);
    assert_eq!(b2.mask[[0, 1, 0]], 0.0);
    assert_eq!(b2.mask.sum(), 7.0);

    // a class out of range, or a non-integer class, is rejected naming targets
    let bad = classes.mapv(|c| c as f64 + 0.5);
    batch_npz(&p, A::F32(x.clone()), A::F64(bad));
    assert!(input_msg(load_batch(&p, &cfg, LossKind::Ce)).contains("targets"));
    batch_npz(&p, A::F32(x), A::I64(classes.mapv(|_| 3)));
    assert!(input_msg(load_batch(&p, &cfg, LossKind::Ce)).contains("targets"));
}

#[test]
fn batch_rejects_wrong_n_in_missing_arrays_and_nan() {
    let d = tmpdir("badbatch");
    let cfg = RateConfig::new(3, 5, 2);
    let p = d.join("B.npz");
    ramp_batch(&p, &[2, 4, 5], &[2, 4, 2]);
    let msg = input_msg(load_batch(&p, &cfg, LossKind::Mse));
    assert!(msg.contains("B.npz") && msg.contains("inputs"), "{msg}");

    npz(&p, vec![("inputs", A::F64(ramp(&[2, 4])))]);
    let msg = input_msg(load_batch(&p, &cfg, LossKind::Mse));
    assert!(msg.contains("targets"), "{msg}");
    ramp_batch(&p, &[2, 4], &[2, 4, 2]);
    let msg = input_msg(load_batch(&p, &cfg, LossKind::Mse));
    assert!(msg.contains("inputs") && msg.contains("[2, 4]"), "{msg}");
    npz(&p, vec![("targets", A::F64(ramp(&[2, 4, 2])))]);
    assert!(input_msg(load_batch(&p, &cfg, LossKind::Mse)).contains("inputs"));

    let mut x = ramp(&[2, 4, 3]);
    x[[1, 1, 1]] = f64::NAN;
    batch_npz(&p, A::F64(x), A::F64(ramp(&[2, 4, 2])));
    let msg = input_msg(load_batch(&p, &cfg, LossKind::Mse));
    assert!(msg.contains("inputs") && msg.contains("NaN"), "{msg}");

    assert!(
        input_msg(load_batch(&d.join("absent.npz"), &cfg, LossKind::Mse)).contains("absent.npz")
    );
}

#[test]
fn bundled_mante_task_batch_loads_for_ce() {
    let cfg = RateConfig::new(9, 10, 3);
    let b = load_batch(
        &repo("data/paper/mante_task_72conditions.npz"),
        &cfg,
        LossKind::Ce,
    )
    .unwrap();
    assert_eq!(b.inputs.dim(), (72, 113, 9));
    assert_eq!(b.targets.dim(), (72, 113, 1));
    assert!(b.targets.iter().any(|&c| c == 2.0));
    assert_eq!(b.mask.sum(), 72.0 * 113.0);
}

// ---------------------------------------------------------------- generic npz, gradients

#[test]
fn read_npz_any_dtype_and_names() {
    let d = tmpdir("generic");
    let p = d.join("n.npz");
    let ints = Array2::from_shape_fn((2, 3), |(i, j)| (i * 3 + j) as i64 - 2).into_dyn();
    npz(
        &p,
        vec![
            ("a", A::I64(ints.clone())),
            ("b", A::F32(ramp(&[4]).mapv(|v| v as f32))),
        ],
    );
    assert_eq!(
        npz_names(&p).unwrap(),
        vec!["a".to_string(), "b".to_string()]
    );
    assert_eq!(read_npz_f64(&p, "a").unwrap(), ints.mapv(|v| v as f64));
    assert_eq!(read_npz_f64(&p, "b").unwrap().shape(), &[4]);
    let msg = input_msg(read_npz_f64(&p, "c"));
    assert!(
        msg.contains("n.npz") && msg.contains(" c ") && msg.contains("a, b"),
        "{msg}"
    );

    // Fortran-order arrays come back in logical order and standard layout
    let f = Array2::from_shape_fn((3, 2), |(i, j)| (10 * i + j) as f64).reversed_axes();
    assert!(!f.is_standard_layout());
    let r = d.join("f.npz");
    npz(&r, vec![("f", A::F64(f.clone().into_dyn()))]);
    let back = read_npz_f64(&r, "f").unwrap();
    assert_eq!(back, f.into_dyn());
    assert!(back.is_standard_layout());

    // .npy
    let q = d.join("x.npy");
    ndarray_npy::write_npy(&q, &Array3::<i32>::from_elem((2, 2, 2), 5)).unwrap();
    assert_eq!(
        read_npy_f64(&q).unwrap(),
        ArrayD::from_elem(IxDyn(&[2, 2, 2]), 5.0)
    );

    // an unsupported dtype (float16: a u16 file with its descriptor patched) is named
    ndarray_npy::write_npy(&q, &Array1::<u16>::zeros(3)).unwrap();
    let mut bytes = std::fs::read(&q).unwrap();
    let at = bytes.windows(3).position(|w| w == b"<u2").unwrap();
    bytes[at + 1] = b'f';
    std::fs::write(&q, &bytes).unwrap();
    let msg = input_msg(read_npy_f64(&q));
    assert!(msg.contains("x.npy") && msg.contains("<f2"), "{msg}");
    let r = d.join("h.npz");
    let mut w = NpzWriter::new(File::create(&r).unwrap());
    w.add_array("half", &Array1::<u16>::zeros(3)).unwrap();
    w.finish().unwrap();
    let mut bytes = std::fs::read(&r).unwrap();
    let at = bytes.windows(3).position(|w| w == b"<u2").unwrap();
    bytes[at + 1] = b'f';
    std::fs::write(&r, &bytes).unwrap();
    let msg = input_msg(read_npz_f64(&r, "half"));
    assert!(
        msg.contains("h.npz") && msg.contains("half") && msg.contains("<f2"),
        "{msg}"
    );
}

#[test]
fn gradient_file_has_every_parameter_and_loss() {
    let d = tmpdir("grads");
    let cfg = RateConfig::new(3, 4, 2);
    let mut g = RateParams::<f32>::zeros(&cfg);
    g.w_rec[[1, 2]] = 1.5;
    g.b_out[1] = -2.0;
    let p = d.join("G.npz");
    save_grads(&p, &g, 0.25).unwrap();
    let mut names = npz_names(&p).unwrap();
    names.sort();
    assert_eq!(
        names,
        ["ah0", "b_in", "b_out", "loss", "w_in", "w_out", "w_rec"]
    );
    assert_eq!(read_npz_f64(&p, "loss").unwrap(), arr0(0.25).into_dyn());
    let w = read_npz_f64(&p, "w_rec").unwrap();
    assert_eq!(w.shape(), &[4, 4]);
    assert_eq!(w[[1, 2]], 1.5);
    assert_eq!(
        read_npz_f64(&p, "b_out").unwrap(),
        Array1::from(vec![0.0, -2.0]).into_dyn()
    );
    assert_eq!(read_npz_f64(&p, "w_in").unwrap().shape(), &[4, 3]);
    assert_entries(&d, 1);
}

// ---------------------------------------------------------------- paper checkpoints

#[test]
fn import_paper_checkpoint() {
    let path = repo("data/paper/mante_bptt_n200.npz");
    let m = import_paper_npz(&path, "p290_").unwrap();
    assert_eq!((m.config.n_in, m.config.n_rec, m.config.n_out), (9, 200, 3));
    assert_eq!(m.config.alpha, 0.1);
    assert_eq!(m.params.w_rec.dim(), (200, 200));
    assert!(m.params.w_rec.iter().any(|&w| w != 0.0));
    assert_eq!(
        m.params.w_rec.clone().into_dyn(),
        read_npz_f64(&path, "p290_w_rec")
            .unwrap()
            .mapv(|v| v as f32)
    );
    let lam = paper_lambda(&path, "p290_").unwrap().unwrap();
    assert!(lam > 0.0 && lam <= 10.0, "{lam}");
    assert_eq!(paper_lambda(&path, "nope_").unwrap(), None);
    assert!(
        paper_prefixes(&path)
            .unwrap()
            .contains(&"p508_".to_string())
    );

    let r = import_paper_npz(&repo("data/paper/reach_bptt_lr1e-3.npz"), "p508_").unwrap();
    assert_eq!((r.config.n_in, r.config.n_rec, r.config.n_out), (3, 200, 2));

    // an imported model saves and loads
    let d = tmpdir("paper");
    save_model(&d.join("m.safetensors"), &m).unwrap();
    assert_models_equal(&m, &load_model(&d.join("m.safetensors")).unwrap());
}

#[test]
fn import_bad_prefix_lists_prefixes() {
    let path = repo("data/paper/mante_bptt_n200.npz");
    let msg = input_msg(import_paper_npz(&path, "p291_"));
    assert!(
        msg.contains("mante_bptt_n200.npz") && msg.contains("p291_w_in"),
        "{msg}"
    );
    assert!(msg.contains("p290_") && msg.contains("p508_"), "{msg}");
    assert!(input_msg(import_paper_npz(&repo("data/paper/none.npz"), "p0_")).contains("none.npz"));
}

// ---------------------------------------------------------------- atomic writes

#[test]
fn write_atomic_leaves_no_temp_file() {
    let d = tmpdir("atomic");
    let p = d.join("out.bin");
    write_atomic(&p, b"first").unwrap();
    write_atomic(&p, b"second").unwrap();
    assert_eq!(std::fs::read(&p).unwrap(), b"second");
    let names: Vec<_> = std::fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("out.bin")]);
}

#[test]
fn failed_writer_leaves_neither_file_nor_temp() {
    let d = tmpdir("atomicfail");
    let p = d.join("out.npz");
    let r = write_atomic_with(&p, |tmp| {
        std::fs::write(tmp, b"partial").unwrap();
        Err(Error::Runtime("writer failed".into()))
    });
    assert!(matches!(r, Err(Error::Runtime(ref m)) if m == "writer failed"));
    assert!(!p.exists());
    assert_entries(&d, 0);

    // an existing file survives a failed rewrite unchanged
    write_atomic(&p, b"good").unwrap();
    let r = write_atomic_with(&p, |tmp| {
        std::fs::write(tmp, b"bad").unwrap();
        Err(Error::Runtime("no".into()))
    });
    assert!(r.is_err());
    assert_eq!(std::fs::read(&p).unwrap(), b"good");
    assert_entries(&d, 1);

    // writing into a directory that does not exist is the user's --out at fault
    let msg = input_msg(write_npz(
        &d.join("no/such/dir/o.npz"),
        &[("y", ArrayD::zeros(IxDyn(&[2])))],
    ));
    assert!(msg.contains("o.npz"), "{msg}");
}
