//! Line charts as PNG files: the loss curves training writes ([`crate::train_log`]) and the
//! per-frame plots of `cosmos demo`. One module for every chart of the project.
//!
//! Drawn with `plotters` on its bitmap backend. Text goes through plotters' `ab_glyph` renderer
//! with a font compiled into the crate (DejaVu Sans, subset to ASCII: `assets/`, 20 kB, with its
//! licence), so a chart looks the same on any machine and needs no system font, fontconfig or
//! FreeType. Characters outside printable ASCII (and `° · × – — −`) are drawn as blanks.

use std::io::Cursor;
use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;

use crate::{Error, Result};

/// The embedded font (see the module comment).
const FONT: &[u8] = include_bytes!("../assets/DejaVuSans-ascii.ttf");
/// The family name charts ask plotters for.
const FAMILY: &str = "sans-serif";

/// A colour that reads well on white: blue, for "the model".
pub const BLUE: [u8; 3] = [31, 119, 180];
/// Orange, for "the baseline".
pub const ORANGE: [u8; 3] = [255, 127, 14];
/// Red, for marking problems.
pub const RED: [u8; 3] = [214, 39, 40];
/// Green.
pub const GREEN: [u8; 3] = [44, 160, 44];
/// Light blue, for raw values under a smoothed line.
pub const LIGHT_BLUE: [u8; 3] = [174, 199, 232];

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// A line, 2 px.
    Line,
    /// A thin line, 1 px.
    ThinLine,
    /// A line with a dot at every point.
    LineAndDots,
    /// Crosses only, no line (for flagged points).
    Crosses,
}

/// One named series of `(x, y)` points. Non-finite points are left out (a line breaks there).
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend text.
    pub label: String,
    /// RGB colour.
    pub color: [u8; 3],
    /// How it is drawn.
    pub style: Style,
    /// The points, in drawing order.
    pub points: Vec<(f64, f64)>,
}

impl Series {
    /// A series of `points` drawn in `style` and `color`.
    pub fn new(
        label: impl Into<String>,
        color: [u8; 3],
        style: Style,
        points: Vec<(f64, f64)>,
    ) -> Self {
        Self {
            label: label.into(),
            color,
            style,
            points,
        }
    }
}

/// One chart: axes, title and series.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Panel {
    /// Title above the chart.
    pub title: String,
    /// X axis label.
    pub x_label: String,
    /// Y axis label.
    pub y_label: String,
    /// The series, drawn in order (later ones on top).
    pub series: Vec<Series>,
    /// Logarithmic y axis (needs positive values; others are left out).
    pub log_y: bool,
    /// Relative width in a row of panels (0 counts as 1).
    pub weight: u32,
    /// Where the legend goes (pick the corner the data leave free).
    pub legend: Legend,
}

/// A corner of the chart for the legend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Legend {
    /// Top right (the default).
    #[default]
    UpperRight,
    /// Top left.
    UpperLeft,
    /// Bottom right.
    LowerRight,
    /// Bottom left.
    LowerLeft,
}

/// A tick label: integers without decimals, other values with as few digits as show them,
/// small ones in scientific notation (`2.5e-4`).
pub fn tick_label(value: f64) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    if (value - value.round()).abs() < 1e-9 * value.abs().max(1.0) {
        return format!("{}", value.round() as i64);
    }
    if value.abs() < 1e-3 {
        return format!("{value:.1e}");
    }
    let text = format!("{value:.4}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Renders `panels` side by side (widths in proportion to their weights) as an RGB image of
/// `width` x `height` and returns it PNG-encoded.
pub fn render_png(panels: &[Panel], width: u32, height: u32) -> Result<Vec<u8>> {
    if panels.is_empty() || width < 64 || height < 64 || width > 8192 || height > 8192 {
        return Err(Error::Config(format!(
            "a chart needs at least one panel and a size between 64x64 and 8192x8192, found {} panels at {width}x{height}",
            panels.len()
        )));
    }
    register_font()?;
    let mut pixels = vec![255u8; width as usize * height as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let total: u32 = panels.iter().map(|p| p.weight.max(1)).sum();
        let mut rest = root.clone();
        let mut left = total;
        for (i, panel) in panels.iter().enumerate() {
            let weight = panel.weight.max(1);
            let area = if i + 1 == panels.len() {
                rest.clone()
            } else {
                let rest_width = rest.dim_in_pixel().0;
                let split = (rest_width as u64 * weight as u64 / left as u64) as u32;
                let (this, others) = rest.split_horizontally(split);
                rest = others;
                this
            };
            left -= weight;
            draw_panel(&area, panel)?;
        }
        root.present().map_err(plot_error)?;
    }
    let image = image::RgbImage::from_raw(width, height, pixels)
        .ok_or_else(|| Error::Plot("chart buffer has the wrong length".into()))?;
    let mut png = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| Error::Plot(format!("PNG encoding: {e}")))?;
    Ok(png)
}

/// [`render_png`] into `path`, written atomically (a temporary file renamed into place, so a
/// reader never sees half a picture).
pub fn write_png(path: &Path, panels: &[Panel], width: u32, height: u32) -> Result<()> {
    let png = render_png(panels, width, height)?;
    let tmp = path.with_extension("png.tmp");
    std::fs::write(&tmp, png).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

fn register_font() -> Result<()> {
    static ONCE: Once = Once::new();
    let mut result = Ok(());
    ONCE.call_once(|| {
        result = plotters::style::register_font(FAMILY, FontStyle::Normal, FONT)
            .map_err(|_| Error::Plot("the embedded chart font does not parse".into()));
    });
    result
}

fn plot_error(error: impl std::fmt::Display) -> Error {
    Error::Plot(error.to_string())
}

fn rgb(color: [u8; 3]) -> RGBColor {
    RGBColor(color[0], color[1], color[2])
}

/// The data range of the points that will be drawn, padded; `(0, 1)` when there are none.
fn range(values: impl Iterator<Item = f64>, log: bool) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite() && (!log || *v > 0.0)) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return if log { (0.1, 1.0) } else { (0.0, 1.0) };
    }
    if log {
        if hi / lo < 1.5 {
            return (lo / 1.25, hi * 1.25);
        }
        return (lo / 1.1, hi * 1.1);
    }
    if hi - lo < 1e-12 {
        let pad = if lo.abs() > 1e-12 {
            lo.abs() * 0.1
        } else {
            1.0
        };
        return (lo - pad, hi + pad);
    }
    let pad = (hi - lo) * 0.06;
    (lo - pad, hi + pad)
}

fn draw_panel(area: &DrawingArea<BitMapBackend<'_>, Shift>, panel: &Panel) -> Result<()> {
    let visible =
        |p: &&(f64, f64)| p.0.is_finite() && p.1.is_finite() && (!panel.log_y || p.1 > 0.0);
    let points = || {
        panel
            .series
            .iter()
            .flat_map(|s| s.points.iter())
            .filter(visible)
    };
    let (x0, x1) = range(points().map(|p| p.0), false);
    let (y0, y1) = range(points().map(|p| p.1), panel.log_y);
    let (x0, x1) = if points().count() > 0 {
        // Exact x limits: the data start and end at the frame.
        let lo = points().map(|p| p.0).fold(f64::INFINITY, f64::min);
        let hi = points().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max);
        if hi > lo { (lo, hi) } else { (x0, x1) }
    } else {
        (x0, x1)
    };
    if panel.log_y {
        draw_chart(area, panel, x0..x1, (y0..y1).log_scale())
    } else {
        draw_chart(area, panel, x0..x1, y0..y1)
    }
}

fn draw_chart<Y>(
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    panel: &Panel,
    x: std::ops::Range<f64>,
    y: Y,
) -> Result<()>
where
    Y: AsRangedCoord<Value = f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, (FAMILY, 20))
        .margin(12)
        .x_label_area_size(42)
        .y_label_area_size(64)
        .build_cartesian_2d(x, y)
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .x_desc(panel.x_label.as_str())
        .y_desc(panel.y_label.as_str())
        .label_style((FAMILY, 13))
        .axis_desc_style((FAMILY, 15))
        .light_line_style(RGBColor(235, 235, 235))
        .bold_line_style(RGBColor(215, 215, 215))
        .x_labels(8)
        .y_labels(8)
        .x_label_formatter(&|v| tick_label(*v))
        .y_label_formatter(&|v| tick_label(*v))
        .draw()
        .map_err(plot_error)?;
    let log_y = panel.log_y;
    let visible = move |p: &(f64, f64)| p.0.is_finite() && p.1.is_finite() && (!log_y || p.1 > 0.0);
    for series in &panel.series {
        let color = rgb(series.color);
        let width = if series.style == Style::ThinLine {
            1
        } else {
            2
        };
        let legend_style = color.stroke_width(2);
        let mut labelled = false;
        if series.style != Style::Crosses {
            // One line per run of drawable points: a non-finite value breaks the line.
            let mut runs: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
            for p in &series.points {
                if visible(p) {
                    runs.last_mut().expect("non-empty").push(*p);
                } else if !runs.last().expect("non-empty").is_empty() {
                    runs.push(Vec::new());
                }
            }
            for run in runs.into_iter().filter(|r| !r.is_empty()) {
                let drawn = chart
                    .draw_series(LineSeries::new(run, color.stroke_width(width)))
                    .map_err(plot_error)?;
                if !labelled {
                    drawn.label(series.label.as_str()).legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], legend_style)
                    });
                    labelled = true;
                }
            }
        }
        if matches!(series.style, Style::LineAndDots | Style::Crosses) {
            let drawn = chart
                .draw_series(series.points.iter().filter(|p| visible(p)).map(|&p| {
                    if series.style == Style::Crosses {
                        Cross::new(p, 5, color.stroke_width(2)).into_dyn()
                    } else {
                        Circle::new(p, 3, color.filled()).into_dyn()
                    }
                }))
                .map_err(plot_error)?;
            if !labelled {
                let crosses = series.style == Style::Crosses;
                drawn.label(series.label.as_str()).legend(move |(x, y)| {
                    if crosses {
                        Cross::new((x + 10, y), 5, legend_style).into_dyn()
                    } else {
                        Circle::new((x + 10, y), 3, color.filled()).into_dyn()
                    }
                });
            }
        }
    }
    if panel.series.iter().any(|s| !s.label.is_empty()) {
        chart
            .configure_series_labels()
            .label_font((FAMILY, 13))
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(180, 180, 180))
            .position(match panel.legend {
                Legend::UpperRight => SeriesLabelPosition::UpperRight,
                Legend::UpperLeft => SeriesLabelPosition::UpperLeft,
                Legend::LowerRight => SeriesLabelPosition::LowerRight,
                Legend::LowerLeft => SeriesLabelPosition::LowerLeft,
            })
            .draw()
            .map_err(plot_error)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(png: &[u8]) -> image::RgbImage {
        image::load_from_memory(png).unwrap().to_rgb8()
    }

    /// Pixels of `color` (within a small tolerance) in the image.
    fn count(image: &image::RgbImage, color: [u8; 3]) -> usize {
        image
            .pixels()
            .filter(|p| (0..3).all(|c| (p.0[c] as i32 - color[c] as i32).abs() < 8))
            .count()
    }

    fn dark(image: &image::RgbImage, x: std::ops::Range<u32>, y: std::ops::Range<u32>) -> usize {
        let mut n = 0;
        for yy in y {
            for xx in x.clone() {
                let p = image.get_pixel(xx, yy).0;
                n += usize::from(p.iter().all(|&c| c < 100));
            }
        }
        n
    }

    #[test]
    fn charts_draw_their_lines_and_their_text() {
        let panel = |title: &str, log_y| Panel {
            title: title.into(),
            x_label: "step".into(),
            y_label: "loss".into(),
            series: vec![
                Series::new(
                    "model",
                    BLUE,
                    Style::LineAndDots,
                    (0..20)
                        .map(|i| (i as f64, 1.0 / (1.0 + i as f64)))
                        .collect(),
                ),
                Series::new(
                    "baseline",
                    ORANGE,
                    Style::Line,
                    vec![(0.0, 0.5), (5.0, f64::NAN), (10.0, 0.4), (19.0, 0.3)],
                ),
            ],
            log_y,
            weight: 1,
            legend: Legend::UpperRight,
        };
        let png = render_png(&[panel("Linear", false), panel("Log", true)], 800, 300).unwrap();
        let image = decode(&png);
        assert_eq!(image.dimensions(), (800, 300));
        assert!(count(&image, BLUE) > 200, "the blue series is drawn");
        assert!(count(&image, ORANGE) > 100, "the orange series is drawn");
        // Text: the titles sit in the top 30 rows of each half; the embedded font draws them
        // dark on white.
        assert!(dark(&image, 100..300, 0..30) > 30, "left title drawn");
        assert!(dark(&image, 500..700, 0..30) > 30, "right title drawn");
        // No panel without series or text: a blank chart is white except the axes.
        let empty = render_png(&[Panel::default()], 200, 100).unwrap();
        assert_eq!(decode(&empty).dimensions(), (200, 100));
    }

    #[test]
    fn tick_labels_are_short() {
        assert_eq!(tick_label(6.0), "6");
        assert_eq!(tick_label(10500.0), "10500");
        assert_eq!(tick_label(0.25), "0.25");
        assert_eq!(tick_label(17.5), "17.5");
        assert_eq!(tick_label(0.00025), "2.5e-4");
        assert_eq!(tick_label(-0.1), "-0.1");
    }

    #[test]
    fn bad_sizes_are_errors_not_panics() {
        assert!(render_png(&[], 400, 300).is_err());
        assert!(render_png(&[Panel::default()], 10, 300).is_err());
    }
}
