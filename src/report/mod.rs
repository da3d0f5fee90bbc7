//! The HTML reports of `report`/`analyze` and `sweep merge`, and their figures as files: every
//! chart is written as SVG and PNG into `figures/` beside the HTML, with a caption (`.txt` per
//! figure and one `captions.md`) that states what is plotted, the units, the reference lines and
//! the provenance; the HTML embeds the same SVGs.

pub mod figures;
pub mod run_report;
pub mod sweep_report;

use std::path::Path;

use crate::error::Result;
pub use figures::{Figure, Panel};

/// Where a report's numbers come from, stated in every caption.
#[derive(Clone, Debug)]
pub struct Provenance {
    /// The input's name (a sweep file or run folder names, never an absolute path).
    pub source: String,
    /// The neural data file's name.
    pub data: Option<String>,
    pub date: String,
}

impl Provenance {
    pub fn new(source: String, data: Option<String>) -> Self {
        Provenance {
            source,
            data,
            date: today_utc(),
        }
    }
    pub fn line(&self) -> String {
        format!(
            "snnlab {}, {} (UTC); input: {}{}.",
            env!("CARGO_PKG_VERSION"),
            self.date,
            self.source,
            self.data
                .as_ref()
                .map(|d| format!("; neural data: {d}"))
                .unwrap_or_default()
        )
    }
}

/// The file name of `p` (reports never show absolute paths).
pub fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string())
}

/// Today's date as YYYY-MM-DD (UTC), from the system clock.
pub fn today_utc() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `s` as HTML text or attribute value.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

pub const HTML_HEAD: &str = "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title><style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}figure{margin:1.5em 0}figcaption{font-size:90%;color:#333;max-width:975px}svg{max-width:100%;height:auto}dt{font-weight:bold;margin-top:.4em}</style></head><body>";

/// The page's head with `title` (escaped).
pub fn html_head(title: &str) -> String {
    HTML_HEAD.replace("{title}", &esc(title))
}

/// Write every figure as `figures/<name>.svg`, `.png` and `.txt` (caption and provenance) under
/// `dir`, and `figures/captions.md`; returns the HTML that embeds the SVGs with their captions.
pub fn write_figures(dir: &Path, figs: &[Figure], prov: &Provenance) -> Result<String> {
    let fdir = dir.join("figures");
    std::fs::create_dir_all(&fdir).map_err(|e| {
        crate::error::Error::Runtime(format!("{}: cannot create: {e}", fdir.display()))
    })?;
    let mut html = String::new();
    let mut md = format!("# Figures\n\n{}\n", prov.line());
    for (i, f) in figs.iter().enumerate() {
        let svg = figures::svg(f)?;
        let png = figures::png(f)?;
        crate::io::write_atomic(&fdir.join(format!("{}.svg", f.name)), svg.as_bytes())?;
        crate::io::write_atomic(&fdir.join(format!("{}.png", f.name)), &png)?;
        let caption = format!("Figure {}. {}\n\n{}\n", i + 1, f.caption, prov.line());
        crate::io::write_atomic(&fdir.join(format!("{}.txt", f.name)), caption.as_bytes())?;
        md.push_str(&format!(
            "\n## {0}.svg, {0}.png\n\n{1}",
            f.name,
            caption.replace("\n\n", " ")
        ));
        html.push_str(&format!(
            "<figure id=\"{0}\">{1}<figcaption><b>Figure {2}.</b> {3} <a href=\"figures/{0}.svg\">SVG</a> · <a href=\"figures/{0}.png\">PNG</a></figcaption></figure>",
            f.name,
            svg,
            i + 1,
            esc(&f.caption)
        ));
    }
    crate::io::write_atomic(&fdir.join("captions.md"), md.as_bytes())?;
    Ok(html)
}

/// The matched accuracy levels as a caption lists them (`0.5, 0.8, 0.9`).
pub fn levels_text(levels: &[f64]) -> String {
    let text: Vec<String> = levels.iter().map(|l| l.to_string()).collect();
    text.join(", ")
}

/// What the reference lines mean, for captions.
pub fn reference_lines_caption(baseline: f64, floor: f64) -> String {
    format!(
        "Dashed lines: the cross-condition baseline ({baseline:.4}), the distance of the recordings to their own condition average (a model that ignores the condition scores about this); the split-half floor ({floor:.4}), the mean distance between two random halves of the recorded neurons (100 seeded draws). The floor compares n/2 neurons with n/2 while a model is compared with all n neurons, so a trained model can fall below it: it is a reference level, not a bound."
    )
}

/// The glossary, as shown in every report (the README's "Glossary" section says the same).
pub fn glossary_html() -> String {
    let items: &[(&str, &str)] = &[
        (
            "distance",
            "Angular Procrustes distance between a checkpoint's activity [units, bins, conditions] and the recordings: both flattened to samples × units, centred, zero-padded to equal width; arccos(Σ singular values of XᵀY / (‖X‖_F ‖Y‖_F)) / (π/2). Unitless, in [0, 1]; 0 = identical up to a rotation. Lower = more similar.",
        ),
        (
            "normalised_distance",
            "(distance − floor) / (1 − floor), with floor the split-half floor: 0 at the floor, 1 at the largest distance; negative when a model is below the floor.",
        ),
        (
            "accuracy",
            "Task accuracy on the deterministic analysis trials. Reach and other mse tasks: 1 − normalised error, the squared error over the masked steps divided by that of predicting the target's mean; it is negative when the output is further from the target than the target's mean is (untrained and early checkpoints). Mante: 1 − task loss. Cross-entropy tasks: fraction correct. Unitless; 1 = perfect.",
        ),
        (
            "loss",
            "Task loss on the analysis trials (mse or cross-entropy, as the task's loss).",
        ),
        (
            "participation_ratio",
            "(Σλ)² / Σλ² of the eigenvalues λ of the covariance of the flattened activity: the effective number of dimensions, between 1 and the number of units.",
        ),
        (
            "eval_error",
            "The training run's own evaluation error at the checkpoint (checkpoints.csv).",
        ),
        (
            "cross-condition baseline",
            "The distance between the recordings and the recordings with every condition replaced by the across-condition mean: what a model that ignores the condition scores.",
        ),
        (
            "split-half floor",
            "The mean distance between two disjoint random halves of the recorded neurons (n/2 each, 100 draws, seed 0): how far the data are from themselves. It compares n/2 neurons with n/2, while a model is compared with all n neurons (more neurons, less noise per sample), so a trained model can fall below it. It is a reference level, not a lower bound.",
        ),
        (
            "distance at accuracy a (matched accuracy)",
            "Per network: the first checkpoint with accuracy ≥ a; its distance if it is the network's first checkpoint, else linear in accuracy between it and the checkpoint before. A network that never reaches a has no value and is counted in missing.",
        ),
        (
            "n, missing, mean, sd, sem, ci_low, ci_high",
            "Over the networks of a group with a value at the level: their count, the count without one, the mean distance, the sample standard deviation (n − 1; empty for n < 2), sd/√n, and the 95 % bootstrap percentile interval of the mean (2000 resamples of the networks, seed 0).",
        ),
        (
            "eta2 (attribution)",
            "One-way share of variance of an axis: between-group sum of squares / total sum of squares of the matched distances, over the networks that reach the level; in [0, 1]; with its bootstrap CI. Axes zipped together give the same value.",
        ),
        (
            "n_pairs, mean_diff, p (paired)",
            "Pairs of networks equal on every other axis, both reaching the level; mean of b − a; two-sided sign-flip permutation p (exact for ≤ 16 pairs, else 10000 seeded flips).",
        ),
        (
            "closest checkpoint",
            "The checkpoint with the smallest distance among those with accuracy ≥ --min-accuracy (default 0.9).",
        ),
    ];
    let mut h = String::from("<h2>Glossary</h2><dl>");
    for (k, v) in items {
        h.push_str(&format!("<dt>{}</dt><dd>{}</dd>", esc(k), esc(v)));
    }
    h + "</dl>"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        // 2000-03-01 is day 11017; 2024-02-29 is day 19782.
        assert_eq!(civil_from_days(11_017), (2000, 3, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
    }
}
