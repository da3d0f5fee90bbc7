//! The similarity family as one type: parsed once from its command-line id, scored in batches
//! (many model activity arrays against one recording, the recording's side prepared once, the
//! pairs on the rayon threads).
//!
//! | id             | registry-style name         | formula                                                      |
//! |----------------|-----------------------------|--------------------------------------------------------------|
//! | `procrustes`   | `procrustes-angular`        | netrep `LinearMetric(alpha=1, angular)` / (pi/2), SPEC §5     |
//! | `shape:ALPHA`  | `shape-angular-alphaALPHA`  | netrep `LinearMetric(alpha)` angular / (pi/2)                 |
//! | `shape:ALPHA:euclidean` | `shape-euclidean-alphaALPHA` | netrep `LinearMetric(alpha)` Euclidean (unnormalised) |
//! | `cka`          | `cka`                       | linear CKA `\|\|Yc^T Xc\|\|² / (\|\|Xc^T Xc\|\| \|\|Yc^T Yc\|\|)` (similarity, 1 = same) |
//! | `cka-angular`  | `cka-angular`               | `arccos(CKA) / (pi/2)`                                        |
//! | `cca`          | `cca-mean-pca20-ridge1e-3`  | `1 - mean canonical correlation` after PCA to 20 (ridge 1e-3) |
//! | `dsa[:SCORE][:pcaP][:rankR][:delaysD]` | `dsa-angular[-pcaP][-rankR][-delaysD]` | DSA (radians, SPEC §9) with those DMD settings (default: full rank, 1 delay) |
//!
//! The registry-style names follow netrep's and the similarity-measure registry's
//! `<measure>-<score>` pattern; they are this crate's spelling, not looked up in a registry.

use std::collections::HashMap;
use std::str::FromStr;

use ndarray::{ArrayView3, Axis};
use rayon::prelude::*;

use crate::dsa::{DmdSettings, DsaScore};
use crate::error::{Error, Result};
use crate::similarity::{self as sim, Score};

/// One similarity measure with its parameters.
#[derive(Clone, Debug, PartialEq)]
pub enum Metric {
    /// Generalised shape metric (alpha = 1 angular is Procrustes).
    Shape { alpha: f64, score: Score },
    /// Linear CKA (a similarity: 1 = same).
    Cka,
    /// `arccos(CKA) / (pi/2)`.
    CkaAngular,
    /// The paper's CCA distance.
    Cca,
    /// DSA with these DMD settings, score and search length.
    Dsa {
        settings: DmdSettings,
        score: DsaScore,
        iters: usize,
    },
}

impl Metric {
    /// Angular Procrustes (SPEC §5).
    pub const PROCRUSTES: Metric = Metric::Shape {
        alpha: 1.0,
        score: Score::Angular,
    };

    /// The metric in words, with its unit and what 0 (or 1) means, for figure captions.
    pub fn description(&self) -> String {
        match self {
            Metric::Shape {
                alpha,
                score: Score::Angular,
            } if *alpha == 1.0 => {
                "angular Procrustes distance, unitless, 0 = identical up to rotation".into()
            }
            Metric::Shape {
                alpha,
                score: Score::Angular,
            } => format!(
                "angular shape distance with alpha = {alpha}, unitless, 0 = identical up to the metric's invariances"
            ),
            Metric::Shape {
                alpha,
                score: Score::Euclidean,
            } => format!(
                "Euclidean shape distance with alpha = {alpha}, in the activity's units, 0 = identical up to the metric's invariances"
            ),
            Metric::Cka => "linear CKA, a similarity in [0, 1], 1 = identical up to rotation and scale".into(),
            Metric::CkaAngular => {
                "metric CKA arccos(CKA) / (π/2), unitless, 0 = identical up to rotation and scale".into()
            }
            Metric::Cca => {
                "CCA distance 1 − mean canonical correlation after PCA to 20, unitless, 0 = identical up to linear maps".into()
            }
            Metric::Dsa { score, .. } => format!(
                "DSA ({}) between the dynamics' DMD matrices, 0 = conjugate dynamics",
                score_name(*score)
            ),
        }
    }

    /// The id it parses from (round-trips through [`FromStr`]).
    pub fn id(&self) -> String {
        match self {
            Metric::Shape {
                alpha,
                score: Score::Angular,
            } if *alpha == 1.0 => "procrustes".into(),
            Metric::Shape {
                alpha,
                score: Score::Angular,
            } => format!("shape:{alpha}"),
            Metric::Shape {
                alpha,
                score: Score::Euclidean,
            } => format!("shape:{alpha}:euclidean"),
            Metric::Cka => "cka".into(),
            Metric::CkaAngular => "cka-angular".into(),
            Metric::Cca => "cca".into(),
            Metric::Dsa {
                settings, score, ..
            } => {
                let mut id = String::from("dsa");
                if *score != DsaScore::Angular {
                    id.push(':');
                    id.push_str(score_name(*score));
                }
                id + &dsa_settings_suffix(settings, ":")
            }
        }
    }

    /// The registry-style name used in output tables (see the module docs).
    pub fn registry_name(&self) -> String {
        match self {
            Metric::Shape {
                alpha,
                score: Score::Angular,
            } if *alpha == 1.0 => "procrustes-angular".into(),
            Metric::Shape {
                alpha,
                score: Score::Angular,
            } => format!("shape-angular-alpha{alpha}"),
            Metric::Shape {
                alpha,
                score: Score::Euclidean,
            } => format!("shape-euclidean-alpha{alpha}"),
            Metric::Cka => "cka".into(),
            Metric::CkaAngular => "cka-angular".into(),
            Metric::Cca => "cca-mean-pca20-ridge1e-3".into(),
            Metric::Dsa {
                settings, score, ..
            } => format!(
                "dsa-{}{}",
                score_name(*score),
                dsa_settings_suffix(settings, "-")
            ),
        }
    }

    /// Parse a comma-separated list (`--metric procrustes,cka,dsa`).
    pub fn parse_list(s: &str) -> Result<Vec<Metric>> {
        s.split(',')
            .filter(|p| !p.trim().is_empty())
            .map(|p| p.trim().parse())
            .collect()
    }

    /// The metrics of repeated and comma-separated `--metric` values, each once, in the order
    /// first given; none given: Procrustes alone (the outputs of a run without the flag).
    pub fn parse_flags(values: &[String]) -> Result<Vec<Metric>> {
        let mut out: Vec<Metric> = Vec::new();
        for v in values {
            for m in Self::parse_list(v)? {
                if !out.iter().any(|o| o.registry_name() == m.registry_name()) {
                    out.push(m);
                }
            }
        }
        if out.is_empty() {
            if values.is_empty() {
                out.push(Metric::PROCRUSTES);
            } else {
                return Err(Error::Input("--metric: no metric given".into()));
            }
        }
        Ok(out)
    }

    /// The metric whose [`registry_name`](Self::registry_name) is `s`.
    fn from_registry_name(s: &str) -> Option<Metric> {
        let dsa = |score| Metric::Dsa {
            settings: DmdSettings::default(),
            score,
            iters: 1500,
        };
        Some(match s {
            "procrustes-angular" => Metric::PROCRUSTES,
            "cca-mean-pca20-ridge1e-3" => Metric::Cca,
            _ if s.starts_with("dsa-") => {
                let mut parts = s["dsa-".len()..].split('-');
                let score: DsaScore = parts.next()?.parse().ok()?;
                let mut m = dsa(score);
                for p in parts {
                    dsa_option(&mut m, p).ok()?;
                }
                m
            }
            _ => {
                let (score, a) = if let Some(a) = s.strip_prefix("shape-angular-alpha") {
                    (Score::Angular, a)
                } else {
                    (Score::Euclidean, s.strip_prefix("shape-euclidean-alpha")?)
                };
                let alpha: f64 = a.parse().ok().filter(|a| (0.0..=1.0).contains(a))?;
                Metric::Shape { alpha, score }
            }
        })
    }

    /// Whether the metric is a distance in [0, 1] (0 = same), for which the split-half
    /// normalised distance `(d - floor) / (1 - floor)` of SPEC §5 is defined.
    pub fn is_unit_distance(&self) -> bool {
        matches!(
            self,
            Metric::Shape {
                score: Score::Angular,
                ..
            } | Metric::CkaAngular
                | Metric::Cca
        )
    }

    /// The data's cross-condition-average baseline in this metric: the score of the data with
    /// every condition replaced by the across-condition mean against the data.
    pub fn baseline(&self, data: ArrayView3<f64>) -> Result<f64> {
        if *self == Metric::PROCRUSTES {
            return sim::cross_condition_baseline(data);
        }
        let avg = sim::condition_average(data);
        self.score(avg.view(), data)
    }

    /// The split-half floor in this metric: the mean score between two disjoint random halves
    /// of the data's units over `draws` seeded draws (the same draws as
    /// [`similarity::split_half_floor`](sim::split_half_floor), which it equals for Procrustes).
    pub fn split_half_floor(&self, data: ArrayView3<f64>, draws: usize, seed: u64) -> Result<f64> {
        if *self == Metric::PROCRUSTES {
            return sim::split_half_floor(data, draws, seed);
        }
        let halves = sim::split_halves(data, draws, seed)?;
        let scores: Vec<f64> = halves
            .par_iter()
            .map(|(a, b)| {
                self.score(
                    data.select(Axis(0), a).view(),
                    data.select(Axis(0), b).view(),
                )
            })
            .collect::<Result<_>>()?;
        Ok(scores.iter().sum::<f64>() / draws as f64)
    }

    /// Score one pair (`x`, `y` name them in errors; same numbers as [`score_many`]).
    pub fn score(&self, x: ArrayView3<f64>, y: ArrayView3<f64>) -> Result<f64> {
        match self {
            Metric::Shape { alpha, score } => sim::shape_distance(x, y, *alpha, *score),
            Metric::Cka => sim::linear_cka(x, y),
            Metric::CkaAngular => sim::cka_angular(x, y),
            Metric::Cca => sim::cca_distance(x, y),
            Metric::Dsa {
                settings,
                score,
                iters,
            } => Ok(crate::dsa::dsa(x, y, settings, *score, *iters)?.0.score),
        }
    }
}

impl FromStr for Metric {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let bad = || {
            Error::Input(format!(
                "--metric: unknown metric '{s}' (expected procrustes, shape:ALPHA[:euclidean], cka, cka-angular, cca or dsa[:pcaP][:rankR][:delaysD])"
            ))
        };
        // The output names parse too, so a table's `metric` value can be given back to --metric.
        if let Some(m) = Self::from_registry_name(s) {
            return Ok(m);
        }
        match s {
            "procrustes" => return Ok(Metric::PROCRUSTES),
            "cka" => return Ok(Metric::Cka),
            "cka-angular" => return Ok(Metric::CkaAngular),
            "cca" => return Ok(Metric::Cca),
            _ if s == "dsa" || s.starts_with("dsa:") => {
                let mut m = Metric::Dsa {
                    settings: DmdSettings::default(),
                    score: DsaScore::Angular,
                    iters: 1500,
                };
                for p in s.split(':').skip(1) {
                    dsa_option(&mut m, p).map_err(|_| {
                        Error::Input(format!(
                            "--metric {s}: unknown DSA option '{p}' (expected angular, euclidean, wasserstein, pcaP, rankR or delaysD, e.g. dsa:pca10:rank10)"
                        ))
                    })?;
                }
                return Ok(m);
            }
            _ => {}
        }
        let rest = s.strip_prefix("shape:").ok_or_else(bad)?;
        let (a, score) = match rest.split_once(':') {
            Some((a, "euclidean")) => (a, Score::Euclidean),
            Some((a, "angular")) => (a, Score::Angular),
            Some(_) => return Err(bad()),
            None => (rest, Score::Angular),
        };
        let alpha: f64 = a.parse().map_err(|_| bad())?;
        if !(0.0..=1.0).contains(&alpha) {
            return Err(Error::Input(format!(
                "--metric {s}: alpha must be in [0, 1]"
            )));
        }
        Ok(Metric::Shape { alpha, score })
    }
}

fn score_name(s: DsaScore) -> &'static str {
    match s {
        DsaScore::Angular => "angular",
        DsaScore::Euclidean => "euclidean",
        DsaScore::Wasserstein => "wasserstein",
    }
}

/// The DMD settings that differ from the defaults, as `{sep}pcaP{sep}rankR{sep}delaysD`.
fn dsa_settings_suffix(s: &DmdSettings, sep: &str) -> String {
    let mut out = String::new();
    if let Some(p) = s.pca {
        out += &format!("{sep}pca{p}");
    }
    if let Some(r) = s.rank {
        out += &format!("{sep}rank{r}");
    }
    if s.n_delays != 1 {
        out += &format!("{sep}delays{}", s.n_delays);
    }
    out
}

/// One option of a DSA id (`euclidean`, `pca10`, `rank10`, `delays3`) applied to `m`.
fn dsa_option(m: &mut Metric, p: &str) -> std::result::Result<(), ()> {
    let Metric::Dsa {
        settings, score, ..
    } = m
    else {
        return Err(());
    };
    let n = |prefix: &str| -> Option<usize> {
        p.strip_prefix(prefix)?.parse().ok().filter(|&v| v >= 1)
    };
    if let Ok(sc) = p.parse::<DsaScore>() {
        *score = sc;
    } else if let Some(v) = n("pca") {
        settings.pca = Some(v);
    } else if let Some(v) = n("rank") {
        settings.rank = Some(v);
    } else if let Some(v) = n("delays") {
        settings.n_delays = v;
    } else {
        return Err(());
    }
    Ok(())
}

/// [`score_many`] with one result per model: a model that cannot be scored (e.g. activity
/// with no variance, or NaN after divergence) gets its own error, the others their scores;
/// an error of the recording's side is the whole call's.
pub fn score_many_each(
    metric: &Metric,
    models: &[ArrayView3<f64>],
    recording: ArrayView3<f64>,
) -> Result<Vec<Result<f64>>> {
    let (_, t, c) = recording.dim();
    for (i, m) in models.iter().enumerate() {
        let (_, tm, cm) = m.dim();
        if (tm, cm) != (t, c) {
            return Err(Error::Input(format!(
                "model {i} has [units, T, C] = {:?} but the recording has {:?}: T and C must match",
                m.dim(),
                recording.dim()
            )));
        }
    }
    Ok(match metric {
        Metric::Shape { alpha, score } => {
            let mut widths: Vec<usize> = models
                .iter()
                .map(|m| m.dim().0.max(recording.dim().0))
                .collect();
            widths.sort_unstable();
            widths.dedup();
            let prepared: HashMap<usize, sim::ShapeSide> = widths
                .into_par_iter()
                .map(|w| Ok((w, sim::ShapeSide::new(recording, "recording", w, *alpha)?)))
                .collect::<Result<_>>()?;
            models
                .par_iter()
                .enumerate()
                .map(|(i, m)| {
                    let w = m.dim().0.max(recording.dim().0);
                    let side = sim::ShapeSide::new(*m, &format!("model {i}"), w, *alpha)?;
                    sim::shape_between(&side, &prepared[&w], *score)
                })
                .collect()
        }
        Metric::Cka | Metric::CkaAngular => {
            let rec = sim::CkaSide::new(recording, "recording")?;
            models
                .par_iter()
                .enumerate()
                .map(|(i, m)| {
                    let cka = sim::CkaSide::new(*m, &format!("model {i}"))?.cka_with(&rec);
                    Ok(if *metric == Metric::Cka {
                        cka
                    } else {
                        cka.clamp(0.0, 1.0).acos() / std::f64::consts::FRAC_PI_2
                    })
                })
                .collect()
        }
        Metric::Cca => {
            let rec = sim::CcaBasis::new(recording, "recording")?;
            models
                .par_iter()
                .enumerate()
                .map(|(i, m)| {
                    sim::cca_between(&sim::CcaBasis::new(*m, &format!("model {i}"))?, &rec)
                })
                .collect()
        }
        Metric::Dsa {
            settings,
            score,
            iters,
        } => crate::dsa::dsa_many_each(models, recording, settings, *score, *iters)?
            .into_iter()
            .map(|r| r.map(|r| r.score))
            .collect(),
    })
}

/// Score every model array `[units, T, C]` against one recording `[neurons, T, C]` (same T and
/// C); the recording's side (whitened matrix, CCA basis, CKA Gram norm, DMD) is prepared once and
/// the pairs run on the rayon threads. Errors name the model by its index.
pub fn score_many(
    metric: &Metric,
    models: &[ArrayView3<f64>],
    recording: ArrayView3<f64>,
) -> Result<Vec<f64>> {
    score_many_each(metric, models, recording)?
        .into_iter()
        .collect()
}
