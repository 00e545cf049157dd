//! `weir produce`: what `kafka-console-producer.sh` does — one record per line of standard
//! input, with an optional key before a separator, headers, a fixed partition, acks and
//! compression; each line's delivery failure is reported with its line number.

use std::io::BufRead;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use clap::Args;
use rdkafka::client::ClientContext;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;
use serde_json::json;

use super::{key_value, Connection, Output, ToolError};

#[derive(Args, Debug)]
pub struct ProduceArgs {
    pub topic: String,
    /// Split each line at the first SEP into key and value (kafka-console-producer's
    /// parse.key=true with key.separator); lines without SEP are refused.
    #[arg(long, value_name = "SEP")]
    pub key_separator: Option<String>,
    /// Send every record to this partition (default: by key, or spread when keyless).
    #[arg(long, value_name = "P")]
    pub partition: Option<i32>,
    /// all (or -1), 1 or 0.
    #[arg(long, default_value = "all")]
    pub acks: String,
    /// none, gzip, snappy, lz4 or zstd.
    #[arg(long, default_value = "none")]
    pub compression: String,
    /// A header on every record; repeatable.
    #[arg(long = "header", value_name = "KEY=VALUE", value_parser = key_value)]
    pub headers: Vec<(String, String)>,
    /// Give up on a record not acknowledged within this many milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 30_000)]
    pub delivery_timeout_ms: u64,
    #[command(flatten)]
    pub connection: Connection,
}

/// Delivery reports: the line number travels with each record.
struct Deliveries {
    delivered: AtomicUsize,
    errors: Mutex<Vec<(usize, String)>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = Box<usize>;

    fn delivery(&self, result: &DeliveryResult<'_>, line: Box<usize>) {
        match result {
            Ok(_) => {
                self.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err((error, _)) => {
                let reason = match error {
                    KafkaError::MessageProduction(code) => super::code_text(*code),
                    other => other.to_string(),
                };
                if let Ok(mut errors) = self.errors.lock() {
                    errors.push((*line, reason));
                }
            }
        }
    }
}

pub fn run(args: ProduceArgs) -> Result<(), ToolError> {
    let connection = &args.connection;
    let acks = match args.acks.as_str() {
        "all" | "-1" => "all",
        "1" => "1",
        "0" => "0",
        other => return Err(ToolError::Usage(format!("--acks {other}: use all, 1 or 0"))),
    };
    if !["none", "gzip", "snappy", "lz4", "zstd"].contains(&args.compression.as_str()) {
        return Err(ToolError::Usage(format!(
            "--compression {}: use none, gzip, snappy, lz4 or zstd",
            args.compression
        )));
    }
    // Reach the broker first: a down broker is one line, not a delivery timeout per record.
    connection.metadata(&connection.probe(None)?, None)?;
    let context = Deliveries {
        delivered: AtomicUsize::new(0),
        errors: Mutex::new(Vec::new()),
    };
    let producer: BaseProducer<Deliveries> = connection
        .client_config()
        .set("acks", acks)
        .set("compression.codec", &args.compression)
        .set("linger.ms", "5")
        .set("message.timeout.ms", args.delivery_timeout_ms.to_string())
        .create_with_context(context)
        .map_err(|e| ToolError::client("cannot create the producer", e))?;
    let mut headers = OwnedHeaders::new();
    for (key, value) in &args.headers {
        headers = headers.insert(Header {
            key,
            value: Some(value.as_bytes()),
        });
    }
    let stdin = std::io::stdin().lock();
    let mut refused = Vec::new();
    for (index, line) in stdin.lines().enumerate() {
        let line_number = index + 1;
        let line = line.map_err(|source| ToolError::Io {
            what: "reading standard input",
            source,
        })?;
        let (key, value) = match &args.key_separator {
            Some(sep) => match line.split_once(sep.as_str()) {
                Some((key, value)) => (Some(key), value),
                None => {
                    refused.push((line_number, format!("no key separator `{sep}` in the line")));
                    continue;
                }
            },
            None => (None, line.as_str()),
        };
        let mut record = BaseRecord::with_opaque_to(&args.topic, Box::new(line_number))
            .payload(value)
            .headers(headers.clone());
        if let Some(key) = key {
            record = record.key(key);
        }
        if let Some(partition) = args.partition {
            record = record.partition(partition);
        }
        send(&producer, record, line_number, &mut refused)?;
        producer.poll(Duration::ZERO);
    }
    producer
        .flush(Duration::from_millis(args.delivery_timeout_ms + 5_000))
        .map_err(|e| ToolError::client("flush", e))?;
    let context = producer.context();
    let mut errors = context.errors.lock().map(|e| e.clone()).unwrap_or_default();
    errors.extend(refused);
    errors.sort();
    let delivered = context.delivered.load(Ordering::Relaxed);
    for (line, reason) in &errors {
        match connection.output {
            Output::Table => eprintln!("line {line}: not delivered: {reason}"),
            Output::Json => eprintln!("{}", json!({ "line": line, "error": reason })),
        }
    }
    if connection.output == Output::Json {
        println!(
            "{}",
            json!({ "topic": args.topic, "delivered": delivered, "failed": errors.len() })
        );
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ToolError::Usage(format!(
            "{} of {} records not delivered to {}",
            errors.len(),
            errors.len() + delivered,
            args.topic
        )))
    }
}

/// Queues one record, waiting while librdkafka's queue is full.
fn send(
    producer: &BaseProducer<Deliveries>,
    mut record: BaseRecord<'_, str, str, Box<usize>>,
    line: usize,
    refused: &mut Vec<(usize, String)>,
) -> Result<(), ToolError> {
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                producer.poll(Duration::from_millis(50));
                record = back;
            }
            Err((error, _)) => {
                refused.push((line, error.to_string()));
                return Ok(());
            }
        }
    }
}
