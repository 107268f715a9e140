//! Charts drawn on the server as SVG (no chart library, no script): a share over time
//! with its interval as a band, and the sequential test's log-likelihood ratio over time
//! against its two boundaries. Everything written into the SVG is a number or a fixed
//! word, so the markup needs no escaping.

use std::fmt::Write;

use chrono::{DateTime, Utc};

const W: f64 = 640.0;
const H: f64 = 200.0;
/// Plot area: left margin for the y labels, bottom margin for the x labels.
const LEFT: f64 = 52.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 8.0;
const BOTTOM: f64 = 24.0;
/// Up to this many points, each is marked with a dot.
const MARKED: usize = 48;

/// One point of a series: its time, value and interval (none: a gap in the line).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Point {
    pub at: DateTime<Utc>,
    pub value: Option<f64>,
    pub band: Option<(f64, f64)>,
}

/// A horizontal reference line with its label.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rule {
    pub value: f64,
    pub label: &'static str,
}

struct Frame {
    t0: f64,
    t1: f64,
    y0: f64,
    y1: f64,
}

impl Frame {
    fn x(&self, at: DateTime<Utc>) -> f64 {
        let t = at.timestamp() as f64;
        LEFT + (t - self.t0) / (self.t1 - self.t0).max(1.0) * (W - LEFT - RIGHT)
    }
    fn y(&self, v: f64) -> f64 {
        let v = v.clamp(self.y0, self.y1);
        TOP + (self.y1 - v) / (self.y1 - self.y0).max(f64::EPSILON) * (H - TOP - BOTTOM)
    }
}

/// A line chart of `points` over `from..to` with y from `y0` to `y1`, the band drawn
/// behind the line, `rules` dashed across; `label` formats a y value. `title` is the
/// chart's accessible name (a fixed text of the page).
pub(crate) fn line(
    title: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    (y0, y1): (f64, f64),
    points: &[Point],
    rules: &[Rule],
    label: fn(f64) -> String,
) -> String {
    let f = Frame {
        t0: from.timestamp() as f64,
        t1: to.timestamp() as f64,
        y0,
        y1,
    };
    let mut s = format!(
        r#"<svg class="chart" viewBox="0 0 {W} {H}" role="img" preserveAspectRatio="none"><title>{title}</title>"#
    );
    // Axes: four y labels, the start, middle and end times.
    for i in 0..4 {
        let v = y0 + (y1 - y0) * f64::from(i) / 3.0;
        let y = f.y(v);
        let _ = write!(
            s,
            r#"<line class="grid" x1="{LEFT}" x2="{x2}" y1="{y:.1}" y2="{y:.1}"/><text class="axis" x="{lx}" y="{ty:.1}" text-anchor="end">{}</text>"#,
            label(v),
            x2 = W - RIGHT,
            lx = LEFT - 4.0,
            ty = y + 4.0,
        );
    }
    for (i, anchor) in [(0, "start"), (1, "middle"), (2, "end")] {
        let t = f.t0 + (f.t1 - f.t0) * f64::from(i) / 2.0;
        let at = DateTime::<Utc>::from_timestamp(t as i64, 0).unwrap_or(from);
        let _ = write!(
            s,
            r#"<text class="axis" x="{:.1}" y="{}" text-anchor="{anchor}">{}</text>"#,
            f.x(at),
            H - 6.0,
            at.format("%m-%d %H:%M")
        );
    }
    // Contiguous runs of points with a value: a band and a line each.
    let runs = points
        .split(|p| p.value.is_none())
        .filter(|r| !r.is_empty());
    for run in runs {
        let bands: Vec<_> = run
            .iter()
            .filter_map(|p| p.band.map(|b| (p.at, b)))
            .collect();
        if bands.len() == run.len() {
            let mut poly = String::new();
            for (at, (_, hi)) in &bands {
                let _ = write!(poly, "{:.1},{:.1} ", f.x(*at), f.y(*hi));
            }
            for (at, (lo, _)) in bands.iter().rev() {
                let _ = write!(poly, "{:.1},{:.1} ", f.x(*at), f.y(*lo));
            }
            let _ = write!(s, r#"<polygon class="band" points="{}"/>"#, poly.trim_end());
        }
        let mut line = String::new();
        for p in run {
            let _ = write!(line, "{:.1},{:.1} ", f.x(p.at), f.y(p.value.unwrap_or(y0)));
        }
        let _ = write!(
            s,
            r#"<polyline class="value" points="{}"/>"#,
            line.trim_end()
        );
        // Few points: each is marked (a lone one would not show at all).
        if points.len() <= MARKED || run.len() == 1 {
            for p in run {
                let _ = write!(
                    s,
                    r#"<circle class="value" cx="{:.1}" cy="{:.1}" r="3"/>"#,
                    f.x(p.at),
                    f.y(p.value.unwrap_or(y0))
                );
            }
        }
    }
    for r in rules {
        let y = f.y(r.value);
        let _ = write!(
            s,
            r#"<line class="rule" x1="{LEFT}" x2="{x2}" y1="{y:.1}" y2="{y:.1}"/><text class="rule" x="{x2}" y="{ty:.1}" text-anchor="end">{}</text>"#,
            r.label,
            x2 = W - RIGHT,
            ty = y - 3.0,
        );
    }
    s.push_str("</svg>");
    s
}

/// The y range of a share chart: from a little under the lowest value, band or rule to
/// 100 %, in whole tenths of a percent (at least 1 % tall).
pub(crate) fn share_range(points: &[Point], rules: &[Rule]) -> (f64, f64) {
    let low = points
        .iter()
        .flat_map(|p| p.value.into_iter().chain(p.band.map(|b| b.0)))
        .chain(rules.iter().map(|r| r.value))
        .fold(1.0_f64, f64::min);
    let low = ((low - 0.005) * 1000.0).floor() / 1000.0;
    (low.clamp(0.0, 0.99), 1.0)
}

/// A percentage with one decimal.
pub(crate) fn percent(v: f64) -> String {
    format!("{:.1} %", v * 100.0)
}

/// A number with one decimal.
pub(crate) fn plain(v: f64) -> String {
    format!("{v:.1}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(h: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(h * 3600, 0).unwrap()
    }

    #[test]
    fn a_gap_splits_the_line_and_the_band_follows_the_values() {
        let p = |h, v: Option<f64>| Point {
            at: at(h),
            value: v,
            band: v.map(|v| (v - 0.01, v + 0.01)),
        };
        let points = [
            p(1, Some(0.97)),
            p(2, Some(0.98)),
            p(3, None),
            p(4, Some(0.99)),
        ];
        let svg = line("t", at(0), at(5), (0.9, 1.0), &points, &[], percent);
        assert_eq!(svg.matches("<polyline").count(), 2, "{svg}");
        assert_eq!(svg.matches("<polygon").count(), 2, "{svg}");
        // Few points: each is a dot.
        assert_eq!(svg.matches("<circle").count(), 3, "{svg}");
        let many: Vec<Point> = (0..60).map(|h| p(h, Some(0.98))).collect();
        let svg = line("t", at(0), at(60), (0.9, 1.0), &many, &[], percent);
        assert_eq!(svg.matches("<circle").count(), 0, "{svg}");
        // y: 1.0 is at the top of the plot, 0.9 at its bottom.
        let f = Frame {
            t0: 0.0,
            t1: 5.0 * 3600.0,
            y0: 0.9,
            y1: 1.0,
        };
        assert!((f.y(1.0) - TOP).abs() < 1e-9);
        assert!((f.y(0.9) - (H - BOTTOM)).abs() < 1e-9);
        assert!(
            (f.y(0.5) - (H - BOTTOM)).abs() < 1e-9,
            "values below the range are clamped"
        );
        assert!((f.x(at(0)) - LEFT).abs() < 1e-9);
        assert!((f.x(at(5)) - (W - RIGHT)).abs() < 1e-9);
    }

    #[test]
    fn the_share_range_takes_in_the_lowest_band_and_rule() {
        let points = [Point {
            at: at(1),
            value: Some(0.985),
            band: Some((0.972, 0.993)),
        }];
        let rules = [Rule {
            value: 0.98,
            label: "x",
        }];
        assert_eq!(share_range(&points, &rules), (0.967, 1.0));
        assert_eq!(share_range(&[], &[]), (0.99, 1.0));
    }
}
