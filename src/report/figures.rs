//! Figures as data ([`Figure`], [`Panel`]) and their rendering with plotters: the same drawing
//! code paints an SVG (for the HTML and for papers) and a PNG (for slides), the PNG at twice the
//! SVG's pixel size with every font, line and margin scaled alike.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::error::{Error, Result};

/// The font every figure uses, shipped in the repository (assets/fonts, licence beside it) so
/// that PNGs render the same on machines without system fonts.
const FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";

/// SVG size in pixels (6.5 × 3.9 in at 150 dpi); the PNG is [`PNG_SCALE`] times larger.
pub const WIDTH: u32 = 975;
pub const HEIGHT: u32 = 585;
/// PNG pixels per SVG pixel: 1950 × 1170, i.e. 6.5 in at 300 dpi.
pub const PNG_SCALE: u32 = 2;

fn register_font() -> Result<()> {
    static ONCE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let ok = *ONCE
        .get_or_init(|| plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_ok());
    if ok {
        Ok(())
    } else {
        Err(Error::Runtime(
            "the shipped figure font could not be read".into(),
        ))
    }
}

/// The tab10 palette: colour `i` of a figure's groups, the same in every panel.
pub fn palette(i: usize) -> RGBColor {
    const P: [(u8, u8, u8); 10] = [
        (31, 119, 180),
        (214, 39, 40),
        (44, 160, 44),
        (148, 103, 189),
        (255, 127, 14),
        (23, 190, 207),
        (140, 86, 75),
        (227, 119, 194),
        (127, 127, 127),
        (188, 189, 34),
    ];
    let (r, g, b) = P[i % P.len()];
    RGBColor(r, g, b)
}

/// A colour on a circular map (hue = angle), for reach directions: neighbours look alike and
/// 0° meets 315°.
pub fn circular(angle_deg: f64) -> RGBColor {
    let c = HSLColor(angle_deg.rem_euclid(360.0) / 360.0, 0.8, 0.42);
    let (r, g, b) = c.rgb();
    RGBColor(r, g, b)
}

#[derive(Clone, Debug)]
pub struct Line {
    pub points: Vec<(f64, f64)>,
    pub color: RGBColor,
    /// Stroke width in SVG pixels.
    pub width: f64,
    pub alpha: f64,
    /// Dots at the points as well.
    pub dots: bool,
    /// The legend entry; `None` for the second and later members of a group.
    pub label: Option<String>,
}

impl Line {
    pub fn new(points: Vec<(f64, f64)>, color: RGBColor) -> Self {
        Line {
            points,
            color,
            width: 1.5,
            alpha: 1.0,
            dots: false,
            label: None,
        }
    }
}

/// A shaded area between `lower` and `upper` (same x values).
#[derive(Clone, Debug)]
pub struct Band {
    pub x: Vec<f64>,
    pub lower: Vec<f64>,
    pub upper: Vec<f64>,
    pub color: RGBColor,
}

/// A point with a vertical interval.
#[derive(Clone, Debug)]
pub struct ErrorPoint {
    pub x: f64,
    pub y: f64,
    pub lo: f64,
    pub hi: f64,
    pub color: RGBColor,
    pub label: Option<String>,
}

/// A labelled horizontal reference line (dashed).
#[derive(Clone, Debug)]
pub struct HLine {
    pub y: f64,
    pub label: String,
    pub color: RGBColor,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Shape {
    /// Open circle: the trajectory's first bin.
    Start,
    /// Filled triangle: movement onset.
    Onset,
}

#[derive(Clone, Debug)]
pub struct Marker {
    pub x: f64,
    pub y: f64,
    pub shape: Shape,
    pub color: RGBColor,
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Scale {
    #[default]
    Linear,
    Log10,
}

impl Scale {
    fn to(self, v: f64) -> f64 {
        match self {
            Scale::Linear => v,
            Scale::Log10 if v > 0.0 => v.log10(),
            Scale::Log10 => f64::NAN,
        }
    }
}

/// One chart: everything in data coordinates.
#[derive(Clone, Debug, Default)]
pub struct Panel {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub x_scale: Scale,
    pub y_scale: Scale,
    pub x_range: Option<(f64, f64)>,
    pub y_range: Option<(f64, f64)>,
    pub bands: Vec<Band>,
    pub lines: Vec<Line>,
    pub errors: Vec<ErrorPoint>,
    pub hlines: Vec<HLine>,
    pub markers: Vec<Marker>,
    /// Text written under the legend (e.g. which levels no network reached).
    pub notes: Vec<String>,
    /// Categorical x axis: x values are category indices (plus offsets), labelled by these.
    pub x_categories: Vec<String>,
    /// Text centred in the plot at x (data coordinates), e.g. "not reached" at a level's slot.
    pub slot_notes: Vec<(f64, String)>,
    /// Drawn instead of axes when the panel would otherwise be empty.
    pub message: Option<String>,
}

impl Panel {
    pub fn new(title: &str, x_label: &str, y_label: &str) -> Self {
        Panel {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            ..Default::default()
        }
    }

    fn legend(&self) -> Vec<LegendEntry> {
        let mut out: Vec<LegendEntry> = Vec::new();
        let mut push = |e: LegendEntry| {
            if !out.iter().any(|o| o.label == e.label) {
                out.push(e);
            }
        };
        for l in &self.lines {
            if let Some(label) = &l.label {
                push(LegendEntry {
                    label: label.clone(),
                    color: l.color,
                    kind: LegendKind::Line,
                });
            }
        }
        for e in &self.errors {
            if let Some(label) = &e.label {
                push(LegendEntry {
                    label: label.clone(),
                    color: e.color,
                    kind: LegendKind::Point,
                });
            }
        }
        for h in &self.hlines {
            push(LegendEntry {
                label: h.label.clone(),
                color: h.color,
                kind: LegendKind::Dashed,
            });
        }
        if self.markers.iter().any(|m| m.shape == Shape::Start) {
            push(LegendEntry {
                label: "start".into(),
                color: BLACK,
                kind: LegendKind::Start,
            });
        }
        if self.markers.iter().any(|m| m.shape == Shape::Onset) {
            push(LegendEntry {
                label: "movement onset".into(),
                color: BLACK,
                kind: LegendKind::Onset,
            });
        }
        out
    }

    /// Data bounds after the axis transforms, padded; `None` when nothing is finite.
    fn bounds(&self) -> Option<((f64, f64), (f64, f64))> {
        let (xs, ys) = (self.x_scale, self.y_scale);
        let mut x: Vec<f64> = Vec::new();
        let mut y: Vec<f64> = Vec::new();
        for l in &self.lines {
            for &(a, b) in &l.points {
                x.push(xs.to(a));
                y.push(ys.to(b));
            }
        }
        for b in &self.bands {
            x.extend(b.x.iter().map(|&v| xs.to(v)));
            y.extend(b.lower.iter().chain(&b.upper).map(|&v| ys.to(v)));
        }
        for e in &self.errors {
            x.push(xs.to(e.x));
            y.extend([e.lo, e.hi, e.y].map(|v| ys.to(v)));
        }
        for m in &self.markers {
            x.push(xs.to(m.x));
            y.push(ys.to(m.y));
        }
        y.extend(self.hlines.iter().map(|h| ys.to(h.y)));
        let span = |v: &[f64]| -> Option<(f64, f64)> {
            let f: Vec<f64> = v.iter().copied().filter(|v| v.is_finite()).collect();
            let lo = f.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = f.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            if !lo.is_finite() {
                return None;
            }
            let (lo, hi) = if hi - lo < 1e-12 {
                (lo - 0.5, hi + 0.5)
            } else {
                (lo, hi)
            };
            let pad = 0.04 * (hi - lo);
            Some((lo - pad, hi + pad))
        };
        let xr = match self.x_range {
            Some((a, b)) => (xs.to(a), xs.to(b)),
            None => span(&x)?,
        };
        let yr = match self.y_range {
            Some((a, b)) => (ys.to(a), ys.to(b)),
            None => span(&y)?,
        };
        Some((xr, yr))
    }
}

#[derive(Clone, Debug)]
enum LegendKind {
    Line,
    Point,
    Dashed,
    Start,
    Onset,
}

#[derive(Clone, Debug)]
struct LegendEntry {
    label: String,
    color: RGBColor,
    kind: LegendKind,
}

/// A figure: panels side by side, a file name, a caption.
#[derive(Clone, Debug)]
pub struct Figure {
    /// File stem in `figures/` (ASCII letters, digits, `_` and `-`).
    pub name: String,
    pub panels: Vec<Panel>,
    /// What is plotted, units, reference lines; the writer adds provenance.
    pub caption: String,
}

impl Figure {
    /// This figure as the figure of metric `name`, the `k`-th of `--metric`: the first metric's
    /// figures keep the names and titles they have without `--metric`; a later one's get `_NAME`
    /// appended to the file name and ` (NAME)` to the panels' titles.
    pub fn for_metric(mut self, k: usize, name: &str) -> Self {
        if k == 0 {
            return self;
        }
        self.name = file_stem(&format!("{}_{name}", self.name));
        for p in &mut self.panels {
            p.title.push_str(&format!(" ({name})"));
        }
        self
    }

    pub fn new(name: &str, panel: Panel, caption: String) -> Self {
        Figure {
            name: file_stem(name),
            panels: vec![panel],
            caption,
        }
    }
}

/// `s` as a safe file stem: anything but ASCII letters, digits, `-` and `_` becomes `_`.
pub fn file_stem(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn drawing<E: std::fmt::Display>(name: &str) -> impl Fn(E) -> Error + '_ {
    move |e| Error::Runtime(format!("figure {name}: drawing failed: {e}"))
}

/// The figure as a standalone SVG document.
pub fn svg(fig: &Figure) -> Result<String> {
    register_font()?;
    let mut s = String::new();
    {
        let root = SVGBackend::with_string(&mut s, (WIDTH, HEIGHT)).into_drawing_area();
        paint(&root, fig, 1.0)?;
        root.present().map_err(drawing(&fig.name))?;
    }
    Ok(s)
}

/// The figure as a PNG file's bytes (RGB, 300 dpi stated in the file).
pub fn png(fig: &Figure) -> Result<Vec<u8>> {
    register_font()?;
    let (w, h) = (WIDTH * PNG_SCALE, HEIGHT * PNG_SCALE);
    let mut buf = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        paint(&root, fig, PNG_SCALE as f64)?;
        root.present().map_err(drawing(&fig.name))?;
    }
    let mut out = Vec::new();
    {
        let mut enc = ::png::Encoder::new(&mut out, w, h);
        enc.set_color(::png::ColorType::Rgb);
        enc.set_depth(::png::BitDepth::Eight);
        enc.set_pixel_dims(Some(::png::PixelDimensions {
            xppu: 11811, // 300 dpi
            yppu: 11811,
            unit: ::png::Unit::Meter,
        }));
        let mut wr = enc.write_header().map_err(drawing(&fig.name))?;
        wr.write_image_data(&buf).map_err(drawing(&fig.name))?;
        wr.finish().map_err(drawing(&fig.name))?;
    }
    Ok(out)
}

fn paint<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, fig: &Figure, k: f64) -> Result<()> {
    let err = drawing(&fig.name);
    root.fill(&WHITE).map_err(&err)?;
    let n = fig.panels.len().max(1);
    let areas = root.split_evenly((1, n));
    for (i, (p, area)) in fig.panels.iter().zip(&areas).enumerate() {
        // An entry shared with a later panel is shown there only (no repeated legends).
        let later: Vec<String> = fig.panels[i + 1..]
            .iter()
            .flat_map(|q| q.legend().into_iter().map(|e| e.label))
            .collect();
        paint_panel(area, p, k, &fig.name, &later)?;
    }
    Ok(())
}

fn font(size: f64, k: f64) -> TextStyle<'static> {
    (FAMILY, size * k).into_font().color(&BLACK)
}

/// A tick label: round numbers, three significant digits for log axes (10^1.6 reads 39.8).
fn tick(v: f64, scale: Scale) -> String {
    let v = match scale {
        Scale::Linear => v,
        Scale::Log10 => 10f64.powf(v),
    };
    if v == 0.0 {
        return "0".into();
    }
    if v.abs() >= 1e4 || v.abs() < 1e-3 {
        return format!("{v:.1e}");
    }
    let digits = match scale {
        Scale::Log10 => (2 - v.abs().log10().floor() as i32).max(0) as usize,
        Scale::Linear => 4,
    };
    let s = format!("{v:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

fn paint_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    p: &Panel,
    k: f64,
    name: &str,
    shown_later: &[String],
) -> Result<()> {
    let err = drawing(name);
    let (w, _h) = area.dim_in_pixel();
    let bounds = p.bounds();
    let Some(((x0, x1), (y0, y1))) = bounds.filter(|_| p.message.is_none()) else {
        // Nothing to draw: the panel says why instead of showing empty axes.
        let area = area
            .margin((10.0 * k) as i32, 0, 0, 0)
            .titled(&p.title, font(15.0, k))
            .map_err(&err)?;
        let (aw, ah) = area.dim_in_pixel();
        let msg = p
            .message
            .clone()
            .unwrap_or_else(|| "nothing to plot".into());
        for (i, line) in wrap(&msg, (aw as f64 / (7.5 * k)) as usize)
            .iter()
            .enumerate()
        {
            area.draw(&Text::new(
                line.clone(),
                (
                    (aw / 2) as i32,
                    (ah as f64 * 0.4 + i as f64 * 20.0 * k) as i32,
                ),
                font(14.0, k).pos(Pos::new(HPos::Center, VPos::Center)),
            ))
            .map_err(&err)?;
        }
        return Ok(());
    };
    let legend: Vec<LegendEntry> = p
        .legend()
        .into_iter()
        .filter(|e| !shown_later.contains(&e.label))
        .collect();
    let longest = legend
        .iter()
        .map(|e| e.label.chars().count())
        .max()
        .unwrap_or(0)
        .max(if p.notes.is_empty() { 0 } else { 32 });
    let legend_w = if legend.is_empty() && p.notes.is_empty() {
        (10.0 * k) as u32
    } else {
        (((longest as f64 * 7.0 + 46.0) * k) as u32).min(w / 2)
    };
    let (plot_area, legend_area) = area.split_horizontally(w.saturating_sub(legend_w) as i32);
    let mut chart = ChartBuilder::on(&plot_area)
        .caption(&p.title, font(15.0, k))
        .margin((10.0 * k) as i32)
        .x_label_area_size((42.0 * k) as i32)
        .y_label_area_size((62.0 * k) as i32)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(&err)?;
    let (xs, ys) = (p.x_scale, p.y_scale);
    let cats = &p.x_categories;
    let x_tick = |v: &f64| {
        if cats.is_empty() {
            tick(*v, xs)
        } else if (v - v.round()).abs() < 1e-6 && v.round() >= 0.0 {
            cats.get(v.round() as usize).cloned().unwrap_or_default()
        } else {
            String::new()
        }
    };
    chart
        .configure_mesh()
        .x_desc(p.x_label.as_str())
        .y_desc(p.y_label.as_str())
        .label_style(font(12.0, k))
        .axis_desc_style(font(13.0, k))
        .x_label_formatter(&x_tick)
        .y_label_formatter(&|v| tick(*v, ys))
        .x_labels(if cats.is_empty() { 7 } else { cats.len() })
        .y_labels(7)
        .light_line_style(WHITE)
        .bold_line_style(RGBColor(230, 230, 230).stroke_width(k.round().max(1.0) as u32))
        .axis_style(RGBColor(80, 80, 80).stroke_width(k.round().max(1.0) as u32))
        .draw()
        .map_err(&err)?;
    let px = |v: f64| (v * k).round().max(1.0) as u32;
    let tx = |(a, b): (f64, f64)| (xs.to(a), ys.to(b));
    let finite = |(a, b): &(f64, f64)| a.is_finite() && b.is_finite();
    for b in &p.bands {
        let mut poly: Vec<(f64, f64)> =
            b.x.iter()
                .zip(&b.upper)
                .map(|(&x, &y)| tx((x, y)))
                .collect();
        poly.extend(b.x.iter().zip(&b.lower).rev().map(|(&x, &y)| tx((x, y))));
        let poly: Vec<(f64, f64)> = poly.into_iter().filter(finite).collect();
        if poly.len() >= 3 {
            chart
                .draw_series(std::iter::once(Polygon::new(
                    poly,
                    b.color.mix(0.18).filled(),
                )))
                .map_err(&err)?;
        }
    }
    for h in &p.hlines {
        let y = ys.to(h.y);
        if y.is_finite() {
            chart
                .draw_series(DashedLineSeries::new(
                    [(x0, y), (x1, y)],
                    (7.0 * k) as i32,
                    (5.0 * k) as i32,
                    h.color.stroke_width(px(1.5)),
                ))
                .map_err(&err)?;
        }
    }
    for l in &p.lines {
        let pts: Vec<(f64, f64)> = l.points.iter().map(|&q| tx(q)).filter(finite).collect();
        let style = l.color.mix(l.alpha).stroke_width(px(l.width));
        // A missing value breaks the line rather than joining across it.
        for run in split_finite(&l.points, xs, ys) {
            if run.len() > 1 {
                chart
                    .draw_series(std::iter::once(PathElement::new(run, style)))
                    .map_err(&err)?;
            }
        }
        if l.dots || pts.len() == 1 {
            let r = (l.width + 1.2) * k;
            chart
                .draw_series(
                    pts.iter()
                        .map(|&q| Circle::new(q, r as i32, l.color.mix(l.alpha).filled())),
                )
                .map_err(&err)?;
        }
    }
    for e in &p.errors {
        let (x, y, lo, hi) = (xs.to(e.x), ys.to(e.y), ys.to(e.lo), ys.to(e.hi));
        if !(x.is_finite() && y.is_finite()) {
            continue;
        }
        let style = e.color.stroke_width(px(1.6));
        if lo.is_finite() && hi.is_finite() {
            let cap = 0.006 * (x1 - x0);
            chart
                .draw_series([
                    PathElement::new(vec![(x, lo), (x, hi)], style),
                    PathElement::new(vec![(x - cap, lo), (x + cap, lo)], style),
                    PathElement::new(vec![(x - cap, hi), (x + cap, hi)], style),
                ])
                .map_err(&err)?;
        }
        chart
            .draw_series(std::iter::once(Circle::new(
                (x, y),
                (4.0 * k) as i32,
                e.color.filled(),
            )))
            .map_err(&err)?;
    }
    for m in &p.markers {
        let q = tx((m.x, m.y));
        if !finite(&q) {
            continue;
        }
        match m.shape {
            Shape::Start => chart
                .draw_series(std::iter::once(Circle::new(
                    q,
                    (4.5 * k) as i32,
                    m.color.stroke_width(px(1.8)),
                )))
                .map_err(&err)?,
            Shape::Onset => chart
                .draw_series(std::iter::once(TriangleMarker::new(
                    q,
                    (6.0 * k) as i32,
                    m.color.filled(),
                )))
                .map_err(&err)?,
        };
    }
    for (x, text) in &p.slot_notes {
        chart
            .draw_series(std::iter::once(Text::new(
                text.clone(),
                (xs.to(*x), 0.5 * (y0 + y1)),
                font(12.0, k)
                    .color(&RGBColor(150, 30, 30))
                    .pos(Pos::new(HPos::Center, VPos::Center)),
            )))
            .map_err(&err)?;
    }
    // The legend, outside the axes on the right, the notes under it.
    let lk = k;
    let wrap_at = ((legend_w as f64 / k - 12.0) / 6.6) as usize;
    let mut y = ((44.0 + 19.0 * legend.len() as f64 + 10.0) * lk) as i32;
    for note in &p.notes {
        for line in wrap(note, wrap_at) {
            legend_area
                .draw(&Text::new(
                    line,
                    ((6.0 * lk) as i32, y),
                    font(12.0, lk)
                        .color(&RGBColor(150, 30, 30))
                        .pos(Pos::new(HPos::Left, VPos::Center)),
                ))
                .map_err(&err)?;
            y += (16.0 * lk) as i32;
        }
        y += (4.0 * lk) as i32;
    }
    for (i, e) in legend.iter().enumerate() {
        let y = ((44.0 + 19.0 * i as f64) * lk) as i32;
        let x = (6.0 * lk) as i32;
        let x2 = x + (24.0 * lk) as i32;
        let style = e.color.stroke_width(px(2.0));
        match e.kind {
            LegendKind::Line => legend_area
                .draw(&PathElement::new(vec![(x, y), (x2, y)], style))
                .map_err(&err)?,
            LegendKind::Dashed => {
                let d = (6.0 * lk) as i32;
                legend_area
                    .draw(&PathElement::new(vec![(x, y), (x + d, y)], style))
                    .map_err(&err)?;
                legend_area
                    .draw(&PathElement::new(
                        vec![(x + 2 * d - d / 3, y), (x2, y)],
                        style,
                    ))
                    .map_err(&err)?;
            }
            LegendKind::Point => legend_area
                .draw(&Circle::new(
                    ((x + x2) / 2, y),
                    (4.0 * lk) as i32,
                    e.color.filled(),
                ))
                .map_err(&err)?,
            LegendKind::Start => legend_area
                .draw(&Circle::new(
                    ((x + x2) / 2, y),
                    (4.5 * lk) as i32,
                    e.color.stroke_width(px(1.8)),
                ))
                .map_err(&err)?,
            LegendKind::Onset => legend_area
                .draw(&TriangleMarker::new(
                    ((x + x2) / 2, y),
                    (6.0 * lk) as i32,
                    e.color.filled(),
                ))
                .map_err(&err)?,
        }
        legend_area
            .draw(&Text::new(
                e.label.clone(),
                (x2 + (6.0 * lk) as i32, y),
                font(12.0, lk).pos(Pos::new(HPos::Left, VPos::Center)),
            ))
            .map_err(&err)?;
    }
    Ok(())
}

/// The transformed points in runs of finite values.
fn split_finite(points: &[(f64, f64)], xs: Scale, ys: Scale) -> Vec<Vec<(f64, f64)>> {
    let mut out = vec![Vec::new()];
    for &(a, b) in points {
        let q = (xs.to(a), ys.to(b));
        if q.0.is_finite() && q.1.is_finite() {
            out.last_mut().expect("one run").push(q);
        } else if !out.last().expect("one run").is_empty() {
            out.push(Vec::new());
        }
    }
    out
}

/// `s` in lines of at most `width` characters, broken at spaces.
fn wrap(s: &str, width: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut cur = String::new();
    for word in s.split_whitespace() {
        if !cur.is_empty() && cur.chars().count() + 1 + word.chars().count() > width.max(10) {
            out.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(word);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_read_as_round_numbers() {
        assert_eq!(tick(0.5, Scale::Linear), "0.5");
        assert_eq!(tick(1.6, Scale::Log10), "39.8");
        assert_eq!(tick(2.0, Scale::Log10), "100");
        assert_eq!(tick(0.0, Scale::Linear), "0");
    }

    #[test]
    fn missing_values_break_lines() {
        let runs = split_finite(
            &[(1.0, 1.0), (2.0, f64::NAN), (3.0, 3.0), (4.0, 4.0)],
            Scale::Linear,
            Scale::Linear,
        );
        assert_eq!(runs, vec![vec![(1.0, 1.0)], vec![(3.0, 3.0), (4.0, 4.0)]]);
        // log axes drop values that are not positive
        let runs = split_finite(&[(0.0, 1.0), (10.0, 1.0)], Scale::Log10, Scale::Linear);
        assert_eq!(runs, vec![vec![(1.0, 1.0)]]);
    }

    #[test]
    fn file_stems_are_safe() {
        assert_eq!(file_stem("by rule/g0=1.0"), "by_rule_g0_1_0");
    }
}
