//! A miss-ratio curve as an SVG chart: cache size on a log scale, the whole trace's curve and its busiest
//! patterns', the current size as a vertical line.

use std::io;
use std::path::Path;

use cachescope_sim::mrc::{Mrc, log_sizes};
use plotters::prelude::*;

use crate::contracts::mrc::{CurveReport, size_text};

const WIDTH: u32 = 960;
const HEIGHT: u32 = 600;
/// Points per line: enough for a smooth curve on a log scale.
const POINTS: usize = 240;

pub fn write(path: &Path, report: &CurveReport, mrc: &Mrc, objects: bool) -> io::Result<()> {
    let svg = render(report, mrc, objects).map_err(|e| io::Error::other(e.to_string()))?;
    std::fs::write(path, svg)
}

fn render(report: &CurveReport, mrc: &Mrc, objects: bool) -> Result<String, Box<dyn std::error::Error>> {
    let mut svg = String::new();
    {
        let max = report.max_useful_size.max(report.current_size.unwrap_or(0)).max(2);
        let min = (max / 10_000).max(1);
        let sizes = log_sizes(min, max, POINTS);
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE)?;
        let name = Path::new(&report.source.name)
            .file_name()
            .map_or(report.source.name.clone(), |n| n.to_string_lossy().into_owned());
        let caption = format!("Miss ratio by cache size: {name}");
        let mut chart = ChartBuilder::on(&root)
            .caption(caption, ("sans-serif", 20))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(64)
            .build_cartesian_2d((min as f64..max as f64).log_scale(), 0.0..1.0)?;
        chart
            .configure_mesh()
            .x_desc(if objects { "cache size (objects)" } else { "cache size" })
            .y_desc("miss ratio")
            .x_label_formatter(&|size| size_text(size.round() as u64, objects))
            .y_label_formatter(&|ratio| format!("{:.0}%", ratio * 100.0))
            .draw()?;

        let line = |curve: &cachescope_sim::mrc::Curve| -> Vec<(f64, f64)> {
            sizes.iter().map(|&size| (size as f64, curve.miss_ratio(size))).collect()
        };
        chart
            .draw_series(LineSeries::new(line(&mrc.curve), BLACK.stroke_width(3)))?
            .label("all reads")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLACK.stroke_width(3)));
        // One pattern's line would hide the whole trace's.
        let patterns = if report.patterns.len() > 1 { report.patterns.len() } else { 0 };
        for (index, pattern) in mrc.patterns.iter().take(patterns).enumerate() {
            let color = Palette99::pick(index + 1).to_rgba();
            chart
                .draw_series(LineSeries::new(line(&pattern.curve), color.stroke_width(2)))?
                .label(pattern.pattern.clone())
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2)));
        }
        if let Some(current) = report.current_size {
            let marker = RGBColor(214, 39, 40).mix(0.6).stroke_width(6);
            chart
                .draw_series(LineSeries::new([(current as f64, 0.0), (current as f64, 1.0)], marker))?
                .label(format!("now: {}", size_text(current, objects)))
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], marker));
        }
        chart.configure_series_labels().background_style(WHITE.mix(0.85)).border_style(BLACK).draw()?;
        root.present()?;
    }
    Ok(svg)
}
