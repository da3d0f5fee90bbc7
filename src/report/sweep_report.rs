//! `sweep merge`'s HTML report and its figures (`figures/` beside the HTML): per sweep axis,
//! distance vs accuracy (whole range and zoomed) and the matched distances; the attribution of
//! variance to every axis; learning curves.

use std::path::Path;

use super::figures::{Figure, Panel, Scale, palette};
use super::run_report::{Group, distance_vs_accuracy, group_point, matched_panel, reference_lines};
use super::{Provenance, esc};
use crate::error::Result;
use crate::metric::Metric;
use crate::stats::{AttributionRow, MatchedRow, Network, PairedRow};
use crate::sweep::Sweep;

/// (run id, axis values, closest checkpoint (update, accuracy, distance)) of one network.
pub type NetworkBest = (String, Vec<String>, Option<(usize, f64, f64)>);

/// What `merge` computed, for the report.
pub struct SweepReport<'a> {
    pub sweep: &'a Sweep,
    /// Complete and missing runs.
    pub runs: usize,
    pub missing: usize,
    /// One per metric of `--metric`, in that order (the first also gives `best`).
    pub sections: &'a [MetricSection<'a>],
    /// Per network: (run id, axis values, closest checkpoint (update, accuracy, distance) at or
    /// above `min_accuracy`).
    pub best: &'a [NetworkBest],
    pub group_names: &'a [String],
    pub levels: &'a [f64],
    pub min_accuracy: f64,
}

/// The networks of a sweep scored in one metric, and their statistics.
pub struct MetricSection<'a> {
    pub metric: &'a Metric,
    pub networks: &'a [Network],
    pub matched: Vec<MatchedRow>,
    pub attribution: Vec<AttributionRow>,
    pub paired: Option<Vec<PairedRow>>,
}

fn is_seed(a: &str) -> bool {
    a == "seed" || a == "init_seed"
}

/// The axis that stands for the zip group in figures: `rule` when it is zipped, else the first.
fn zip_representative(sweep: &Sweep) -> Option<&str> {
    if sweep.zip_axes.iter().any(|a| a == "rule") {
        Some("rule")
    } else {
        sweep.zip_axes.first().map(String::as_str)
    }
}

/// Whether axis `a` is drawn (zipped axes once, as their representative).
fn drawn(sweep: &Sweep, a: &str) -> bool {
    !sweep.zip_axes.iter().any(|z| z == a) || zip_representative(sweep) == Some(a)
}

/// The axes that get panels: not seeds (spread, not a factor), and one per zip group.
fn factor_axes(sweep: &Sweep) -> Vec<usize> {
    (0..sweep.axes.len())
        .filter(|&i| !is_seed(&sweep.axes[i]) && drawn(sweep, &sweep.axes[i]))
        .collect()
}

/// The axis's name in titles: a zip group is named by all its axes, the representative first.
fn axis_title(sweep: &Sweep, ai: usize) -> String {
    let a = &sweep.axes[ai];
    if sweep.zip_axes.contains(a) {
        std::iter::once(a.as_str())
            .chain(sweep.zip_axes.iter().map(String::as_str).filter(|z| z != a))
            .collect::<Vec<_>>()
            .join(" + ")
    } else {
        a.clone()
    }
}

/// The groups of networks by axis `ai` (value order as in matched.csv), labelled with the zip
/// partners' values too.
fn groups_by(sweep: &Sweep, networks: &[Network], levels: &[f64], ai: usize) -> Vec<Group> {
    let rows = crate::stats::matched(networks, levels, &[ai]);
    let mut values: Vec<String> = networks.iter().map(|n| n.values[ai].clone()).collect();
    values.sort();
    values.dedup();
    crate::stats::sort_values(&mut values);
    let partners: Vec<usize> = if sweep.zip_axes.contains(&sweep.axes[ai]) {
        std::iter::once(ai)
            .chain(
                (0..sweep.axes.len())
                    .filter(|&j| j != ai && sweep.zip_axes.contains(&sweep.axes[j])),
            )
            .collect()
    } else {
        vec![ai]
    };
    values
        .iter()
        .map(|v| {
            let members: Vec<&Network> = networks.iter().filter(|n| &n.values[ai] == v).collect();
            let label = partners
                .iter()
                .map(|&j| {
                    format!(
                        "{}={}",
                        sweep.axes[j],
                        members.first().map_or("", |n| n.values[j].as_str())
                    )
                })
                .collect::<Vec<_>>()
                .join(", ");
            Group {
                label,
                networks: members.iter().map(|n| n.checkpoints.clone()).collect(),
                matched: rows
                    .iter()
                    .filter(|m| m.group.first() == Some(v))
                    .cloned()
                    .collect(),
            }
        })
        .collect()
}

/// Eta² per axis and level with its CI; zipped axes drawn once (they share the value).
fn attribution_panel(sweep: &Sweep, levels: &[f64], rows: &[AttributionRow]) -> Panel {
    let mut p = Panel::new(
        "Attribution: share of distance variance per axis",
        "accuracy level",
        "eta² (share of variance)",
    );
    let shown: Vec<usize> = (0..sweep.axes.len())
        .filter(|&i| drawn(sweep, &sweep.axes[i]))
        .collect();
    let mut unreached = Vec::new();
    for row in rows {
        let Some(k) = shown.iter().position(|&i| sweep.axes[i] == row.axis) else {
            continue;
        };
        let Some(li) = levels.iter().position(|&l| l == row.level) else {
            continue;
        };
        if row.n == 0 {
            if !unreached.contains(&row.level) {
                unreached.push(row.level);
                p.slot_notes.push((li as f64, "not reached".into()));
            }
            continue;
        }
        let Some(e) = row.eta2 else { continue };
        let label = axis_title(sweep, shown[k]);
        p.errors
            .push(group_point(li, (k, shown.len()), e, row.ci, label));
    }
    p.notes = unreached
        .iter()
        .map(|l| format!("no network reached accuracy {l}"))
        .collect();
    p.y_range = Some((0.0, 1.0));
    p.x_categories = levels.iter().map(|l| l.to_string()).collect();
    p.x_range = Some((-0.5, levels.len() as f64 - 0.5));
    if p.errors.is_empty() {
        p.message = Some(if unreached.len() == levels.len() {
            "No network reached any accuracy level: no share of variance to show.".into()
        } else {
            "No axis has a defined share of variance (too few networks, or all distances equal)."
                .into()
        });
    }
    p
}

/// Task loss per update of a sweep run (one seed), x = update + 1.
fn loss_curve(dir: &Path) -> Vec<(f64, f64)> {
    let rows: Vec<(f64, f64)> = crate::io::read_csv_columns(&dir.join("loss.csv"), 0, 3);
    rows.into_iter().map(|(u, l)| (u + 1.0, l)).collect()
}

/// One metric's part of the report: its tables and its distance figures.
struct MetricView<'a> {
    r: &'a SweepReport<'a>,
    section: &'a MetricSection<'a>,
    /// The recordings' (cross-condition baseline, split-half floor) in this metric.
    refs: Option<(f64, f64)>,
    levels_text: &'a str,
    data_name: &'a str,
}

impl MetricView<'_> {
    fn tables(&self) -> String {
        let sec = self.section;
        let mut html = format!(
            "<h2>Distance at matched accuracy</h2><p>Each network's distance at an accuracy level is read where its accuracy first reaches the level (linear between the two checkpoints around the crossing); networks that never reach it are counted as missing. Mean over networks, sd (n − 1), sem, and a 95 % bootstrap percentile interval ({} seeded resamples of the networks). Written to matched.csv.</p>{}",
            crate::stats::BOOTSTRAP_RESAMPLES,
            crate::stats::matched_html("distance", self.r.group_names, &sec.matched)
        );
        html.push_str(&format!(
            "<h2>Attribution: share of variance per axis</h2><p>One-way eta² (between-group over total sum of squares of the matched distances, over the networks that reach the level), with 95 % bootstrap CIs. Written to attribution.csv.</p>{}",
            crate::stats::attribution_html(&sec.attribution)
        ));
        if let Some(rows) = &sec.paired {
            html.push_str(&format!(
                "<h2>Paired differences</h2><p>Networks that agree on every other axis (axes zipped with the compared one excepted); p from a two-sided sign-flip permutation test (exact up to {} pairs, else {} seeded flips). Written to paired.csv.</p>{}",
                crate::stats::EXACT_MAX_PAIRS,
                crate::stats::PERMUTATION_FLIPS,
                crate::stats::paired_html(rows)
            ));
        }
        html
    }

    fn figures(&self) -> Vec<Figure> {
        let (sweep, levels) = (self.r.sweep, self.r.levels);
        let Some((baseline, floor)) = self.refs else {
            return Vec::new();
        };
        let (what, levels_text) = (self.section.metric.description(), self.levels_text);
        let refs_caption = super::reference_lines_caption(baseline, floor);
        let mut figs = Vec::new();
        for ai in factor_axes(sweep) {
            let title = axis_title(sweep, ai);
            let axis = &sweep.axes[ai];
            let groups = groups_by(sweep, self.section.networks, levels, ai);
            let caption = format!(
                "Distance to the neural data ({}; {what}) against task accuracy on the analysis trials (unitless, 1 = perfect), by {title}. Each thin line is one network (one run of the sweep), its checkpoints joined in update order; one colour per value of {title}, the same in this axis's figures. Thick line and band: the group's mean distance at the matched accuracy levels ({levels_text}) with its 95 % bootstrap CI over networks. {refs_caption}",
                self.data_name
            );
            figs.push(Figure::new(
                &format!("distance_vs_accuracy_by_{axis}"),
                distance_vs_accuracy(
                    &format!("Distance vs accuracy, by {title}"),
                    &groups,
                    Some((baseline, floor)),
                    false,
                ),
                format!("{caption} Checkpoints with accuracy below 0 (worse than predicting the target's mean) are left out (all are shown when none reaches 0)."),
            ));
            figs.push(Figure::new(
                &format!("distance_vs_accuracy_zoom_by_{axis}"),
                distance_vs_accuracy(
                    &format!(
                        "Distance vs accuracy {}–1, by {title}",
                        super::run_report::ZOOM_FROM
                    ),
                    &groups,
                    Some((baseline, floor)),
                    true,
                ),
                format!(
                    "{caption} Zoom into the high-accuracy range, where the groups are compared."
                ),
            ));
            let mut mp = matched_panel(
                &format!("Distance at matched accuracy, by {title}"),
                &groups,
            );
            mp.hlines = reference_lines(baseline, floor);
            figs.push(Figure::new(
                &format!("matched_accuracy_by_{axis}"),
                mp,
                format!(
                    "Mean distance to the neural data ({what}) at each matched accuracy level per value of {title}, with 95 % bootstrap percentile CIs over the networks (2000 seeded resamples; no bar for a single network); values side by side at each level. Levels no network of a group reaches are listed in the panel. Same numbers as matched.csv grouped by {title} alone. {refs_caption}"
                ),
            ));
        }
        figs.push(Figure::new(
            "attribution",
            attribution_panel(sweep, levels, &self.section.attribution),
            format!("Share of the variance of the matched distances ({what}) explained by each sweep axis (one-way eta², between-group over total sum of squares, unitless in [0, 1]) at each accuracy level, over the networks that reach the level, with 95 % bootstrap CIs (2000 seeded resamples of the networks). Axes zipped together share one value and are drawn once. Same numbers as attribution.csv."),
        ));
        figs
    }
}

/// Write the sweep report to `out` and its figures into `figures/` beside it.
pub fn write(r: &SweepReport, out: &Path) -> Result<()> {
    let sweep = r.sweep;
    let mut html = super::html_head("snnlab sweep report");
    html.push_str(&format!(
        "<h1>Sweep {}</h1><p>snnlab {}; {} of {} runs complete ({} missing), {} networks. Figures as SVG and PNG with captions in <code>figures/</code> beside this page.</p>",
        esc(&sweep.name),
        env!("CARGO_PKG_VERSION"),
        r.runs,
        sweep.runs.len(),
        r.missing,
        r.sections.first().map_or(0, |m| m.networks.len())
    ));
    if r.runs == 0 {
        html.push_str("<p>No run is complete yet: run <code>snnlab sweep run</code> on this sweep first. The tables below are empty.</p>");
    }
    let mut references = sweep.references();
    if references.is_none() {
        html.push_str("<p>No neural data configured: no distances to show.</p>");
    }
    let levels_text = super::levels_text(r.levels);
    let data_name = sweep.data.as_deref().map(super::file_name);
    let mut figs = Vec::new();
    for (k, section) in r.sections.iter().enumerate() {
        let name = section.metric.registry_name();
        let refs = match &mut references {
            Some(refs) => Some(refs.metric_levels(sweep.runs[0].config(), section.metric)?),
            None => None,
        };
        let s = MetricView {
            r,
            section,
            refs,
            levels_text: &levels_text,
            data_name: data_name.as_deref().unwrap_or(""),
        };
        if r.sections.len() > 1 {
            let what = section.metric.description();
            html.push_str(&format!("<h2>Metric {}: {}</h2>", esc(&name), esc(&what)));
        }
        html.push_str(&s.tables());
        figs.extend(s.figures().into_iter().map(|f| f.for_metric(k, &name)));
    }
    // Learning curves, coloured by the first factor axis (usually the rule).
    if let Some(&ai) = factor_axes(sweep).first()
        && r.runs > 0
    {
        let title = axis_title(sweep, ai);
        let mut p = Panel::new(
            &format!("Learning curves, by {title}"),
            "update + 1",
            "task loss (training batch)",
        );
        p.x_scale = Scale::Log10;
        p.y_scale = Scale::Log10;
        let mut values: Vec<String> = r.best.iter().map(|b| b.1[ai].clone()).collect();
        values.sort();
        values.dedup();
        crate::stats::sort_values(&mut values);
        let mut seen: Vec<String> = Vec::new();
        for (id, vals, _) in r.best {
            let gi = values.iter().position(|v| v == &vals[ai]).unwrap_or(0);
            let mut l = super::figures::Line::new(loss_curve(&sweep.run_dir(id)), palette(gi));
            l.width = 1.0;
            l.alpha = 0.6;
            let label = format!("{}={}", sweep.axes[ai], vals[ai]);
            if !seen.contains(&label) {
                seen.push(label.clone());
                l.label = Some(label);
            }
            p.lines.push(l);
        }
        if p.lines.iter().all(|l| l.points.is_empty()) {
            p.message = Some("No run has a loss.csv: no learning curve to show.".into());
        }
        figs.push(Figure::new(
            &format!("learning_curves_by_{}", sweep.axes[ai]),
            p,
            format!("Task loss of the training batch (unitless; the task's loss) at every update, from each run's loss.csv, both axes logarithmic (x = update + 1). One thin line per network; one colour per value of {title}."),
        ));
    }
    let dir = out.parent().unwrap_or(Path::new("."));
    let prov = Provenance::new(super::file_name(&sweep.path), data_name);
    if !figs.is_empty() {
        html.push_str("<h2>Figures</h2>");
    }
    html.push_str(&super::write_figures(dir, &figs, &prov)?);

    if !r.best.is_empty() {
        html.push_str(&format!(
            "<h2>Closest checkpoint of each network (accuracy ≥ {})</h2><table><tr><th>run</th>",
            r.min_accuracy
        ));
        for a in &sweep.axes {
            html.push_str(&format!("<th>{}</th>", esc(a)));
        }
        html.push_str("<th>update</th><th>accuracy</th><th>distance</th>");
        for l in r.levels {
            html.push_str(&format!("<th>distance at accuracy {l}</th>"));
        }
        html.push_str("</tr>");
        let order: Vec<usize> = {
            let mut o: Vec<usize> = (0..r.best.len()).collect();
            let key = |i: &usize| r.best[*i].2.map_or(f64::INFINITY, |b| b.2);
            o.sort_by(|a, b| key(a).total_cmp(&key(b)));
            o
        };
        for i in order {
            let (id, vals, closest) = &r.best[i];
            html.push_str(&format!("<tr><td>{}</td>", esc(id)));
            for v in vals {
                html.push_str(&format!("<td>{}</td>", esc(v)));
            }
            match closest {
                Some((u, acc, dist)) => {
                    html.push_str(&format!("<td>{u}</td><td>{acc:.4}</td><td>{dist:.4}</td>"))
                }
                None => html.push_str(&format!(
                    "<td colspan=\"3\">no checkpoint at accuracy ≥ {}</td>",
                    r.min_accuracy
                )),
            }
            for &l in r.levels {
                html.push_str(&match crate::stats::distance_at(
                    &r.sections[0].networks[i].checkpoints,
                    l,
                ) {
                    Some(d) => format!("<td>{d:.4}</td>"),
                    None => "<td>not reached</td>".into(),
                });
            }
            html.push_str("</tr>");
        }
        html.push_str("</table>");
    }
    html.push_str(&super::glossary_html());
    html.push_str(&format!("<p>{}</p>", esc(&prov.line())));
    html.push_str("</body></html>\n");
    crate::io::write_atomic(out, html.as_bytes())
}
