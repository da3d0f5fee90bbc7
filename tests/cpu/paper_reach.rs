//! Must-hold: the paper's released reach checkpoint (BPTT, lr 1e-3) reproduces the paper's
//! accuracy and its angular Procrustes distance to the Hatsopoulos 2007 recordings, and the
//! data's cross-condition-average baseline is the paper's.

use std::path::{Path, PathBuf};

use ndarray::{Array3, Ix3, s};
use snnlab::reference::rate::{Net, Prepared, forward, normalised_error};
use snnlab::similarity::{angular_procrustes, cross_condition_baseline};
use snnlab::tasks::reach::{ANALYSIS_DATA_STEPS, Reach};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn neural_data() -> Array3<f64> {
    let path = root().join("data/neural/hatsopoulos2007/firing_rate_n141_t121_c8.npy");
    let a = snnlab::io::read_npy_f64(&path).unwrap();
    assert_eq!(a.shape(), &[141, 121, 8]);
    a.into_dimensionality::<Ix3>().unwrap()
}

fn close(name: &str, got: f64, want: f64, tol: f64) {
    eprintln!("{name} = {got:.6} (paper {want})");
    assert!(
        (got - want).abs() <= tol,
        "{name} = {got:.6}, paper {want} ± {tol}"
    );
}

#[test]
fn reach_bptt_checkpoint_matches_the_paper() {
    let ckpt = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/data/paper/reach_bptt_lr1e-3.npz"
    ));
    let model = snnlab::io::import_paper_npz(ckpt, "p0_").unwrap();
    let batch = Reach::load_default().unwrap().analysis_batch();
    let net = Net::<f64>::new(&model);
    let d = Prepared::<f64>::new(&batch);
    let tr = forward(&net, &d.x);
    let (t1, b, n) = tr.h.dim();
    assert_eq!(
        (t1, b),
        (251, 8),
        "h is [T+1, B, N] with T = 250 and 8 conditions"
    );

    // Step t sits in slot t + 1; [T, B, N] → [N, T, C] with the trial index as condition.
    let (lo, hi) = (*ANALYSIS_DATA_STEPS.start(), *ANALYSIS_DATA_STEPS.end());
    let act =
        tr.h.slice(s![lo + 1..=hi + 1, .., ..])
            .permuted_axes([2, 0, 1])
            .to_owned();
    assert_eq!(act.dim(), (n, 121, 8));

    let data = neural_data();
    let accuracy = 1.0 - normalised_error(&tr.y, &d);
    let dist = angular_procrustes(act.view(), data.view()).unwrap();
    let base = cross_condition_baseline(data.view()).unwrap();
    close("accuracy", accuracy, -1.049, 2e-3);
    close("angular Procrustes (model, data)", dist, 0.5173, 2e-3);
    close("cross-condition-average baseline", base, 0.4838, 2e-3);
}
