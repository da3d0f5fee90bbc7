//! The Mante generator reproduces data/paper/mante_task_72conditions.npz exactly: inputs (bit for
//! bit), targets, mask, per-trial labels and trial order.

use snnlab::batch::LossKind;
use snnlab::tasks::mante::{
    self, Condition, PAPER_COHERENCES, conditions, generate, generate_with_info, load_fixed_batch,
};

fn bundled() -> (snnlab::batch::Batch, mante::ManteInfo) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/data/paper/mante_task_72conditions.npz"
    );
    load_fixed_batch(path).expect("bundled Mante batch")
}

#[test]
fn generator_reproduces_the_bundled_batch_exactly() {
    let (file, info) = bundled();
    let (made, ginfo) = generate_with_info(&PAPER_COHERENCES, &PAPER_COHERENCES);

    assert_eq!(made.inputs.dim(), (72, 113, 9));
    assert_eq!(made.inputs.dim(), file.inputs.dim());
    // The file stores f32; the loader widens to f64, the generator computes in f32 and widens too.
    let mut n_diff = 0;
    for ((idx, g), f) in made.inputs.indexed_iter().zip(file.inputs.iter()) {
        if (*g as f32).to_bits() != (*f as f32).to_bits() || g != f {
            if n_diff < 5 {
                eprintln!("inputs{idx:?}: generated {g:e}, file {f:e}");
            }
            n_diff += 1;
        }
    }
    assert_eq!(n_diff, 0, "{n_diff} input values differ from the file");

    assert_eq!(made.targets, file.targets, "targets differ");
    assert_eq!(made.mask, file.mask, "mask differs");
    assert_eq!(made.loss, LossKind::Ce);

    // Trial order and labels, exactly.
    assert_eq!(ginfo.context, info.context, "trial_context (order)");
    assert_eq!(
        ginfo.coh_motion, info.coh_motion,
        "trial_coh_motion (order)"
    );
    assert_eq!(ginfo.coh_color, info.coh_color, "trial_coh_color (order)");
    assert_eq!(ginfo.ground_truth, info.ground_truth, "trial_ground_truth");
    assert_eq!(
        (ginfo.recording_start, ginfo.recording_stop),
        (info.recording_start, info.recording_stop)
    );
    assert_eq!((info.recording_start, info.recording_stop), (23, 73));

    // `generate` is the same batch.
    let plain = generate(&PAPER_COHERENCES, &PAPER_COHERENCES);
    assert_eq!(plain.inputs, made.inputs);
}

#[test]
fn epochs_norms_and_rule() {
    let (b, info) = generate_with_info(&PAPER_COHERENCES, &PAPER_COHERENCES);
    for i in 0..72 {
        for t in 0..113 {
            let row = b.inputs.slice(ndarray::s![i, t, ..]);
            let norm: f64 = row.iter().map(|x| x * x).sum::<f64>().sqrt();
            assert!((norm - 1.0).abs() < 1e-6, "trial {i} step {t}: norm {norm}");
            assert_eq!(row[0] > 0.0, t < 93, "fixation at step {t}");
            assert_eq!(
                row[1] > 0.0,
                (23..73).contains(&t),
                "motion evidence at step {t}"
            );
            assert_eq!(row[7], 0.0);
            assert!(row[8] > 0.0);
            let ctx_motion = info.context[i] > 0.0;
            if t < 93 {
                assert_eq!((row[5] > 0.0, row[6] > 0.0), (ctx_motion, !ctx_motion));
            }
            let want = if t >= 93 { info.ground_truth[i] } else { 0.0 };
            assert_eq!(b.targets[[i, t, 0]], want);
        }
        let relevant = if info.context[i] > 0.0 {
            info.coh_motion[i]
        } else {
            info.coh_color[i]
        };
        assert_eq!(info.ground_truth[i], if relevant > 0.0 { 2.0 } else { 1.0 });
    }
}

#[test]
fn conditions_are_sorted_by_choice_motion_colour_context() {
    let c = conditions(&PAPER_COHERENCES, &PAPER_COHERENCES);
    assert_eq!(c.len(), 72);
    assert_eq!(
        c[0],
        Condition {
            context: -1.0,
            coh_motion: -0.5,
            coh_color: -0.5
        }
    );
    assert_eq!(
        c[1],
        Condition {
            context: 1.0,
            coh_motion: -0.5,
            coh_color: -0.5
        }
    );
    assert_eq!(
        c[71],
        Condition {
            context: 1.0,
            coh_motion: 0.5,
            coh_color: 0.5
        }
    );
    for w in c.windows(2) {
        let k = |x: &Condition| (x.ground_truth(), x.coh_motion, x.coh_color, x.context);
        assert!(k(&w[0]) < k(&w[1]));
    }
    // The order depends on the ranks of the levels only (this is how neural sessions with other
    // coherence levels line up with the batch).
    let other: Vec<f64> = [-0.4, -0.2, -0.01, 0.03, 0.2, 0.9].to_vec();
    let d = conditions(&other, &other);
    let rank = |v: f64, levels: &[f64]| levels.iter().position(|&l| l == v).unwrap();
    for (a, b) in c.iter().zip(&d) {
        assert_eq!(a.context, b.context);
        assert_eq!(
            rank(a.coh_motion, &PAPER_COHERENCES),
            rank(b.coh_motion, &other)
        );
        assert_eq!(
            rank(a.coh_color, &PAPER_COHERENCES),
            rank(b.coh_color, &other)
        );
    }
}
