//! The one place metadata changes: CreateTopics, DeleteTopics, CreatePartitions and producer id
//! allocation run here, on shard 0, one at a time. Each change is validated as Kafka's
//! controller validates it, persisted, and then applied on every shard before the client hears
//! back, so a topic a client was told about is open everywhere.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;

use glommio::sync::Semaphore;
use uuid::Uuid;

use super::ops::{ShardOp, ShardReply};
use super::Shard;
use crate::config::registry::{list_items, ConfigType};
use crate::config::{topic_key, TopicConfigs};
use crate::error_code::ErrorCode;
use crate::log::blocking;
use crate::metadata::{self, validate_topic_name, ClusterMeta, PartitionMeta, TopicMeta};

/// The overrides after an AlterConfigs / IncrementalAlterConfigs, validated as a whole.
fn altered_configs(current: &TopicConfigs, change: ConfigChange) -> Result<TopicConfigs, Refusal> {
    let invalid = |message: String| refuse(ErrorCode::InvalidConfig, message);
    let pairs: Vec<(String, String)> = match change {
        // AlterConfigs replaces every override: keys not given go back to their defaults.
        ConfigChange::Replace(configs) => configs
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect(),
        ConfigChange::Incremental(ops) => {
            let mut map = current.overrides().clone();
            let mut seen = BTreeSet::new();
            for (key, op, value) in ops {
                if !seen.insert(key.clone()) {
                    return Err(refuse(
                        ErrorCode::InvalidRequest,
                        format!("`{key}` appears twice in one IncrementalAlterConfigs resource"),
                    ));
                }
                let def = topic_key(&key)
                    .map(|k| &k.def)
                    .ok_or_else(|| invalid(format!("unknown topic config `{key}`")))?;
                match (op, value) {
                    (OP_SET, Some(value)) => {
                        map.insert(key, value);
                    }
                    (OP_SET, None) => return Err(invalid(format!("SET `{key}` without a value"))),
                    (OP_DELETE, _) => {
                        map.remove(&key);
                    }
                    (OP_APPEND | OP_SUBTRACT, _) if def.kind != ConfigType::List => {
                        return Err(invalid(format!(
                            "APPEND and SUBTRACT apply to list configs only, not `{key}` ({})",
                            def.kind.name()
                        )))
                    }
                    (OP_APPEND | OP_SUBTRACT, value) => {
                        // Kafka starts from the topic's override, else the key's default
                        // (APPEND compact to an unset cleanup.policy gives delete,compact).
                        let old = map
                            .get(&key)
                            .map(String::as_str)
                            .or(def.default)
                            .unwrap_or("");
                        let mut items: Vec<String> =
                            list_items(old).into_iter().map(str::to_string).collect();
                        for item in list_items(value.as_deref().unwrap_or("")) {
                            let present = items.iter().any(|i| i == item);
                            if op == OP_APPEND && !present {
                                items.push(item.to_string());
                            } else if op == OP_SUBTRACT {
                                items.retain(|i| i != item);
                            }
                        }
                        map.insert(key, items.join(","));
                    }
                    (other, _) => {
                        return Err(refuse(
                            ErrorCode::InvalidRequest,
                            format!("unknown config operation {other} for `{key}`"),
                        ))
                    }
                }
            }
            map.into_iter().collect()
        }
    };
    TopicConfigs::new(pairs).map_err(|e| invalid(e.to_string()))
}

/// IncrementalAlterConfigs operations (Kafka's AlterConfigOp.OpType).
const OP_SET: i8 = 0;
const OP_DELETE: i8 = 1;
const OP_APPEND: i8 = 2;
const OP_SUBTRACT: i8 = 3;

/// Producer ids are reserved in blocks (as Kafka's controller does), so that InitProducerId
/// rarely waits for a metadata write.
const PRODUCER_ID_BLOCK: i64 = 1000;

pub struct NewTopic {
    pub name: String,
    /// -1: the broker's `num.partitions`.
    pub num_partitions: i32,
    /// -1: the broker's `default.replication.factor` (1).
    pub replication_factor: i16,
    /// Manual assignments: partition index and its replicas' broker ids.
    pub assignments: Vec<(i32, Vec<i32>)>,
    pub configs: Vec<(String, Option<String>)>,
}

/// CreatePartitions for one topic: the new total count and, optionally, the replicas of each
/// new partition.
pub struct PartitionIncrease {
    pub name: String,
    pub count: i32,
    pub assignments: Option<Vec<Vec<i32>>>,
}

/// How AlterConfigs (all overrides replaced) or IncrementalAlterConfigs (per-key operations:
/// 0 SET, 1 DELETE, 2 APPEND, 3 SUBTRACT) change a topic's configs.
pub enum ConfigChange {
    Replace(Vec<(String, Option<String>)>),
    Incremental(Vec<(String, i8, Option<String>)>),
}

pub enum ControllerOp {
    CreateTopics {
        topics: Vec<NewTopic>,
        validate_only: bool,
    },
    DeleteTopics {
        names: Vec<String>,
    },
    CreatePartitions {
        topics: Vec<PartitionIncrease>,
        validate_only: bool,
    },
    AllocateProducerId,
    AlterTopicConfigs {
        topic: String,
        change: ConfigChange,
        validate_only: bool,
    },
}

/// Why a topic operation was refused: the Kafka error and a message for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: ErrorCode,
    pub message: String,
}

fn refuse(code: ErrorCode, message: impl Into<String>) -> Refusal {
    Refusal {
        code,
        message: message.into(),
    }
}

pub struct TopicOutcome {
    pub name: String,
    pub result: Result<TopicMeta, Refusal>,
}

pub enum ControllerReply {
    Topics(Vec<TopicOutcome>),
    ProducerId(Result<i64, ErrorCode>),
    /// Sent to a shard that is not the controller (a routing bug, never expected).
    NotController,
}

pub struct Controller {
    /// The persisted metadata; its `next_producer_id` is the end of the reserved id block.
    meta: RefCell<ClusterMeta>,
    /// The next producer id to hand out (below the reserved block's end).
    next_producer_id: std::cell::Cell<i64>,
    /// One change at a time: validation sees the result of the previous change.
    serial: Semaphore,
}

impl Controller {
    pub fn new(meta: ClusterMeta) -> Self {
        let next_producer_id = meta.next_producer_id;
        Controller {
            meta: RefCell::new(meta),
            next_producer_id: std::cell::Cell::new(next_producer_id),
            serial: Semaphore::new(1),
        }
    }
}

impl Shard {
    pub(super) async fn controller_execute(self: &Rc<Self>, op: ControllerOp) -> ControllerReply {
        let Some(controller) = self.controller.as_ref() else {
            return ControllerReply::NotController;
        };
        let Ok(_turn) = controller.serial.acquire_permit(1).await else {
            return ControllerReply::NotController;
        };
        match op {
            ControllerOp::CreateTopics {
                topics,
                validate_only,
            } => {
                ControllerReply::Topics(self.create_topics(controller, topics, validate_only).await)
            }
            ControllerOp::DeleteTopics { names } => {
                ControllerReply::Topics(self.delete_topics(controller, names).await)
            }
            ControllerOp::CreatePartitions {
                topics,
                validate_only,
            } => ControllerReply::Topics(
                self.create_partitions(controller, topics, validate_only)
                    .await,
            ),
            ControllerOp::AllocateProducerId => {
                ControllerReply::ProducerId(self.allocate_producer_id(controller).await)
            }
            ControllerOp::AlterTopicConfigs {
                topic,
                change,
                validate_only,
            } => ControllerReply::Topics(
                self.alter_topic_configs(controller, topic, change, validate_only)
                    .await,
            ),
        }
    }

    async fn create_topics(
        self: &Rc<Self>,
        controller: &Controller,
        topics: Vec<NewTopic>,
        validate_only: bool,
    ) -> Vec<TopicOutcome> {
        let mut next = controller.meta.borrow().clone();
        let mut seen = BTreeSet::new();
        let duplicates: BTreeSet<String> = topics
            .iter()
            .filter(|t| !seen.insert(t.name.clone()))
            .map(|t| t.name.clone())
            .collect();
        let mut outcomes = Vec::with_capacity(topics.len());
        for topic in topics {
            let result = if duplicates.contains(&topic.name) {
                Err(refuse(
                    ErrorCode::InvalidRequest,
                    format!(
                        "topic `{}` appears more than once in the request",
                        topic.name
                    ),
                ))
            } else {
                self.new_topic(&next, &topic)
            };
            if let Ok(meta) = &result {
                next.topics.insert(meta.name.clone(), meta.clone());
            }
            outcomes.push(TopicOutcome {
                name: topic.name,
                result,
            });
        }
        self.commit_outcomes(controller, next, outcomes, validate_only)
            .await
    }

    fn new_topic(&self, meta: &ClusterMeta, topic: &NewTopic) -> Result<TopicMeta, Refusal> {
        validate_topic_name(&topic.name)
            .map_err(|m| refuse(ErrorCode::InvalidTopicException, m))?;
        if meta.topics.contains_key(&topic.name) {
            return Err(refuse(
                ErrorCode::TopicAlreadyExists,
                format!("topic `{}` already exists", topic.name),
            ));
        }
        let partition_count = if !topic.assignments.is_empty() {
            if topic.num_partitions != -1 || topic.replication_factor != -1 {
                return Err(refuse(
                    ErrorCode::InvalidRequest,
                    "with replica assignments, numPartitions and replicationFactor must be -1",
                ));
            }
            for (index, (partition, replicas)) in topic.assignments.iter().enumerate() {
                self.check_replicas(replicas)?;
                if *partition != index as i32 {
                    return Err(refuse(
                        ErrorCode::InvalidReplicaAssignment,
                        "assignments must cover partitions 0..n in order",
                    ));
                }
            }
            topic.assignments.len() as i32
        } else {
            match topic.replication_factor {
                -1 | 1 => {}
                other => {
                    return Err(refuse(
                        ErrorCode::InvalidReplicationFactor,
                        format!("replication factor {other} is larger than the 1 available broker"),
                    ))
                }
            }
            match topic.num_partitions {
                -1 => self.config.num_partitions,
                n if n >= 1 => n,
                n => {
                    return Err(refuse(
                        ErrorCode::InvalidPartitions,
                        format!("number of partitions must be at least 1, got {n}"),
                    ))
                }
            }
        };
        let configs = TopicConfigs::new(
            topic
                .configs
                .iter()
                .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v))),
        )
        .map_err(|e| refuse(ErrorCode::InvalidConfig, e.to_string()))?;
        Ok(TopicMeta {
            name: topic.name.clone(),
            id: Uuid::new_v4(),
            partitions: (0..partition_count)
                .map(|_| PartitionMeta::single_replica(self.config.broker_id))
                .collect(),
            configs,
        })
    }

    fn check_replicas(&self, replicas: &[i32]) -> Result<(), Refusal> {
        if replicas != [self.config.broker_id] {
            return Err(refuse(
                ErrorCode::InvalidReplicaAssignment,
                format!(
                    "replicas {replicas:?}: this cluster is the single broker {}",
                    self.config.broker_id
                ),
            ));
        }
        Ok(())
    }

    async fn delete_topics(
        self: &Rc<Self>,
        controller: &Controller,
        names: Vec<String>,
    ) -> Vec<TopicOutcome> {
        let mut next = controller.meta.borrow().clone();
        let outcomes: Vec<TopicOutcome> = names
            .into_iter()
            .map(|name| {
                let result = if metadata::is_internal_topic(&name) {
                    Err(refuse(
                        ErrorCode::InvalidRequest,
                        "the internal topic __consumer_offsets cannot be deleted",
                    ))
                } else if !self.config.delete_topic_enable {
                    Err(refuse(
                        ErrorCode::TopicDeletionDisabled,
                        "topic deletion is disabled (delete.topic.enable=false)",
                    ))
                } else {
                    next.topics.remove(&name).ok_or_else(|| {
                        refuse(
                            ErrorCode::UnknownTopicOrPartition,
                            format!("topic `{name}` does not exist"),
                        )
                    })
                };
                TopicOutcome { name, result }
            })
            .collect();
        self.commit_outcomes(controller, next, outcomes, false)
            .await
    }

    async fn create_partitions(
        self: &Rc<Self>,
        controller: &Controller,
        topics: Vec<PartitionIncrease>,
        validate_only: bool,
    ) -> Vec<TopicOutcome> {
        let mut next = controller.meta.borrow().clone();
        let mut outcomes = Vec::with_capacity(topics.len());
        for PartitionIncrease {
            name,
            count,
            assignments,
        } in topics
        {
            let result = match next.topics.get_mut(&name) {
                None => Err(refuse(
                    ErrorCode::UnknownTopicOrPartition,
                    format!("topic `{name}` does not exist"),
                )),
                Some(topic) if count <= topic.partitions.len() as i32 => Err(refuse(
                    ErrorCode::InvalidPartitions,
                    format!(
                        "topic `{name}` has {} partitions; the new count {count} must be larger",
                        topic.partitions.len()
                    ),
                )),
                Some(topic) => {
                    let added = count as usize - topic.partitions.len();
                    let assignment_check = match &assignments {
                        Some(a) if a.len() != added => Err(refuse(
                            ErrorCode::InvalidReplicaAssignment,
                            format!("{} assignments for {added} new partitions", a.len()),
                        )),
                        Some(a) => a.iter().try_for_each(|r| self.check_replicas(r)),
                        None => Ok(()),
                    };
                    assignment_check.map(|()| {
                        topic.partitions.resize(
                            count as usize,
                            PartitionMeta::single_replica(self.config.broker_id),
                        );
                        topic.clone()
                    })
                }
            };
            outcomes.push(TopicOutcome { name, result });
        }
        self.commit_outcomes(controller, next, outcomes, validate_only)
            .await
    }

    async fn alter_topic_configs(
        self: &Rc<Self>,
        controller: &Controller,
        name: String,
        change: ConfigChange,
        validate_only: bool,
    ) -> Vec<TopicOutcome> {
        let mut next = controller.meta.borrow().clone();
        let result = match next.topics.get_mut(&name) {
            None => Err(refuse(
                ErrorCode::UnknownTopicOrPartition,
                format!("topic `{name}` does not exist"),
            )),
            Some(topic) => altered_configs(&topic.configs, change).map(|configs| {
                topic.configs = configs;
                topic.clone()
            }),
        };
        let outcomes = vec![TopicOutcome { name, result }];
        self.commit_outcomes(controller, next, outcomes, validate_only)
            .await
    }

    async fn allocate_producer_id(
        self: &Rc<Self>,
        controller: &Controller,
    ) -> Result<i64, ErrorCode> {
        let id = controller.next_producer_id.get();
        if id >= controller.meta.borrow().next_producer_id {
            let mut next = controller.meta.borrow().clone();
            next.next_producer_id = id + PRODUCER_ID_BLOCK;
            self.persist(next.clone())
                .await
                .map_err(|_| ErrorCode::KafkaStorageError)?;
            *controller.meta.borrow_mut() = next;
        }
        controller.next_producer_id.set(id + 1);
        Ok(id)
    }

    /// Commits `next` when any topic was accepted (and this is not a dry run); if the commit
    /// fails, the accepted topics are answered with its error instead.
    async fn commit_outcomes(
        self: &Rc<Self>,
        controller: &Controller,
        next: ClusterMeta,
        mut outcomes: Vec<TopicOutcome>,
        validate_only: bool,
    ) -> Vec<TopicOutcome> {
        if validate_only || !outcomes.iter().any(|o| o.result.is_ok()) {
            return outcomes;
        }
        if let Err(refusal) = self.commit(controller, next).await {
            for outcome in outcomes.iter_mut().filter(|o| o.result.is_ok()) {
                outcome.result = Err(refusal.clone());
            }
        }
        outcomes
    }

    /// Persists `next`, makes it the controller's view and applies it on every shard.
    async fn commit(
        self: &Rc<Self>,
        controller: &Controller,
        next: ClusterMeta,
    ) -> Result<(), Refusal> {
        self.persist(next.clone())
            .await
            .map_err(|e| refuse(ErrorCode::KafkaStorageError, e))?;
        *controller.meta.borrow_mut() = next.clone();
        let applies: Vec<_> = (0..self.count)
            .map(|peer| {
                let shard = self.clone();
                let meta = Box::new(next.clone());
                glommio::spawn_local(
                    async move { shard.call(peer, ShardOp::ApplyMetadata(meta)).await },
                )
            })
            .collect();
        for apply in applies {
            match apply.await {
                Ok(ShardReply::MetadataApplied) => {}
                _ => tracing::error!("a shard did not apply the new metadata"),
            }
        }
        Ok(())
    }

    async fn persist(&self, meta: ClusterMeta) -> Result<(), String> {
        let dir = self.config.log_dir.clone();
        blocking(move || metadata::store(&dir, &meta))
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "metadata not persisted");
                e.to_string()
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incremental(
        current: &[(&str, &str)],
        ops: &[(&str, i8, Option<&str>)],
    ) -> Result<Vec<(String, String)>, Refusal> {
        let current =
            TopicConfigs::new(current.iter().map(|(k, v)| (k.to_string(), v.to_string()))).unwrap();
        let ops = ops
            .iter()
            .map(|(k, op, v)| (k.to_string(), *op, v.map(str::to_string)))
            .collect();
        altered_configs(&current, ConfigChange::Incremental(ops))
            .map(|configs| configs.overrides().clone().into_iter().collect())
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn append_starts_from_the_default_and_subtract_removes() {
        // Kafka: APPEND compact to an unset cleanup.policy gives delete,compact.
        assert_eq!(
            incremental(&[], &[("cleanup.policy", OP_APPEND, Some("compact"))]).unwrap(),
            pairs(&[("cleanup.policy", "delete,compact")])
        );
        // Appending what is there changes nothing; SUBTRACT takes an item out.
        assert_eq!(
            incremental(
                &[("cleanup.policy", "delete,compact")],
                &[("cleanup.policy", OP_SUBTRACT, Some("delete"))]
            )
            .unwrap(),
            pairs(&[("cleanup.policy", "compact")])
        );
        assert_eq!(
            incremental(
                &[],
                &[(
                    "leader.replication.throttled.replicas",
                    OP_APPEND,
                    Some("0:1,1:1")
                )]
            )
            .unwrap(),
            pairs(&[("leader.replication.throttled.replicas", "0:1,1:1")])
        );
        // Nothing left of cleanup.policy is not a valid policy.
        let empty = incremental(
            &[("cleanup.policy", "compact")],
            &[("cleanup.policy", OP_SUBTRACT, Some("compact"))],
        )
        .unwrap_err();
        assert_eq!(empty.code, ErrorCode::InvalidConfig);
    }

    #[test]
    fn set_and_delete_and_their_errors() {
        assert_eq!(
            incremental(
                &[("retention.ms", "1000"), ("segment.ms", "5000")],
                &[
                    ("retention.ms", OP_DELETE, None),
                    ("message.format.version", OP_SET, Some("3.0-IV1"))
                ]
            )
            .unwrap(),
            pairs(&[
                ("message.format.version", "3.0-IV1"),
                ("segment.ms", "5000")
            ])
        );
        let not_a_list = incremental(&[], &[("retention.ms", OP_APPEND, Some("5"))]).unwrap_err();
        assert_eq!(not_a_list.code, ErrorCode::InvalidConfig);
        assert!(
            not_a_list.message.contains("list configs only"),
            "{}",
            not_a_list.message
        );
        let unknown = incremental(&[], &[("retention.mz", OP_DELETE, None)]).unwrap_err();
        assert_eq!(unknown.code, ErrorCode::InvalidConfig);
        let twice = incremental(
            &[],
            &[
                ("retention.ms", OP_SET, Some("1")),
                ("retention.ms", OP_DELETE, None),
            ],
        )
        .unwrap_err();
        assert_eq!(twice.code, ErrorCode::InvalidRequest);
        let bad_op = incremental(&[], &[("retention.ms", 9, Some("1"))]).unwrap_err();
        assert_eq!(bad_op.code, ErrorCode::InvalidRequest);
    }
}
