//! Per-topic config overrides (CreateTopics `configs`, DescribeConfigs): Kafka's topic keys,
//! validated when set and applied on top of the broker's `log.*` defaults.

use std::collections::BTreeMap;

use super::registry::{list_items, Check, ConfigDef, ConfigType, Effect};
use crate::log::{CleanupPolicy, LogConfig};
use crate::record::{Compression, TimestampType};

/// One topic config: its definition, the broker keys that set its default (Kafka's synonyms,
/// most specific first), the default taken from the broker's log settings, and how an override
/// changes the topic's [`LogConfig`] (`None`: accepted and ignored, see `def.effect`).
pub struct TopicKey {
    pub def: ConfigDef,
    pub broker_synonyms: &'static [&'static str],
    pub broker_default: Option<fn(&LogConfig) -> String>,
    pub apply: Option<fn(&mut LogConfig, &str)>,
}

const LONG_MAX: &str = "9223372036854775807";
const INT_MAX: i64 = i32::MAX as i64;

const fn applied(
    name: &'static str,
    kind: ConfigType,
    default: &'static str,
    check: Check,
    doc: &'static str,
) -> ConfigDef {
    ConfigDef::applied(name, kind, Some(default), check, doc)
}

/// A key Kafka documents that Weir accepts, validates and does not act on (`why` says so).
const fn ignored(
    name: &'static str,
    kind: ConfigType,
    default: &'static str,
    check: Check,
    doc: &'static str,
    why: &'static str,
    broker_synonyms: &'static [&'static str],
) -> TopicKey {
    TopicKey {
        def: ConfigDef {
            effect: Effect::Ignored(why),
            ..ConfigDef::applied(name, kind, Some(default), check, doc)
        },
        broker_synonyms,
        broker_default: None,
        apply: None,
    }
}

fn number(value: &str) -> i64 {
    // Values are validated before they are stored; a stored value always parses.
    value.trim().parse().unwrap_or_default()
}

/// Kafka's `Long.MAX_VALUE` for the flush intervals means "never by count/time".
fn interval(value: &str) -> Option<u64> {
    let n = number(value);
    (n != i64::MAX).then_some(n as u64)
}

fn never_or(value: Option<u64>) -> String {
    value.map_or_else(|| LONG_MAX.to_string(), |n| n.to_string())
}

/// Every key of Kafka's topic-config documentation (Kafka 3.x, including the deprecated keys
/// tools written for Kafka 3 still send), in Kafka's order. Anything else is refused with
/// INVALID_CONFIG ("unknown topic config").
pub const TOPIC_KEYS: &[TopicKey] = &[
    TopicKey {
        def: applied(
            "cleanup.policy",
            ConfigType::List,
            "delete",
            Check::ListOf(&["delete", "compact"]),
            "delete: old segments are removed by retention; compact: the latest record of each \
             key is kept; both together do both.",
        ),
        broker_synonyms: &["log.cleanup.policy"],
        broker_default: Some(|log| log.cleanup.name().into()),
        apply: Some(|log, v| log.cleanup = CleanupPolicy::parse(v).unwrap_or(log.cleanup)),
    },
    TopicKey {
        def: applied(
            "compression.type",
            ConfigType::String,
            "producer",
            Check::OneOf(&["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"]),
            "The codec batches are stored with; producer keeps the producer's codec, any other \
             value recompresses batches that differ.",
        ),
        broker_synonyms: &["compression.type"],
        broker_default: Some(|log| compression_name(log.compression).into()),
        apply: Some(|log, v| log.compression = parse_compression(v).flatten()),
    },
    ignored(
        "compression.gzip.level",
        ConfigType::Int,
        "-1",
        Check::Custom(|v| match number(v) {
            -1 | 1..=9 => Ok(()),
            _ => Err("must be -1 or between 1 and 9"),
        }),
        "The gzip level when compression.type is gzip (KIP-390).",
        "recompression uses each codec's default level.",
        &[],
    ),
    ignored(
        "compression.lz4.level",
        ConfigType::Int,
        "9",
        Check::Range(1, 17),
        "The lz4 level when compression.type is lz4 (KIP-390).",
        "recompression uses each codec's default level.",
        &[],
    ),
    ignored(
        "compression.zstd.level",
        ConfigType::Int,
        "3",
        Check::Range(-131_072, 22),
        "The zstd level when compression.type is zstd (KIP-390).",
        "recompression uses each codec's default level.",
        &[],
    ),
    TopicKey {
        def: applied(
            "delete.retention.ms",
            ConfigType::Long,
            "86400000",
            Check::Range(0, i64::MAX),
            "How long tombstones (null values) of a compacted topic are kept.",
        ),
        broker_synonyms: &["log.cleaner.delete.retention.ms"],
        broker_default: Some(|log| log.delete_retention_ms.to_string()),
        apply: Some(|log, v| log.delete_retention_ms = number(v)),
    },
    ignored(
        "file.delete.delay.ms",
        ConfigType::Long,
        "60000",
        Check::Range(0, i64::MAX),
        "How long a deleted segment's files stay before they are removed.",
        "segment files are removed at once; readers of a removed segment are answered from \
             the next one.",
        &["log.segment.delete.delay.ms"],
    ),
    TopicKey {
        def: applied(
            "flush.messages",
            ConfigType::Long,
            LONG_MAX,
            Check::Range(1, i64::MAX),
            "fsync after this many records (see tuning.md: acks=all is synced before it is \
             acknowledged by default).",
        ),
        broker_synonyms: &["log.flush.interval.messages"],
        broker_default: Some(|log| never_or(log.flush.interval_messages)),
        apply: Some(|log, v| log.flush.interval_messages = interval(v)),
    },
    TopicKey {
        def: applied(
            "flush.ms",
            ConfigType::Long,
            LONG_MAX,
            Check::Range(1, i64::MAX),
            "fsync when the oldest unsynced record is this old.",
        ),
        broker_synonyms: &["log.flush.interval.ms"],
        broker_default: Some(|log| never_or(log.flush.interval_ms)),
        apply: Some(|log, v| log.flush.interval_ms = interval(v)),
    },
    ignored(
        "follower.replication.throttled.replicas",
        ConfigType::List,
        "",
        Check::Custom(throttled_replicas),
        "Replicas whose follower fetches are throttled: partition:broker pairs or *.",
        "Weir is one broker: there is no replication to throttle.",
        &[],
    ),
    TopicKey {
        def: applied(
            "index.interval.bytes",
            ConfigType::Int,
            "4096",
            Check::Range(0, INT_MAX),
            "Bytes of batches between two entries of the offset index.",
        ),
        broker_synonyms: &["log.index.interval.bytes"],
        broker_default: Some(|log| log.index_interval_bytes.to_string()),
        apply: Some(|log, v| log.index_interval_bytes = number(v) as u64),
    },
    ignored(
        "leader.replication.throttled.replicas",
        ConfigType::List,
        "",
        Check::Custom(throttled_replicas),
        "Replicas whose leader side is throttled: partition:broker pairs or *.",
        "Weir is one broker: there is no replication to throttle.",
        &[],
    ),
    ignored(
        "local.retention.bytes",
        ConfigType::Long,
        "-2",
        Check::Range(-2, i64::MAX),
        "With tiered storage, bytes kept on local disk (-2: retention.bytes).",
        "there is no tiered storage.",
        &["log.local.retention.bytes"],
    ),
    ignored(
        "local.retention.ms",
        ConfigType::Long,
        "-2",
        Check::Range(-2, i64::MAX),
        "With tiered storage, how long data stays on local disk (-2: retention.ms).",
        "there is no tiered storage.",
        &["log.local.retention.ms"],
    ),
    ignored(
        "max.compaction.lag.ms",
        ConfigType::Long,
        LONG_MAX,
        Check::Range(1, i64::MAX),
        "The longest a record may stay uncompacted.",
        "the cleaner compacts by min.cleanable.dirty.ratio only.",
        &["log.cleaner.max.compaction.lag.ms"],
    ),
    TopicKey {
        def: applied(
            "max.message.bytes",
            ConfigType::Int,
            "1048588",
            Check::Range(0, INT_MAX),
            "The largest record batch the topic accepts (after compression); larger ones get \
             MESSAGE_TOO_LARGE.",
        ),
        broker_synonyms: &["message.max.bytes"],
        broker_default: Some(|log| log.max_message_bytes.to_string()),
        apply: Some(|log, v| log.max_message_bytes = number(v) as usize),
    },
    ignored(
        "message.downconversion.enable",
        ConfigType::Boolean,
        "true",
        Check::Any,
        "Whether old consumers' fetches may be down-converted (deprecated in Kafka 3).",
        "Fetch v4+ only, which needs no down-conversion.",
        &["log.message.downconversion.enable"],
    ),
    ignored(
        "message.format.version",
        ConfigType::String,
        "3.0-IV1",
        Check::Custom(message_format_version),
        "The record format version (deprecated: Kafka 3.0+ always writes v2).",
        "every batch is stored as RecordBatch v2.",
        &["log.message.format.version"],
    ),
    ignored(
        "message.timestamp.after.max.ms",
        ConfigType::Long,
        LONG_MAX,
        Check::Range(0, i64::MAX),
        "How far in the future a CreateTime timestamp may be (KIP-937).",
        "timestamps are not checked against the broker's clock yet.",
        &["log.message.timestamp.after.max.ms"],
    ),
    ignored(
        "message.timestamp.before.max.ms",
        ConfigType::Long,
        LONG_MAX,
        Check::Range(0, i64::MAX),
        "How far in the past a CreateTime timestamp may be (KIP-937).",
        "timestamps are not checked against the broker's clock yet.",
        &["log.message.timestamp.before.max.ms"],
    ),
    ignored(
        "message.timestamp.difference.max.ms",
        ConfigType::Long,
        LONG_MAX,
        Check::Range(0, i64::MAX),
        "The largest difference between a CreateTime timestamp and the broker's clock \
             (deprecated by KIP-937).",
        "timestamps are not checked against the broker's clock yet.",
        &["log.message.timestamp.difference.max.ms"],
    ),
    TopicKey {
        def: applied(
            "message.timestamp.type",
            ConfigType::String,
            "CreateTime",
            Check::OneOf(&["CreateTime", "LogAppendTime"]),
            "CreateTime keeps the producer's timestamps; LogAppendTime stamps batches with the \
             broker's clock.",
        ),
        broker_synonyms: &["log.message.timestamp.type"],
        broker_default: Some(|log| match log.message_timestamp_type {
            TimestampType::CreateTime => "CreateTime".into(),
            TimestampType::LogAppendTime => "LogAppendTime".into(),
        }),
        apply: Some(|log, v| {
            log.message_timestamp_type = if v == "LogAppendTime" {
                TimestampType::LogAppendTime
            } else {
                TimestampType::CreateTime
            }
        }),
    },
    TopicKey {
        def: applied(
            "min.cleanable.dirty.ratio",
            ConfigType::Double,
            "0.5",
            Check::RangeF64(0.0, 1.0),
            "The share of uncompacted bytes at which the cleaner compacts the log.",
        ),
        broker_synonyms: &["log.cleaner.min.cleanable.ratio"],
        broker_default: Some(|log| log.min_cleanable_dirty_ratio.to_string()),
        apply: Some(|log, v| {
            if let Ok(ratio) = v.trim().parse() {
                log.min_cleanable_dirty_ratio = ratio;
            }
        }),
    },
    TopicKey {
        def: applied(
            "min.compaction.lag.ms",
            ConfigType::Long,
            "0",
            Check::Range(0, i64::MAX),
            "The least time a record stays uncompacted.",
        ),
        broker_synonyms: &["log.cleaner.min.compaction.lag.ms"],
        broker_default: Some(|log| log.min_compaction_lag_ms.to_string()),
        apply: Some(|log, v| log.min_compaction_lag_ms = number(v)),
    },
    TopicKey {
        def: applied(
            "min.insync.replicas",
            ConfigType::Int,
            "1",
            Check::Range(1, i32::MAX as i64),
            "The in-sync replicas an acks=all write needs: with fewer in the ISR the write is \
             refused with NOT_ENOUGH_REPLICAS before it is appended.",
        ),
        broker_synonyms: &["min.insync.replicas"],
        broker_default: Some(|log| log.min_insync_replicas.to_string()),
        apply: Some(|log, v| log.min_insync_replicas = number(v) as u32),
    },
    ignored(
        "preallocate",
        ConfigType::Boolean,
        "false",
        Check::Any,
        "Whether new segment files are preallocated.",
        "segments grow with their direct writes.",
        &["log.preallocate"],
    ),
    ignored(
        "remote.log.copy.disable",
        ConfigType::Boolean,
        "false",
        Check::Any,
        "Stops copying segments to tiered storage.",
        "there is no tiered storage.",
        &[],
    ),
    ignored(
        "remote.log.delete.on.disable",
        ConfigType::Boolean,
        "false",
        Check::Any,
        "Deletes tiered data when tiered storage is turned off for the topic.",
        "there is no tiered storage.",
        &[],
    ),
    ignored(
        "remote.storage.enable",
        ConfigType::Boolean,
        "false",
        Check::Custom(|v| match v.to_ascii_lowercase().as_str() {
            "false" => Ok(()),
            _ => Err("tiered storage is not enabled on this broker"),
        }),
        "Tiered storage for the topic (only false: Weir has none).",
        "there is no tiered storage.",
        &[],
    ),
    TopicKey {
        def: applied(
            "retention.bytes",
            ConfigType::Long,
            "-1",
            Check::Range(-1, i64::MAX),
            "Bytes a partition keeps before its oldest segments are deleted (-1: no limit).",
        ),
        broker_synonyms: &["log.retention.bytes"],
        broker_default: Some(|log| log.retention_bytes.map_or(-1, |b| b as i64).to_string()),
        apply: Some(|log, v| log.retention_bytes = u64::try_from(number(v)).ok()),
    },
    TopicKey {
        def: applied(
            "retention.ms",
            ConfigType::Long,
            "604800000",
            Check::Range(-1, i64::MAX),
            "How long a segment is kept after its newest record (-1: forever).",
        ),
        broker_synonyms: &[
            "log.retention.ms",
            "log.retention.minutes",
            "log.retention.hours",
        ],
        broker_default: Some(|log| log.retention_ms.unwrap_or(-1).to_string()),
        apply: Some(|log, v| {
            let ms = number(v);
            log.retention_ms = (ms >= 0).then_some(ms)
        }),
    },
    TopicKey {
        def: applied(
            "segment.bytes",
            ConfigType::Int,
            "1073741824",
            Check::Range(14, INT_MAX),
            "A segment file rolls at this size.",
        ),
        broker_synonyms: &["log.segment.bytes"],
        broker_default: Some(|log| log.segment_bytes.to_string()),
        apply: Some(|log, v| log.segment_bytes = number(v) as u64),
    },
    ignored(
        "segment.index.bytes",
        ConfigType::Int,
        "10485760",
        Check::Range(4, INT_MAX),
        "The size of a segment's offset index file.",
        "index files grow with their segment.",
        &["log.index.size.max.bytes"],
    ),
    ignored(
        "segment.jitter.ms",
        ConfigType::Long,
        "0",
        Check::Range(0, i64::MAX),
        "A random time subtracted from segment.ms so that segments do not all roll at once.",
        "segments roll at segment.ms exactly.",
        &["log.roll.jitter.ms", "log.roll.jitter.hours"],
    ),
    TopicKey {
        def: applied(
            "segment.ms",
            ConfigType::Long,
            "604800000",
            Check::Range(1, i64::MAX),
            "A segment rolls when its first record is this old.",
        ),
        broker_synonyms: &["log.roll.ms", "log.roll.hours"],
        broker_default: Some(|log| log.segment_ms.to_string()),
        apply: Some(|log, v| log.segment_ms = number(v)),
    },
    ignored(
        "unclean.leader.election.enable",
        ConfigType::Boolean,
        "false",
        Check::Any,
        "Whether an out-of-sync replica may become leader when no in-sync one is left.",
        "Weir is one broker: there is no other replica to elect.",
        &["unclean.leader.election.enable"],
    ),
];

/// `*`, or `partition:broker` pairs (Kafka's ThrottledReplicaListValidator).
fn throttled_replicas(value: &str) -> Result<(), &'static str> {
    let items = list_items(value);
    if items == ["*"] || items.is_empty() {
        return Ok(());
    }
    let pair = |item: &&str| {
        item.split_once(':').is_some_and(|(partition, broker)| {
            partition.trim().parse::<u32>().is_ok() && broker.trim().parse::<u32>().is_ok()
        })
    };
    if items.iter().all(pair) {
        Ok(())
    } else {
        Err("must be * or a list of partition:broker pairs")
    }
}

/// A Kafka version as `message.format.version` takes it: `0.10.2`, `2.8`, `3.0-IV1`.
fn message_format_version(value: &str) -> Result<(), &'static str> {
    let (version, iv) = match value.split_once("-IV") {
        Some((version, iv)) => (version, Some(iv)),
        None => (value, None),
    };
    let numbers: Vec<&str> = version.split('.').collect();
    let numeric = |part: &&str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    if (2..=4).contains(&numbers.len())
        && numbers.iter().all(numeric)
        && iv.is_none_or(|iv| numeric(&iv))
    {
        Ok(())
    } else {
        Err("not a Kafka version such as 2.8 or 3.0-IV1")
    }
}

/// The topic key named `name`.
pub fn topic_key(name: &str) -> Option<&'static TopicKey> {
    TOPIC_KEYS.iter().find(|key| key.def.name == name)
}

/// The definitions of every topic key, in order (README table, `--help-config`).
pub fn topic_defs() -> impl Iterator<Item = &'static ConfigDef> {
    TOPIC_KEYS.iter().map(|key| &key.def)
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum TopicConfigError {
    #[error("unknown topic config `{0}`")]
    UnknownKey(String),
    #[error("invalid value `{value}` for topic config `{key}`: {reason}")]
    InvalidValue {
        key: String,
        value: String,
        reason: String,
    },
}

/// A topic's overrides, by Kafka key. Only validated values are ever stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicConfigs {
    overrides: BTreeMap<String, String>,
}

impl TopicConfigs {
    pub fn new(
        pairs: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, TopicConfigError> {
        let mut overrides = BTreeMap::new();
        for (key, value) in pairs {
            check_value(&key, &value)?;
            overrides.insert(key, value);
        }
        Ok(TopicConfigs { overrides })
    }

    pub fn overrides(&self) -> &BTreeMap<String, String> {
        &self.overrides
    }

    /// The topic's log settings: broker defaults with the overrides applied (keys Weir
    /// accepts and ignores change nothing).
    pub fn log_config(&self, defaults: &LogConfig) -> LogConfig {
        let mut log = defaults.clone();
        for (key, value) in &self.overrides {
            if let Some(apply) = topic_key(key).and_then(|key| key.apply) {
                apply(&mut log, value);
            }
        }
        log
    }
}

/// Kafka's `compression.type` values: `Some(None)` is `producer` (keep the producer's codec).
pub fn parse_compression(value: &str) -> Option<Option<Compression>> {
    Some(match value {
        "producer" => None,
        "uncompressed" => Some(Compression::None),
        "gzip" => Some(Compression::Gzip),
        "snappy" => Some(Compression::Snappy),
        "lz4" => Some(Compression::Lz4),
        "zstd" => Some(Compression::Zstd),
        _ => return None,
    })
}

pub fn compression_name(compression: Option<Compression>) -> &'static str {
    match compression {
        None => "producer",
        Some(Compression::None) => "uncompressed",
        Some(Compression::Gzip) => "gzip",
        Some(Compression::Snappy) => "snappy",
        Some(Compression::Lz4) => "lz4",
        Some(Compression::Zstd) => "zstd",
    }
}

/// Checks one topic config value against its key's definition in [`TOPIC_KEYS`].
pub fn check_value(key: &str, value: &str) -> Result<(), TopicConfigError> {
    let topic_key = topic_key(key).ok_or_else(|| TopicConfigError::UnknownKey(key.to_string()))?;
    topic_key
        .def
        .validate(value)
        .map_err(|reason| TopicConfigError::InvalidValue {
            key: key.to_string(),
            value: value.to_string(),
            reason,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn configs(pairs: &[(&str, &str)]) -> Result<TopicConfigs, TopicConfigError> {
        TopicConfigs::new(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn overrides_apply_on_top_of_broker_defaults() {
        let topic = configs(&[("retention.ms", "-1"), ("segment.bytes", "1048576")]).unwrap();
        let log = topic.log_config(&LogConfig::default());
        assert_eq!(log.retention_ms, None);
        assert_eq!(log.segment_bytes, 1 << 20);
    }

    #[test]
    fn the_table_is_consistent() {
        for key in TOPIC_KEYS {
            let def = &key.def;
            let default = def.default.expect("every topic key has Kafka's default");
            def.validate(default)
                .unwrap_or_else(|e| panic!("{}: default {default}: {e}", def.name));
            assert_eq!(
                key.apply.is_some(),
                def.effect == Effect::Applied,
                "{}: applied keys change the log config, ignored ones do not",
                def.name
            );
            // Weir's built-in log defaults are Kafka's documented defaults.
            if let Some(effective) = key.broker_default {
                assert_eq!(effective(&LogConfig::default()), default, "{}", def.name);
            }
        }
        let mut names: Vec<_> = TOPIC_KEYS.iter().map(|k| k.def.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), TOPIC_KEYS.len(), "a key declared twice");
    }

    #[test]
    fn kafka_3_keys_are_accepted_and_change_nothing() {
        let topic = configs(&[
            ("message.format.version", "2.8-IV1"),
            ("message.downconversion.enable", "false"),
            ("message.timestamp.difference.max.ms", "3600000"),
            ("unclean.leader.election.enable", "true"),
            ("segment.jitter.ms", "100"),
            ("follower.replication.throttled.replicas", "0:1,1:2"),
            ("local.retention.ms", "-2"),
        ])
        .unwrap();
        assert_eq!(
            topic.log_config(&LogConfig::default()),
            LogConfig::default()
        );
        for (key, value) in [
            ("message.format.version", "latest"),
            ("message.downconversion.enable", "maybe"),
            ("message.timestamp.difference.max.ms", "-1"),
            ("remote.storage.enable", "true"),
            ("leader.replication.throttled.replicas", "0-1"),
            ("compression.gzip.level", "0"),
            ("local.retention.bytes", "-3"),
        ] {
            assert!(
                matches!(
                    check_value(key, value),
                    Err(TopicConfigError::InvalidValue { .. })
                ),
                "{key}={value}"
            );
        }
    }

    #[test]
    fn bad_keys_and_values_are_rejected() {
        assert_eq!(
            configs(&[("retention.mz", "1")]),
            Err(TopicConfigError::UnknownKey("retention.mz".into()))
        );
        assert!(configs(&[("segment.bytes", "10")]).is_err());
        assert!(configs(&[("retention.ms", "soon")]).is_err());
        assert!(configs(&[("cleanup.policy", "shred")]).is_err());
        assert!(configs(&[("min.cleanable.dirty.ratio", "1.5")]).is_err());
        assert!(configs(&[("delete.retention.ms", "-5")]).is_err());
    }

    #[test]
    fn cleanup_policies_parse_in_either_order() {
        let log = |value: &str| {
            configs(&[("cleanup.policy", value)])
                .unwrap()
                .log_config(&LogConfig::default())
                .cleanup
        };
        assert_eq!(
            log("compact"),
            CleanupPolicy {
                delete: false,
                compact: true
            }
        );
        assert_eq!(
            log("delete,compact"),
            CleanupPolicy {
                delete: true,
                compact: true
            }
        );
        assert_eq!(log("compact, delete").name(), "compact,delete");
        let tuned = configs(&[
            ("min.cleanable.dirty.ratio", "0.01"),
            ("delete.retention.ms", "0"),
        ])
        .unwrap()
        .log_config(&LogConfig::default());
        assert_eq!(tuned.min_cleanable_dirty_ratio, 0.01);
        assert_eq!(tuned.delete_retention_ms, 0);
    }
}
