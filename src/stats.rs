//! Statistics across networks (SPEC §10): distance at matched accuracy read at the first crossing,
//! bootstrap percentile confidence intervals over networks, the one-way share of variance (eta²)
//! of every sweep axis, and paired differences with a sign-flip permutation test.
//!
//! Every random draw comes from a ChaCha8 stream seeded with a fixed seed per statistic, so each
//! table is the same on every machine and does not depend on the order its rows are computed in.

use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The matched accuracy levels of `sweep merge` when `--levels` is not given.
pub const DEFAULT_LEVELS: [f64; 4] = [0.5, 0.8, 0.9, 0.95];
/// Bootstrap resamples over networks for every confidence interval.
pub const BOOTSTRAP_RESAMPLES: usize = 2000;
/// Seed of every bootstrap and of the sampled permutation test.
pub const STATS_SEED: u64 = 0;
/// The permutation test enumerates every sign vector up to this many pairs.
pub const EXACT_MAX_PAIRS: usize = 16;
/// Random sign vectors of the permutation test above [`EXACT_MAX_PAIRS`].
pub const PERMUTATION_FLIPS: usize = 10_000;

/// One network (one seed of one run): its value of every sweep axis (in the table's axis order)
/// and its (accuracy, distance) checkpoints in update order.
#[derive(Clone, Debug)]
pub struct Network {
    pub values: Vec<String>,
    pub checkpoints: Vec<(f64, f64)>,
}

/// Distance at accuracy `level` by the first crossing (SPEC §10): i = the first checkpoint with
/// accuracy >= `level`; its distance when it is the first checkpoint, else linear in accuracy
/// between checkpoints i-1 and i. `None` when the network never reaches `level`.
pub fn distance_at(checkpoints: &[(f64, f64)], level: f64) -> Option<f64> {
    let i = checkpoints.iter().position(|&(acc, _)| acc >= level)?;
    let (acc, d) = checkpoints[i];
    let value = match i.checked_sub(1).map(|j| checkpoints[j]) {
        Some((acc0, d0)) if acc0.is_finite() && acc > acc0 => {
            // Weighted form: exactly d when the level is met at checkpoint i.
            let w = (level - acc0) / (acc - acc0);
            (1.0 - w) * d0 + w * d
        }
        _ => d,
    };
    value.is_finite().then_some(value)
}

fn mean(x: &[f64]) -> f64 {
    x.iter().sum::<f64>() / x.len() as f64
}

/// Sample standard deviation (n - 1); `None` below two values.
fn sd(x: &[f64]) -> Option<f64> {
    (x.len() >= 2).then(|| {
        let m = mean(x);
        (x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (x.len() - 1) as f64).sqrt()
    })
}

/// The `q` quantile of sorted values, linear between order statistics (numpy's default).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (pos - lo as f64) * (sorted[hi] - sorted[lo])
}

/// 95 % bootstrap percentile interval of `stat` over `n` items: [`BOOTSTRAP_RESAMPLES`]
/// resamples of n indices drawn with replacement; resamples where `stat` is undefined are left
/// out. `None` when n = 0 or no resample gives a value.
pub fn bootstrap_ci(n: usize, stat: impl Fn(&[usize]) -> Option<f64>) -> Option<(f64, f64)> {
    if n == 0 {
        return None;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(STATS_SEED);
    let mut idx = vec![0usize; n];
    let mut stats = Vec::with_capacity(BOOTSTRAP_RESAMPLES);
    for _ in 0..BOOTSTRAP_RESAMPLES {
        for i in idx.iter_mut() {
            *i = rng.random_range(0..n);
        }
        if let Some(s) = stat(&idx).filter(|s| s.is_finite()) {
            stats.push(s);
        }
    }
    if stats.is_empty() {
        return None;
    }
    stats.sort_by(f64::total_cmp);
    Some((quantile(&stats, 0.025), quantile(&stats, 0.975)))
}

/// One-way eta²: between-group sum of squares over the total sum of squares. `None` when every
/// value is equal (no variance to share).
pub fn eta2(values: &[f64], groups: &[&str]) -> Option<f64> {
    let grand = mean(values);
    let total: f64 = values.iter().map(|v| (v - grand).powi(2)).sum();
    if total.is_nan() || total <= 0.0 {
        return None;
    }
    let mut by: BTreeMap<&str, (f64, usize)> = BTreeMap::new();
    for (v, g) in values.iter().zip(groups) {
        let e = by.entry(g).or_default();
        e.0 += v;
        e.1 += 1;
    }
    let between: f64 = by
        .values()
        .map(|&(s, n)| n as f64 * (s / n as f64 - grand).powi(2))
        .sum();
    Some(between / total)
}

/// Two-sided sign-flip permutation p of the mean difference: the share of sign vectors whose
/// |sum of signed differences| is at least the observed |sum|. Every vector for n <= 16 (exact);
/// else [`PERMUTATION_FLIPS`] seeded random vectors, p = (1 + hits) / (1 + flips).
pub fn sign_flip_p(diffs: &[f64]) -> Option<f64> {
    let n = diffs.len();
    if n == 0 {
        return None;
    }
    let observed = diffs.iter().sum::<f64>().abs();
    // Sums equal to the observed one up to rounding count as hits.
    let tol = 1e-12
        * diffs
            .iter()
            .map(|d| d.abs())
            .sum::<f64>()
            .max(f64::MIN_POSITIVE);
    let hit = |s: f64| s.abs() >= observed - tol;
    if n <= EXACT_MAX_PAIRS {
        let hits = (0u32..1 << n)
            .filter(|mask| {
                hit(diffs
                    .iter()
                    .enumerate()
                    .map(|(i, d)| if mask >> i & 1 == 1 { -d } else { *d })
                    .sum())
            })
            .count();
        Some(hits as f64 / (1u64 << n) as f64)
    } else {
        let mut rng = ChaCha8Rng::seed_from_u64(STATS_SEED);
        let hits = (0..PERMUTATION_FLIPS)
            .filter(|_| {
                hit(diffs
                    .iter()
                    .map(|d| if rng.random_bool(0.5) { -d } else { *d })
                    .sum())
            })
            .count();
        Some((1 + hits) as f64 / (1 + PERMUTATION_FLIPS) as f64)
    }
}

/// Axis values in a reader's order: numerically when every value is a number, else as text.
pub fn sort_values(values: &mut [String]) {
    if values.iter().all(|v| v.parse::<f64>().is_ok()) {
        values.sort_by(|a, b| {
            a.parse::<f64>()
                .unwrap_or(0.0)
                .total_cmp(&b.parse::<f64>().unwrap_or(0.0))
        });
    } else {
        values.sort();
    }
}

/// The distinct values of axis `axis`, sorted by [`sort_values`].
fn axis_values(networks: &[Network], axis: usize) -> Vec<String> {
    let mut v: Vec<String> = networks.iter().map(|n| n.values[axis].clone()).collect();
    v.sort();
    v.dedup();
    sort_values(&mut v);
    v
}

/// Mean, spread and 95 % bootstrap CI of one set of values.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    pub n: usize,
    pub mean: Option<f64>,
    pub sd: Option<f64>,
    pub sem: Option<f64>,
    pub ci: Option<(f64, f64)>,
}

pub fn summarise(x: &[f64]) -> Summary {
    let sd = sd(x);
    Summary {
        n: x.len(),
        mean: (!x.is_empty()).then(|| mean(x)),
        sd,
        sem: sd.map(|s| s / (x.len() as f64).sqrt()),
        ci: bootstrap_ci(x.len(), |idx| {
            Some(idx.iter().map(|&i| x[i]).sum::<f64>() / idx.len() as f64)
        }),
    }
}

/// One row of `matched.csv`: a level and a group (the values of `group_axes`).
#[derive(Clone, Debug)]
pub struct MatchedRow {
    /// The metric's output name (empty until [`with_metric`] names it).
    pub metric: String,
    pub level: f64,
    pub group: Vec<String>,
    pub missing: usize,
    pub summary: Summary,
}

/// Distance at each level per group of networks that share the values of `group_axes` (the
/// sweep's axes other than `seed` and `init_seed`; none: every network in one group).
pub fn matched(networks: &[Network], levels: &[f64], group_axes: &[usize]) -> Vec<MatchedRow> {
    let key =
        |n: &Network| -> Vec<String> { group_axes.iter().map(|&a| n.values[a].clone()).collect() };
    let mut keys: Vec<Vec<String>> = networks.iter().map(key).collect();
    keys.sort();
    keys.dedup();
    // Groups in the order of their axis values, first axis slowest.
    let orders: Vec<Vec<String>> = group_axes
        .iter()
        .map(|&a| axis_values(networks, a))
        .collect();
    let rank = |k: &Vec<String>| -> Vec<usize> {
        k.iter()
            .zip(&orders)
            .map(|(v, o)| o.iter().position(|x| x == v).unwrap_or(0))
            .collect()
    };
    keys.sort_by_key(|k| rank(k));
    let mut rows = Vec::new();
    for &level in levels {
        for k in &keys {
            let members: Vec<Option<f64>> = networks
                .iter()
                .filter(|n| key(n) == *k)
                .map(|n| distance_at(&n.checkpoints, level))
                .collect();
            let values: Vec<f64> = members.iter().flatten().copied().collect();
            rows.push(MatchedRow {
                metric: String::new(),
                level,
                group: k.clone(),
                missing: members.len() - values.len(),
                summary: summarise(&values),
            });
        }
    }
    rows
}

/// One row of `attribution.csv`.
#[derive(Clone, Debug)]
pub struct AttributionRow {
    /// The metric's output name (empty until [`with_metric`] names it).
    pub metric: String,
    pub level: f64,
    pub axis: String,
    /// Networks with a value at the level.
    pub n: usize,
    pub eta2: Option<f64>,
    pub ci: Option<(f64, f64)>,
}

/// Eta² of every axis at every level, over the networks that reach the level.
pub fn attribution(axes: &[String], networks: &[Network], levels: &[f64]) -> Vec<AttributionRow> {
    let mut rows = Vec::new();
    for &level in levels {
        let reached: Vec<(&Network, f64)> = networks
            .iter()
            .filter_map(|n| distance_at(&n.checkpoints, level).map(|d| (n, d)))
            .collect();
        let values: Vec<f64> = reached.iter().map(|r| r.1).collect();
        for (ai, axis) in axes.iter().enumerate() {
            let groups: Vec<&str> = reached.iter().map(|r| r.0.values[ai].as_str()).collect();
            rows.push(AttributionRow {
                metric: String::new(),
                level,
                axis: axis.clone(),
                n: values.len(),
                eta2: if values.is_empty() {
                    None
                } else {
                    eta2(&values, &groups)
                },
                ci: bootstrap_ci(values.len(), |idx| {
                    let v: Vec<f64> = idx.iter().map(|&i| values[i]).collect();
                    let g: Vec<&str> = idx.iter().map(|&i| groups[i]).collect();
                    eta2(&v, &g)
                }),
            });
        }
    }
    rows
}

/// One row of `paired.csv`: value `b` against value `a` of the compared axis.
#[derive(Clone, Debug)]
pub struct PairedRow {
    /// The metric's output name (empty until [`with_metric`] names it).
    pub metric: String,
    pub level: f64,
    pub axis: String,
    pub a: String,
    pub b: String,
    /// Over the pairs' differences (b - a).
    pub diff: Summary,
    pub p: Option<f64>,
}

/// Paired differences along axis `compare`: two networks pair when they agree on every axis in
/// `match_axes` (every other axis but those zipped with the compared one) and reach the level.
/// One row per level and per pair of the axis's values (a before b in [`sort_values`] order).
pub fn paired(
    axes: &[String],
    networks: &[Network],
    levels: &[f64],
    compare: usize,
    match_axes: &[usize],
) -> Vec<PairedRow> {
    let values = axis_values(networks, compare);
    fn key<'n>(n: &'n Network, match_axes: &[usize]) -> Vec<&'n str> {
        match_axes.iter().map(|&a| n.values[a].as_str()).collect()
    }
    let mut rows = Vec::new();
    for &level in levels {
        for (i, a) in values.iter().enumerate() {
            for b in &values[i + 1..] {
                let side = |v: &str| -> BTreeMap<Vec<&str>, Option<f64>> {
                    networks
                        .iter()
                        .filter(|n| n.values[compare] == v)
                        .map(|n| (key(n, match_axes), distance_at(&n.checkpoints, level)))
                        .collect()
                };
                let (sa, sb) = (side(a), side(b));
                let diffs: Vec<f64> = sa
                    .iter()
                    .filter_map(|(k, da)| Some(sb.get(k).copied().flatten()? - (*da)?))
                    .collect();
                rows.push(PairedRow {
                    metric: String::new(),
                    level,
                    axis: axes[compare].clone(),
                    a: a.clone(),
                    b: b.clone(),
                    diff: summarise(&diffs),
                    p: sign_flip_p(&diffs),
                });
            }
        }
    }
    rows
}

/// A table row that names the metric its distances are in (the tables hold every metric's
/// rows).
pub trait MetricRow: Clone {
    fn metric(&self) -> &str;
    fn metric_mut(&mut self) -> &mut String;
}

macro_rules! metric_rows {
    ($($row:ty),*) => {$(
        impl MetricRow for $row {
            fn metric(&self) -> &str {
                &self.metric
            }
            fn metric_mut(&mut self) -> &mut String {
                &mut self.metric
            }
        }
    )*};
}
metric_rows!(MatchedRow, AttributionRow, PairedRow);

/// The rows of `rows` in the metric named `name`.
pub fn of_metric<R: MetricRow>(rows: &[R], name: &str) -> Vec<R> {
    rows.iter()
        .filter(|r| r.metric() == name)
        .cloned()
        .collect()
}

/// `rows` with their `metric` set to `name` (the tables are computed per metric).
pub fn with_metric<R: MetricRow>(mut rows: Vec<R>, name: &str) -> Vec<R> {
    for r in &mut rows {
        *r.metric_mut() = name.to_string();
    }
    rows
}

fn num(v: Option<f64>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// `matched.csv` (SPEC §10, with the metric first): `metric`, `level`, the group axes, `n`, `missing`, `mean`, `sd`, `sem`,
/// `ci_low`, `ci_high`; undefined values are empty fields.
pub fn matched_csv(group_axes: &[String], rows: &[MatchedRow]) -> String {
    let mut head = vec!["metric".to_string(), "level".to_string()];
    head.extend(group_axes.iter().map(|a| csv_field(a)));
    head.extend(["n", "missing", "mean", "sd", "sem", "ci_low", "ci_high"].map(String::from));
    let mut out = head.join(",") + "\n";
    for r in rows {
        let s = &r.summary;
        let mut f = vec![csv_field(&r.metric), r.level.to_string()];
        f.extend(r.group.iter().map(|v| csv_field(v)));
        f.extend([
            s.n.to_string(),
            r.missing.to_string(),
            num(s.mean),
            num(s.sd),
            num(s.sem),
            num(s.ci.map(|c| c.0)),
            num(s.ci.map(|c| c.1)),
        ]);
        out.push_str(&(f.join(",") + "\n"));
    }
    out
}

/// `attribution.csv` (SPEC §10, with the metric first): `metric`, `level`, `axis`, `eta2`, `ci_low`, `ci_high`.
pub fn attribution_csv(rows: &[AttributionRow]) -> String {
    let mut out = String::from("metric,level,axis,eta2,ci_low,ci_high\n");
    for r in rows {
        out.push_str(&format!(
            "{},{},{},{},{},{}\n",
            csv_field(&r.metric),
            r.level,
            csv_field(&r.axis),
            num(r.eta2),
            num(r.ci.map(|c| c.0)),
            num(r.ci.map(|c| c.1)),
        ));
    }
    out
}

/// `paired.csv` (SPEC §10, with the metric first): `metric`, `level`, `axis`, `a`, `b`, `n_pairs`, `mean_diff` (b - a), `sd`,
/// `ci_low`, `ci_high`, `p`.
pub fn paired_csv(rows: &[PairedRow]) -> String {
    let mut out = String::from("metric,level,axis,a,b,n_pairs,mean_diff,sd,ci_low,ci_high,p\n");
    for r in rows {
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{}\n",
            csv_field(&r.metric),
            r.level,
            csv_field(&r.axis),
            csv_field(&r.a),
            csv_field(&r.b),
            r.diff.n,
            num(r.diff.mean),
            num(r.diff.sd),
            num(r.diff.ci.map(|c| c.0)),
            num(r.diff.ci.map(|c| c.1)),
            num(r.p),
        ));
    }
    out
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn cell(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.4}")).unwrap_or_else(|| "–".into())
}

fn ci_cell(ci: Option<(f64, f64)>) -> String {
    ci.map(|(lo, hi)| format!("[{lo:.4}, {hi:.4}]"))
        .unwrap_or_else(|| "–".into())
}

/// The matched table as HTML; a group where no network reaches a level says so.
pub fn matched_html(metric: &str, group_axes: &[String], rows: &[MatchedRow]) -> String {
    let named = rows.iter().any(|r| !r.metric.is_empty());
    let mut h = String::from("<table><tr>");
    if named {
        h.push_str("<th>metric</th>");
    }
    h.push_str("<th>accuracy level</th>");
    for a in group_axes {
        h.push_str(&format!("<th>{}</th>", esc(a)));
    }
    h.push_str(&format!(
        "<th>n</th><th>missing</th><th>mean {}</th><th>sd</th><th>sem</th><th>95 % CI</th></tr>",
        esc(metric)
    ));
    for r in rows {
        h.push_str("<tr>");
        if named {
            h.push_str(&format!("<td>{}</td>", esc(&r.metric)));
        }
        h.push_str(&format!("<td>{}</td>", r.level));
        for v in &r.group {
            h.push_str(&format!("<td>{}</td>", esc(v)));
        }
        let s = &r.summary;
        if s.n == 0 {
            h.push_str(&format!(
                "<td>0</td><td>{}</td><td colspan=\"4\">no network reached accuracy {}</td></tr>",
                r.missing, r.level
            ));
        } else {
            h.push_str(&format!(
                "<td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                s.n,
                r.missing,
                cell(s.mean),
                cell(s.sd),
                cell(s.sem),
                ci_cell(s.ci)
            ));
        }
    }
    h + "</table>"
}

/// The attribution table as HTML.
pub fn attribution_html(rows: &[AttributionRow]) -> String {
    let mut h = String::from(
        "<table><tr><th>accuracy level</th><th>axis</th><th>networks</th><th>eta²</th><th>95 % CI</th></tr>",
    );
    for r in rows {
        let eta = match (r.n, r.eta2) {
            (0, _) => "no network reached this level".to_string(),
            (_, None) => "no variance (all values equal)".to_string(),
            (_, e) => cell(e),
        };
        h.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{eta}</td><td>{}</td></tr>",
            r.level,
            esc(&r.axis),
            r.n,
            ci_cell(r.ci)
        ));
    }
    h + "</table>"
}

/// The paired table as HTML.
pub fn paired_html(rows: &[PairedRow]) -> String {
    let mut h = String::from(
        "<table><tr><th>accuracy level</th><th>axis</th><th>a</th><th>b</th><th>pairs</th><th>mean b − a</th><th>sd</th><th>95 % CI</th><th>p (sign flip)</th></tr>",
    );
    for r in rows {
        h.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>",
            r.level,
            esc(&r.axis),
            esc(&r.a),
            esc(&r.b),
            r.diff.n
        ));
        if r.diff.n == 0 {
            h.push_str(
                "<td colspan=\"4\">no pair where both networks reached this level</td></tr>",
            );
        } else {
            h.push_str(&format!(
                "<td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                cell(r.diff.mean),
                cell(r.diff.sd),
                ci_cell(r.diff.ci),
                cell(r.p)
            ));
        }
    }
    h + "</table>"
}

/// Parse `--levels`: comma-separated accuracies, each finite.
pub fn parse_levels(s: &str) -> Result<Vec<f64>, String> {
    let levels: Vec<f64> = s
        .split(',')
        .map(|v| {
            v.trim()
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .ok_or_else(|| format!("--levels: '{}' is not a number", v.trim()))
        })
        .collect::<Result<_, _>>()?;
    if levels.is_empty() {
        return Err("--levels: no level given".into());
    }
    Ok(levels)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn first_crossing_interpolates_in_accuracy() {
        let c = [(-0.3, 0.9), (0.4, 0.7), (0.6, 0.5), (0.9, 0.4)];
        // 0.5 lies halfway between 0.4 and 0.6: distance halfway between 0.7 and 0.5.
        assert!(close(distance_at(&c, 0.5).unwrap(), 0.6));
        // A level met exactly at a checkpoint: its distance (0.6 is reached first at index 2).
        assert!(close(distance_at(&c, 0.6).unwrap(), 0.5));
        // Reached by the first checkpoint: its distance, no extrapolation.
        assert!(close(distance_at(&c, -0.5).unwrap(), 0.9));
        // Never reached.
        assert_eq!(distance_at(&c, 0.95), None);
        // The first crossing, not a later one: accuracy drops after reaching 0.5.
        let up_down = [(0.0, 1.0), (0.5, 0.8), (0.2, 0.3), (0.7, 0.1)];
        assert!(close(distance_at(&up_down, 0.25).unwrap(), 0.9));
        assert!(close(distance_at(&up_down, 0.5).unwrap(), 0.8));
    }

    #[test]
    fn sign_flip_p_is_exact_for_small_n() {
        // Sums over the 8 sign vectors of (0.1, 0.1, 0.2): ±0.4 twice, ±0.2 four times, 0 twice.
        assert!(close(sign_flip_p(&[0.1, 0.1, 0.2]).unwrap(), 2.0 / 8.0));
        // One difference: both signs reach |d|.
        assert!(close(sign_flip_p(&[0.3]).unwrap(), 1.0));
        // (1, -1): the observed sum 0 is met by every vector.
        assert!(close(sign_flip_p(&[1.0, -1.0]).unwrap(), 1.0));
        // (1, 2, 3): |sum| >= 6 only for all + and all -.
        assert!(close(sign_flip_p(&[1.0, 2.0, 3.0]).unwrap(), 0.25));
        assert_eq!(sign_flip_p(&[]), None);
    }

    #[test]
    fn sign_flip_p_is_sampled_and_seeded_for_large_n() {
        let d: Vec<f64> = (0..20)
            .map(|i| {
                if i % 3 == 0 {
                    -1.0
                } else {
                    0.5 + 0.1 * i as f64
                }
            })
            .collect();
        // The exact p by brute force over all 2^20 vectors (an independent count).
        let obs: f64 = d.iter().sum::<f64>().abs();
        let exact = (0u32..1 << 20)
            .filter(|m| {
                let s: f64 = (0..20)
                    .map(|i| if m >> i & 1 == 1 { -d[i] } else { d[i] })
                    .sum();
                s.abs() >= obs - 1e-9
            })
            .count() as f64
            / (1u32 << 20) as f64;
        let p = sign_flip_p(&d).unwrap();
        // 10000 flips: standard error sqrt(p(1-p)/1e4) < 0.005.
        assert!((p - exact).abs() < 0.02, "sampled {p} vs exact {exact}");
        assert!(
            exact > 0.01 && exact < 0.99,
            "a p away from the edges: {exact}"
        );
        // A multiple of 1/10001 and the same on every call (seeded).
        let hits = p * 10001.0;
        assert!((hits - hits.round()).abs() < 1e-6);
        assert_eq!(sign_flip_p(&d), Some(p));
    }

    #[test]
    fn bootstrap_ci_of_two_values_spans_them() {
        // Means of resamples of (a, b): a w.p. 1/4, (a+b)/2 w.p. 1/2, b w.p. 1/4, so the 2.5 %
        // and 97.5 % quantiles are a and b.
        let s = summarise(&[0.4, 0.6]);
        assert_eq!(s.ci, Some((0.4, 0.6)));
        // One value: no spread, the CI is the value.
        let one = summarise(&[0.3]);
        assert_eq!(
            (one.mean, one.sd, one.sem, one.ci),
            (Some(0.3), None, None, Some((0.3, 0.3)))
        );
        let none = summarise(&[]);
        assert_eq!((none.n, none.mean, none.ci), (0, None, None));
    }

    /// rule × g0 × seed, distances at level 0.5 (by interpolation or at a checkpoint):
    /// bptt g0=1: 0.6, 0.4; bptt g0=2: 0.3 and one network that never reaches 0.5;
    /// eprop g0=1: 0.7, 0.5; eprop g0=2: 0.5, 0.3.
    fn table() -> (Vec<String>, Vec<Network>) {
        let axes = ["rule", "g0", "seed"].map(String::from).to_vec();
        let net = |rule: &str, g0: &str, seed: &str, d: Option<f64>| Network {
            values: [rule, g0, seed].map(String::from).to_vec(),
            checkpoints: match d {
                // Accuracy 0.5 met exactly at the second checkpoint.
                Some(d) => vec![(0.3, 0.95), (0.5, d), (0.7, 0.05)],
                None => vec![(0.1, 0.9), (0.45, 0.8)],
            },
        };
        let nets = vec![
            net("eprop", "2", "2", Some(0.3)),
            net("bptt", "1", "1", Some(0.6)),
            net("bptt", "1", "2", Some(0.4)),
            net("eprop", "1", "1", Some(0.7)),
            net("eprop", "1", "2", Some(0.5)),
            net("bptt", "2", "1", Some(0.3)),
            net("bptt", "2", "2", None),
            net("eprop", "2", "1", Some(0.5)),
        ];
        (axes, nets)
    }

    #[test]
    fn matched_groups_by_the_non_seed_axes() {
        let (_, nets) = table();
        let rows = matched(&nets, &[0.5, 0.9], &[0, 1]);
        assert_eq!(rows.len(), 8);
        let r = &rows[0];
        assert_eq!(r.group, ["bptt", "1"]);
        assert_eq!((r.summary.n, r.missing), (2, 0));
        assert!(close(r.summary.mean.unwrap(), 0.5));
        // sd of (0.6, 0.4) with n - 1: sqrt(0.02) ; sem = sd / sqrt(2) = 0.1.
        assert!(close(r.summary.sd.unwrap(), 0.02f64.sqrt()));
        assert!(close(r.summary.sem.unwrap(), 0.1));
        let (lo, hi) = r.summary.ci.unwrap();
        assert!(close(lo, 0.4) && close(hi, 0.6));
        // The group of one (its other network never reaches 0.5).
        let r = &rows[1];
        assert_eq!(r.group, ["bptt", "2"]);
        assert_eq!((r.summary.n, r.missing), (1, 1));
        assert!(close(r.summary.mean.unwrap(), 0.3));
        assert_eq!(r.summary.sd, None);
        assert_eq!(rows[2].group, ["eprop", "1"]);
        assert!(close(rows[2].summary.mean.unwrap(), 0.6));
        assert!(close(rows[3].summary.mean.unwrap(), 0.4));
        // Level 0.9: nobody reaches it; every group says so.
        for r in &rows[4..] {
            assert_eq!(r.summary.n, 0);
            assert_eq!(r.summary.mean, None);
            assert_eq!(r.missing, 2);
        }
        let csv = matched_csv(&["rule".into(), "g0".into()], &with_metric(rows, "cka"));
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(
            lines[0],
            "metric,level,rule,g0,n,missing,mean,sd,sem,ci_low,ci_high"
        );
        assert!(
            lines[2].starts_with("cka,0.5,bptt,2,1,1,0.3,,,0.3,0.3"),
            "{}",
            lines[2]
        );
        assert_eq!(lines[5], "cka,0.9,bptt,1,0,2,,,,,");
    }

    #[test]
    fn attribution_is_the_one_way_share_of_variance() {
        let (axes, nets) = table();
        let rows = attribution(&axes, &nets, &[0.5]);
        // Seven values reach 0.5: sum 3.3, sum of squares 1.69.
        let correction = 3.3f64.powi(2) / 7.0;
        let total = 1.69 - correction;
        // rule: bptt (0.6, 0.4, 0.3) sum 1.3; eprop (0.7, 0.5, 0.5, 0.3) sum 2.0.
        let rule = (1.3f64.powi(2) / 3.0 + 2.0f64.powi(2) / 4.0 - correction) / total;
        // g0: 1 -> (0.6, 0.4, 0.7, 0.5) sum 2.2; 2 -> (0.3, 0.5, 0.3) sum 1.1.
        let g0 = (2.2f64.powi(2) / 4.0 + 1.1f64.powi(2) / 3.0 - correction) / total;
        // seed: 1 -> (0.6, 0.7, 0.3, 0.5) sum 2.1; 2 -> (0.4, 0.5, 0.3) sum 1.2.
        let seed = (2.1f64.powi(2) / 4.0 + 1.2f64.powi(2) / 3.0 - correction) / total;
        for (r, want) in rows.iter().zip([rule, g0, seed]) {
            assert_eq!(r.n, 7);
            let got = r.eta2.unwrap();
            assert!((got - want).abs() < 1e-12, "{}: {got} vs {want}", r.axis);
            let (lo, hi) = r.ci.unwrap();
            assert!(lo <= hi && (0.0..=1.0).contains(&lo) && hi <= 1.0);
        }
        assert!((rule - 0.056737588652482).abs() < 1e-9);
        let csv = attribution_csv(&with_metric(rows, "cka"));
        assert!(csv.starts_with("metric,level,axis,eta2,ci_low,ci_high\ncka,0.5,rule,0.0567"));
    }

    #[test]
    fn paired_differences_match_on_every_other_axis() {
        let (axes, nets) = table();
        let rows = paired(&axes, &nets, &[0.5], 0, &[1, 2]);
        assert_eq!(rows.len(), 1);
        let r = &rows[0];
        assert_eq!((r.a.as_str(), r.b.as_str()), ("bptt", "eprop"));
        // Pairs (g0, seed): (1,1) 0.7-0.6, (1,2) 0.5-0.4, (2,1) 0.5-0.3; (2,2) has no bptt value.
        assert_eq!(r.diff.n, 3);
        assert!(close(r.diff.mean.unwrap(), 0.4 / 3.0));
        let m = 0.4 / 3.0;
        let sd = (((0.1 - m) * (0.1f64 - m) * 2.0 + (0.2 - m) * (0.2 - m)) / 2.0).sqrt();
        assert!((r.diff.sd.unwrap() - sd).abs() < 1e-12);
        assert!((r.p.unwrap() - 0.25).abs() < 1e-12);
        let (lo, hi) = r.diff.ci.unwrap();
        assert!(lo >= 0.1 - 1e-12 && hi <= 0.2 + 1e-12 && lo < hi);
        let csv = paired_csv(&with_metric(rows, "cka"));
        assert!(csv.starts_with(
            "metric,level,axis,a,b,n_pairs,mean_diff,sd,ci_low,ci_high,p\ncka,0.5,rule,bptt,eprop,3,"
        ));
    }

    #[test]
    fn zipped_axes_do_not_block_pairs() {
        // rule zipped with lr: the two rules never share an lr, yet pair by seed.
        let axes = ["seed", "rule", "lr"].map(String::from).to_vec();
        let nets: Vec<Network> = [("1", "bptt", "0.001", 0.5), ("1", "eprop", "0.0003", 0.8)]
            .iter()
            .map(|&(s, r, lr, d)| Network {
                values: [s, r, lr].map(String::from).to_vec(),
                checkpoints: vec![(1.0, d)],
            })
            .collect();
        let rows = paired(&axes, &nets, &[0.9], 1, &[0]);
        assert_eq!(rows[0].diff.n, 1);
        assert!(close(rows[0].diff.mean.unwrap(), 0.3));
        // Matching on lr as well leaves no pair.
        let rows = paired(&axes, &nets, &[0.9], 1, &[0, 2]);
        assert_eq!(rows[0].diff.n, 0);
        assert_eq!(rows[0].p, None);
    }

    #[test]
    fn numeric_axis_values_sort_as_numbers() {
        let mut v = ["10", "2", "1.5"].map(String::from).to_vec();
        sort_values(&mut v);
        assert_eq!(v, ["1.5", "2", "10"]);
        assert_eq!(parse_levels("0.5, 0.9").unwrap(), vec![0.5, 0.9]);
        assert!(parse_levels("0.5,x").unwrap_err().contains("'x'"));
    }
}
