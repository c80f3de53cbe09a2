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

/// One line of a step chart: each value holds until the next point.
pub(crate) struct Series<'a> {
    pub name: &'a str,
    pub colour: &'a str,
    pub points: Vec<(DateTime<Utc>, i64)>,
}

/// The chart of a subnet's held and assigned addresses (`points`) over `[from, to]`.
pub(crate) fn subnet_chart(
    points: &[SubnetPoint],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> String {
    step_chart(
        &[
            Series {
                name: "held by nodes",
                colour: "#1f4e79",
                points: points.iter().map(|p| (p.at, p.held)).collect(),
            },
            Series {
                name: "assigned to pods",
                colour: "#b26a00",
                points: points.iter().map(|p| (p.at, p.assigned)).collect(),
            },
        ],
        from,
        to,
        "Addresses over time",
    )
}

/// The chart of EC2's free-address count of a subnet over `[from, to]`: a sample holds until the
/// next one, the last until `to`. Drawn apart from the nodes' figures: a subnet's free count is
/// often a hundred times what its nodes hold, and one axis would flatten the nodes' lines.
pub(crate) fn free_chart(
    samples: &[(DateTime<Utc>, i64)],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> String {
    let mut points: Vec<(DateTime<Utc>, i64)> =
        samples.iter().map(|(t, v)| ((*t).max(from), *v)).collect();
    if let Some(&(at, value)) = points.last()
        && at < to
    {
        points.push((to, value));
    }
    step_chart(
        &[Series {
            name: "free (EC2)",
            colour: "#2e7d32",
            points,
        }],
        from,
        to,
        "Free addresses over time",
    )
}

fn step_chart(
    series: &[Series<'_>],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    label: &str,
) -> String {
    let span = (to - from).num_milliseconds().max(1) as f64;
    let max = series
        .iter()
        .flat_map(|s| s.points.iter().map(|(_, v)| *v))
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
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="subnet-chart" role="img" aria-label="{label}" width="{W}" height="{H}" viewBox="0 0 {W} {H}">"#
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
    for (index, line) in series.iter().enumerate() {
        let mut d = String::new();
        for (i, (at, value)) in line.points.iter().enumerate() {
            let (px, py) = (x(*at), y(*value));
            if i == 0 {
                let _ = write!(d, "M{px:.1} {py:.1}");
            } else {
                // A step: the previous value holds until this point.
                let _ = write!(d, " H{px:.1} V{py:.1}");
            }
        }
        let (name, colour) = (line.name, line.colour);
        let _ = write!(
            svg,
            r#"<path class="series" data-series="{name}" d="{d}" fill="none" stroke="{colour}" stroke-width="2"/>"#
        );
        let lx = LEFT + 10.0 + 170.0 * index as f64;
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

    #[test]
    fn ec2_free_samples_hold_until_the_end_of_the_period() {
        let t = |h: i64| {
            Utc.with_ymd_and_hms(2026, 11, 20, 0, 0, 0).unwrap() + chrono::Duration::hours(h)
        };
        // The sample in force at the start was taken before it: drawn from the start.
        let svg = free_chart(&[(t(-3), 8000), (t(12), 4000)], t(0), t(24));
        // y axis tops at 10000: 8000 is a fifth of the way down, 4000 three fifths
        assert!(
            svg.contains(r#"data-series="free (EC2)" d="M60.0 60.0 H470.0 V140.0 H880.0 V140.0""#),
            "{svg}"
        );
    }
}
