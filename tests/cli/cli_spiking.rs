//! `forward` and `grad` with spiking models (kind lif / alif, SPEC §6/§7) on the CPU: output
//! arrays and shapes, agreement with the CPU reference called directly, and bad input → one line
//! naming the culprit, exit status 2, no output file left behind.

use std::path::{Path, PathBuf};

use ndarray::{Array3, ArrayD, IxDyn};
use snnlab::batch::LossKind;
use snnlab::reference::rate::Prepared;
use snnlab::reference::spiking::{SpikingNet, forward, grad_backward, loss};
use snnlab::rules::Rule;
use snnlab::spiking::{SPIKING_PARAM_NAMES, SpikingConfig, SpikingModel};

use crate::common;
use common::gpu::Tolerance;
use common::{assert_bad, bin, run_ok, s, tmpdir};

const B: usize = 2;
const T: usize = 40;
const N_IN: usize = 3;
const N: usize = 10;
const N_OUT: usize = 2;

fn spiking_model(kind: &str) -> SpikingModel {
    SpikingModel::init(SpikingConfig::new(kind.parse().unwrap(), N_IN, N, N_OUT), 5).unwrap()
}

fn save(dir: &Path, name: &str, m: &SpikingModel) -> PathBuf {
    let p = dir.join(name);
    snnlab::io::save_spiking_model(&p, m).unwrap();
    p
}

/// Inputs strong enough that every kind spikes within T steps; mse targets.
fn batch(dir: &Path, name: &str, n_in: usize) -> PathBuf {
    let x = Array3::<f32>::from_shape_fn((B, T, n_in), |(b, t, i)| {
        0.4 + 0.6 * ((b + 2 * t + 3 * i) as f32 * 0.37).sin()
    });
    let y =
        Array3::<f32>::from_shape_fn((B, T, N_OUT), |(b, t, k)| ((b + t + k) as f32 * 0.2).cos());
    let p = dir.join(name);
    let d = |a: Array3<f32>| a.into_dimensionality::<IxDyn>().unwrap();
    snnlab::io::write_npz(&p, &[("inputs", d(x)), ("targets", d(y))]).unwrap();
    p
}

/// `forward` of `model` on `batch` into `out` on `device`.
fn forward_args<'a>(
    model: &'a Path,
    batch: &'a Path,
    out: &'a Path,
    device: &'a str,
) -> [&'a str; 9] {
    let (ms, bs, os) = (s(model), s(batch), s(out));
    [
        "forward", "--model", ms, "--batch", bs, "--out", os, "--device", device,
    ]
}

/// `grad` of `model` on `batch` with `rule` and `loss` into `out` on `device` (flags may follow).
fn grad_args<'a>(
    model: &'a Path,
    batch: &'a Path,
    (rule, loss): (&'a str, &'a str),
    out: &'a Path,
    device: &'a str,
) -> Vec<&'a str> {
    let (ms, bs, os) = (s(model), s(batch), s(out));
    vec![
        "grad", "--model", ms, "--batch", bs, "--rule", rule, "--loss", loss, "--out", os,
        "--device", device,
    ]
}

fn read(p: &Path, name: &str) -> ArrayD<f64> {
    snnlab::io::read_npz_f64(p, name).unwrap()
}

/// `[T, B, C]` reference array in the files' `[B, T, C]` order.
fn batch_major(a: &Array3<f64>) -> ArrayD<f64> {
    a.view().permuted_axes([1, 0, 2]).to_owned().into_dyn()
}

fn max_abs(a: &ArrayD<f64>) -> f64 {
    a.iter().fold(0.0f64, |m, v| m.max(v.abs()))
}

/// The CPU reference on the files' model and batch, as the command must compute it.
fn reference(
    model_p: &Path,
    batch_p: &Path,
    loss_kind: LossKind,
) -> (SpikingModel, snnlab::batch::Batch) {
    let m = snnlab::io::load_spiking_model(model_p).unwrap();
    let b = snnlab::io::load_batch(batch_p, &m.config, loss_kind).unwrap();
    (m, b)
}

#[test]
fn forward_writes_y_z_v_and_a_for_alif_matching_the_reference() {
    let d = tmpdir("fwd");
    let bp = batch(&d, "b.npz", N_IN);
    for kind in ["lif", "alif"] {
        let mp = save(&d, &format!("{kind}.safetensors"), &spiking_model(kind));
        let out = d.join(format!("fwd-{kind}.npz"));
        // --device auto: the CPU here (no hardware GPU), or the GPU engine where there is one
        for dev in ["cpu", "auto"] {
            run_ok(&forward_args(&mp, &bp, &out, dev));
        }
        let mut names = snnlab::io::npz_names(&out).unwrap();
        names.sort();
        let want: Vec<&str> = if kind == "alif" {
            vec!["a", "v", "y", "z"]
        } else {
            vec!["v", "y", "z"]
        };
        assert_eq!(names, want, "{kind}");
        assert_eq!(read(&out, "y").shape(), &[B, T, N_OUT]);
        for name in want.iter().filter(|n| **n != "y") {
            assert_eq!(read(&out, name).shape(), &[B, T, N], "{kind} {name}");
        }

        let (m, b) = reference(&mp, &bp, LossKind::Mse);
        let tr = forward(&SpikingNet::<f64>::new(&m), &Prepared::<f64>::new(&b).x);
        let z = read(&out, "z");
        assert_eq!(
            z,
            batch_major(&tr.z),
            "{kind}: z differs from the reference's spikes"
        );
        assert!(
            z.sum() > 0.0,
            "{kind}: the test batch should make the network spike"
        );
        let mut arrays = vec![("y", &tr.y), ("v", &tr.v)];
        if kind == "alif" {
            arrays.push(("a", &tr.a));
            assert!(max_abs(&read(&out, "a")) > 0.0);
        }
        for (name, r) in arrays {
            let (f, r) = (read(&out, name), batch_major(r));
            let err = max_abs(&(&f - &r));
            assert!(
                err <= 1e-6 * max_abs(&r).max(1.0),
                "{kind} {name}: differs from the reference by {err}"
            );
        }
    }
}

#[test]
fn grad_every_rule_equals_grad_backward() {
    let d = tmpdir("grad");
    let bp = batch(&d, "b.npz", N_IN);
    let (lambda, target) = (0.3, 0.05);
    let rules = ["bptt", "eprop", "eprop-random", "tbptt:7", "readout-fa"];
    for kind in ["lif", "alif"] {
        let plain = save(&d, &format!("{kind}.safetensors"), &spiking_model(kind));
        let mut with_fb = spiking_model(kind);
        with_fb.ensure_feedback(99);
        let fb = save(&d, &format!("{kind}-fb.safetensors"), &with_fb);
        // (model file, loss, extra flags, rule set): feedback seeded by --seed or taken from the file
        let cases: [(&Path, LossKind, Vec<&str>, &[&str]); 3] = [
            (&plain, LossKind::Mse, vec!["--seed", "5"], &rules),
            (
                &fb,
                LossKind::Mse,
                vec!["--seed", "5"],
                &["eprop-random", "readout-fa"],
            ),
            (&plain, LossKind::Ce, vec![], &["bptt", "eprop"]),
        ];
        for (ci, (mp, loss_kind, extra, rule_set)) in cases.iter().enumerate() {
            let bp = if *loss_kind == LossKind::Ce {
                let p = d.join("ce.npz");
                let x = snnlab::io::read_npz_f64(&bp, "inputs")
                    .unwrap()
                    .mapv(|v| v as f32);
                let c = ArrayD::<f32>::from_shape_fn(IxDyn(&[B, T]), |i| {
                    ((i[0] + i[1] / 10) % N_OUT) as f32
                });
                snnlab::io::write_npz(&p, &[("inputs", x), ("targets", c)]).unwrap();
                p
            } else {
                bp.clone()
            };
            let loss_name = if *loss_kind == LossKind::Ce {
                "ce"
            } else {
                "mse"
            };
            let (mut m, b) = reference(mp, &bp, *loss_kind);
            for rule in rule_set.iter() {
                let out = d.join(format!("g-{kind}-{ci}-{}.npz", rule.replace(':', "_")));
                let (ls, ts) = (lambda.to_string(), target.to_string());
                let mut args = grad_args(mp, &bp, (rule, loss_name), &out, "cpu");
                args.extend(["--activity-l2", &ls, "--rate-target", &ts]);
                args.extend(extra.iter().copied());
                run_ok(&args);

                let r = Rule::parse(rule).unwrap();
                if r.uses_feedback() {
                    m.ensure_feedback(5);
                }
                let net = SpikingNet::<f64>::new(&m);
                let p = Prepared::<f64>::new(&b);
                let tr = forward(&net, &p.x);
                let lo = loss(&tr, &p, lambda, target);
                let g = grad_backward(&net, r, &p, &tr, &lo);
                let mut names = snnlab::io::npz_names(&out).unwrap();
                names.sort();
                assert_eq!(
                    names,
                    ["b_out", "loss", "w_in", "w_out", "w_rec"],
                    "{kind} {rule}"
                );
                for (name, want) in SPIKING_PARAM_NAMES.iter().zip(g.slices()) {
                    let f = read(&out, name);
                    let scale = want.iter().fold(0.0f64, |a, v| a.max(v.abs()));
                    assert!(
                        scale > 0.0,
                        "{kind} {rule} {name}: zero gradient, the test is too weak"
                    );
                    let err = f
                        .iter()
                        .zip(want)
                        .fold(0.0f64, |a, (x, y)| a.max((x - y).abs()));
                    assert!(
                        err <= 1e-6 * scale,
                        "{kind} {loss_name} {rule} {name}: file differs from grad_backward by {err} (scale {scale})"
                    );
                }
                assert_eq!(read(&out, "w_rec").shape(), &[N, N]);
                let l = read(&out, "loss");
                assert_eq!(l.ndim(), 0);
                assert!(
                    (l[[]] - lo.total).abs() <= 1e-6 * lo.total.abs(),
                    "{kind} {rule}: loss {} vs {}",
                    l[[]],
                    lo.total
                );
                assert!(lo.rate_reg > 0.0 && lo.total > lo.task);
            }
        }
    }
    // the feedback in the file is used, not one drawn from --seed
    let (a, b) = (
        read(&d.join("g-alif-0-eprop-random.npz"), "w_rec"),
        read(&d.join("g-alif-1-eprop-random.npz"), "w_rec"),
    );
    assert!(max_abs(&(&a - &b)) > 0.0);
}

#[test]
fn bad_spiking_input_gives_one_line_exit_2_and_no_output() {
    let d = tmpdir("bad");
    let good_b = batch(&d, "good.npz", N_IN);
    let good_m = save(&d, "good.safetensors", &spiking_model("alif"));
    let out = d.join("out.npz");
    let grad = |m: &Path, b: &Path| {
        grad_args(m, b, ("eprop", "mse"), &out, "cpu")
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>()
    };
    let fwd = |m: &Path, b: &Path| forward_args(m, b, &out, "cpu").map(String::from).to_vec();
    let check = |args: Vec<String>, culprits: &[&str]| {
        assert_bad(
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
            culprits,
            Some(&out),
        )
    };

    let mut nan = spiking_model("lif");
    nan.params.w_out[[1, 4]] = f32::NAN;
    let nan_p = save(&d, "nan.safetensors", &nan);
    let mut diag = spiking_model("alif");
    diag.params.w_rec[[2, 2]] = 0.5;
    let diag_p = save(&d, "diag.safetensors", &diag);

    // an unknown kind in the config
    let bytes = std::fs::read(&good_m).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let cfg = meta.metadata().as_ref().unwrap()["config"].replace("\"alif\"", "\"hodgkin-huxley\"");
    let tensors: Vec<_> = st.tensors();
    let meta = std::collections::HashMap::from([("config".to_string(), cfg)]);
    let kind_p = d.join("kind.safetensors");
    std::fs::write(
        &kind_p,
        safetensors::serialize(tensors, Some(meta)).unwrap(),
    )
    .unwrap();
    let wrong_b = batch(&d, "wrong.npz", N_IN + 1);

    // (model, batch, what the message names), each through forward and grad
    let cases: [(&Path, &Path, &[&str]); 4] = [
        (&nan_p, &good_b, &["nan.safetensors", "w_out", "NaN"]),
        (&diag_p, &good_b, &["diag.safetensors", "w_rec", "diagonal"]),
        (&kind_p, &good_b, &["kind.safetensors", "hodgkin-huxley"]),
        (&good_m, &wrong_b, &["wrong.npz", "inputs", "n_in"]),
    ];
    for (m, b, culprits) in cases {
        check(fwd(m, b), culprits);
        check(grad(m, b), culprits);
    }

    let mut g = grad(&good_m, &good_b);
    g.push("--rate-target=-0.5".into());
    check(g, &["--rate-target"]);
}

/// `--device gpu` (lavapipe without a GPU; REQUIRE_GPU=1 makes a missing adapter a failure):
/// the same spikes as the CPU, and every rule's gradient within the GPU tolerance.
#[test]
fn gpu_forward_and_grad_agree_with_cpu() {
    let d = tmpdir("gpu");
    let bp = batch(&d, "b.npz", N_IN);
    let probe = d.join("probe.npz");
    let mp0 = save(&d, "probe.safetensors", &spiking_model("lif"));
    let o = bin()
        .args(forward_args(&mp0, &bp, &probe, "gpu"))
        .output()
        .unwrap();
    if !o.status.success() {
        common::gpu::skip(format_args!(
            "--device gpu failed: {}",
            String::from_utf8_lossy(&o.stderr)
        ));
        return;
    }
    for kind in ["lif", "alif"] {
        let mp = save(&d, &format!("{kind}.safetensors"), &spiking_model(kind));
        let (fc, fg) = (
            d.join(format!("{kind}-cpu.npz")),
            d.join(format!("{kind}-gpu.npz")),
        );
        run_ok(&forward_args(&mp, &bp, &fc, "cpu"));
        run_ok(&forward_args(&mp, &bp, &fg, "gpu"));
        assert_eq!(
            read(&fc, "z"),
            read(&fg, "z"),
            "{kind}: GPU spikes differ from the CPU's"
        );
        let (yc, yg) = (read(&fc, "y"), read(&fg, "y"));
        Tolerance::rel(1e-4).floor(1.0).assert_close(
            &format!("{kind}: y"),
            yg.as_slice().unwrap(),
            yc.as_slice().unwrap(),
        );
        for rule in ["bptt", "eprop", "eprop-random", "tbptt:5", "readout-fa"] {
            let (gc, gg) = (
                d.join(format!("{kind}-{rule}-cpu.npz")),
                d.join(format!("{kind}-{rule}-gpu.npz")),
            );
            for (dev, out) in [("cpu", &gc), ("gpu", &gg)] {
                let mut args = grad_args(&mp, &bp, (rule, "mse"), out, dev);
                args.extend(["--activity-l2", "0.3"]);
                run_ok(&args);
            }
            for name in ["w_in", "w_rec", "w_out", "b_out"] {
                let (c, g) = (read(&gc, name), read(&gg, name));
                Tolerance::rel(1e-3).floor(1e-6).assert_close(
                    &format!("{kind} {rule} {name}"),
                    g.as_slice().unwrap(),
                    c.as_slice().unwrap(),
                );
            }
            let (lc, lg) = (read(&gc, "loss")[[]], read(&gg, "loss")[[]]);
            Tolerance::rel(1e-4).floor(1.0).assert_close(
                &format!("{kind} {rule}: loss"),
                &[lg],
                &[lc],
            );
        }
    }
}
