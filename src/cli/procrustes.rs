//! `snnlab procrustes`: a shape distance (SPEC §5) between two activity arrays.

use std::path::PathBuf;

use snnlab::error::{Error, Result};
use snnlab::evaluate::Layout;

#[derive(clap::Args)]
pub(crate) struct Args {
    #[arg(long)]
    x: PathBuf,
    #[arg(long)]
    y: PathBuf,
    /// angular (in [0, 1]) | euclidean (the shape metric at --alpha), or one of
    /// procrustes | shape:ALPHA[:euclidean] | cka | cka-angular | cca | dsa
    #[arg(long, default_value = "angular")]
    metric: String,
    /// Partial whitening: 1 = Procrustes, 0 = CCA-like.
    #[arg(long, default_value_t = 1.0)]
    alpha: f64,
    /// Axis order of --x: a permutation of N (units), T (bins), C (conditions).
    #[arg(long, default_value = "NTC")]
    x_layout: Layout,
    /// Axis order of --y.
    #[arg(long, default_value = "NTC")]
    y_layout: Layout,
}

pub(crate) fn run(args: Args) -> Result<()> {
    let Args {
        x,
        y,
        metric,
        alpha,
        x_layout,
        y_layout,
    } = args;
    // angular | euclidean: the shape metric at --alpha (SPEC §7); else a family id.
    let family: snnlab::metric::Metric = match metric.as_str() {
        "angular" | "euclidean" => snnlab::metric::Metric::Shape {
            alpha,
            score: metric.parse()?,
        },
        other => other.parse()?,
    };
    if !(0.0..=1.0).contains(&alpha) {
        return Err(Error::Input(format!("--alpha: {alpha} is not in [0, 1]")));
    }
    let xa = x_layout.to_ntc(snnlab::neural::load_neural(&x)?);
    let ya = y_layout.to_ntc(snnlab::neural::load_neural(&y)?);
    let (_, tx, cx) = xa.dim();
    let (_, ty, cy) = ya.dim();
    if (tx, cx) != (ty, cy) {
        return Err(Error::Input(format!(
            "{}: read as {y_layout} it has T = {ty}, C = {cy} but {} (read as {x_layout}) has T = {tx}, C = {cx}",
            y.display(),
            x.display()
        )));
    }
    println!("{}", family.score(xa.view(), ya.view())?);
    Ok(())
}
