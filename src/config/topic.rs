//! Per-topic config overrides (CreateTopics `configs`, DescribeConfigs): Kafka's topic keys,
//! validated when set and applied on top of the broker's `log.*` defaults.

use std::collections::BTreeMap;

use crate::log::{CleanupPolicy, LogConfig};
use crate::record::{Compression, TimestampType};

/// Topic config keys Weir implements. Others are rejected with INVALID_CONFIG rather than stored
/// and ignored.
pub const TOPIC_CONFIG_KEYS: &[&str] = &[
    "cleanup.policy",
    "compression.type",
    "retention.ms",
    "retention.bytes",
    "segment.bytes",
    "segment.ms",
    "max.message.bytes",
    "message.timestamp.type",
    "flush.messages",
    "flush.ms",
    "index.interval.bytes",
    "min.insync.replicas",
    "delete.retention.ms",
    "min.cleanable.dirty.ratio",
    "min.compaction.lag.ms",
];

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum TopicConfigError {
    #[error("unknown topic config `{0}`")]
    UnknownKey(String),
    #[error("invalid value `{value}` for topic config `{key}`: {reason}")]
    InvalidValue {
        key: String,
        value: String,
        reason: &'static str,
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

    /// The topic's log settings: broker defaults with the overrides applied.
    pub fn log_config(&self, defaults: &LogConfig) -> LogConfig {
        let mut log = defaults.clone();
        for (key, value) in &self.overrides {
            // Values were validated when stored; a parse failure cannot happen here.
            let number = value.parse::<i64>().ok();
            match (key.as_str(), number) {
                ("retention.ms", Some(ms)) => log.retention_ms = (ms >= 0).then_some(ms),
                ("retention.bytes", Some(b)) => log.retention_bytes = u64::try_from(b).ok(),
                ("segment.bytes", Some(b)) => log.segment_bytes = b as u64,
                ("segment.ms", Some(ms)) => log.segment_ms = ms,
                ("max.message.bytes", Some(b)) => log.max_message_bytes = b as usize,
                ("index.interval.bytes", Some(b)) => log.index_interval_bytes = b as u64,
                ("flush.messages", Some(n)) => {
                    log.flush.interval_messages = (n != i64::MAX).then_some(n as u64)
                }
                ("flush.ms", Some(n)) => {
                    log.flush.interval_ms = (n != i64::MAX).then_some(n as u64)
                }
                ("delete.retention.ms", Some(ms)) => log.delete_retention_ms = ms,
                ("min.compaction.lag.ms", Some(ms)) => log.min_compaction_lag_ms = ms,
                ("min.cleanable.dirty.ratio", _) => {
                    if let Ok(ratio) = value.trim().parse() {
                        log.min_cleanable_dirty_ratio = ratio;
                    }
                }
                ("cleanup.policy", _) => {
                    log.cleanup = CleanupPolicy::parse(value).unwrap_or(log.cleanup)
                }
                ("compression.type", _) => log.compression = parse_compression(value).flatten(),
                ("message.timestamp.type", _) => {
                    log.message_timestamp_type = if value == "LogAppendTime" {
                        TimestampType::LogAppendTime
                    } else {
                        TimestampType::CreateTime
                    }
                }
                _ => {}
            }
        }
        log
    }

    /// Every topic config with its effective value and whether it is the default, for
    /// DescribeConfigs.
    pub fn describe(&self, defaults: &LogConfig) -> Vec<(&'static str, String, bool)> {
        TOPIC_CONFIG_KEYS
            .iter()
            .map(|&key| match self.overrides.get(key) {
                Some(value) => (key, value.clone(), false),
                None => (key, default_value(key, defaults), true),
            })
            .collect()
    }
}

/// The value a topic has for `key` when it does not override it, in Kafka's notation.
pub fn default_value(key: &str, defaults: &LogConfig) -> String {
    let never = i64::MAX.to_string();
    match key {
        "cleanup.policy" => defaults.cleanup.name().into(),
        "delete.retention.ms" => defaults.delete_retention_ms.to_string(),
        "min.cleanable.dirty.ratio" => defaults.min_cleanable_dirty_ratio.to_string(),
        "min.compaction.lag.ms" => defaults.min_compaction_lag_ms.to_string(),
        "compression.type" => compression_name(defaults.compression).into(),
        "retention.ms" => defaults.retention_ms.unwrap_or(-1).to_string(),
        "retention.bytes" => defaults
            .retention_bytes
            .map_or(-1, |b| b as i64)
            .to_string(),
        "segment.bytes" => defaults.segment_bytes.to_string(),
        "segment.ms" => defaults.segment_ms.to_string(),
        "max.message.bytes" => defaults.max_message_bytes.to_string(),
        "message.timestamp.type" => match defaults.message_timestamp_type {
            TimestampType::CreateTime => "CreateTime".into(),
            TimestampType::LogAppendTime => "LogAppendTime".into(),
        },
        "flush.messages" => defaults
            .flush
            .interval_messages
            .map_or(never, |n| n.to_string()),
        "flush.ms" => defaults.flush.interval_ms.map_or(never, |n| n.to_string()),
        "index.interval.bytes" => defaults.index_interval_bytes.to_string(),
        "min.insync.replicas" => "1".into(),
        _ => String::new(),
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

impl TopicConfigError {
    /// Why the value was refused, without the key and value.
    pub fn reason(&self) -> &'static str {
        match self {
            TopicConfigError::UnknownKey(_) => "unknown key",
            TopicConfigError::InvalidValue { reason, .. } => reason,
        }
    }
}

/// Checks one topic config value (also the broker's defaults of the topic keys).
pub fn check_value(key: &str, value: &str) -> Result<(), TopicConfigError> {
    let invalid = |reason: &'static str| TopicConfigError::InvalidValue {
        key: key.to_string(),
        value: value.to_string(),
        reason,
    };
    let number = || {
        value
            .trim()
            .parse::<i64>()
            .map_err(|_| invalid("not a number"))
    };
    match key {
        "cleanup.policy" if CleanupPolicy::parse(value).is_some() => Ok(()),
        "cleanup.policy" => Err(invalid("must be delete, compact or compact,delete")),
        "delete.retention.ms" | "min.compaction.lag.ms" => (number()? >= 0)
            .then_some(())
            .ok_or(invalid("must be 0 or more")),
        "min.cleanable.dirty.ratio" => match value.trim().parse::<f64>() {
            Ok(ratio) if (0.0..=1.0).contains(&ratio) => Ok(()),
            _ => Err(invalid("must be a number between 0 and 1")),
        },
        "compression.type" if parse_compression(value).is_some() => Ok(()),
        "compression.type" => Err(invalid(
            "must be producer, uncompressed, gzip, snappy, lz4 or zstd",
        )),
        "retention.ms" | "retention.bytes" => (number()? >= -1)
            .then_some(())
            .ok_or(invalid("must be -1 or more")),
        "segment.bytes" => (14..=i32::MAX as i64)
            .contains(&number()?)
            .then_some(())
            .ok_or(invalid("must be between 14 and 2147483647")),
        "segment.ms" | "flush.messages" | "flush.ms" => (number()? >= 1)
            .then_some(())
            .ok_or(invalid("must be at least 1")),
        "max.message.bytes" | "index.interval.bytes" => (0..=i32::MAX as i64)
            .contains(&number()?)
            .then_some(())
            .ok_or(invalid("must be between 0 and 2147483647")),
        "message.timestamp.type" if value == "CreateTime" || value == "LogAppendTime" => Ok(()),
        "message.timestamp.type" => Err(invalid("must be CreateTime or LogAppendTime")),
        "min.insync.replicas" if value.trim() == "1" => Ok(()),
        "min.insync.replicas" => Err(invalid("a single node has one in-sync replica")),
        _ => Err(TopicConfigError::UnknownKey(key.to_string())),
    }
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
        let described = topic.describe(&LogConfig::default());
        assert!(described.contains(&("retention.ms", "-1".to_string(), false)));
        assert!(described.contains(&("cleanup.policy", "delete".to_string(), true)));
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
