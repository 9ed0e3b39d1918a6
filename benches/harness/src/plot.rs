//! The latency-against-load plot, as SVG: one panel per route, offered load (req/s) on the x
//! axis, latency on a log y axis, one colour per server: p99 solid, p50 dashed; a hollow
//! marker is a point without a verdict (the generator's send lag p99 was too high).

use std::path::Path;

use plotters::prelude::*;

use crate::report::thousands;
use crate::runs::{OpenCell, Summary, VERDICT_LAG_US};

const WIDTH: u32 = 1100;
const HEIGHT_PER_ROUTE: u32 = 520;
/// Distinct colours, ringpin's first; cycled past the ninth server.
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

pub fn draw(summary: &Summary, path: &Path) -> Result<(), String> {
    let fail = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let panels = summary.routes.len().max(1) as u32;
    let root = SVGBackend::new(path, (WIDTH, HEIGHT_PER_ROUTE * panels)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(&e))?;
    if summary.points.is_empty() {
        return root.present().map_err(|e| fail(&e));
    }
    let (low, high) = latency_bounds(summary);
    let max_rate = summary
        .rows
        .iter()
        .flat_map(|row| row.open.iter().flatten())
        .map(|cell| cell.rate)
        .fold(0.0, f64::max)
        .max(1.0);
    let mut servers: Vec<&str> = Vec::new();
    for row in &summary.rows {
        if !servers.contains(&row.server.as_str()) {
            servers.push(&row.server);
        }
    }
    // ringpin first, so it keeps the first colour whatever its rank.
    servers.sort_by_key(|server| *server != "ringpin");
    let areas = root.split_evenly((summary.routes.len(), 1));
    for (area, route) in areas.iter().zip(&summary.routes) {
        let caption = format!(
            "{route}: latency against offered load (p99 solid, p50 dashed; hollow: no verdict, \
             send lag p99 ≥ {VERDICT_LAG_US:.0} µs)"
        );
        let mut chart = ChartBuilder::on(area)
            .caption(caption, ("sans-serif", 17))
            .margin(14)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..max_rate * 1.05, (low..high).log_scale())
            .map_err(|e| fail(&e))?;
        chart
            .configure_mesh()
            .y_desc("latency, µs (log)")
            .x_desc("offered load, requests/s")
            .x_label_formatter(&|x| thousands(*x))
            .y_label_formatter(&|y| thousands(*y))
            .draw()
            .map_err(|e| fail(&e))?;
        for (index, server) in servers.iter().enumerate() {
            let Some(row) = summary
                .rows
                .iter()
                .find(|row| row.route == *route && row.server == *server)
            else {
                continue;
            };
            let mut cells: Vec<&OpenCell> = row.open.iter().flatten().collect();
            if cells.is_empty() {
                continue;
            }
            cells.sort_by(|a, b| a.rate.total_cmp(&b.rate));
            let colour = COLOURS[index % COLOURS.len()];
            let width = if *server == "ringpin" { 3 } else { 2 };
            let p99: Vec<(f64, f64)> = cells
                .iter()
                .map(|c| (c.rate, c.latency.p99.max(low)))
                .collect();
            let p50: Vec<(f64, f64)> = cells
                .iter()
                .map(|c| (c.rate, c.latency.p50.max(low)))
                .collect();
            chart
                .draw_series(LineSeries::new(p99.clone(), colour.stroke_width(width)))
                .map_err(|e| fail(&e))?
                .label(*server)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(width))
                });
            chart
                .draw_series(DashedLineSeries::new(
                    p50.clone(),
                    6,
                    4,
                    colour.stroke_width(width.saturating_sub(1).max(1)),
                ))
                .map_err(|e| fail(&e))?;
            let markers = cells
                .iter()
                .zip(p99.iter().zip(&p50))
                .flat_map(|(cell, (a, b))| {
                    let style = if cell.has_verdict() {
                        colour.filled()
                    } else {
                        colour.stroke_width(1)
                    };
                    [Circle::new(*a, 4, style), Circle::new(*b, 3, style)]
                });
            chart.draw_series(markers).map_err(|e| fail(&e))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .draw()
            .map_err(|e| fail(&e))?;
    }
    root.present().map_err(|e| fail(&e))
}

/// One y range for every panel, so that routes compare at a glance.
fn latency_bounds(summary: &Summary) -> (f64, f64) {
    let values: Vec<f64> = summary
        .rows
        .iter()
        .flat_map(|row| row.open.iter().flatten())
        .flat_map(|cell| [cell.latency.p50, cell.latency.p99])
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
