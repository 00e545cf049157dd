//! `weir perf plot`: the latency distributions of saved JSON reports (`--output json`) on one
//! panel. Each report is named on the command line: `LABEL=REPORT.json` draws every latency the
//! report has (`produce`, `end_to_end`), `LABEL=REPORT.json#produce` only that one.

use std::path::{Path, PathBuf};

use clap::Args;
use serde_json::Value;

use super::plot::{render_comparison, Curve};
use crate::tools::ToolError;

#[derive(Args, Debug, Clone)]
pub struct PlotArgs {
    /// The SVG file to write.
    #[arg(long, short = 'o', value_name = "FILE.svg")]
    pub output: PathBuf,
    /// The panel's title.
    #[arg(long, default_value = "latency by percentile")]
    pub title: String,
    /// The reports to draw, as LABEL=REPORT.json or LABEL=REPORT.json#LATENCY (the label ends
    /// at the first `=`).
    #[arg(required = true, value_name = "LABEL=REPORT.json[#LATENCY]")]
    pub reports: Vec<String>,
}

pub fn run(args: PlotArgs) -> Result<(), ToolError> {
    let mut curves = Vec::new();
    for spec in &args.reports {
        let (label, path, only) = parse_spec(spec)?;
        let text = std::fs::read_to_string(&path).map_err(|source| ToolError::Io {
            what: "cannot read the report",
            source,
        })?;
        let report: Value = serde_json::from_str(&text).map_err(|e| {
            ToolError::Usage(format!("{} is not a JSON report: {e}", path.display()))
        })?;
        curves.extend(curves_of(&report, &label, only.as_deref(), &path)?);
    }
    std::fs::write(&args.output, render_comparison(&args.title, &curves)).map_err(|source| {
        ToolError::Io {
            what: "cannot write the plot",
            source,
        }
    })
}

fn parse_spec(spec: &str) -> Result<(String, PathBuf, Option<String>), ToolError> {
    let Some((label, rest)) = spec.split_once('=') else {
        return Err(ToolError::Usage(format!(
            "`{spec}`: name each report as LABEL=REPORT.json"
        )));
    };
    let (path, only) = match rest.rsplit_once('#') {
        Some((path, latency)) => (path, Some(latency.to_string())),
        None => (rest, None),
    };
    Ok((label.to_string(), PathBuf::from(path), only))
}

/// The report's latency curves (`latency.<name>_latency_ms.percentile_curve`), labelled
/// "LABEL" when one is drawn and "LABEL name" when several are.
fn curves_of(
    report: &Value,
    label: &str,
    only: Option<&str>,
    path: &Path,
) -> Result<Vec<Curve>, ToolError> {
    let latencies = report
        .get("latency")
        .and_then(Value::as_object)
        .ok_or_else(|| ToolError::Usage(format!("{} has no latencies", path.display())))?;
    let chosen: Vec<(&str, &Value)> = latencies
        .iter()
        .filter_map(|(key, value)| Some((key.strip_suffix("_latency_ms")?, value)))
        .filter(|(name, _)| only.is_none_or(|only| only == *name))
        .collect();
    if chosen.is_empty() {
        return Err(ToolError::Usage(format!(
            "{} has no {} latency",
            path.display(),
            only.unwrap_or("recorded")
        )));
    }
    let several = chosen.len() > 1;
    chosen
        .into_iter()
        .map(|(name, latency)| {
            let points = latency
                .get("percentile_curve")
                .and_then(Value::as_array)
                .ok_or_else(|| {
                    ToolError::Usage(format!(
                        "{}: no percentile_curve for {name} (a report of an older weir?)",
                        path.display()
                    ))
                })?
                .iter()
                .filter_map(|point| Some((point.get(0)?.as_f64()?, point.get(1)?.as_f64()?)))
                .collect();
            Ok(Curve {
                label: match several {
                    true => format!("{label} {name}"),
                    false => label.to_string(),
                },
                points,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn report() -> Value {
        json!({"latency": {
            "produce_latency_ms": {"p50": 1.0, "percentile_curve": [[0.0, 0.5], [50.0, 1.0], [100.0, 9.0]]},
            "end_to_end_latency_ms": {"p50": 2.0, "percentile_curve": [[0.0, 1.0], [100.0, 12.0]]},
        }})
    }

    #[test]
    fn a_report_gives_every_latency_or_the_one_asked_for() {
        let path = Path::new("r.json");
        let all = curves_of(&report(), "run", None, path).unwrap();
        let labels: Vec<&str> = all.iter().map(|c| c.label.as_str()).collect();
        assert_eq!(labels, ["run end_to_end", "run produce"]);
        let one = curves_of(&report(), "alone", Some("produce"), path).unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].label, "alone");
        assert_eq!(one[0].points, vec![(0.0, 0.5), (50.0, 1.0), (100.0, 9.0)]);
        assert!(curves_of(&report(), "x", Some("fetch"), path).is_err());
    }

    #[test]
    fn specs_name_label_file_and_latency() {
        // The label ends at the first `=`; the latency follows the last `#`.
        let (label, path, only) = parse_spec("RF 3=runs/a=b.json#produce").unwrap();
        assert_eq!(
            (label.as_str(), path, only.as_deref()),
            ("RF 3", PathBuf::from("runs/a=b.json"), Some("produce"))
        );
        let (label, path, only) = parse_spec("alone=x.json").unwrap();
        assert_eq!(
            (label.as_str(), path, only),
            ("alone", PathBuf::from("x.json"), None)
        );
        assert!(parse_spec("x.json").is_err());
    }
}
