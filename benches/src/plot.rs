//! The plot of throughput and peak memory against N, written next to RESULTS.md.

use std::path::Path;

use plotters::prelude::*;

use crate::env::BoxError;

/// One series: a name and `(N, value)` points.
pub type Series = (String, Vec<(f64, f64)>);

const COLORS: [RGBColor; 4] = [BLUE, RED, GREEN, MAGENTA];

fn panel(
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    title: &str,
    y_label: &str,
    series: &[Series],
) -> Result<(), BoxError> {
    let xs = series.iter().flat_map(|s| s.1.iter().map(|p| p.0));
    let ys = series.iter().flat_map(|s| s.1.iter().map(|p| p.1));
    let (x_min, x_max) = xs.fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(x), b.max(x)));
    let y_max = ys.fold(0.0_f64, f64::max);
    if x_min > x_max {
        return Err("nothing to plot".into());
    }
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(
            ((x_min / 2.0)..(x_max * 2.0)).log_scale(),
            0.0..(y_max * 1.15).max(1.0),
        )?;
    chart
        .configure_mesh()
        .x_desc("people (N, log scale)")
        .y_desc(y_label)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .draw()?;
    for (i, (name, points)) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                color.stroke_width(2),
            ))?
            .label(name.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        chart.draw_series(points.iter().map(|p| Circle::new(*p, 4, color.filled())))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()?;
    Ok(())
}

/// Writes an SVG with throughput (left) and peak RSS (right) against N.
pub fn write(path: &Path, throughput: &[Series], memory: &[Series]) -> Result<(), BoxError> {
    let root = SVGBackend::new(path, (1100, 460)).into_drawing_area();
    root.fill(&WHITE)?;
    let (left, right) = root.split_horizontally(550);
    panel(
        &left,
        "Full pull: records/s",
        "records per second",
        throughput,
    )?;
    panel(
        &right,
        "Full pull: peak RSS",
        "MiB (engine process)",
        memory,
    )?;
    root.present()?;
    Ok(())
}
