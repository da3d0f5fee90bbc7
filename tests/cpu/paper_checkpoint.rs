//! The paper's released Mante checkpoint reproduces the training loss the authors stored.

use std::path::PathBuf;

use snnlab::reference::rate::{Net, Prepared, forward, loss};

fn data(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("data/paper")
        .join(p)
}

#[test]
fn mante_bptt_update_290_cross_entropy_is_the_papers() {
    let ckpt = data("mante_bptt_n200.npz");
    let model = snnlab::io::import_paper_npz(&ckpt, "p290_").unwrap();
    let (batch, _) = snnlab::tasks::mante::load_default().unwrap();
    let net = Net::<f64>::new(&model);
    let d = Prepared::<f64>::new(&batch);
    let tr = forward(&net, &d.x);
    let lambda = snnlab::io::paper_lambda(&ckpt, "p290_")
        .unwrap()
        .expect("checkpoint stores lambda");
    let lo = loss(&tr, &d, lambda);
    eprintln!(
        "ce = {:.6}, lambda = {lambda}, ce + lambda mean(h^2) = {:.6}",
        lo.task, lo.total
    );
    assert!(
        (lo.task - 0.0755).abs() < 1e-3,
        "cross-entropy {} is not 0.0755 ± 0.001",
        lo.task
    );

    // The stored training loss at pset index of update 290 is ce + lambda·mean(h²).
    let pset = snnlab::io::read_npz_f64(&ckpt, "pset").unwrap();
    let store = snnlab::io::read_npz_f64(&ckpt, "error_store").unwrap();
    let i = pset.iter().position(|&u| u == 290.0).expect("290 in pset");
    assert!(
        (lo.total - store[i]).abs() < 1e-3 * store[i].max(1.0),
        "total {} vs stored {}",
        lo.total,
        store[i]
    );
}

#[test]
fn paper_checkpoint_schedule_is_the_authors_pset() {
    let pset = snnlab::io::read_npz_f64(&data("mante_bptt_n200.npz"), "pset").unwrap();
    let want: Vec<usize> = pset.iter().map(|&u| u as usize).collect();
    assert_eq!(want.len(), 115);
    assert_eq!(snnlab::train::paper_checkpoints(), want);
}
