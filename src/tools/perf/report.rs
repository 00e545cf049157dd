//! What a perf run measured, and how it is printed: one summary for people, one JSON document
//! for scripts (`--json`), the same figures in both.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{json, Value};

/// Latencies are recorded in microseconds, from 1 µs to 10 minutes, to 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("static histogram bounds are valid")
}

/// The percentiles every report prints (Kafka's perf tools print 50/95/99/99.9; the tail
/// beyond is what a latency-sensitive user asks about).
pub const PERCENTILES: [(&str, f64); 5] = [
    ("p50", 0.50),
    ("p90", 0.90),
    ("p99", 0.99),
    ("p99.9", 0.999),
    ("p99.99", 0.9999),
];

/// Records and bytes completed during one second of the run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub second: u64,
    pub records: u64,
    pub bytes: u64,
}

/// CPU time a process spent (user + system), read from `/proc/<pid>/stat`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuUse {
    pub core_seconds: f64,
}

pub struct Report {
    pub workload: &'static str,
    pub records: u64,
    pub bytes: u64,
    pub elapsed: Duration,
    pub errors: u64,
    pub first_error: Option<String>,
    /// Transactions committed, in a transactional produce run.
    pub transactions: Option<u64>,
    /// The records the run set out to move (when it had a count rather than a duration).
    pub target_records: Option<u64>,
    /// Named latency distributions: `produce` (send → acknowledgement), `end_to_end`
    /// (send → consumed).
    pub latencies: Vec<(&'static str, Histogram<u64>)>,
    pub timeline: Vec<Sample>,
    pub client_cpu: Option<CpuUse>,
    /// The cores this process may run on (its CPU affinity): what "saturated" is measured
    /// against.
    pub client_cores: Option<usize>,
    pub broker_cpu: Option<CpuUse>,
    pub settings: Value,
}

/// A client busy at least this share of the cores it may use was the bottleneck, or close to
/// it: its latencies and throughput then measure the load generator, not the broker.
pub const CLIENT_SATURATED_SHARE: f64 = 0.9;

const MIB: f64 = 1024.0 * 1024.0;

impl Report {
    fn seconds(&self) -> f64 {
        self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn records_per_sec(&self) -> f64 {
        self.records as f64 / self.seconds()
    }

    pub fn mib_per_sec(&self) -> f64 {
        self.bytes as f64 / MIB / self.seconds()
    }

    /// Core-seconds of CPU per GB (10^9 bytes) moved: the broker-efficiency figure of the
    /// performance goals.
    fn cpu_per_gb(&self, cpu: Option<CpuUse>) -> Option<f64> {
        cpu.filter(|_| self.bytes > 0)
            .map(|cpu| cpu.core_seconds / (self.bytes as f64 / 1e9))
    }

    /// The share of its allowed cores the client kept busy over the run (1.0 = all of them).
    pub fn client_busy_share(&self) -> Option<f64> {
        let cores = self.client_cores.filter(|&cores| cores > 0)? as f64;
        Some(self.client_cpu?.core_seconds / self.seconds() / cores)
    }

    pub fn client_saturated(&self) -> bool {
        self.client_busy_share()
            .is_some_and(|share| share >= CLIENT_SATURATED_SHARE)
    }

    pub fn complete(&self) -> bool {
        self.errors == 0
            && self
                .target_records
                .is_none_or(|target| self.records >= target)
    }

    pub fn to_json(&self) -> Value {
        let latencies: serde_json::Map<String, Value> = self
            .latencies
            .iter()
            .map(|(name, histogram)| (format!("{name}_latency_ms"), latency_json(histogram)))
            .collect();
        json!({
            "workload": self.workload,
            "records": self.records,
            "bytes": self.bytes,
            "seconds": round3(self.elapsed.as_secs_f64()),
            "records_per_sec": round3(self.records_per_sec()),
            "mib_per_sec": round3(self.mib_per_sec()),
            "errors": self.errors,
            "first_error": self.first_error,
            "transactions_committed": self.transactions,
            "transactions_per_sec": self.transactions.map(|t| round3(t as f64 / self.seconds())),
            "target_records": self.target_records,
            "complete": self.complete(),
            "latency": latencies,
            "client_cpu_core_seconds": self.client_cpu.map(|c| round3(c.core_seconds)),
            "client_cpu_core_seconds_per_gb": self.cpu_per_gb(self.client_cpu).map(round3),
            "client_cores_allowed": self.client_cores,
            "client_busy_share": self.client_busy_share().map(round3),
            "client_saturated": self.client_saturated(),
            "broker_cpu_core_seconds": self.broker_cpu.map(|c| round3(c.core_seconds)),
            "broker_cpu_core_seconds_per_gb": self.cpu_per_gb(self.broker_cpu).map(round3),
            "timeline": self.timeline.iter().map(|s| json!({
                "second": s.second,
                "records": s.records,
                "mib_per_sec": round3(s.bytes as f64 / MIB),
            })).collect::<Vec<_>>(),
            "settings": self.settings,
        })
    }

    pub fn to_text(&self) -> String {
        let mut text = format!(
            "{}: {} records, {:.2} MiB in {:.3} s: {:.0} records/s, {:.1} MiB/s\n",
            self.workload,
            self.records,
            self.bytes as f64 / MIB,
            self.elapsed.as_secs_f64(),
            self.records_per_sec(),
            self.mib_per_sec(),
        );
        if let Some(transactions) = self.transactions {
            text.push_str(&format!(
                "  {transactions} transactions committed, {:.1} per second\n",
                transactions as f64 / self.seconds()
            ));
        }
        for (name, histogram) in &self.latencies {
            text.push_str(&format!("  {name} latency (ms):"));
            for (label, quantile) in PERCENTILES {
                text.push_str(&format!(
                    " {label} {}",
                    ms(histogram.value_at_quantile(quantile))
                ));
            }
            text.push_str(&format!(" max {}\n", ms(histogram.max())));
        }
        for (who, cpu) in [("client", self.client_cpu), ("broker", self.broker_cpu)] {
            if let (Some(cpu), Some(per_gb)) = (cpu, self.cpu_per_gb(cpu)) {
                text.push_str(&format!(
                    "  {who} CPU: {:.2} core-seconds, {:.3} per GB\n",
                    cpu.core_seconds, per_gb
                ));
            }
        }
        if let (true, Some(share), Some(cores)) = (
            self.client_saturated(),
            self.client_busy_share(),
            self.client_cores,
        ) {
            text.push_str(&format!(
                "  warning: the client kept {:.0}% of its {cores} allowed core(s) busy: these \
                 figures measure the load generator as much as the broker (give it more cores, \
                 or pin it apart from the broker)\n",
                share * 100.0
            ));
        }
        if self.errors > 0 {
            text.push_str(&format!(
                "  {} records failed; first error: {}\n",
                self.errors,
                self.first_error.as_deref().unwrap_or("unknown")
            ));
        }
        if let Some(target) = self.target_records.filter(|&t| self.records < t) {
            text.push_str(&format!(
                "  incomplete: {} of {target} records\n",
                self.records
            ));
        }
        text
    }
}

fn latency_json(histogram: &Histogram<u64>) -> Value {
    let mut fields = serde_json::Map::new();
    for (label, quantile) in PERCENTILES {
        fields.insert(
            label.to_string(),
            json!(ms_value(histogram.value_at_quantile(quantile))),
        );
    }
    fields.insert("max".into(), json!(ms_value(histogram.max())));
    fields.insert("mean".into(), json!(round3(histogram.mean() / 1000.0)));
    fields.insert("count".into(), json!(histogram.len()));
    // The whole distribution, for `weir perf plot` to draw saved runs side by side.
    let curve: Vec<Value> = super::plot::percentile_points(histogram)
        .into_iter()
        .map(|(percentile, millis)| json!([percentile, round3(millis)]))
        .collect();
    fields.insert("percentile_curve".into(), Value::Array(curve));
    Value::Object(fields)
}

fn ms_value(micros: u64) -> f64 {
    round3(micros as f64 / 1000.0)
}

fn ms(micros: u64) -> String {
    format!("{:.3}", micros as f64 / 1000.0)
}

fn round3(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

/// User + system CPU time of process `pid` so far (`self` for this process).
pub fn process_cpu(pid: &str) -> Option<CpuUse> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces: fields are counted after its closing paren.
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12th and 13th after the name.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (per_second > 0).then(|| CpuUse {
        core_seconds: ticks as f64 / per_second as f64,
    })
}

/// How many cores this process may run on (sched_getaffinity), as `taskset` set them.
pub fn allowed_cores() -> Option<usize> {
    // SAFETY: cpu_set_t is plain data; sched_getaffinity writes at most its size into it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return None;
        }
        Some(libc::CPU_COUNT(&set) as usize)
    }
}

/// CPU spent between two readings.
pub fn cpu_between(before: Option<CpuUse>, after: Option<CpuUse>) -> Option<CpuUse> {
    Some(CpuUse {
        core_seconds: (after?.core_seconds - before?.core_seconds).max(0.0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        let mut histogram = new_histogram();
        for micros in 1..=1000u64 {
            histogram.record(micros * 10).unwrap();
        }
        Report {
            workload: "produce",
            records: 2_000,
            bytes: 2_000 * 1024,
            elapsed: Duration::from_millis(500),
            errors: 0,
            first_error: None,
            transactions: None,
            target_records: Some(2_000),
            latencies: vec![("produce", histogram)],
            timeline: vec![Sample {
                second: 1,
                records: 2_000,
                bytes: 2_000 * 1024,
            }],
            client_cpu: Some(CpuUse { core_seconds: 0.5 }),
            client_cores: Some(2),
            broker_cpu: None,
            settings: json!({"acks": "1"}),
        }
    }

    #[test]
    fn json_holds_rates_percentiles_and_cpu_per_gb() {
        let value = report().to_json();
        assert_eq!(value["records"], 2_000);
        assert_eq!(value["records_per_sec"], 4_000.0);
        assert_eq!(value["mib_per_sec"], 3.906);
        assert_eq!(value["complete"], true);
        let produce = &value["latency"]["produce_latency_ms"];
        assert_eq!(produce["count"], 1000);
        assert_eq!(produce["p50"], 5.003);
        assert_eq!(produce["p99"], 9.903);
        assert_eq!(produce["max"], 10.007);
        // 0.5 core-seconds for 2,048,000 bytes.
        assert_eq!(value["client_cpu_core_seconds_per_gb"], 244.141);
        assert!(value["broker_cpu_core_seconds_per_gb"].is_null());
        assert_eq!(value["timeline"][0]["mib_per_sec"], 1.953);
    }

    #[test]
    fn text_names_every_percentile_and_an_incomplete_run() {
        let mut report = report();
        report.records = 1_500;
        report.errors = 3;
        report.first_error = Some("Message timed out".into());
        let text = report.to_text();
        assert!(text
            .starts_with("produce: 1500 records, 1.95 MiB in 0.500 s: 3000 records/s, 3.9 MiB/s"));
        assert!(text.contains(
            "produce latency (ms): p50 5.003 p90 9.007 p99 9.903 p99.9 9.991 p99.99 10.007 max 10.007"
        ));
        assert!(text.contains("3 records failed; first error: Message timed out"));
        assert!(text.contains("incomplete: 1500 of 2000 records"));
        assert!(!report.complete());
    }

    #[test]
    fn a_saturated_client_is_called_out() {
        // 0.5 core-seconds in 0.5 s on 2 allowed cores: half busy, no warning.
        let mut report = report();
        assert_eq!(report.client_busy_share(), Some(0.5));
        assert!(!report.client_saturated());
        assert!(!report.to_text().contains("warning"));
        assert_eq!(report.to_json()["client_saturated"], false);
        // The same work pinned to one core: 100% busy.
        report.client_cores = Some(1);
        assert!(report.client_saturated());
        assert!(report
            .to_text()
            .contains("warning: the client kept 100% of its 1 allowed core(s) busy"));
        assert_eq!(report.to_json()["client_busy_share"], 1.0);
        assert_eq!(report.to_json()["client_saturated"], true);
    }

    #[test]
    fn allowed_cores_are_counted() {
        let cores = allowed_cores().expect("sched_getaffinity");
        assert!(cores >= 1);
        assert!(cores <= std::thread::available_parallelism().map_or(usize::MAX, |n| n.get()));
    }

    #[test]
    fn own_cpu_time_is_readable() {
        let cpu = process_cpu("self").expect("/proc/self/stat");
        assert!(cpu.core_seconds >= 0.0);
        assert!(process_cpu("not-a-pid").is_none());
    }
}
