//! Small dependency-free SVG charts for the HTML reports: lines, scatter points and labelled
//! horizontal reference lines, with axes, ticks and a legend.

use std::fmt::Write;

pub const PALETTE: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#7f7f7f",
];

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mark {
    Line,
    Points,
    LinePoints,
}

#[derive(Clone, Debug)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    pub mark: Mark,
    pub color: String,
}

#[derive(Clone, Debug, Default)]
pub struct Chart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    /// Horizontal reference lines: (y, label).
    pub hlines: Vec<(f64, String)>,
    pub log_x: bool,
    pub log_y: bool,
}

/// `s` as HTML/SVG text or attribute value.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// About five round tick values covering [lo, hi].
fn ticks(lo: f64, hi: f64) -> Vec<f64> {
    let span = (hi - lo).max(1e-12);
    let raw = span / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| span / s <= 6.0)
        .unwrap_or(10.0 * mag);
    let mut v = Vec::new();
    let mut t = (lo / step).ceil() * step;
    while t <= hi + 1e-9 * span {
        v.push(t);
        t += step;
    }
    v
}

/// A log-axis tick (10^t): three significant digits, so that 10^1.6 reads 39.8, not 39.810717.
fn fmt_log_tick(t: f64) -> String {
    let v = 10f64.powf(t);
    let digits = (2 - v.abs().log10().floor() as i32).max(0) as usize;
    if v.abs() >= 1e4 || v.abs() < 1e-3 {
        format!("{v:.2e}")
    } else {
        format!("{v:.digits$}")
    }
}

fn fmt_tick(v: f64) -> String {
    if v != 0.0 && (v.abs() >= 1e4 || v.abs() < 1e-3) {
        format!("{v:.0e}")
    } else {
        format!("{}", (v * 1e6).round() / 1e6)
    }
}

impl Chart {
    pub fn new(title: &str, x_label: &str, y_label: &str) -> Self {
        Self {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            ..Default::default()
        }
    }
    pub fn add(&mut self, name: &str, points: Vec<(f64, f64)>, mark: Mark) -> &mut Self {
        let color = PALETTE[self.series.len() % PALETTE.len()].to_string();
        self.series.push(Series {
            name: name.into(),
            points,
            mark,
            color,
        });
        self
    }

    /// Render as a standalone SVG document of the given pixel size.
    pub fn svg(&self, w: f64, h: f64) -> String {
        // Room on the right for the legend and the reference-line labels (~7 px a character).
        let longest = self
            .series
            .iter()
            .map(|x| x.name.chars().count() + 3)
            .chain(self.hlines.iter().map(|(_, l)| l.chars().count()))
            .max()
            .unwrap_or(0);
        let (ml, mr, mt, mb) = (70.0, (7.0 * longest as f64 + 24.0).max(120.0), 34.0, 48.0);
        let (pw, ph) = (w - ml - mr, h - mt - mb);
        let tx = |v: f64| if self.log_x { v.max(1e-300).log10() } else { v };
        let ty = |v: f64| if self.log_y { v.max(1e-300).log10() } else { v };
        let pts = self
            .series
            .iter()
            .flat_map(|s| s.points.iter())
            .filter(|(x, y)| x.is_finite() && y.is_finite());
        let (mut x0, mut x1, mut y0, mut y1) = (
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
        );
        for &(x, y) in pts {
            if (self.log_x && x <= 0.0) || (self.log_y && y <= 0.0) {
                continue;
            }
            x0 = x0.min(tx(x));
            x1 = x1.max(tx(x));
            y0 = y0.min(ty(y));
            y1 = y1.max(ty(y));
        }
        for (y, _) in &self.hlines {
            y0 = y0.min(ty(*y));
            y1 = y1.max(ty(*y));
        }
        if !x0.is_finite() {
            (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
        }
        if x1 - x0 < 1e-12 {
            x0 -= 0.5;
            x1 += 0.5;
        }
        if y1 - y0 < 1e-12 {
            y0 -= 0.5;
            y1 += 0.5;
        }
        let pad = 0.05 * (y1 - y0);
        (y0, y1) = (y0 - pad, y1 + pad);
        let px = |x: f64| ml + (tx(x) - x0) / (x1 - x0) * pw;
        let py = |y: f64| mt + ph - (ty(y) - y0) / (y1 - y0) * ph;
        let mut o = String::new();
        let _ = write!(
            o,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">"#
        );
        let _ = write!(
            o,
            r#"<rect width="{w}" height="{h}" fill="white"/><text x="{}" y="20" text-anchor="middle" font-size="14" font-weight="bold">{}</text>"#,
            ml + pw / 2.0,
            esc(&self.title)
        );
        let _ = write!(
            o,
            r##"<rect x="{ml}" y="{mt}" width="{pw}" height="{ph}" fill="none" stroke="#444"/>"##
        );
        for t in ticks(x0, x1) {
            let x = ml + (t - x0) / (x1 - x0) * pw;
            let lab = if self.log_x {
                fmt_log_tick(t)
            } else {
                fmt_tick(t)
            };
            let _ = write!(
                o,
                r##"<line x1="{x}" y1="{}" x2="{x}" y2="{}" stroke="#eee"/><text x="{x}" y="{}" text-anchor="middle">{lab}</text>"##,
                mt,
                mt + ph,
                mt + ph + 16.0
            );
        }
        for t in ticks(y0, y1) {
            let y = mt + ph - (t - y0) / (y1 - y0) * ph;
            let lab = if self.log_y {
                fmt_log_tick(t)
            } else {
                fmt_tick(t)
            };
            let _ = write!(
                o,
                r##"<line x1="{ml}" y1="{y}" x2="{}" y2="{y}" stroke="#eee"/><text x="{}" y="{}" text-anchor="end">{lab}</text>"##,
                ml + pw,
                ml - 6.0,
                y + 4.0
            );
        }
        let _ = write!(
            o,
            r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
            ml + pw / 2.0,
            h - 10.0,
            esc(&self.x_label)
        );
        let _ = write!(
            o,
            r#"<text transform="translate(16,{}) rotate(-90)" text-anchor="middle">{}</text>"#,
            mt + ph / 2.0,
            esc(&self.y_label)
        );
        for (y, lab) in &self.hlines {
            let yy = py(*y);
            let _ = write!(
                o,
                r##"<line x1="{ml}" y1="{yy}" x2="{}" y2="{yy}" stroke="#555" stroke-dasharray="6,4"/><text x="{}" y="{}" fill="#555">{}</text>"##,
                ml + pw,
                ml + pw + 4.0,
                yy + 4.0,
                esc(lab)
            );
        }
        for (i, s) in self.series.iter().enumerate() {
            let good: Vec<(f64, f64)> = s
                .points
                .iter()
                .copied()
                .filter(|(x, y)| {
                    x.is_finite()
                        && y.is_finite()
                        && (!self.log_x || *x > 0.0)
                        && (!self.log_y || *y > 0.0)
                })
                .collect();
            if matches!(s.mark, Mark::Line | Mark::LinePoints) && good.len() > 1 {
                let d: Vec<String> = good
                    .iter()
                    .map(|&(x, y)| format!("{:.2},{:.2}", px(x), py(y)))
                    .collect();
                let _ = write!(
                    o,
                    r#"<polyline fill="none" stroke="{}" stroke-width="1.6" points="{}"/>"#,
                    s.color,
                    d.join(" ")
                );
            }
            if matches!(s.mark, Mark::Points | Mark::LinePoints) {
                for &(x, y) in &good {
                    let _ = write!(
                        o,
                        r#"<circle cx="{:.2}" cy="{:.2}" r="2.6" fill="{}" fill-opacity="0.8"/>"#,
                        px(x),
                        py(y),
                        s.color
                    );
                }
            }
            let ly = mt + 14.0 + 18.0 * i as f64;
            let lx = ml + pw + 12.0;
            let _ = write!(
                o,
                r#"<rect x="{lx}" y="{}" width="12" height="12" fill="{}"/><text x="{}" y="{}">{}</text>"#,
                ly - 10.0,
                s.color,
                lx + 18.0,
                ly,
                esc(&s.name)
            );
        }
        o.push_str("</svg>");
        o
    }
}
