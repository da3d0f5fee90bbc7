//! `snnlab import-npz`: one checkpoint of the paper's released .npz files as a model file.

use std::path::PathBuf;

use snnlab::error::{Error, Result};
use snnlab::model::Kind;

#[derive(clap::Args)]
pub(crate) struct Args {
    #[arg(long)]
    npz: PathBuf,
    /// Key prefix of the checkpoint, e.g. p508_
    #[arg(long)]
    prefix: String,
    /// The checkpoint's kind of network (the paper's are all `rate`).
    #[arg(long, default_value = "rate")]
    kind: Kind,
    #[arg(long)]
    out: PathBuf,
}

pub(crate) fn run(args: Args) -> Result<()> {
    let Args {
        npz,
        prefix,
        kind,
        out,
    } = args;
    if kind != Kind::Rate {
        return Err(Error::Input(format!(
            "--kind: the paper's checkpoints are rate networks; '{kind}' is not supported"
        )));
    }
    snnlab::io::check_output(&out, "--out", &[("--npz", npz.as_path())])?;
    let m = snnlab::io::import_paper_npz(&npz, &prefix)?;
    snnlab::io::save_model(&out, &m)?;
    println!(
        "{}: rate network n_in {} n_rec {} n_out {}",
        out.display(),
        m.config.n_in,
        m.config.n_rec,
        m.config.n_out
    );
    Ok(())
}
