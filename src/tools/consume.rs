//! `weir consume`: what `kafka-console-consumer.sh` does — print records as they arrive, from
//! the end (default), the beginning or an offset, of one partition or all, alone or in a
//! consumer group; stop after --max-messages, after --timeout without a record, or on Ctrl-C
//! (committing the group's offsets first).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::Args;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::json;

use super::{Connection, Output, ToolError};

#[derive(Args, Debug)]
pub struct ConsumeArgs {
    pub topic: String,
    /// Start at the earliest record rather than at the end.
    #[arg(long)]
    pub from_beginning: bool,
    /// Start at this offset, or `earliest` / `latest` (needs --partition).
    #[arg(long, value_name = "OFFSET", requires = "partition")]
    pub offset: Option<String>,
    /// Read only this partition.
    #[arg(long, value_name = "P", conflicts_with = "group")]
    pub partition: Option<i32>,
    /// Consume as a member of this consumer group (offsets are committed).
    #[arg(long, value_name = "GROUP")]
    pub group: Option<String>,
    /// Exit after this many records.
    #[arg(long, value_name = "N")]
    pub max_messages: Option<u64>,
    /// Exit when no record arrives for this many milliseconds.
    #[arg(long, value_name = "MS")]
    pub timeout: Option<u64>,
    /// How to print each record: placeholders {topic} {partition} {offset} {timestamp} {key}
    /// {value} {headers}; \t and \n are tab and newline. Ignored with --output json.
    #[arg(long, value_name = "FORMAT", default_value = "{value}")]
    pub format: String,
    #[command(flatten)]
    pub connection: Connection,
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

/// Ctrl-C and SIGTERM end the loop instead of the process, so a group member commits and
/// leaves its group first.
fn catch_signals() {
    let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, handler);
        libc::signal(libc::SIGTERM, handler);
    }
}

fn start_offset(args: &ConsumeArgs) -> Result<Offset, ToolError> {
    Ok(match args.offset.as_deref() {
        Some("earliest") => Offset::Beginning,
        Some("latest") => Offset::End,
        Some(text) => match text.parse::<i64>() {
            Ok(n) if n >= 0 => Offset::Offset(n),
            _ => {
                return Err(ToolError::Usage(format!(
                    "--offset {text}: use a non-negative offset, earliest or latest"
                )))
            }
        },
        None if args.from_beginning => Offset::Beginning,
        None => Offset::End,
    })
}

pub fn run(args: ConsumeArgs) -> Result<(), ToolError> {
    let connection = &args.connection;
    let offset = start_offset(&args)?;
    let partitions = connection.topic_partitions(&connection.probe(None)?, &args.topic)?;
    let mut config = connection.client_config();
    let consumer: BaseConsumer = match &args.group {
        Some(group) => {
            let reset = if args.from_beginning {
                "earliest"
            } else {
                "latest"
            };
            let consumer: BaseConsumer = config
                .set("group.id", group)
                .set("auto.offset.reset", reset)
                .set("enable.auto.commit", "true")
                // Offsets are stored after a record is printed, so that a commit never covers
                // records fetched but not yet shown.
                .set("enable.auto.offset.store", "false")
                .create()
                .map_err(|e| ToolError::client("cannot create the consumer", e))?;
            consumer
                .subscribe(&[&args.topic])
                .map_err(|e| ToolError::client(format!("subscribe to {}", args.topic), e))?;
            consumer
        }
        None => {
            // librdkafka wants a group.id even for assign(); this one never joins or commits.
            let consumer: BaseConsumer = config
                .set("group.id", format!("weir-console-{}", std::process::id()))
                .set("enable.auto.commit", "false")
                .create()
                .map_err(|e| ToolError::client("cannot create the consumer", e))?;
            let chosen: Vec<i32> = match args.partition {
                Some(p) if partitions.contains(&p) => vec![p],
                Some(p) => {
                    return Err(ToolError::Usage(format!(
                        "partition {p} of {} does not exist ({} partitions)",
                        args.topic,
                        partitions.len()
                    )))
                }
                None => partitions,
            };
            let mut assignment = TopicPartitionList::new();
            for p in chosen {
                assignment
                    .add_partition_offset(&args.topic, p, offset)
                    .map_err(|e| ToolError::client("assignment", e))?;
            }
            consumer
                .assign(&assignment)
                .map_err(|e| ToolError::client("assign", e))?;
            consumer
        }
    };
    catch_signals();
    let mut count = 0u64;
    let mut last_record = Instant::now();
    let mut out = std::io::stdout().lock();
    while !STOP.load(Ordering::Relaxed) && args.max_messages.is_none_or(|max| count < max) {
        if args
            .timeout
            .is_some_and(|ms| last_record.elapsed() >= Duration::from_millis(ms))
        {
            break;
        }
        let Some(message) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let message = message.map_err(|e| ToolError::client("consume", e))?;
        last_record = Instant::now();
        count += 1;
        let line = match connection.output {
            Output::Json => to_json(&message).to_string(),
            Output::Table => render(&args.format, &message),
        };
        use std::io::Write;
        if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
            break; // stdout closed (e.g. piped into head): stop like a console tool
        }
        if args.group.is_some() {
            consumer
                .store_offset_from_message(&message)
                .map_err(|e| ToolError::client("store the consumed offset", e))?;
        }
    }
    if args.group.is_some() && count > 0 {
        if let Err(e) = consumer.commit_consumer_state(CommitMode::Sync) {
            eprintln!("weir consume: committing offsets failed: {e}");
        }
    }
    drop(consumer);
    eprintln!("Processed a total of {count} messages");
    Ok(())
}

fn text(bytes: Option<&[u8]>) -> String {
    bytes.map_or_else(
        || "null".to_string(),
        |b| String::from_utf8_lossy(b).into_owned(),
    )
}

fn headers(message: &BorrowedMessage<'_>) -> Vec<(String, String)> {
    message
        .headers()
        .map(|headers| {
            headers
                .iter()
                .map(|h| (h.key.to_string(), text(h.value)))
                .collect()
        })
        .unwrap_or_default()
}

/// Fills the --format placeholders for one record, in one pass (a placeholder inside a key or
/// value is printed as it is).
fn render(format: &str, message: &BorrowedMessage<'_>) -> String {
    fill(format, |name| {
        Some(match name {
            "topic" => message.topic().to_string(),
            "partition" => message.partition().to_string(),
            "offset" => message.offset().to_string(),
            "timestamp" => message.timestamp().to_millis().unwrap_or(-1).to_string(),
            "key" => text(message.key()),
            "value" => text(message.payload()),
            "headers" => headers(message)
                .into_iter()
                .map(|(k, v)| format!("{k}:{v}"))
                .collect::<Vec<_>>()
                .join(","),
            _ => return None,
        })
    })
}

/// Replaces `{name}` by `value(name)` (unknown names stay as written) and `\t`, `\n` by a
/// tab and a newline.
pub fn fill(format: &str, value: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::new();
    let mut rest = format;
    while let Some(at) = rest.find(['{', '\\']) {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        if let Some(after) = rest.strip_prefix("\\t") {
            out.push('\t');
            rest = after;
        } else if let Some(after) = rest.strip_prefix("\\n") {
            out.push('\n');
            rest = after;
        } else if let Some((name, after)) =
            rest[1..].split_once('}').filter(|_| rest.starts_with('{'))
        {
            match value(name) {
                Some(filled) => out.push_str(&filled),
                None => out.push_str(&rest[..name.len() + 2]),
            }
            rest = after;
        } else {
            out.push_str(&rest[..1]);
            rest = &rest[1..];
        }
    }
    out.push_str(rest);
    out
}

fn to_json(message: &BorrowedMessage<'_>) -> serde_json::Value {
    let as_text = |b: Option<&[u8]>| b.map(|b| String::from_utf8_lossy(b).into_owned());
    let headers: serde_json::Map<String, serde_json::Value> = headers(message)
        .into_iter()
        .map(|(k, v)| (k, serde_json::Value::String(v)))
        .collect();
    json!({
        "topic": message.topic(),
        "partition": message.partition(),
        "offset": message.offset(),
        "timestamp": message.timestamp().to_millis(),
        "key": as_text(message.key()),
        "value": as_text(message.payload()),
        "headers": headers,
    })
}

#[cfg(test)]
mod tests {
    use super::fill;

    #[test]
    fn placeholders_fill_once_and_escapes_expand() {
        let value = |name: &str| match name {
            "key" => Some("{value}".to_string()),
            "value" => Some("v".to_string()),
            _ => None,
        };
        assert_eq!(fill("{key}\\t{value}\\n", value), "{value}\tv\n");
        assert_eq!(fill("{nope} {value", value), "{nope} {value");
        assert_eq!(fill("a\\b", value), "a\\b");
    }
}
