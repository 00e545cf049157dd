//! `--plot FILE.svg`: the latency percentile distribution (HdrHistogram's plot: the x axis
//! stretches the tail, 90% → 99% → 99.9% → ... at equal steps) beside throughput over time.
//! `weir perf plot` draws the distributions of several saved JSON reports on one panel, so that
//! runs side by side (alone and beside a reader, RF=1 and RF=3) compare at a glance.
//! Plain SVG, so it opens in any browser and diffs in review.

use std::fmt::Write;

use hdrhistogram::Histogram;

use super::report::Report;

const PANEL_WIDTH: f64 = 480.0;
const PANEL_HEIGHT: f64 = 300.0;
const MARGIN: f64 = 60.0;
const COLORS: [&str; 6] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
];
/// The x axis of the latency panel ends at 99.999%.
const TAIL_NINES: f64 = 5.0;
/// Points per halving of the distance to 100%, as HdrHistogram's percentile output.
const TICKS_PER_HALF_DISTANCE: u32 = 5;

/// One latency distribution as (percentile in 0..=100, milliseconds) points, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Curve {
    pub label: String,
    pub points: Vec<(f64, f64)>,
}

/// The points of a histogram's percentile distribution (what the JSON report saves as
/// `percentile_curve`).
pub fn percentile_points(histogram: &Histogram<u64>) -> Vec<(f64, f64)> {
    histogram
        .iter_quantiles(TICKS_PER_HALF_DISTANCE)
        .map(|value| {
            let millis = histogram.highest_equivalent(value.value_iterated_to()) as f64 / 1000.0;
            (value.quantile_iterated_to() * 100.0, millis)
        })
        .collect()
}

pub fn render(report: &Report) -> String {
    let width = 2.0 * (PANEL_WIDTH + 2.0 * MARGIN);
    let mut svg = svg_start(width);
    let curves: Vec<Curve> = report
        .latencies
        .iter()
        .map(|(name, histogram)| Curve {
            label: name.to_string(),
            points: percentile_points(histogram),
        })
        .collect();
    latency_panel(
        &mut svg,
        &format!("{} latency by percentile", report.workload),
        &curves,
        MARGIN,
    );
    throughput_panel(&mut svg, report, PANEL_WIDTH + 3.0 * MARGIN);
    svg.push_str("</svg>\n");
    svg
}

/// One latency panel with every curve on it (`weir perf plot`).
pub fn render_comparison(title: &str, curves: &[Curve]) -> String {
    let mut svg = svg_start(PANEL_WIDTH + 2.0 * MARGIN);
    latency_panel(&mut svg, title, curves, MARGIN);
    svg.push_str("</svg>\n");
    svg
}

fn svg_start(width: f64) -> String {
    let height = PANEL_HEIGHT + 2.0 * MARGIN;
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    )
}

/// A panel's frame, title and axis labels; returns the plot area's origin (bottom left).
fn frame(svg: &mut String, left: f64, title: &str, x_label: &str, y_label: &str) -> (f64, f64) {
    let top = MARGIN;
    let bottom = top + PANEL_HEIGHT;
    let _ = writeln!(
        svg,
        "<rect x=\"{left}\" y=\"{top}\" width=\"{PANEL_WIDTH}\" height=\"{PANEL_HEIGHT}\" fill=\"none\" stroke=\"#888\"/>\n\
         <text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"14\">{}</text>\n\
         <text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n\
         <text transform=\"translate({},{}) rotate(-90)\" text-anchor=\"middle\">{}</text>",
        left + PANEL_WIDTH / 2.0,
        top - 20.0,
        escape(title),
        left + PANEL_WIDTH / 2.0,
        bottom + 40.0,
        escape(x_label),
        left - 45.0,
        top + PANEL_HEIGHT / 2.0,
        escape(y_label),
    );
    (left, bottom)
}

fn y_ticks(svg: &mut String, left: f64, bottom: f64, y_max: f64) {
    for step in 0..=4 {
        let value = y_max * step as f64 / 4.0;
        let y = bottom - PANEL_HEIGHT * step as f64 / 4.0;
        let _ = writeln!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\n\
             <line x1=\"{left}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"#eee\"/>",
            left - 5.0,
            y + 4.0,
            tick_label(value),
            left + PANEL_WIDTH,
        );
    }
}

fn latency_panel(svg: &mut String, title: &str, curves: &[Curve], left: f64) {
    let (left, bottom) = frame(svg, left, title, "percentile", "latency (ms)");
    let y_max = nice_ceiling(
        curves
            .iter()
            .flat_map(|curve| curve.points.iter().map(|&(_, millis)| millis))
            .fold(0.0, f64::max),
    );
    y_ticks(svg, left, bottom, y_max);
    for (nines, label) in ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"]
        .iter()
        .enumerate()
    {
        let x = left + PANEL_WIDTH * nines as f64 / TAIL_NINES;
        let _ = writeln!(
            svg,
            "<text x=\"{x}\" y=\"{}\" text-anchor=\"middle\">{label}</text>",
            bottom + 16.0
        );
    }
    for (index, curve) in curves.iter().enumerate() {
        let color = COLORS[index % COLORS.len()];
        let mut points = String::new();
        for &(percentile, millis) in &curve.points {
            let nines = if percentile >= 100.0 {
                TAIL_NINES
            } else {
                (-(1.0 - percentile / 100.0).log10()).min(TAIL_NINES)
            };
            let x = left + PANEL_WIDTH * nines / TAIL_NINES;
            let y = bottom - PANEL_HEIGHT * (millis / y_max).min(1.0);
            let _ = write!(points, "{x:.1},{y:.1} ");
        }
        let _ = writeln!(
            svg,
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"/>\n\
             <text x=\"{}\" y=\"{}\" fill=\"{color}\">{}</text>",
            points.trim_end(),
            left + 10.0,
            MARGIN + 18.0 + 16.0 * index as f64,
            escape(&curve.label),
        );
    }
}

fn throughput_panel(svg: &mut String, report: &Report, left: f64) {
    let (left, bottom) = frame(svg, left, "throughput over time", "seconds", "MiB/s");
    let rates: Vec<f64> = report
        .timeline
        .iter()
        .map(|s| s.bytes as f64 / (1024.0 * 1024.0))
        .collect();
    let y_max = nice_ceiling(rates.iter().copied().fold(0.0, f64::max));
    y_ticks(svg, left, bottom, y_max);
    let seconds = report.timeline.last().map_or(1, |s| s.second).max(1) as f64;
    let _ = writeln!(
        svg,
        "<text x=\"{left}\" y=\"{}\" text-anchor=\"middle\">0</text>\n\
         <text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{seconds}</text>",
        bottom + 16.0,
        left + PANEL_WIDTH,
        bottom + 16.0
    );
    let points: Vec<String> = report
        .timeline
        .iter()
        .zip(&rates)
        .map(|(sample, rate)| {
            format!(
                "{:.1},{:.1}",
                left + PANEL_WIDTH * sample.second as f64 / seconds,
                bottom - PANEL_HEIGHT * (rate / y_max).min(1.0)
            )
        })
        .collect();
    let _ = writeln!(
        svg,
        "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2\" points=\"{}\"/>",
        COLORS[0],
        points.join(" ")
    );
}

/// The axis top: the next 1, 2 or 5 times a power of ten (at least 1 µs worth).
fn nice_ceiling(value: f64) -> f64 {
    if value <= 0.001 {
        return 0.001;
    }
    let power = 10f64.powf(value.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * power)
        .find(|&top| top >= value)
        .unwrap_or(10.0 * power)
}

fn tick_label(value: f64) -> String {
    if value == 0.0 || value >= 10.0 {
        format!("{value:.0}")
    } else if value >= 0.1 {
        format!("{value:.2}")
    } else {
        format!("{value:.3}")
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::super::report::{new_histogram, Report, Sample};
    use super::*;

    #[test]
    fn axis_tops_are_round() {
        assert_eq!(nice_ceiling(0.0), 0.001);
        assert_eq!(nice_ceiling(3.2), 5.0);
        assert_eq!(nice_ceiling(5.0), 5.0);
        assert_eq!(nice_ceiling(123.0), 200.0);
        assert_eq!(nice_ceiling(0.07), 0.1);
    }

    #[test]
    fn the_plot_is_svg_with_one_line_per_latency_and_the_timeline() {
        let mut produce = new_histogram();
        let mut end_to_end = new_histogram();
        for micros in 1..=9_000u64 {
            produce.record(micros).unwrap();
            end_to_end.record(micros * 2).unwrap();
        }
        let report = Report {
            workload: "e2e<1>",
            records: 10,
            bytes: 10,
            elapsed: std::time::Duration::from_secs(2),
            errors: 0,
            first_error: None,
            transactions: None,
            target_records: None,
            latencies: vec![("produce", produce), ("end_to_end", end_to_end)],
            timeline: (1..=2)
                .map(|second| Sample {
                    second,
                    records: 5,
                    bytes: 5 << 20,
                })
                .collect(),
            client_cpu: None,
            client_cores: None,
            broker_cpu: None,
            settings: serde_json::Value::Null,
        };
        let svg = render(&report);
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<polyline").count(), 3);
        assert!(svg.contains(">e2e&lt;1&gt; latency by percentile<"));
        assert!(svg.contains(">end_to_end<"));
        assert!(svg.contains(">99.99%<"));
        // The end-to-end line reaches 18 ms: the axis top is 20.
        assert!(svg.contains(">20<"));
    }
}
