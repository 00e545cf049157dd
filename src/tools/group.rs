//! `weir group`: what `kafka-consumer-groups.sh` does — list groups, describe one (members,
//! assignment, committed offset, log end offset and lag per partition), reset a group's offsets
//! (a dry run unless --execute), delete a group.

use std::collections::BTreeMap;

use clap::{ArgGroup, Args, Subcommand};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::groups::GroupInfo;
use rdkafka::metadata::Metadata;
use rdkafka::{Offset, TopicPartitionList};
use serde_json::json;

use super::{block_on, check_results, report, table, Connection, Output, ToolError};

#[derive(Subcommand, Debug)]
pub enum GroupCommand {
    /// List consumer groups and their states.
    ///
    /// Example: weir group list
    List {
        #[command(flatten)]
        connection: Connection,
    },
    /// Members, assigned partitions, committed and log end offsets, and lag of a group.
    ///
    /// Example: weir group describe billing
    Describe {
        group: String,
        /// The end each partition's lag is measured to: `read_uncommitted`, the high
        /// watermark; `read_committed`, the last stable offset (what a read_committed consumer
        /// can reach while transactions are open).
        #[arg(long, value_enum, default_value_t = Isolation::ReadUncommitted)]
        isolation_level: Isolation,
        #[command(flatten)]
        connection: Connection,
    },
    /// Move a group's committed offsets (the group must have no active members). Prints the
    /// plan; --execute commits it.
    ///
    /// Examples: weir group reset-offsets billing --topic orders --to-earliest --execute;
    /// weir group reset-offsets billing --topic orders --to-datetime 2026-11-21T08:00:00Z
    ResetOffsets(ResetArgs),
    /// Delete a group with no active members, and its committed offsets.
    ///
    /// Example: weir group delete billing
    Delete {
        group: String,
        #[command(flatten)]
        connection: Connection,
    },
}

#[derive(Args, Debug)]
#[command(group(ArgGroup::new("target").required(true).args(["to_earliest", "to_latest", "to_offset", "to_datetime"])))]
pub struct ResetArgs {
    pub group: String,
    /// The topic whose partitions to reset.
    #[arg(long)]
    pub topic: String,
    #[arg(long)]
    pub to_earliest: bool,
    #[arg(long)]
    pub to_latest: bool,
    /// An offset, clamped to each partition's earliest and latest as Kafka's tool does.
    #[arg(long, value_name = "N")]
    pub to_offset: Option<i64>,
    /// The first offset at or after this time: YYYY-MM-DDTHH:MM:SS[.sss][Z] (UTC).
    #[arg(long, value_name = "DATETIME")]
    pub to_datetime: Option<String>,
    /// Commit the new offsets (without it, only print them).
    #[arg(long)]
    pub execute: bool,
    #[command(flatten)]
    pub connection: Connection,
}

/// A consumer's `isolation.level`.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    #[value(name = "read_uncommitted")]
    ReadUncommitted,
    #[value(name = "read_committed")]
    ReadCommitted,
}

impl Isolation {
    fn config_value(self) -> &'static str {
        match self {
            Isolation::ReadUncommitted => "read_uncommitted",
            Isolation::ReadCommitted => "read_committed",
        }
    }
}

pub fn run(command: GroupCommand) -> Result<(), ToolError> {
    match command {
        GroupCommand::List { connection } => list(&connection),
        GroupCommand::Describe {
            group,
            isolation_level,
            connection,
        } => describe(&connection, &group, isolation_level),
        GroupCommand::ResetOffsets(args) => reset(args),
        GroupCommand::Delete { group, connection } => delete(&connection, &group),
    }
}

fn list(connection: &Connection) -> Result<(), ToolError> {
    let probe = connection.probe(None)?;
    connection.metadata(&probe, None)?;
    let list = probe
        .fetch_group_list(None, connection.timeout())
        .map_err(|e| ToolError::client("list groups", e))?;
    let mut groups: Vec<(String, String)> = list
        .groups()
        .iter()
        .map(|g| (g.name().to_string(), g.state().to_string()))
        .collect();
    groups.sort();
    match connection.output {
        Output::Table => {
            let rows: Vec<Vec<String>> = groups
                .iter()
                .map(|(n, s)| vec![n.clone(), s.clone()])
                .collect();
            table::print(&["GROUP", "STATE"], &rows);
        }
        Output::Json => {
            let groups: Vec<_> = groups
                .iter()
                .map(|(name, state)| json!({ "group": name, "state": state }))
                .collect();
            println!("{}", json!(groups));
        }
    }
    Ok(())
}

/// The consumer protocol's assignment (Kafka's ConsumerProtocolAssignment): version, then
/// topics with their partitions; user data after is ignored. `None` when malformed.
pub fn decode_assignment(bytes: &[u8]) -> Option<Vec<(String, i32)>> {
    let mut rest = bytes;
    let mut take = |n: usize| -> Option<&[u8]> {
        let (head, tail) = rest.split_at_checked(n)?;
        rest = tail;
        Some(head)
    };
    let _version = i16::from_be_bytes(take(2)?.try_into().ok()?);
    let topics = i32::from_be_bytes(take(4)?.try_into().ok()?);
    let mut out = Vec::new();
    for _ in 0..topics.max(0) {
        let len = i16::from_be_bytes(take(2)?.try_into().ok()?);
        let name = String::from_utf8(take(usize::try_from(len).ok()?)?.to_vec()).ok()?;
        let count = i32::from_be_bytes(take(4)?.try_into().ok()?);
        for _ in 0..count.max(0) {
            out.push((name.clone(), i32::from_be_bytes(take(4)?.try_into().ok()?)));
        }
    }
    Some(out)
}

/// One group as DescribeGroups tells it, or `None` when the broker does not know it.
fn group_info(
    probe: &BaseConsumer,
    connection: &Connection,
    group: &str,
) -> Result<Option<(String, Vec<Member>)>, ToolError> {
    let list = probe
        .fetch_group_list(Some(group), connection.timeout())
        .map_err(|e| ToolError::client(format!("describe group {group}"), e))?;
    Ok(list
        .groups()
        .iter()
        .find(|g| g.name() == group)
        .filter(|g| g.state() != "Dead")
        .map(|g: &GroupInfo| {
            let members = g
                .members()
                .iter()
                .map(|m| Member {
                    id: m.id().to_string(),
                    client_id: m.client_id().to_string(),
                    host: m.client_host().to_string(),
                    partitions: m
                        .assignment()
                        .and_then(decode_assignment)
                        .unwrap_or_default(),
                })
                .collect();
            (g.state().to_string(), members)
        }))
}

struct Member {
    id: String,
    client_id: String,
    host: String,
    partitions: Vec<(String, i32)>,
}

/// Committed offsets of `group` for every partition of the cluster's non-internal topics
/// (OffsetFetch), keeping those the group has committed.
fn committed(
    connection: &Connection,
    metadata: &Metadata,
    group: &str,
) -> Result<BTreeMap<(String, i32), i64>, ToolError> {
    let consumer = connection.probe(Some(group))?;
    let mut all = TopicPartitionList::new();
    for topic in metadata
        .topics()
        .iter()
        .filter(|t| !t.name().starts_with("__"))
    {
        for p in topic.partitions() {
            all.add_partition(topic.name(), p.id());
        }
    }
    if all.count() == 0 {
        return Ok(BTreeMap::new());
    }
    let answer = consumer
        .committed_offsets(all, connection.timeout())
        .map_err(|e| ToolError::client(format!("fetch the offsets of group {group}"), e))?;
    Ok(answer
        .elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(o) => Some(((e.topic().to_string(), e.partition()), o)),
            _ => None,
        })
        .collect())
}

fn describe(connection: &Connection, group: &str, isolation: Isolation) -> Result<(), ToolError> {
    let probe = connection.probe(None)?;
    // librdkafka's ListOffsets carries the client's isolation level: the latest offset is the
    // last stable offset for read_committed.
    let mut ends_config = connection.client_config();
    ends_config.set("isolation.level", isolation.config_value());
    let ends: BaseConsumer = ends_config
        .create()
        .map_err(|e| ToolError::client("cannot create the client", e))?;
    let metadata = connection.metadata(&probe, None)?;
    let info = group_info(&probe, connection, group)?;
    let offsets = committed(connection, &metadata, group)?;
    let Some((state, members)) =
        info.or_else(|| (!offsets.is_empty()).then(|| ("Empty".to_string(), Vec::new())))
    else {
        return Err(ToolError::Usage(format!(
            "consumer group `{group}` does not exist"
        )));
    };
    // Every partition the group has an offset for or a member assigned.
    let mut rows: BTreeMap<(String, i32), Option<&Member>> =
        offsets.keys().map(|k| (k.clone(), None)).collect();
    for member in &members {
        for tp in &member.partitions {
            rows.insert(tp.clone(), Some(member));
        }
    }
    let mut lines = Vec::new();
    for ((topic, partition), member) in &rows {
        let (_, end) = ends
            .fetch_watermarks(topic, *partition, connection.timeout())
            .map_err(|e| ToolError::client(format!("log end offset of {topic}-{partition}"), e))?;
        let current = offsets.get(&(topic.clone(), *partition)).copied();
        lines.push((
            topic.clone(),
            *partition,
            current,
            end,
            current.map(|c| end - c),
            *member,
        ));
    }
    match connection.output {
        Output::Table => {
            if members.is_empty() {
                println!("Consumer group '{group}' has no active members (state {state}).\n");
            }
            let dash = || "-".to_string();
            let table_rows: Vec<Vec<String>> = lines
                .iter()
                .map(|(topic, partition, current, end, lag, member)| {
                    vec![
                        group.to_string(),
                        topic.clone(),
                        partition.to_string(),
                        current.map_or_else(dash, |c| c.to_string()),
                        end.to_string(),
                        lag.map_or_else(dash, |l| l.to_string()),
                        member.map_or_else(dash, |m| m.id.clone()),
                        member.map_or_else(dash, |m| m.host.clone()),
                        member.map_or_else(dash, |m| m.client_id.clone()),
                    ]
                })
                .collect();
            table::print(
                &[
                    "GROUP",
                    "TOPIC",
                    "PARTITION",
                    "CURRENT-OFFSET",
                    "LOG-END-OFFSET",
                    "LAG",
                    "CONSUMER-ID",
                    "HOST",
                    "CLIENT-ID",
                ],
                &table_rows,
            );
        }
        Output::Json => {
            let partitions: Vec<_> = lines
                .iter()
                .map(|(topic, partition, current, end, lag, member)| {
                    json!({
                        "topic": topic,
                        "partition": partition,
                        "current_offset": current,
                        "log_end_offset": end,
                        "lag": lag,
                        "consumer_id": member.map(|m| m.id.clone()),
                        "host": member.map(|m| m.host.clone()),
                        "client_id": member.map(|m| m.client_id.clone()),
                    })
                })
                .collect();
            let members: Vec<_> = members
                .iter()
                .map(|m| json!({ "consumer_id": m.id, "client_id": m.client_id, "host": m.host }))
                .collect();
            println!(
                "{}",
                json!({ "group": group, "state": state, "members": members, "partitions": partitions })
            );
        }
    }
    Ok(())
}

/// Milliseconds since the epoch of `YYYY-MM-DDTHH:MM:SS[.sss][Z]`, read as UTC.
pub fn parse_datetime(text: &str) -> Option<i64> {
    let text = text.strip_suffix('Z').unwrap_or(text);
    let (date, time) = text.split_once('T')?;
    let mut date_parts = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (year, month, day) = (
        date_parts.next()??,
        date_parts.next()??,
        date_parts.next()??,
    );
    let (clock, millis) = match time.split_once('.') {
        Some((clock, frac)) => {
            let digits: String = frac.chars().chain("000".chars()).take(3).collect();
            (clock, digits.parse::<i64>().ok()?)
        }
        None => (time, 0),
    };
    let mut clock_parts = clock.splitn(3, ':').map(|p| p.parse::<i64>().ok());
    let (hour, minute, second) = (
        clock_parts.next()??,
        clock_parts.next()??,
        clock_parts.next()??,
    );
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + millis)
}

fn reset(args: ResetArgs) -> Result<(), ToolError> {
    let connection = &args.connection;
    let group = args.group.as_str();
    let consumer = connection.probe(Some(group))?;
    let partitions = connection.topic_partitions(&consumer, &args.topic)?;
    if let Some((state, members)) = group_info(&consumer, connection, group)? {
        if !members.is_empty() {
            return Err(ToolError::Usage(format!(
                "assignments can only be reset if the group `{group}` is inactive, but the current state is {state}"
            )));
        }
    }
    let by_time = match &args.to_datetime {
        Some(text) => {
            let ms = parse_datetime(text).ok_or_else(|| {
                ToolError::Usage(format!(
                    "--to-datetime {text}: expected YYYY-MM-DDTHH:MM:SS[.sss][Z]"
                ))
            })?;
            let mut query = TopicPartitionList::new();
            for p in &partitions {
                query
                    .add_partition_offset(&args.topic, *p, Offset::Offset(ms))
                    .map_err(|e| ToolError::client("offsets for times", e))?;
            }
            let answer = consumer
                .offsets_for_times(query, connection.timeout())
                .map_err(|e| ToolError::client("look up offsets by time", e))?;
            answer
                .elements()
                .iter()
                .map(|e| (e.partition(), e.offset()))
                .collect::<BTreeMap<_, _>>()
        }
        None => BTreeMap::new(),
    };
    let mut plan = Vec::new();
    for p in partitions {
        let (low, high) = consumer
            .fetch_watermarks(&args.topic, p, connection.timeout())
            .map_err(|e| ToolError::client(format!("offsets of {}-{p}", args.topic), e))?;
        let target = if args.to_earliest {
            low
        } else if args.to_latest {
            high
        } else if let Some(n) = args.to_offset {
            n.clamp(low, high)
        } else {
            match by_time.get(&p) {
                Some(Offset::Offset(o)) => *o,
                // No record at or after the time: the end, as Kafka's tool does.
                _ => high,
            }
        };
        plan.push((p, target));
    }
    if args.execute {
        let mut commit = TopicPartitionList::new();
        for (p, target) in &plan {
            commit
                .add_partition_offset(&args.topic, *p, Offset::Offset(*target))
                .map_err(|e| ToolError::client("offsets", e))?;
        }
        consumer
            .commit(&commit, CommitMode::Sync)
            .map_err(|e| ToolError::client(format!("commit the offsets of group {group}"), e))?;
    }
    match connection.output {
        Output::Table => {
            let rows: Vec<Vec<String>> = plan
                .iter()
                .map(|(p, t)| {
                    vec![
                        group.to_string(),
                        args.topic.clone(),
                        p.to_string(),
                        t.to_string(),
                    ]
                })
                .collect();
            table::print(&["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"], &rows);
            if !args.execute {
                println!("\nDry run: nothing committed. Run again with --execute to apply.");
            }
        }
        Output::Json => {
            let partitions: Vec<_> = plan
                .iter()
                .map(|(p, t)| json!({ "partition": p, "new_offset": t }))
                .collect();
            println!(
                "{}",
                json!({ "group": group, "topic": args.topic, "executed": args.execute, "partitions": partitions })
            );
        }
    }
    Ok(())
}

fn delete(connection: &Connection, group: &str) -> Result<(), ToolError> {
    connection.metadata(&connection.probe(None)?, None)?;
    let admin = connection.admin()?;
    let results = block_on(admin.delete_groups(&[group], &connection.admin_options()))
        .map_err(|e| ToolError::client(format!("delete group {group}"), e))?;
    check_results(&format!("delete group {group}"), results)?;
    report(connection, "Deleted consumer group", "deleted", group);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes_are_utc_milliseconds() {
        assert_eq!(parse_datetime("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_datetime("2026-11-21T08:30:00.250Z"),
            Some(1_795_249_800_250)
        );
        assert_eq!(parse_datetime("2000-02-29T12:00:00"), Some(951_825_600_000));
        assert_eq!(parse_datetime("2026-13-01T00:00:00"), None);
        assert_eq!(parse_datetime("yesterday"), None);
    }

    #[test]
    fn assignments_decode_and_garbage_does_not() {
        let mut bytes = vec![0, 1, 0, 0, 0, 1, 0, 3];
        bytes.extend_from_slice(b"abc");
        bytes.extend_from_slice(&[0, 0, 0, 2, 0, 0, 0, 4, 0, 0, 0, 7, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(
            decode_assignment(&bytes),
            Some(vec![("abc".to_string(), 4), ("abc".to_string(), 7)])
        );
        assert_eq!(decode_assignment(&bytes[..9]), None);
    }
}
