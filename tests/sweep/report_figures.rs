//! The reports' figures as files (issue 13): `report` over a small trained run and `sweep merge`
//! over hand-written run folders write every chart as SVG (parses as XML) and PNG (decodes, at the
//! stated size, not blank) into `figures/` beside the HTML, each with a caption that carries the
//! provenance and no absolute path; levels no network reaches are said so in the figures.

use std::path::{Path, PathBuf};

use snnlab::sweep::Sweep;

use crate::common;
use common::{hatsopoulos, run_ok, s, sweep_file_in, tmpdir, train_quietly, write_done_run};

/// Every figure of `figures/` checked; returns the figure names (file stems).
fn check_figures(dir: &Path, tmp: &Path) -> Vec<String> {
    let fdir = dir.join("figures");
    let mut names: Vec<String> = std::fs::read_dir(&fdir)
        .unwrap()
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_suffix(".svg")
                .map(String::from)
        })
        .collect();
    names.sort();
    assert!(!names.is_empty(), "no figures in {}", fdir.display());
    let captions = std::fs::read_to_string(fdir.join("captions.md")).unwrap();
    let abs = tmp.display().to_string();
    for n in &names {
        let svg = std::fs::read_to_string(fdir.join(format!("{n}.svg"))).unwrap();
        let doc =
            roxmltree::Document::parse(&svg).unwrap_or_else(|e| panic!("{n}.svg is not XML: {e}"));
        assert_eq!(doc.root_element().tag_name().name(), "svg", "{n}.svg");
        let texts: Vec<&str> = doc
            .descendants()
            .filter(|d| d.has_tag_name("text"))
            .filter_map(|d| d.text().map(str::trim))
            .collect();
        assert!(!texts.is_empty(), "{n}.svg has a title and labels");
        assert!(
            texts
                .iter()
                .all(|t| !t.contains(&abs) && !t.starts_with('/')),
            "{n}.svg: no absolute path in its text: {texts:?}"
        );

        let file = std::fs::File::open(fdir.join(format!("{n}.png"))).unwrap();
        let mut reader = png::Decoder::new(file)
            .read_info()
            .unwrap_or_else(|e| panic!("{n}.png does not decode: {e}"));
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!(
            (info.width, info.height),
            (
                snnlab::report::figures::WIDTH * snnlab::report::figures::PNG_SCALE,
                snnlab::report::figures::HEIGHT * snnlab::report::figures::PNG_SCALE
            ),
            "{n}.png at the stated size"
        );
        let px = &buf[..info.buffer_size()];
        let mean = px.iter().map(|&v| v as f64).sum::<f64>() / px.len() as f64;
        let var = px.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / px.len() as f64;
        let inked = px.chunks(3).filter(|c| c.iter().any(|&v| v < 200)).count();
        assert!(
            var > 1.0 && inked * 1000 > px.len() / 3,
            "{n}.png is blank (variance {var}, {inked} dark pixels)"
        );

        let caption = std::fs::read_to_string(fdir.join(format!("{n}.txt")))
            .unwrap_or_else(|_| panic!("{n} has no caption"));
        assert!(caption.starts_with("Figure "), "{caption}");
        assert!(
            caption.contains(concat!("snnlab ", env!("CARGO_PKG_VERSION"))) && caption.len() > 150,
            "{n}: caption with provenance: {caption}"
        );
        assert!(!caption.contains(&abs), "{n}: no absolute path: {caption}");
        assert!(
            captions.contains(&format!("## {n}.svg")),
            "{n} in captions.md"
        );
    }
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    for n in &names {
        assert!(
            html.contains(&format!("href=\"figures/{n}.svg\"")),
            "the report links {n}"
        );
    }
    assert!(html.contains("<h2>Glossary</h2>") && html.contains("split-half floor"));
    names
}

/// Text of the `<text>` elements of a figure.
fn svg_text(dir: &Path, name: &str) -> Vec<String> {
    let svg = std::fs::read_to_string(dir.join("figures").join(format!("{name}.svg"))).unwrap();
    let doc = roxmltree::Document::parse(&svg).unwrap();
    doc.descendants()
        .filter(|d| d.has_tag_name("text"))
        .filter_map(|d| d.text().map(|t| t.trim().to_string()))
        .collect()
}

/// `config` trained into `dir/run` and reported against the reach recordings with `args` into
/// `dir/rep/report.html`; (that folder, the names of its figures, checked).
fn reported_figures(dir: &Path, config: &str, args: &[&str]) -> (PathBuf, Vec<String>) {
    let run = train_quietly(dir, "run", config);
    let out = dir.join("rep");
    std::fs::create_dir_all(&out).unwrap();
    let (h, html) = (hatsopoulos(), out.join("report.html"));
    let mut all = vec!["report", s(&run), "--data", s(&h), "--out", s(&html)];
    all.extend(args);
    run_ok(&all);
    let names = check_figures(&out, dir);
    (out, names)
}

#[test]
fn report_writes_every_figure_as_svg_and_png_with_a_caption() {
    let d = tmpdir("report");
    let config = "task = \"reach\"\nrule = \"bptt\"\nn_rec = 24\nbatch_size = 8\nupdates = 3\ncheckpoints = [0, 2]\nseeds = [1, 2]\ndevice = \"cpu\"\n";
    let (out, names) = reported_figures(&d, config, &[]);
    for n in [
        "distance_vs_accuracy",
        "distance_vs_accuracy_zoom",
        "distance_vs_error_log",
        "matched_accuracy",
        "distance_during_learning",
        "learning_curves",
        "dimensionality",
        "pca_run",
    ] {
        assert!(names.iter().any(|x| x == n), "{n} missing from {names:?}");
    }
    // Three updates reach none of the levels: the figures say so instead of drawing nothing.
    let matched = svg_text(&out, "matched_accuracy").join(" ");
    assert!(
        matched.contains("No network reached any accuracy level (0.5, 0.8, 0.9, 0.95)"),
        "{matched}"
    );
    let zoom = svg_text(&out, "distance_vs_accuracy_zoom").join(" ");
    assert!(
        zoom.contains("No checkpoint reaches accuracy 0.9"),
        "{zoom}"
    );
    // Two seeds, one run: one legend entry for the run, not one per seed.
    let lines = svg_text(&out, "distance_during_learning");
    assert_eq!(
        lines
            .iter()
            .filter(|t| t.as_str() == "bptt lr=0.001 (2 seeds)")
            .count(),
        1,
        "{lines:?}"
    );
    // Reach directions labelled by angle, with start and onset markers.
    let pca = svg_text(&out, "pca_run");
    for l in ["0°", "45°", "315°", "start", "movement onset"] {
        assert!(pca.iter().any(|t| t == l), "{l} in {pca:?}");
    }
    assert!(!pca.iter().any(|t| t.starts_with("condition")));
}

/// rule (zipped with lr) × g0 × seed on the bundled reach data; run folders written by hand as
/// `sweep run` leaves them (accuracy 0.3, 0.5, 0.7 at updates 0, 1, 2: nobody reaches 0.9).
/// `sweep merge` of `path` with `args`; the names of the figures it wrote (checked).
fn merged_figures(dir: &Path, path: &Path, s: &Sweep, args: &[&str]) -> Vec<String> {
    let mut all = vec!["sweep", "merge", common::s(path)];
    all.extend(args);
    run_ok(&all);
    check_figures(&s.results, dir)
}

fn write_sweep(dir: &Path) -> (PathBuf, Sweep) {
    let p = sweep_file_in(
        dir,
        "s",
        "results",
        "[base]\ntask = \"reach\"\nn_rec = 8\nupdates = 2\n[grid]\ng0 = [1.0, 2.0]\nseed = [1, 2]\n[zip]\nrule = [\"bptt\", \"eprop\"]\nlr = [1e-3, 3e-4]\n",
    );
    let s = Sweep::load(&p).unwrap();
    for (i, r) in s.runs.iter().enumerate() {
        let dir = write_done_run(&s, r);
        let seed = &r.values.iter().find(|(a, _)| a == "seed").unwrap().1;
        let d = 0.5 + 0.03 * i as f64;
        std::fs::write(
            dir.join("analysis.csv"),
            format!(
                "seed,update,accuracy,loss,distance,normalised_distance,participation_ratio\n{seed},0,0.3,0.5,0.9,0,1\n{seed},1,0.5,0.2,{d},0,2\n{seed},2,0.7,0.1,{},0,3\n",
                d - 0.1
            ),
        )
        .unwrap();
        std::fs::write(
            dir.join("loss.csv"),
            format!("update,seed,loss,task_loss,rate_reg,lambda\n0,{seed},1,1,0,0\n1,{seed},0.5,0.5,0,0\n"),
        )
        .unwrap();
    }
    (p, s)
}

#[test]
fn sweep_merge_writes_its_figures_once_per_factor() {
    let d = tmpdir("sweep");
    let (path, s) = write_sweep(&d);
    let names = merged_figures(&d, &path, &s, &["--levels", "0.5,0.6,0.9"]);
    for n in [
        "distance_vs_accuracy_by_g0",
        "distance_vs_accuracy_by_rule",
        "distance_vs_accuracy_zoom_by_rule",
        "matched_accuracy_by_g0",
        "matched_accuracy_by_rule",
        "attribution",
        "learning_curves_by_g0",
    ] {
        assert!(names.iter().any(|x| x == n), "{n} missing from {names:?}");
    }
    // No seed panels; the zipped lr is drawn with rule, not again on its own.
    assert!(
        !names
            .iter()
            .any(|n| n.ends_with("by_seed") || n.ends_with("by_lr")),
        "{names:?}"
    );
    let matched = svg_text(&s.results, "matched_accuracy_by_rule").join(" ");
    assert!(
        matched.contains("no network reached accuracy 0.9"),
        "{matched}"
    );
    let attribution = svg_text(&s.results, "attribution").join(" ");
    assert!(
        attribution.contains("no network reached accuracy 0.9"),
        "{attribution}"
    );
    // One legend entry per group of the zipped axes, named by both.
    let by_rule = svg_text(&s.results, "distance_vs_accuracy_by_rule");
    for l in ["rule=bptt, lr=0.001", "rule=eprop, lr=0.0003"] {
        assert_eq!(
            by_rule.iter().filter(|t| t.as_str() == l).count(),
            1,
            "{l} once in {by_rule:?}"
        );
    }
    let caption =
        std::fs::read_to_string(s.results.join("figures/distance_vs_accuracy_by_g0.txt")).unwrap();
    common::assert_contains_all(&caption, &["input: s.toml", "split-half floor"]);
}

#[test]
fn sweep_merge_reports_every_metric_in_a_section_of_its_own() {
    let d = tmpdir("sweep_metrics");
    let (path, s) = write_sweep(&d);
    // Every run scored in two metrics (analysis.csv's metric column), CKA's distances smaller.
    for (i, r) in s.runs.iter().enumerate() {
        let seed = &r.values.iter().find(|(a, _)| a == "seed").unwrap().1;
        let mut csv =
            "seed,update,metric,accuracy,loss,distance,normalised_distance,participation_ratio\n"
                .to_string();
        for (metric, scale) in [("procrustes-angular", 1.0), ("cka-angular", 0.5)] {
            let d = scale * (0.5 + 0.03 * i as f64);
            csv += &format!(
                "{seed},0,{metric},0.3,0.5,{},0,1\n{seed},1,{metric},0.5,0.2,{d},0,2\n{seed},2,{metric},0.7,0.1,{},0,3\n",
                scale * 0.9,
                d - 0.1 * scale
            );
        }
        std::fs::write(s.run_dir(&r.id).join("analysis.csv"), csv).unwrap();
    }
    let metrics = ["--levels", "0.5,0.6", "--metric", "procrustes,cka-angular"];
    let names = merged_figures(&d, &path, &s, &metrics);
    // The first metric's figures keep their names; the second's carry its name.
    for n in [
        "matched_accuracy_by_rule",
        "attribution",
        "matched_accuracy_by_rule_cka-angular",
        "distance_vs_accuracy_by_g0_cka-angular",
        "attribution_cka-angular",
    ] {
        assert!(names.iter().any(|x| x == n), "{n} missing from {names:?}");
    }
    // The later metric's panel titles name it; the first's are as without --metric.
    let titled = |n: &str| {
        svg_text(&s.results, n)
            .iter()
            .any(|t| t.contains("(cka-angular)"))
    };
    assert!(titled("matched_accuracy_by_rule_cka-angular"));
    assert!(!titled("matched_accuracy_by_rule"));
    let report = std::fs::read_to_string(s.results.join("report.html")).unwrap();
    for m in ["Metric procrustes-angular", "Metric cka-angular"] {
        assert!(report.contains(m), "{m} missing from the report");
    }
    // Each metric has its own tables.
    assert_eq!(
        report
            .matches("<h2>Distance at matched accuracy</h2>")
            .count(),
        2
    );
    let caption =
        |n: &str| std::fs::read_to_string(s.results.join(format!("figures/{n}.txt"))).unwrap();
    assert!(caption("distance_vs_accuracy_by_g0").contains("angular Procrustes distance"));
    let cka = caption("distance_vs_accuracy_by_g0_cka-angular");
    assert!(
        cka.contains("metric CKA") && !cka.contains("Procrustes"),
        "{cka}"
    );
    // The reference lines are the recordings' own levels in each metric (the caption gives them).
    let dashed = |c: String| c.split_once("Dashed lines:").unwrap().1.to_string();
    assert_ne!(dashed(caption("distance_vs_accuracy_by_g0")), dashed(cka));
}

#[test]
fn report_draws_every_metric_with_its_own_reference_lines() {
    let d = tmpdir("report_metrics");
    let config = "task = \"reach\"\nrule = \"bptt\"\nn_rec = 16\nbatch_size = 4\nupdates = 2\ncheckpoints = [0, 2]\nseeds = [1]\ndevice = \"cpu\"\n";
    let (out, names) = reported_figures(&d, config, &["--metric", "procrustes,cka-angular"]);
    for n in [
        "distance_vs_accuracy",
        "matched_accuracy",
        "distance_vs_accuracy_cka-angular",
        "distance_vs_error_log_cka-angular",
        "matched_accuracy_cka-angular",
    ] {
        assert!(names.iter().any(|x| x == n), "{n} missing from {names:?}");
    }
    let caption = |n: &str| std::fs::read_to_string(out.join(format!("figures/{n}.txt"))).unwrap();
    let (p, c) = (
        caption("distance_vs_accuracy"),
        caption("distance_vs_accuracy_cka-angular"),
    );
    assert!(p.contains("angular Procrustes distance"), "{p}");
    assert!(c.contains("metric CKA") && !c.contains("Procrustes"), "{c}");
    let titled = |n: &str| {
        svg_text(&out, n)
            .iter()
            .any(|t| t.contains("(cka-angular)"))
    };
    assert!(titled("matched_accuracy_cka-angular") && !titled("matched_accuracy"));
    let dashed = |c: &str| c.split_once("Dashed lines:").unwrap().1.to_string();
    assert_ne!(dashed(&p), dashed(&c));
}
