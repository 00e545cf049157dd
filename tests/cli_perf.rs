//! `weir perf produce|consume|e2e` end to end against a real `weir serve`: the counts, bytes and
//! latency percentiles of the JSON report, the SVG plot, CPU accounting of the broker process,
//! and one-line failures for bad arguments and an unreachable broker.

#![cfg(feature = "tools")]

mod support;

use std::process::{Command, Output};

use serde_json::Value;
use support::broker::{free_port, Broker};

fn weir(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(args)
        .output()
        .expect("run weir")
}

/// Runs `weir perf ...` with `--json`; it must succeed. Returns the report.
fn perf(bootstrap: &str, args: &[&str]) -> Value {
    let mut all = vec!["perf"];
    all.extend(args);
    all.extend([
        "--bootstrap-server",
        bootstrap,
        "--output",
        "json",
        "--quiet",
    ]);
    let output = weir(&all);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "weir {all:?} failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

fn percentiles_are_ordered(latency: &Value, count: u64) {
    assert_eq!(latency["count"], count);
    let values: Vec<f64> = ["p50", "p90", "p99", "p99.9", "p99.99", "max"]
        .iter()
        .map(|p| latency[p].as_f64().expect("a percentile"))
        .collect();
    assert!(values[0] > 0.0, "{latency}");
    assert!(values.windows(2).all(|w| w[0] <= w[1]), "{latency}");
}

#[test]
fn produce_then_consume_counts_every_record_and_byte() {
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    let plot = tempfile::NamedTempFile::new().expect("temp file");
    let pid = broker.pid().to_string();
    let produced = perf(
        &bootstrap,
        &[
            "produce",
            "perf-t",
            "--partitions",
            "3",
            "--num-records",
            "3000",
            "--record-size",
            "100",
            "--acks",
            "all",
            "--producers",
            "2",
            "--broker-pid",
            &pid,
            "--plot",
            plot.path().to_str().unwrap(),
        ],
    );
    assert_eq!(produced["workload"], "produce");
    assert_eq!(produced["records"], 3000);
    assert_eq!(produced["bytes"], 300_000);
    assert_eq!(produced["errors"], 0);
    assert_eq!(produced["complete"], true);
    assert_eq!(produced["settings"]["acks"], "all");
    percentiles_are_ordered(&produced["latency"]["produce_latency_ms"], 3000);
    // CPU is counted in clock ticks from /proc: present for the broker's pid and for the
    // client, but maybe 0 for so short a run.
    assert!(produced["broker_cpu_core_seconds"].as_f64().unwrap() >= 0.0);
    assert!(produced["client_cpu_core_seconds"].as_f64().unwrap() >= 0.0);
    let svg = std::fs::read_to_string(plot.path()).expect("plot written");
    assert!(svg.starts_with("<svg") && svg.contains("produce latency by percentile"));

    // Every partition was created and used: the consumer reads all 3000 back.
    let consumed = perf(&bootstrap, &["consume", "perf-t"]);
    assert_eq!(consumed["workload"], "consume");
    assert_eq!(consumed["records"], 3000);
    assert_eq!(consumed["bytes"], 300_000);
    assert_eq!(consumed["settings"]["partitions"], 3);
    assert_eq!(consumed["complete"], true);

    // At a fixed rate the run takes its schedule's time: 400 records at 200/s is 2 s.
    let paced = perf(
        &bootstrap,
        &["produce", "perf-t", "--num-records", "400", "--rate", "200"],
    );
    let seconds = paced["seconds"].as_f64().unwrap();
    assert!((1.9..10.0).contains(&seconds), "{paced}");
    assert_eq!(paced["records"], 400);
}

#[test]
fn end_to_end_latency_sees_each_record_of_its_run() {
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    // Records of an earlier run on the same topic are not counted.
    perf(&bootstrap, &["produce", "perf-e2e", "--num-records", "50"]);
    let report = perf(
        &bootstrap,
        &[
            "e2e",
            "perf-e2e",
            "--rate",
            "300",
            "--duration-secs",
            "2",
            "--record-size",
            "64",
        ],
    );
    assert_eq!(report["workload"], "e2e");
    assert_eq!(report["target_records"], 600);
    assert_eq!(report["records"], 600);
    assert_eq!(report["bytes"], 600 * 64);
    assert_eq!(report["settings"]["acknowledged"], 600);
    percentiles_are_ordered(&report["latency"]["produce_latency_ms"], 600);
    percentiles_are_ordered(&report["latency"]["end_to_end_latency_ms"], 600);

    // The saved report keeps each distribution whole (`percentile_curve`, ending at 100% with
    // the max), and `weir perf plot` draws saved reports side by side: one line per curve.
    let produce = &report["latency"]["produce_latency_ms"];
    let curve = produce["percentile_curve"].as_array().expect("a curve");
    let last = curve.last().expect("points");
    assert_eq!(last[0].as_f64(), Some(100.0), "{last}");
    let max = produce["max"].as_f64().unwrap();
    assert!(
        (last[1].as_f64().unwrap() - max).abs() <= max * 0.01,
        "{last} vs max {max}"
    );
    let saved = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(saved.path(), report.to_string()).unwrap();
    let svg_file = tempfile::NamedTempFile::new().expect("temp file");
    let saved_path = saved.path().to_str().unwrap();
    let output = weir(&[
        "perf",
        "plot",
        "-o",
        svg_file.path().to_str().unwrap(),
        "--title",
        "two runs",
        &format!("both={saved_path}"),
        &format!("again={saved_path}#end_to_end"),
    ]);
    assert!(output.status.success(), "{output:?}");
    let svg = std::fs::read_to_string(svg_file.path()).unwrap();
    assert_eq!(svg.matches("<polyline").count(), 3, "{svg}");
    for label in ["two runs", "both produce", "both end_to_end", "again"] {
        assert!(svg.contains(label), "{label} missing: {svg}");
    }
    // A latency the report does not have is a one-line usage error.
    let output = weir(&[
        "perf",
        "plot",
        "-o",
        svg_file.path().to_str().unwrap(),
        &format!("x={saved_path}#fetch"),
    ]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("no fetch latency"));
}

#[test]
fn bad_arguments_and_a_missing_broker_fail_in_one_line() {
    let down = format!("127.0.0.1:{}", free_port());
    let output = weir(&[
        "perf",
        "produce",
        "t",
        "--num-records",
        "10",
        "-b",
        &down,
        "--request-timeout-ms",
        "2000",
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("weir perf: cannot reach a Kafka broker at"),
        "{stderr}"
    );
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");

    let output = weir(&["perf", "e2e", "t", "--record-size", "8", "-b", &down]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--record-size must be at least 16"),
        "{stderr}"
    );

    let output = weir(&["perf", "produce", "t", "--acks", "2"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("expected all, -1, 1 or 0"));
}

/// A fixed-rate run must not spin its sending thread: at 5,000 records/s the old harness
/// busy-waited the last 200 µs before each record, which is all of a 200 µs interval, and kept
/// a whole core busy, so its latencies measured itself. Records now leave in groups once per
/// tick and the thread sleeps in between (src/tools/perf/schedule.rs).
#[test]
fn a_fixed_rate_run_leaves_the_client_core_mostly_idle() {
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    let busy_share = |report: &Value| {
        report["client_cpu_core_seconds"]
            .as_f64()
            .expect("client CPU")
            / report["seconds"].as_f64().expect("seconds")
    };
    let produced = perf(
        &bootstrap,
        &[
            "produce",
            "perf-idle",
            "--rate",
            "5000",
            "--duration-secs",
            "3",
            "--linger-ms",
            "1",
        ],
    );
    assert_eq!(produced["records"], 15_000, "{produced}");
    assert_eq!(produced["errors"], 0);
    assert!(
        busy_share(&produced) < 0.4,
        "the client used {:.0}% of a core to send 5,000 records/s: {produced}",
        busy_share(&produced) * 100.0
    );
    assert_eq!(produced["client_saturated"], false, "{produced}");

    let e2e = perf(
        &bootstrap,
        &[
            "e2e",
            "perf-idle-e2e",
            "--rate",
            "5000",
            "--duration-secs",
            "3",
        ],
    );
    assert_eq!(e2e["records"], 15_000, "{e2e}");
    // The consumer's thread polls too; still far from a spinning core.
    assert!(
        busy_share(&e2e) < 0.5,
        "the client used {:.0}% of a core for e2e at 5,000 records/s: {e2e}",
        busy_share(&e2e) * 100.0
    );
}
