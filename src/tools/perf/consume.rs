//! `weir perf consume`: read a topic from the beginning as fast as the client can and report
//! throughput (kafka-consumer-perf-test.sh). By default it reads every record the topic held
//! when the run started, with its partitions assigned directly; `--group` subscribes as a
//! consumer group member instead (and commits, as a group member does).

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};
use serde_json::json;

use super::report::Report;
use super::{build_report, Common, Counters, Outcome, Progress, RunClock};
use crate::tools::ToolError;

#[derive(Args, Debug, Clone)]
pub struct ConsumeArgs {
    #[command(flatten)]
    pub common: Common,
    /// Records to read (default: all the topic holds when the run starts).
    #[arg(long, value_name = "N")]
    pub num_records: Option<u64>,
    /// Join this consumer group and subscribe, instead of assigning every partition.
    #[arg(long, value_name = "GROUP")]
    pub group: Option<String>,
    /// Give up after this long without a record.
    #[arg(long, value_name = "MS", default_value_t = 10_000)]
    pub timeout_ms: u64,
}

impl ConsumeArgs {
    fn consumer_defaults(&self) -> Vec<(&'static str, String)> {
        let group = self
            .group
            .clone()
            .unwrap_or_else(|| format!("weir-perf-{}", std::process::id()));
        vec![
            ("group.id", group),
            ("enable.auto.commit", self.group.is_some().to_string()),
            ("auto.offset.reset", "earliest".into()),
            // Large fetches: throughput is the point.
            ("fetch.max.bytes", (64 << 20).to_string()),
            ("max.partition.fetch.bytes", (8 << 20).to_string()),
            ("queued.max.messages.kbytes", (256 << 10).to_string()),
        ]
    }
}

pub fn run(args: ConsumeArgs) -> Result<Report, ToolError> {
    let partitions = args.common.ensure_topic()?;
    let consumer: BaseConsumer = args
        .common
        .client_config(&args.consumer_defaults())
        .create()
        .map_err(|e| ToolError::client("cannot create the consumer", e))?;
    let topic = args.common.topic.as_str();
    let target = match args.num_records {
        Some(n) => n,
        None => {
            let mut present = 0u64;
            for &partition in &partitions {
                let (low, high) = consumer
                    .fetch_watermarks(topic, partition, args.common.connection.timeout())
                    .map_err(|e| ToolError::client("cannot read the topic's offsets", e))?;
                present += (high - low).max(0) as u64;
            }
            present
        }
    };
    match &args.group {
        Some(_) => consumer.subscribe(&[topic]),
        None => {
            let mut assignment = TopicPartitionList::new();
            for &partition in &partitions {
                assignment
                    .add_partition_offset(topic, partition, Offset::Beginning)
                    .map_err(|e| ToolError::client("cannot assign", e))?;
            }
            consumer.assign(&assignment)
        }
    }
    .map_err(|e| ToolError::client("cannot start consuming", e))?;

    let counters = Arc::new(Counters::default());
    let clock = RunClock::start(&args.common);
    let progress = Progress::start(counters.clone(), "consumed", args.common.quiet);
    let idle_limit = Duration::from_millis(args.timeout_ms);
    let mut last_record = Instant::now();
    let mut first_record = None;
    let (mut records, mut bytes) = (0u64, 0u64);
    let mut poll_errors = 0u64;
    while records < target && last_record.elapsed() < idle_limit {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                let size = message.payload_len() + message.key().map_or(0, <[u8]>::len);
                records += 1;
                bytes += size as u64;
                counters.completed(size);
                last_record = Instant::now();
                first_record.get_or_insert(clock.start.elapsed());
            }
            // A broker restart, a partition end: reported, not fatal (the records count is
            // what the run moved).
            Some(Err(_)) => poll_errors += 1,
            None => {}
        }
    }
    // The run ends at the last record, not after the idle wait of an incomplete run.
    let elapsed = if records >= target {
        clock.start.elapsed()
    } else {
        last_record.saturating_duration_since(clock.start)
    };
    let timeline = progress.finish();
    if args.group.is_some() {
        let _ = consumer.commit_consumer_state(rdkafka::consumer::CommitMode::Sync);
    }
    let settings = json!({
        "topic": topic,
        "partitions": partitions.len(),
        "group": args.group,
        "num_records": target,
        "first_record_after_ms": first_record.map(|d| d.as_millis() as u64),
    });
    if poll_errors > 0 && !args.common.quiet {
        eprintln!("{poll_errors} consumer errors while polling");
    }
    let outcome = Outcome {
        transactional: false,
        records,
        bytes,
        elapsed,
        target_records: Some(target),
        latencies: Vec::new(),
        settings,
    };
    Ok(build_report(
        "consume",
        &args.common,
        clock,
        &counters,
        timeline,
        outcome,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: ConsumeArgs,
    }

    #[test]
    fn without_a_group_nothing_is_committed() {
        let args = Cli::try_parse_from(["perf", "t"]).unwrap().args;
        let defaults = args.consumer_defaults();
        let get = |key: &str| {
            defaults
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(get("enable.auto.commit").as_deref(), Some("false"));
        assert!(get("group.id").unwrap().starts_with("weir-perf-"));

        let args = Cli::try_parse_from(["perf", "t", "--group", "g1", "--timeout-ms", "500"])
            .unwrap()
            .args;
        assert_eq!(args.timeout_ms, 500);
        let defaults = args.consumer_defaults();
        assert!(defaults.contains(&("group.id", "g1".to_string())));
        assert!(defaults.contains(&("enable.auto.commit", "true".to_string())));
    }
}
