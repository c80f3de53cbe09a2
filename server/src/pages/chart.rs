//! A step chart of a subnet's held and assigned addresses over time, drawn as server-side SVG.
//! Hand-written rather than a plotting crate: plotters' SVG backend needs a font backend to lay
//! out axis labels, and two step lines with a few labels are a hundred lines.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use crate::read::SubnetPoint;

const W: f64 = 900.0;
const H: f64 = 260.0;
const LEFT: f64 = 60.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 20.0;
const BOTTOM: f64 = 40.0;

/// The chart of `points` over `[from, to]`.
pub(crate) fn subnet_chart(
    points: &[SubnetPoint],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> String {
    let span = (to - from).num_milliseconds().max(1) as f64;
    let max = points
        .iter()
        .map(|p| p.held.max(p.assigned))
        .max()
        .unwrap_or(0)
        .max(1);
    // A round top for the y axis: 1, 2 or 5 times a power of ten.
    let mut top = 1i64;
    while top < max {
        top = match top.to_string().chars().next() {
            Some('1') => top * 2,
            Some('2') => top / 2 * 5,
            _ => top * 2,
        };
    }
    let x =
        |t: DateTime<Utc>| LEFT + (t - from).num_milliseconds() as f64 / span * (W - LEFT - RIGHT);
    let y = |v: i64| TOP + (1.0 - v as f64 / top as f64) * (H - TOP - BOTTOM);
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="subnet-chart" role="img" aria-label="Addresses over time" width="{W}" height="{H}" viewBox="0 0 {W} {H}">"#
    );
    for i in 0..=4 {
        let v = top * i / 4;
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" x2="{x2}" y1="{yy}" y2="{yy}" stroke="#e6ebf1"/><text x="{tx}" y="{ty}" text-anchor="end" fill="#5b6675">{v}</text>"##,
            x2 = W - RIGHT,
            yy = y(v),
            tx = LEFT - 6.0,
            ty = y(v) + 4.0,
        );
    }
    for i in 0..=4 {
        let t = from + (to - from) * i / 4;
        let _ = write!(
            svg,
            r##"<text x="{tx}" y="{ty}" text-anchor="middle" fill="#5b6675">{label}</text>"##,
            tx = x(t),
            ty = H - BOTTOM + 18.0,
            label = t.format("%m-%d %H:%M"),
        );
    }
    for (series, colour, name) in [
        (0usize, "#1f4e79", "held by nodes"),
        (1, "#b26a00", "assigned to pods"),
    ] {
        let value = |p: &SubnetPoint| if series == 0 { p.held } else { p.assigned };
        let mut d = String::new();
        for (i, p) in points.iter().enumerate() {
            let (px, py) = (x(p.at), y(value(p)));
            if i == 0 {
                let _ = write!(d, "M{px:.1} {py:.1}");
            } else {
                // A step: the previous value holds until this point.
                let _ = write!(d, " H{px:.1} V{py:.1}");
            }
        }
        let _ = write!(
            svg,
            r#"<path class="series" data-series="{name}" d="{d}" fill="none" stroke="{colour}" stroke-width="2"/>"#
        );
        let lx = LEFT + 10.0 + 170.0 * series as f64;
        let _ = write!(
            svg,
            r#"<rect x="{lx}" y="{ly}" width="12" height="3" fill="{colour}"/><text x="{tx}" y="{ty}">{name}</text>"#,
            ly = H - 12.0,
            tx = lx + 16.0,
            ty = H - 8.0,
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn steps_hold_each_value_until_the_next_point() {
        let t = |h: i64| {
            Utc.with_ymd_and_hms(2026, 11, 20, 0, 0, 0).unwrap() + chrono::Duration::hours(h)
        };
        let points = [
            SubnetPoint {
                at: t(0),
                held: 10,
                assigned: 4,
            },
            SubnetPoint {
                at: t(12),
                held: 20,
                assigned: 8,
            },
            SubnetPoint {
                at: t(24),
                held: 20,
                assigned: 8,
            },
        ];
        let svg = subnet_chart(&points, t(0), t(24));
        // y axis tops at 20: held 10 is half-way down the plot area, 20 at its top
        assert!(
            svg.contains(
                r#"data-series="held by nodes" d="M60.0 120.0 H470.0 V20.0 H880.0 V20.0""#
            ),
            "{svg}"
        );
        assert!(svg.contains(">11-20 12:00<"));
    }
}
