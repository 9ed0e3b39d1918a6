//! The latency-percentile plot: one panel per route and open-loop rate, one line per server,
//! percentiles on the x axis, latency on a log y axis, as SVG.

use std::path::Path;

use plotters::prelude::*;

use crate::report::thousands;
use crate::runs::{Latency, Summary};

const WIDTH: u32 = 1200;
const HEIGHT_PER_ROUTE: u32 = 420;
const PERCENTILES: [&str; 5] = ["50%", "90%", "99%", "99.9%", "99.99%"];
/// Distinct colours, ringpin's first; cycled past the eighth server.
const COLOURS: [RGBColor; 9] = [
    RGBColor(214, 39, 40),
    RGBColor(31, 119, 180),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(23, 190, 207),
];

fn points(latency: &Latency) -> [f64; 5] {
    [
        latency.p50,
        latency.p90,
        latency.p99,
        latency.p99_9,
        latency.p99_99,
    ]
}

pub fn draw(summary: &Summary, path: &Path) -> Result<(), String> {
    let fail = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let panels = summary.routes.len().max(1) as u32;
    let root = SVGBackend::new(path, (WIDTH, HEIGHT_PER_ROUTE * panels)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(&e))?;
    if summary.fractions.is_empty() {
        return root.present().map_err(|e| fail(&e));
    }
    let (low, high) = latency_bounds(summary);
    let mut servers: Vec<&str> = Vec::new();
    for row in &summary.rows {
        if !servers.contains(&row.server.as_str()) {
            servers.push(&row.server);
        }
    }
    // ringpin first, so it keeps the first colour whatever its rank.
    servers.sort_by_key(|server| *server != "ringpin");
    let areas = root.split_evenly((summary.routes.len(), summary.fractions.len()));
    let panels = summary
        .routes
        .iter()
        .flat_map(|route| summary.fractions.iter().map(move |f| (route, *f)));
    for (area, (route, fraction)) in areas.iter().zip(panels) {
        let rate = summary.rate(route, fraction).unwrap_or(0.0);
        let caption = format!(
            "{route}: {:.0} % of the best peak, {} req/s",
            fraction * 100.0,
            thousands(rate)
        );
        let mut chart = ChartBuilder::on(area)
            .caption(caption, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(64)
            .build_cartesian_2d(-0.25f64..4.25f64, (low..high).log_scale())
            .map_err(|e| fail(&e))?;
        chart
            .configure_mesh()
            .x_labels(PERCENTILES.len())
            .x_label_formatter(&|x| {
                let index = x.round();
                if (x - index).abs() < 0.01 && (0.0..5.0).contains(&index) {
                    PERCENTILES[index as usize].to_string()
                } else {
                    String::new()
                }
            })
            .y_desc("latency, µs")
            .x_desc("percentile")
            .y_label_formatter(&|y| thousands(*y))
            .draw()
            .map_err(|e| fail(&e))?;
        for (index, server) in servers.iter().enumerate() {
            let Some(cell) = summary
                .rows
                .iter()
                .find(|row| row.route == *route && row.server == *server)
                .and_then(|row| row.open.iter().flatten().find(|c| c.fraction == fraction))
            else {
                continue;
            };
            let colour = COLOURS[index % COLOURS.len()];
            let width = if *server == "ringpin" { 3 } else { 2 };
            let series: Vec<(f64, f64)> = points(&cell.latency)
                .iter()
                .enumerate()
                .map(|(i, us)| (i as f64, us.max(low)))
                .collect();
            chart
                .draw_series(LineSeries::new(series.clone(), colour.stroke_width(width)))
                .map_err(|e| fail(&e))?
                .label(*server)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(width))
                });
            chart
                .draw_series(series.iter().map(|p| Circle::new(*p, 3, colour.filled())))
                .map_err(|e| fail(&e))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .draw()
            .map_err(|e| fail(&e))?;
    }
    root.present().map_err(|e| fail(&e))
}

/// One y range for every panel, so that panels compare at a glance.
fn latency_bounds(summary: &Summary) -> (f64, f64) {
    let values: Vec<f64> = summary
        .rows
        .iter()
        .flat_map(|row| row.open.iter().flatten())
        .flat_map(|cell| points(&cell.latency))
        .filter(|v| *v > 0.0)
        .collect();
    let low = values.iter().copied().fold(f64::INFINITY, f64::min);
    let high = values.iter().copied().fold(0.0, f64::max);
    if low.is_finite() && high > 0.0 {
        (low / 1.5, high * 1.5)
    } else {
        (1.0, 1000.0)
    }
}
