//! `snnlab report` (and `analyze --report`): the HTML report of analysed run folders, its
//! figures as files, and `matched.csv` beside it.

use std::collections::BTreeMap;
use std::path::Path;

use ndarray::{Array2, Array3};
use ndarray_linalg::SVD;

use super::figures::{
    Band, ErrorPoint, Figure, HLine, Line, Marker, Panel, Scale, Shape, circular, palette,
};
use super::{Provenance, esc};
use crate::analysis::{
    CheckpointScore, Reference, References, ReportOptions, RunAnalysis, matched_table, pca_project,
};
use crate::error::{Error, Result};
use crate::evaluate::{TaskName, run_any};
use crate::metric::Metric;
use crate::stats::MatchedRow;

/// Grey of the reference lines.
const REF_BASELINE: plotters::style::RGBColor = plotters::style::RGBColor(90, 90, 90);
const REF_FLOOR: plotters::style::RGBColor = plotters::style::RGBColor(0, 0, 0);
/// The reach recordings' first bin is −800 ms and bins are 10 ms: movement onset (0 ms) is bin 80.
const REACH_ONSET_BIN: usize = 80;
/// Accuracy where the zoomed panel starts.
pub const ZOOM_FROM: f64 = 0.9;

/// The baseline and floor as dashed reference lines.
pub fn reference_lines(baseline: f64, floor: f64) -> Vec<HLine> {
    vec![
        HLine {
            y: baseline,
            label: "cross-condition baseline".into(),
            color: REF_BASELINE,
        },
        HLine {
            y: floor,
            label: "split-half floor".into(),
            color: REF_FLOOR,
        },
    ]
}

/// `points` from accuracy `lo` on, with the crossing of `lo` put in (so lines enter a zoomed
/// axis at its edge instead of being drawn outside it).
pub fn from_x(points: &[(f64, f64)], lo: f64) -> Vec<(f64, f64)> {
    let mut out = Vec::new();
    for (i, &(x, y)) in points.iter().enumerate() {
        if x >= lo {
            if let Some(&(px, py)) = i.checked_sub(1).map(|j| &points[j])
                && px < lo
            {
                out.push((lo, py + (y - py) * (lo - px) / (x - px)));
            }
            out.push((x, y));
        } else if let Some(&(nx, ny)) = points.get(i + 1)
            && nx >= lo
            && out.last().is_some_and(|&(ox, _)| ox >= lo)
        {
            // A dip below `lo` after being above it: leave the axis at its edge, come back later.
            out.push((lo, y + (ny - y) * (lo - x) / (nx - x)));
            out.push((f64::NAN, f64::NAN));
        }
    }
    out
}

/// One group's networks (checkpoints in update order) drawn as thin lines in the group's
/// colour, the group's mean ± 95 % CI at the matched levels as a thick line over a band.
pub struct Group {
    pub label: String,
    pub networks: Vec<Vec<(f64, f64)>>,
    /// This group's rows of the matched table (one per level).
    pub matched: Vec<MatchedRow>,
}

/// Notes for the levels some group never reaches (a figure says so instead of drawing an empty panel).
pub fn unreached_notes(groups: &[Group]) -> Vec<String> {
    let levels: Vec<f64> = groups
        .iter()
        .flat_map(|g| g.matched.iter().map(|r| r.level))
        .collect();
    let mut unique: Vec<f64> = Vec::new();
    for l in levels {
        if !unique.contains(&l) {
            unique.push(l);
        }
    }
    let mut notes = Vec::new();
    let mut by_none: Vec<String> = Vec::new();
    for l in unique {
        let missing: Vec<&str> = groups
            .iter()
            .filter(|g| {
                g.matched
                    .iter()
                    .any(|r| r.level == l && r.summary.mean.is_none())
            })
            .map(|g| g.label.as_str())
            .collect();
        if missing.is_empty() {
            continue;
        }
        if missing.len() == groups.len() {
            by_none.push(l.to_string());
        } else {
            notes.push(format!(
                "accuracy {l} not reached by: {}",
                missing.join(", ")
            ));
        }
    }
    if !by_none.is_empty() {
        notes.insert(
            0,
            format!("no network reached accuracy {}", by_none.join(", ")),
        );
    }
    notes
}

/// Distance vs accuracy: one thin line per network in update order, the group's mean and CI
/// band at the matched levels, baseline and floor; `zoom`: the accuracy axis from
/// [`ZOOM_FROM`] to 1.
pub fn distance_vs_accuracy(
    title: &str,
    groups: &[Group],
    refs: Option<(f64, f64)>,
    zoom: bool,
) -> Panel {
    let mut p = Panel::new(title, "task accuracy (1 = perfect)", "distance to data");
    let any_nonnegative = groups
        .iter()
        .flat_map(|g| g.networks.iter().flatten())
        .any(|c| c.0 >= 0.0);
    // Below accuracy 0 a network does worse than the target's mean; those early checkpoints
    // would squash the range that matters, unless there is nothing else to show.
    let lo = if zoom {
        ZOOM_FROM
    } else if any_nonnegative {
        0.0
    } else {
        f64::NEG_INFINITY
    };
    for (gi, g) in groups.iter().enumerate() {
        let color = palette(gi);
        for (ni, net) in g.networks.iter().enumerate() {
            let mut l = Line::new(from_x(net, lo), color);
            l.width = 1.0;
            l.alpha = 0.55;
            l.dots = true;
            l.label = (ni == 0).then(|| g.label.clone());
            p.lines.push(l);
        }
        let reached: Vec<&MatchedRow> = g
            .matched
            .iter()
            .filter(|r| r.summary.mean.is_some() && r.level >= lo)
            .collect();
        let mean: Vec<(f64, f64)> = reached
            .iter()
            .map(|r| (r.level, r.summary.mean.unwrap_or(f64::NAN)))
            .collect();
        let mut m = Line::new(mean, color);
        m.width = 3.0;
        m.dots = true;
        p.lines.push(m);
        let with_ci: Vec<&&MatchedRow> =
            reached.iter().filter(|r| r.summary.ci.is_some()).collect();
        if with_ci.len() > 1 {
            p.bands.push(Band {
                x: with_ci.iter().map(|r| r.level).collect(),
                lower: with_ci
                    .iter()
                    .map(|r| r.summary.ci.map_or(f64::NAN, |c| c.0))
                    .collect(),
                upper: with_ci
                    .iter()
                    .map(|r| r.summary.ci.map_or(f64::NAN, |c| c.1))
                    .collect(),
                color,
            });
        }
    }
    if let Some((b, f)) = refs {
        p.hlines = reference_lines(b, f);
    }
    p.notes = unreached_notes(groups);
    if zoom {
        p.x_range = Some((ZOOM_FROM, 1.0));
        let best = groups
            .iter()
            .flat_map(|g| g.networks.iter().flatten())
            .map(|c| c.0)
            .fold(f64::NEG_INFINITY, f64::max);
        if best < ZOOM_FROM {
            p.message = Some(format!(
                "No checkpoint reaches accuracy {ZOOM_FROM}: nothing to show in the high-accuracy range (highest accuracy reached: {}).",
                if best.is_finite() {
                    format!("{best:.3}")
                } else {
                    "none".into()
                }
            ));
        }
    } else if !any_nonnegative {
        p.notes
            .push("every checkpoint is below accuracy 0: the whole range is shown".into());
    }
    p
}

/// [`distance_vs_accuracy`] over the whole range with the accuracy axis as 1 − accuracy on a log
/// scale: each decade of error gets the same room, so 0.9, 0.99 and 0.999 are spread apart.
pub fn distance_vs_error_log(title: &str, groups: &[Group], refs: Option<(f64, f64)>) -> Panel {
    let mut p = distance_vs_accuracy(title, groups, refs, false);
    p.x_label = "1 − task accuracy (log scale; left = more accurate)".into();
    let flip = |v: &[(f64, f64)]| -> Vec<(f64, f64)> {
        v.iter()
            .map(|&(x, y)| if x.is_nan() { (x, y) } else { (1.0 - x, y) })
            .filter(|&(e, _)| e.is_nan() || (e > 0.0 && e <= 1.0))
            .collect()
    };
    for l in &mut p.lines {
        l.points = flip(&l.points);
    }
    for b in &mut p.bands {
        b.x = b.x.iter().map(|x| 1.0 - x).collect();
    }
    p.x_scale = Scale::Log10;
    p.x_range = None;
    if p.message.is_none() && p.lines.iter().all(|l| l.points.is_empty()) {
        p.message = Some(
            "No checkpoint has accuracy between 0 and 1: nothing to plot on a log error axis."
                .into(),
        );
    }
    p
}

/// Positions of `n` groups side by side around a category's centre.
pub fn dodge(i: usize, n: usize) -> f64 {
    if n > 1 {
        0.5 * (i as f64 / (n - 1) as f64 - 0.5)
    } else {
        0.0
    }
}

/// Group `k` of `groups`'s value `y` at level slot `li` (dodged beside the other groups), with
/// its 95 % CI (`None`: no bar), in the group's colour.
pub fn group_point(
    li: usize,
    (k, groups): (usize, usize),
    y: f64,
    ci: Option<(f64, f64)>,
    label: String,
) -> ErrorPoint {
    let (lo, hi) = ci.unwrap_or((f64::NAN, f64::NAN));
    ErrorPoint {
        x: li as f64 + dodge(k, groups),
        y,
        lo,
        hi,
        color: palette(k),
        label: Some(label),
    }
}

/// Distance at the matched levels: mean and 95 % CI per group, groups side by side at each
/// level (a categorical axis); a level no network reaches says so in its slot.
pub fn matched_panel(title: &str, groups: &[Group]) -> Panel {
    let mut p = Panel::new(title, "accuracy level", "distance at matched accuracy");
    let levels: Vec<f64> = groups
        .first()
        .map(|g| g.matched.iter().map(|r| r.level).collect())
        .unwrap_or_default();
    for (gi, g) in groups.iter().enumerate() {
        for r in &g.matched {
            let Some(li) = levels.iter().position(|&l| l == r.level) else {
                continue;
            };
            if let Some(m) = r.summary.mean {
                let k = (gi, groups.len());
                p.errors
                    .push(group_point(li, k, m, r.summary.ci, g.label.clone()));
            }
        }
    }
    for (li, &l) in levels.iter().enumerate() {
        if groups.iter().all(|g| {
            g.matched
                .iter()
                .all(|r| r.level != l || r.summary.mean.is_none())
        }) {
            p.slot_notes.push((li as f64, "not reached".into()));
        }
    }
    p.x_categories = levels.iter().map(|l| l.to_string()).collect();
    p.x_range = Some((-0.5, levels.len() as f64 - 0.5));
    p.notes = unreached_notes(groups);
    if p.errors.is_empty() {
        p.message = Some(format!(
            "No network reached any accuracy level ({}): no matched distance to show.",
            levels
                .iter()
                .map(|l| l.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    p
}

/// Per-seed thin lines and their mean (thick) of a quantity over updates, one colour per run.
/// A legend label and its series (one per seed) of (x, y) points.
type LabelledSeries = (String, Vec<Vec<(f64, f64)>>);

fn over_updates(p: &mut Panel, runs: &[LabelledSeries]) {
    for (gi, (label, seeds)) in runs.iter().enumerate() {
        let color = palette(gi);
        let mut by_x: BTreeMap<i64, (f64, f64, usize)> = BTreeMap::new();
        for (si, s) in seeds.iter().enumerate() {
            let mut l = Line::new(s.clone(), color);
            l.width = 1.0;
            l.alpha = if seeds.len() > 1 { 0.45 } else { 1.0 };
            l.label = (si == 0).then(|| label.clone());
            p.lines.push(l);
            for &(x, y) in s {
                if y.is_finite() {
                    let e = by_x.entry((x * 1e6) as i64).or_insert((x, 0.0, 0));
                    e.1 += y;
                    e.2 += 1;
                }
            }
        }
        if seeds.len() > 1 {
            let mut m = Line::new(
                by_x.values().map(|&(x, s, n)| (x, s / n as f64)).collect(),
                color,
            );
            m.width = 2.6;
            p.lines.push(m);
        }
    }
}

/// Task loss per update and seed from `loss.csv` (x = update + 1, for the log axis).
fn loss_by_seed(dir: &Path) -> Vec<Vec<(f64, f64)>> {
    let Ok(text) = std::fs::read_to_string(dir.join("loss.csv")) else {
        return vec![];
    };
    let mut by_seed: BTreeMap<u64, Vec<(f64, f64)>> = BTreeMap::new();
    for l in text.lines().skip(1) {
        let f: Vec<&str> = l.split(',').collect();
        if let (Some(u), Some(s), Some(v)) = (
            f.first().and_then(|v| v.parse::<usize>().ok()),
            f.get(1).and_then(|v| v.parse::<u64>().ok()),
            f.get(3).and_then(|v| v.parse::<f64>().ok()),
        ) {
            by_seed.entry(s).or_default().push((u as f64 + 1.0, v));
        }
    }
    by_seed.into_values().collect()
}

/// `f` of every checkpoint of `r` in `scores` (`r.scores`, or one metric's of `r.by_metric`),
/// one series per seed, in update order.
fn by_seed(
    r: &RunAnalysis,
    scores: &[CheckpointScore],
    f: impl Fn(&CheckpointScore) -> f64,
) -> Vec<Vec<(f64, f64)>> {
    r.seeds()
        .into_iter()
        .map(|seed| {
            let mut own: Vec<&CheckpointScore> = scores.iter().filter(|s| s.seed == seed).collect();
            own.sort_by_key(|s| s.update);
            own.iter().map(|s| (s.update as f64, f(s))).collect()
        })
        .collect()
}

/// `[k, bins, conditions]` → samples × k (sample `t + bins·c`).
fn samples(pcs: &Array3<f64>) -> Array2<f64> {
    let (k, t, c) = pcs.dim();
    Array2::from_shape_fn((t * c, k), |(s, j)| pcs[[j, s % t, s / t]])
}

/// The model's top PCs rotated (orthogonal Procrustes, one isotropic scale) into the data's
/// top-2 PC plane: `[2, bins, conditions]` in the data's units.
pub fn align_to_data(model: &Array3<f64>, data_pcs: &Array3<f64>) -> Result<Array3<f64>> {
    let (_, t, c) = model.dim();
    let m = samples(&pca_project(model, 10)?); // [tc, km]
    let d = samples(data_pcs); // [tc, 2]
    let (u, s, vt) = m
        .t()
        .dot(&d)
        .svd(true, true)
        .map_err(|e| Error::Runtime(format!("Procrustes alignment failed: {e}")))?;
    let (u, vt) = (
        u.ok_or_else(|| Error::Runtime("SVD without U".into()))?,
        vt.ok_or_else(|| Error::Runtime("SVD without V".into()))?,
    );
    let r = s.len();
    let rot = u
        .slice(ndarray::s![.., ..r])
        .dot(&vt.slice(ndarray::s![..r, ..]));
    let a = m.dot(&rot); // [tc, 2]
    let norm2 = a.iter().map(|v| v * v).sum::<f64>();
    let a = if norm2 > 0.0 {
        a * (s.sum() / norm2)
    } else {
        a
    };
    Ok(Array3::from_shape_fn((2, t, c), |(j, ti, ci)| {
        a[[ti + t * ci, j.min(a.ncols() - 1)]]
    }))
}

/// One trajectory panel: PC1 vs PC2 per condition, reach directions on a circular colour map.
pub fn trajectories(title: &str, pcs: &Array3<f64>, reach: bool) -> Panel {
    let (k, t, c) = pcs.dim();
    let mut p = Panel::new(title, "PC 1 (data units)", "PC 2 (data units)");
    for ci in 0..c.min(8) {
        let (label, color) = if reach {
            let angle = 360.0 * ci as f64 / crate::tasks::reach::N_CONDITIONS as f64;
            (format!("{angle:.0}°"), circular(angle))
        } else {
            (format!("condition {ci}"), palette(ci))
        };
        let pts: Vec<(f64, f64)> = (0..t)
            .map(|ti| (pcs[[0, ti, ci]], pcs[[1.min(k - 1), ti, ci]]))
            .collect();
        p.markers.push(Marker {
            x: pts[0].0,
            y: pts[0].1,
            shape: Shape::Start,
            color,
        });
        if reach && t > REACH_ONSET_BIN {
            p.markers.push(Marker {
                x: pts[REACH_ONSET_BIN].0,
                y: pts[REACH_ONSET_BIN].1,
                shape: Shape::Onset,
                color,
            });
        }
        let mut l = Line::new(pts, color);
        l.width = 1.8;
        l.label = Some(label);
        p.lines.push(l);
    }
    p
}

/// Legend labels of the runs: their labels, or folder names where labels repeat.
fn run_labels(runs: &[RunAnalysis]) -> Vec<String> {
    runs.iter()
        .map(|r| {
            if runs.iter().filter(|o| o.label == r.label).count() > 1 {
                format!("{} ({})", r.name(), r.label)
            } else {
                r.label.clone()
            }
        })
        .collect()
}

/// One metric's distance figures of the runs report: against accuracy (whole range, zoomed, log
/// error) and at the matched levels.
struct MetricFigures<'a> {
    runs: &'a [RunAnalysis],
    labels: &'a [String],
    /// The metric, and its index in the runs' `by_metric`.
    metric: &'a Metric,
    k: usize,
    /// The matched rows of this metric.
    matched: &'a [MatchedRow],
    /// The recordings' (cross-condition baseline, split-half floor) in this metric.
    refs: (f64, f64),
    data_name: &'a str,
    levels: &'a [f64],
}

impl MetricFigures<'_> {
    fn figures(&self) -> Vec<Figure> {
        let (runs, (baseline, floor), k) = (self.runs, self.refs, self.k);
        let what = self.metric.description();
        // Groups: one per run (its seeds the networks), the matched rows of the run.
        let groups: Vec<Group> = runs
            .iter()
            .zip(self.labels)
            .map(|(r, label)| Group {
                label: label.clone(),
                networks: by_seed(r, &r.by_metric[k].1, |s| s.accuracy)
                    .into_iter()
                    .zip(by_seed(r, &r.by_metric[k].1, |s| s.distance))
                    .map(|(a, d)| a.iter().zip(&d).map(|(x, y)| (x.1, y.1)).collect())
                    .collect(),
                matched: self
                    .matched
                    .iter()
                    .filter(|m| m.group.first() == Some(&r.name()))
                    .cloned()
                    .collect(),
            })
            .collect();
        let below_zero: usize = runs
            .iter()
            .map(|r| r.by_metric[k].1.iter().filter(|s| s.accuracy < 0.0).count())
            .sum();
        let refs_caption = super::reference_lines_caption(baseline, floor);
        let levels_text = super::levels_text(self.levels);
        let lines_caption = format!(
            "Distance to the neural data ({}; {what}) against task accuracy on the analysis trials (unitless, 1 = perfect). Each thin line is one network (run × seed), its checkpoints joined in update order; one colour per run, the same in every figure. Thick line and shaded band: the run's mean distance at the matched accuracy levels ({levels_text}) and its 95 % bootstrap CI over networks (a band needs two levels with a CI). {refs_caption}",
            self.data_name
        );
        vec![
            Figure::new(
                "distance_vs_accuracy",
                distance_vs_accuracy(
                    "Distance to neural data vs task accuracy",
                    &groups,
                    Some((baseline, floor)),
                    false,
                ),
                format!(
                    "{lines_caption} Checkpoints with accuracy below 0 (worse than predicting the target's mean; {below_zero} here) are left out to keep the range that matters readable (all are shown when none reaches 0)."
                ),
            ),
            Figure::new(
                "distance_vs_accuracy_zoom",
                distance_vs_accuracy(
                    &format!("Distance vs accuracy, accuracy {ZOOM_FROM}–1"),
                    &groups,
                    Some((baseline, floor)),
                    true,
                ),
                format!(
                    "{lines_caption} Zoom into accuracy {ZOOM_FROM}–1, where the rules are compared."
                ),
            ),
            Figure::new(
                "distance_vs_error_log",
                distance_vs_error_log(
                    "Distance vs task error (log scale)",
                    &groups,
                    Some((baseline, floor)),
                ),
                format!(
                    "{lines_caption} The accuracy axis as 1 − accuracy on a log scale, so that the high-accuracy range (0.9, 0.99, …) gets as much room as the rest; checkpoints with accuracy ≤ 0 or exactly 1 are left out."
                ),
            ),
            Figure::new(
                "matched_accuracy",
                matched_panel("Distance at matched accuracy", &groups),
                format!(
                    "Mean distance to the neural data ({what}) at each matched accuracy level, per run, with 95 % bootstrap percentile CIs over the run's networks (2000 seeded resamples; no bar for a single network). A network's value at a level is read where its accuracy first reaches the level, linear between the checkpoints around the crossing; runs side by side at each level. Levels a run never reaches are listed in the panel instead of being drawn. Same numbers as matched.csv."
                ),
            ),
        ]
    }
}

/// Write the HTML report, its figures (`figures/` beside it) and `matched.csv` beside it.
pub fn write(
    runs: &[RunAnalysis],
    refs: &mut References,
    out: &Path,
    opts: &ReportOptions,
) -> Result<()> {
    let first = runs
        .first()
        .ok_or_else(|| Error::Input("report: no runs given".into()))?;
    let data_name = super::file_name(refs.path());
    // The recordings' (baseline, floor) in each metric, for its figures' reference lines.
    let metrics: Vec<Metric> = first.by_metric.iter().map(|(m, _)| m.clone()).collect();
    let metric_refs: Vec<(f64, f64)> = metrics
        .iter()
        .map(|m| refs.metric_levels(&first.config, m))
        .collect::<Result<_>>()?;
    let Reference {
        task,
        data,
        baseline,
        floor,
    } = refs.for_config(&first.config)?;
    let (baseline, floor) = (*baseline, *floor);
    let labels = run_labels(runs);

    let mut rows = String::new();
    for (r, label) in runs.iter().zip(&labels) {
        for seed in r.seeds() {
            if let Some((l, _)) = r.last_and_best(seed) {
                rows.push_str(&format!(
                    "<tr><td>{}</td><td>{seed}</td><td>{}</td><td>{:.4}</td><td>{:.4}</td>",
                    esc(label),
                    l.update,
                    l.accuracy,
                    l.distance
                ));
                match r.closest_above(seed, opts.min_accuracy) {
                    Some(b) => rows.push_str(&format!(
                        "<td>{}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td>",
                        b.update, b.accuracy, b.distance, b.normalised_distance
                    )),
                    None => rows.push_str(&format!(
                        "<td colspan=\"4\">no checkpoint at accuracy ≥ {}</td>",
                        opts.min_accuracy
                    )),
                }
                let mut own: Vec<&CheckpointScore> =
                    r.scores.iter().filter(|s| s.seed == seed).collect();
                own.sort_by_key(|s| s.update);
                let cks: Vec<(f64, f64)> = own.iter().map(|s| (s.accuracy, s.distance)).collect();
                for &level in &opts.levels {
                    rows.push_str(&match crate::stats::distance_at(&cks, level) {
                        Some(d) => format!("<td>{d:.4}</td>"),
                        None => "<td>not reached</td>".into(),
                    });
                }
                rows.push_str("</tr>");
            }
        }
    }
    let mut html = super::html_head("snnlab report");
    html.push_str(&format!(
        "<h1>snnlab report: {:?} task vs {}</h1><p>snnlab {}. Angular Procrustes: cross-condition-average baseline {baseline:.4}, split-half floor {floor:.4} (100 seeded draws of n/2 neurons). Lower distance = more similar to the recordings. Figures as SVG and PNG with captions in <code>figures/</code> beside this page.</p>",
        task.name,
        esc(&data_name),
        env!("CARGO_PKG_VERSION")
    ));
    html.push_str(&format!("<table><tr><th>run</th><th>seed</th><th>last update</th><th>accuracy</th><th>distance</th><th>closest checkpoint (accuracy ≥ {})</th><th>its accuracy</th><th>its distance</th><th>normalised (split-half)</th>", opts.min_accuracy));
    for l in &opts.levels {
        html.push_str(&format!("<th>distance at accuracy {l}</th>"));
    }
    html.push_str("</tr>");
    html.push_str(&rows);
    html.push_str("</table>");
    let matched = matched_table(runs, &opts.levels);
    html.push_str(&format!(
        "<h2>Distance at matched accuracy</h2><p>Per run, over its seeds: each network's distance where its accuracy first reaches the level (linear between the checkpoints around the crossing), 95 % bootstrap percentile CI over networks. Also in matched.csv beside this report.</p>{}",
        crate::stats::matched_html("distance", &["run".to_string()], &matched)
    ));
    let dir = out.parent().unwrap_or(Path::new("."));
    crate::io::write_atomic(
        &dir.join("matched.csv"),
        crate::stats::matched_csv(&["run".to_string()], &matched).as_bytes(),
    )?;

    let mut figs = Vec::new();
    for (k, metric) in metrics.iter().enumerate() {
        let name = metric.registry_name();
        let view = MetricFigures {
            runs,
            labels: &labels,
            metric,
            k,
            matched: &crate::stats::of_metric(&matched, &name),
            refs: metric_refs[k],
            data_name: &data_name,
            levels: &opts.levels,
        };
        figs.extend(view.figures().into_iter().map(|f| f.for_metric(k, &name)));
    }
    // One field of every checkpoint score, per run (labelled) and per seed, over updates.
    let per_run = |f: fn(&CheckpointScore) -> f64| -> Vec<LabelledSeries> {
        runs.iter()
            .zip(&labels)
            .map(|(r, l)| (l.clone(), by_seed(r, &r.scores, f)))
            .collect()
    };
    let mut dist_t = Panel::new(
        "Distance to neural data during learning",
        "update",
        "distance to data",
    );
    over_updates(&mut dist_t, &per_run(|s| s.distance));
    // In the first metric, as `scores`.
    let (baseline, floor) = metric_refs[0];
    let refs_caption = super::reference_lines_caption(baseline, floor);
    dist_t.hlines = reference_lines(baseline, floor);
    figs.push(Figure::new(
        "distance_during_learning",
        dist_t,
        format!("Distance to the neural data (unitless) at every checkpoint against the training update. Thin lines: one per seed; thick line: mean over seeds (runs with several seeds). {refs_caption}"),
    ));
    let mut curves = Panel::new(
        "Learning curves",
        "update + 1",
        "task loss (training batch)",
    );
    curves.x_scale = Scale::Log10;
    curves.y_scale = Scale::Log10;
    over_updates(
        &mut curves,
        &runs
            .iter()
            .zip(&labels)
            .map(|(r, l)| (l.clone(), loss_by_seed(&r.dir)))
            .collect::<Vec<_>>(),
    );
    if curves.lines.iter().all(|l| l.points.is_empty()) {
        curves.message = Some("No loss.csv in the run folders: no learning curve to show.".into());
    }
    figs.push(Figure::new(
        "learning_curves",
        curves,
        "Task loss of the training batch (the task's loss: mse or cross-entropy; unitless) at every update, from loss.csv, both axes logarithmic (x = update + 1). Thin lines: one per seed; thick line: mean over seeds.".into(),
    ));
    let mut dims = Panel::new(
        "Dimensionality during learning",
        "update",
        "participation ratio (dimensions)",
    );
    over_updates(&mut dims, &per_run(|s| s.participation_ratio));
    figs.push(Figure::new(
        "dimensionality",
        dims,
        "Participation ratio (Σλ)²/Σλ² of the eigenvalues of the activity's covariance on the analysis trials (effective number of dimensions) at every checkpoint. Thin lines: one per seed; thick line: mean over seeds.".into(),
    ));

    let reach = task.name == TaskName::Reach;
    let data_pcs = pca_project(data, 2)?;
    let data_panel = trajectories("Neural data (top 2 PCs)", &data_pcs, reach);
    let traj_caption = format!(
        "Population trajectories on the analysis trials, one line per condition{}. Left: the recordings projected on their top two principal components. Right: the model's top 10 principal components rotated (orthogonal Procrustes with one isotropic scale) into the data's top-2 PC plane, so both panels share axes and units (the data's, spikes/s for firing rates). Open circle: first bin{}.",
        if reach {
            ", coloured by reach direction on a circular colour map (0° = rightward, counter-clockwise)"
        } else {
            ""
        },
        if reach {
            "; filled triangle: movement onset (0 ms; bins are 10 ms from −800 ms)"
        } else {
            ""
        }
    );
    for (r, label) in runs.iter().zip(&labels) {
        // The trained network closest to the data; the last checkpoint when none is accurate enough.
        let pick = r
            .seeds()
            .into_iter()
            .filter_map(|s| r.closest_above(s, opts.min_accuracy))
            .min_by(|a, b| a.distance.total_cmp(&b.distance))
            .map(|b| (b, format!("closest at accuracy ≥ {}", opts.min_accuracy)))
            .or_else(|| {
                r.scores
                    .iter()
                    .filter(|s| s.accuracy.is_finite())
                    .max_by(|a, b| {
                        (a.update, a.accuracy)
                            .partial_cmp(&(b.update, b.accuracy))
                            .unwrap_or(std::cmp::Ordering::Equal)
                    })
                    .map(|b| {
                        (
                            b,
                            format!("last; no checkpoint at accuracy ≥ {}", opts.min_accuracy),
                        )
                    })
            });
        let Some((b, why)) = pick else { continue };
        let model = crate::io::load_any_model(&b.path)?;
        let (_, _, act) = run_any(task, &model, r.config.spiking_settings().tau_filter_ms)?;
        let aligned = align_to_data(&act, &data_pcs)?;
        let title = format!("{label}, seed {}, update {}", b.seed, b.update);
        let mut model_panel = trajectories(&title, &aligned, reach);
        // Both panels on the same axes, so that sizes and shapes compare.
        let range = |j: usize| {
            data_pcs
                .index_axis(ndarray::Axis(0), j)
                .iter()
                .chain(aligned.index_axis(ndarray::Axis(0), j).iter())
                .filter(|v| v.is_finite())
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                    (a.min(v), b.max(v))
                })
        };
        let pad = |(a, b): (f64, f64)| {
            let d = 0.04 * (b - a).max(1e-9);
            (a - d, b + d)
        };
        let (xr, yr) = (pad(range(0)), pad(range(1)));
        model_panel.x_range = Some(xr);
        model_panel.y_range = Some(yr);
        let mut data_panel = data_panel.clone();
        data_panel.x_range = Some(xr);
        data_panel.y_range = Some(yr);
        figs.push(Figure {
            name: super::figures::file_stem(&format!("pca_{}", r.name())),
            panels: vec![data_panel, model_panel],
            caption: format!(
                "{traj_caption} Model: {label}, seed {}, update {} ({why}; accuracy {:.3}, distance {:.4}).",
                b.seed, b.update, b.accuracy, b.distance
            ),
        });
    }
    let source = runs
        .iter()
        .map(|r| format!("{}/config.toml", r.name()))
        .collect::<Vec<_>>()
        .join(", ");
    let prov = Provenance::new(source, Some(data_name));
    html.push_str("<h2>Figures</h2>");
    html.push_str(&super::write_figures(dir, &figs, &prov)?);
    html.push_str(&super::glossary_html());
    html.push_str(&format!("<p>{}</p>", esc(&prov.line())));
    html.push_str("</body></html>\n");
    crate::io::write_atomic(out, html.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zoomed_lines_enter_at_the_edge() {
        let pts = [(0.5, 1.0), (0.95, 0.5), (1.0, 0.4)];
        let z = from_x(&pts, 0.9);
        // (0.9 - 0.5) / (0.95 - 0.5) of the way from 1.0 to 0.5
        let y = 1.0 - 0.5 * 0.4 / 0.45;
        assert_eq!(z.len(), 3);
        assert!((z[0].0 - 0.9).abs() < 1e-12 && (z[0].1 - y).abs() < 1e-12);
        assert_eq!(&z[1..], &pts[1..]);
        assert!(from_x(&[(0.1, 1.0), (0.2, 1.0)], 0.9).is_empty());
    }

    #[test]
    fn unreached_levels_are_named_once() {
        let row = |level: f64, v: &[f64]| MatchedRow {
            metric: String::new(),
            level,
            group: vec![],
            missing: 0,
            summary: crate::stats::summarise(v),
        };
        let g = |label: &str, rows: Vec<MatchedRow>| Group {
            label: label.into(),
            networks: vec![],
            matched: rows,
        };
        let groups = [
            g("a", vec![row(0.5, &[0.3]), row(0.9, &[]), row(0.95, &[])]),
            g("b", vec![row(0.5, &[]), row(0.9, &[]), row(0.95, &[])]),
        ];
        assert_eq!(
            unreached_notes(&groups),
            [
                "no network reached accuracy 0.9, 0.95",
                "accuracy 0.5 not reached by: b"
            ]
        );
    }

    #[test]
    fn alignment_recovers_a_rotated_copy() {
        // A model whose activity is the data's, rotated and scaled in unit space, lands on the
        // data's own PCs.
        let (t, c) = (12, 4);
        let data = Array3::from_shape_fn((3, t, c), |(u, ti, ci)| {
            let x = (ti as f64 * 0.4 + ci as f64).sin() * (u + 1) as f64;
            x + if u == 2 {
                (ci as f64 - ti as f64 * 0.1).cos()
            } else {
                0.0
            }
        });
        let (a, b) = (0.6f64, 0.8f64); // a rotation in units 0-1
        let model = Array3::from_shape_fn((3, t, c), |(u, ti, ci)| {
            let (x, y, z) = (data[[0, ti, ci]], data[[1, ti, ci]], data[[2, ti, ci]]);
            3.0 * match u {
                0 => a * x - b * y,
                1 => b * x + a * y,
                _ => z,
            }
        });
        let dp = pca_project(&data, 2).unwrap();
        let al = align_to_data(&model, &dp).unwrap();
        for (x, y) in al.iter().zip(dp.iter()) {
            assert!((x - y).abs() < 1e-8, "{x} vs {y}");
        }
    }
}
