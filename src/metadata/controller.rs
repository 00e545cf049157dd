//! The controller's decisions, apart from any I/O (KRaft's shape: a command becomes metadata
//! records; every broker replays records with [`records::apply`](super::records::apply)).
//! CreateTopics, DeleteTopics, CreatePartitions and AlterConfigs are validated here as Kafka's
//! controller validates them, against the state as it is after the command's earlier items,
//! and answered per topic. The shell (`shard::controller`) serializes commands, persists the
//! result, and publishes it to every shard.

use std::collections::BTreeSet;

use uuid::Uuid;

use super::assignment::{assign, assignment_order};
use super::is_internal_topic;
use super::model::{validate_topic_name, ClusterMeta, PartitionMeta, TopicMeta};
use super::records::{apply, MetadataRecord};
use crate::config::registry::{list_items, ConfigType};
use crate::config::{topic_key, TopicConfigs};
use crate::error_code::ErrorCode;

/// What the controller's decisions depend on besides the metadata (which also says which
/// brokers are alive to hold replicas): the controller's settings.
#[derive(Debug, Clone)]
pub struct ControllerContext {
    /// `num.partitions`: CreateTopics with -1 partitions.
    pub num_partitions: i32,
    /// `default.replication.factor`: CreateTopics with -1 replicas.
    pub default_replication_factor: i16,
    /// `delete.topic.enable`.
    pub delete_topic_enable: bool,
}

/// A change asked of the controller.
pub enum TopicCommand {
    CreateTopics(Vec<NewTopic>),
    DeleteTopics(Vec<String>),
    CreatePartitions(Vec<PartitionIncrease>),
    AlterTopicConfigs { topic: String, change: ConfigChange },
}

/// The records that carry out a command (empty when every item was refused), and the answer
/// for each of its topics.
pub struct Decision {
    pub records: Vec<MetadataRecord>,
    pub outcomes: Vec<TopicOutcome>,
}

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

/// Decides `command` against `state`: each item is checked against the state as the items
/// before it left it, and its records are applied to that scratch state, so that the records
/// returned replay cleanly onto `state` in order.
pub fn decide(state: &ClusterMeta, ctx: &ControllerContext, command: TopicCommand) -> Decision {
    let mut scratch = Scratch {
        state: state.clone(),
        records: Vec::new(),
        broken: None,
    };
    let items: Vec<(String, Result<(), Refusal>)> = match command {
        TopicCommand::CreateTopics(topics) => {
            let mut seen = BTreeSet::new();
            let duplicates: BTreeSet<String> = topics
                .iter()
                .filter(|t| !seen.insert(t.name.clone()))
                .map(|t| t.name.clone())
                .collect();
            let mut items = Vec::with_capacity(topics.len());
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
                    create_topic(&scratch.state, ctx, &topic)
                };
                items.push(scratch.commit(topic.name, result));
            }
            items
        }
        TopicCommand::DeleteTopics(names) => names
            .into_iter()
            .map(|name| {
                let result = delete_topic(&scratch.state, ctx, &name);
                scratch.commit(name, result)
            })
            .collect(),
        TopicCommand::CreatePartitions(increases) => increases
            .into_iter()
            .map(|increase| {
                let result = create_partitions(&scratch.state, &increase);
                scratch.commit(increase.name, result)
            })
            .collect(),
        TopicCommand::AlterTopicConfigs { topic, change } => {
            let result = alter_topic_configs(&scratch.state, &topic, change);
            vec![scratch.commit(topic, result)]
        }
    };
    let Scratch {
        state: after,
        records,
        broken,
    } = scratch;
    // A record that did not apply is a controller bug: nothing of the command is carried out.
    if let Some(message) = broken {
        let outcomes = items
            .into_iter()
            .map(|(name, result)| TopicOutcome {
                name,
                result: result.and(Err(refuse(ErrorCode::UnknownServerError, message.clone()))),
            })
            .collect();
        return Decision {
            records: Vec::new(),
            outcomes,
        };
    }
    let outcomes = items
        .into_iter()
        .map(|(name, result)| {
            let result = result.map(|()| {
                // The topic as the command left it; a deleted topic as it was.
                after
                    .topics
                    .get(&name)
                    .or_else(|| state.topics.get(&name))
                    .cloned()
                    .expect("an accepted item names a topic of the state before or after")
            });
            TopicOutcome { name, result }
        })
        .collect();
    Decision { records, outcomes }
}

/// The state as a command's accepted items leave it, and their records.
struct Scratch {
    state: ClusterMeta,
    records: Vec<MetadataRecord>,
    /// Why a decided record did not apply, if one did not.
    broken: Option<String>,
}

impl Scratch {
    /// Applies an accepted item's records to the state and keeps them, so that later items are
    /// checked against what this one did.
    fn commit(
        &mut self,
        name: String,
        result: Result<Vec<MetadataRecord>, Refusal>,
    ) -> (String, Result<(), Refusal>) {
        let item_records = match result {
            Ok(item_records) => item_records,
            Err(refusal) => return (name, Err(refusal)),
        };
        for record in &item_records {
            if let Err(e) = apply(&mut self.state, record) {
                tracing::error!(topic = %name, error = %e, "controller decided a record that does not apply");
                self.broken.get_or_insert_with(|| e.to_string());
                return (
                    name,
                    Err(refuse(ErrorCode::UnknownServerError, e.to_string())),
                );
            }
        }
        self.records.extend(item_records);
        (name, Ok(()))
    }
}

fn unknown_topic(name: &str) -> Refusal {
    refuse(
        ErrorCode::UnknownTopicOrPartition,
        format!("topic `{name}` does not exist"),
    )
}

fn create_topic(
    state: &ClusterMeta,
    ctx: &ControllerContext,
    topic: &NewTopic,
) -> Result<Vec<MetadataRecord>, Refusal> {
    validate_topic_name(&topic.name).map_err(|m| refuse(ErrorCode::InvalidTopicException, m))?;
    if state.topics.contains_key(&topic.name) {
        return Err(refuse(
            ErrorCode::TopicAlreadyExists,
            format!("topic `{}` already exists", topic.name),
        ));
    }
    // Explicit assignments, or (count, factor) for Kafka's striped placement.
    let striped = if !topic.assignments.is_empty() {
        if topic.num_partitions != -1 || topic.replication_factor != -1 {
            return Err(refuse(
                ErrorCode::InvalidRequest,
                "with replica assignments, numPartitions and replicationFactor must be -1",
            ));
        }
        for (index, (partition, replicas)) in topic.assignments.iter().enumerate() {
            check_replicas(state, replicas)?;
            if *partition != index as i32 {
                return Err(refuse(
                    ErrorCode::InvalidReplicaAssignment,
                    "assignments must cover partitions 0..n in order",
                ));
            }
        }
        None
    } else {
        let factor = match topic.replication_factor {
            -1 => ctx.default_replication_factor,
            given => given,
        };
        check_replication_factor(state, factor)?;
        let count = match topic.num_partitions {
            -1 => ctx.num_partitions,
            n if n >= 1 => n,
            n => {
                return Err(refuse(
                    ErrorCode::InvalidPartitions,
                    format!("number of partitions must be at least 1, got {n}"),
                ))
            }
        };
        Some((count, factor as usize))
    };
    let configs = TopicConfigs::new(
        topic
            .configs
            .iter()
            .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v))),
    )
    .map_err(|e| refuse(ErrorCode::InvalidConfig, e.to_string()))?;
    let id = Uuid::new_v4();
    let replicas: Vec<Vec<i32>> = match striped {
        Some((count, factor)) => {
            let brokers = assignment_order(state.live_brokers());
            assign(&brokers, 0, count, factor, id.as_u64_pair().0)
        }
        None => topic.assignments.iter().map(|(_, r)| r.clone()).collect(),
    };
    let mut records = vec![MetadataRecord::Topic {
        name: topic.name.clone(),
        id,
    }];
    records.extend(
        replicas
            .into_iter()
            .enumerate()
            .map(|(partition, replicas)| MetadataRecord::Partition {
                topic_id: id,
                partition: partition as i32,
                state: new_partition(replicas),
            }),
    );
    records.extend(
        configs
            .overrides()
            .iter()
            .map(|(key, value)| MetadataRecord::TopicConfig {
                topic_id: id,
                key: key.clone(),
                value: Some(value.clone()),
            }),
    );
    Ok(records)
}

/// A new partition: the assigned replicas are its ISR, the first leads (Kafka's preferred
/// leader).
fn new_partition(replicas: Vec<i32>) -> PartitionMeta {
    PartitionMeta {
        leader: replicas.first().copied().unwrap_or(super::NO_LEADER),
        isr: replicas.clone(),
        replicas,
        leader_epoch: 0,
        partition_epoch: 0,
    }
}

/// Kafka refuses a factor larger than the unfenced brokers (INVALID_REPLICATION_FACTOR).
fn check_replication_factor(state: &ClusterMeta, factor: i16) -> Result<(), Refusal> {
    let live = state.live_brokers().count();
    if factor < 1 {
        return Err(refuse(
            ErrorCode::InvalidReplicationFactor,
            format!("replication factor must be at least 1, got {factor}"),
        ));
    }
    if factor as usize > live {
        let brokers = if live == 1 { "broker" } else { "brokers" };
        return Err(refuse(
            ErrorCode::InvalidReplicationFactor,
            format!("replication factor {factor} is larger than the {live} available {brokers}"),
        ));
    }
    Ok(())
}

/// An explicit assignment: distinct, registered brokers (INVALID_REPLICA_ASSIGNMENT).
fn check_replicas(state: &ClusterMeta, replicas: &[i32]) -> Result<(), Refusal> {
    let bad = |why: String| Err(refuse(ErrorCode::InvalidReplicaAssignment, why));
    if replicas.is_empty() {
        return bad("an assignment lists no replicas".into());
    }
    let mut seen = BTreeSet::new();
    for id in replicas {
        if !seen.insert(*id) {
            return bad(format!("replicas {replicas:?} name broker {id} twice"));
        }
        if !state.brokers.contains_key(id) {
            return bad(format!(
                "replicas {replicas:?}: broker {id} is not registered"
            ));
        }
    }
    Ok(())
}

fn delete_topic(
    state: &ClusterMeta,
    ctx: &ControllerContext,
    name: &str,
) -> Result<Vec<MetadataRecord>, Refusal> {
    if is_internal_topic(name) {
        return Err(refuse(
            ErrorCode::InvalidRequest,
            format!("the internal topic {name} cannot be deleted"),
        ));
    }
    if !ctx.delete_topic_enable {
        return Err(refuse(
            ErrorCode::TopicDeletionDisabled,
            "topic deletion is disabled (delete.topic.enable=false)",
        ));
    }
    let topic = state.topics.get(name).ok_or_else(|| unknown_topic(name))?;
    Ok(vec![MetadataRecord::RemoveTopic { id: topic.id }])
}

fn create_partitions(
    state: &ClusterMeta,
    increase: &PartitionIncrease,
) -> Result<Vec<MetadataRecord>, Refusal> {
    let PartitionIncrease {
        name,
        count,
        assignments,
    } = increase;
    let topic = state.topics.get(name).ok_or_else(|| unknown_topic(name))?;
    let existing = topic.partitions.len();
    if *count <= existing as i32 {
        return Err(refuse(
            ErrorCode::InvalidPartitions,
            format!(
                "topic `{name}` has {existing} partitions; the new count {count} must be larger"
            ),
        ));
    }
    let added = *count as usize - existing;
    match assignments {
        Some(a) if a.len() != added => {
            return Err(refuse(
                ErrorCode::InvalidReplicaAssignment,
                format!("{} assignments for {added} new partitions", a.len()),
            ))
        }
        Some(a) => a.iter().try_for_each(|r| check_replicas(state, r))?,
        None => {}
    }
    let replicas = match assignments {
        Some(a) => a.clone(),
        None => {
            // New partitions keep the topic's replication factor (Kafka's CreatePartitions).
            let factor = topic
                .partitions
                .first()
                .map_or(1, |p| p.replicas.len().max(1));
            check_replication_factor(state, factor as i16)?;
            let brokers = assignment_order(state.live_brokers());
            assign(
                &brokers,
                existing as i32,
                added as i32,
                factor,
                topic.id.as_u64_pair().0,
            )
        }
    };
    Ok(replicas
        .into_iter()
        .zip(existing as i32..*count)
        .map(|(replicas, partition)| MetadataRecord::Partition {
            topic_id: topic.id,
            partition,
            state: new_partition(replicas),
        })
        .collect())
}

/// The records that turn `topic`'s overrides into the altered ones: a removal for each key
/// that goes, a set for each key that is new or changes.
fn alter_topic_configs(
    state: &ClusterMeta,
    name: &str,
    change: ConfigChange,
) -> Result<Vec<MetadataRecord>, Refusal> {
    let topic = state.topics.get(name).ok_or_else(|| unknown_topic(name))?;
    let current = topic.configs.overrides();
    let altered = altered_configs(&topic.configs, change)?;
    let next = altered.overrides();
    let removed = current
        .keys()
        .filter(|key| !next.contains_key(*key))
        .map(|key| MetadataRecord::TopicConfig {
            topic_id: topic.id,
            key: key.clone(),
            value: None,
        });
    let set = next
        .iter()
        .filter(|(key, value)| current.get(*key) != Some(value))
        .map(|(key, value)| MetadataRecord::TopicConfig {
            topic_id: topic.id,
            key: key.clone(),
            value: Some(value.clone()),
        });
    Ok(removed.chain(set).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cluster of the one live broker `id`.
    fn one_broker(id: i32) -> ClusterMeta {
        let mut state = ClusterMeta::default();
        state.brokers.insert(
            id,
            crate::metadata::BrokerMeta {
                id,
                epoch: 1,
                incarnation: Uuid::nil(),
                endpoints: vec![crate::metadata::Endpoint::plaintext("127.0.0.1", 9092)],
                rack: None,
                fenced: false,
                shutting_down: false,
            },
        );
        state
    }

    use crate::metadata::simulation::Rng;

    const NAMES: &[&str] = &["a", "b", "c", "d", "__consumer_offsets", "bad name"];

    fn random_command(rng: &mut Rng, state: &ClusterMeta) -> TopicCommand {
        let name = |rng: &mut Rng| rng.pick(NAMES).to_string();
        match rng.below(4) {
            0 => TopicCommand::CreateTopics(
                (0..1 + rng.below(3))
                    .map(|_| NewTopic {
                        name: name(rng),
                        num_partitions: *rng.pick(&[-1, 0, 1, 3]),
                        replication_factor: *rng.pick(&[-1, 1, 1, 3]),
                        assignments: Vec::new(),
                        configs: match rng.below(3) {
                            0 => vec![("retention.ms".into(), Some("1000".into()))],
                            1 => vec![("retention.mz".into(), Some("1".into()))],
                            _ => Vec::new(),
                        },
                    })
                    .collect(),
            ),
            1 => TopicCommand::DeleteTopics(vec![name(rng)]),
            2 => TopicCommand::CreatePartitions(vec![PartitionIncrease {
                name: name(rng),
                count: state
                    .topics
                    .values()
                    .next()
                    .map_or(2, |t| t.partitions.len() as i32)
                    + rng.below(3) as i32
                    - 1,
                assignments: None,
            }]),
            _ => TopicCommand::AlterTopicConfigs {
                topic: name(rng),
                change: ConfigChange::Incremental(vec![(
                    rng.pick(&["cleanup.policy", "retention.ms", "segment.ms"])
                        .to_string(),
                    *rng.pick(&[OP_SET, OP_DELETE, OP_APPEND, OP_SUBTRACT]),
                    Some(rng.pick(&["compact", "delete", "60000"]).to_string()),
                )]),
            },
        }
    }

    /// What must hold of any state the controller leads to.
    fn check_invariants(before: &ClusterMeta, after: &ClusterMeta, seed: u64, step: usize) {
        let mut ids = BTreeSet::new();
        for topic in after.topics.values() {
            assert!(
                ids.insert(topic.id),
                "seed {seed} step {step}: topic id reused"
            );
            assert!(
                !topic.partitions.is_empty(),
                "seed {seed} step {step}: no partitions"
            );
            let old = before.topics.values().find(|t| t.id == topic.id);
            if let Some(old) = old {
                assert!(
                    topic.partitions.len() >= old.partitions.len(),
                    "seed {seed} step {step}: partitions shrank"
                );
            }
            for (index, p) in topic.partitions.iter().enumerate() {
                assert!(
                    !p.replicas.is_empty(),
                    "seed {seed} step {step}: no replicas"
                );
                let unique: BTreeSet<_> = p.replicas.iter().collect();
                assert_eq!(
                    unique.len(),
                    p.replicas.len(),
                    "seed {seed}: duplicate replica"
                );
                assert!(
                    p.isr.iter().all(|b| p.replicas.contains(b)),
                    "seed {seed} step {step}: ISR outside the replicas"
                );
                assert!(
                    p.isr.contains(&p.leader),
                    "seed {seed} step {step}: the leader is not in the ISR"
                );
                if let Some(old) = old.and_then(|o| o.partitions.get(index)) {
                    assert!(
                        p.leader_epoch >= old.leader_epoch,
                        "seed {seed}: epoch went back"
                    );
                    assert!(p.partition_epoch >= old.partition_epoch);
                }
            }
        }
    }

    #[test]
    fn randomized_commands_keep_the_metadata_consistent() {
        let ctx = ControllerContext {
            num_partitions: 2,
            default_replication_factor: 1,
            delete_topic_enable: true,
        };
        let (mut accepted, mut refused) = (0usize, 0usize);
        for seed in 1..=40u64 {
            let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
            let mut state = one_broker(1);
            for step in 0..60 {
                let command = random_command(&mut rng, &state);
                let decision = decide(&state, &ctx, command);
                // The records replay onto the state the decision was made against...
                let next = crate::metadata::records::applied(&state, &decision.records)
                    .unwrap_or_else(|e| panic!("seed {seed} step {step}: {e}"));
                // ...and the answers describe the state they lead to.
                for outcome in &decision.outcomes {
                    match &outcome.result {
                        Ok(topic) => match next.topics.get(&outcome.name) {
                            Some(now) => assert_eq!(now, topic, "seed {seed} step {step}"),
                            None => assert!(
                                state.topics.contains_key(&outcome.name),
                                "seed {seed} step {step}: accepted topic vanished"
                            ),
                        },
                        Err(refusal) => assert_ne!(
                            refusal.code,
                            ErrorCode::UnknownServerError,
                            "seed {seed} step {step}: {}",
                            refusal.message
                        ),
                    }
                }
                accepted += decision
                    .outcomes
                    .iter()
                    .filter(|o| o.result.is_ok())
                    .count();
                refused += decision
                    .outcomes
                    .iter()
                    .filter(|o| o.result.is_err())
                    .count();
                if decision.outcomes.iter().all(|o| o.result.is_err()) {
                    assert!(
                        decision.records.is_empty(),
                        "seed {seed}: records of refusals"
                    );
                }
                check_invariants(&state, &next, seed, step);
                assert!(
                    !next.topics.contains_key("bad name"),
                    "seed {seed}: an invalid name was created"
                );
                state = next;
            }
        }
        // The commands reach both answers often: the checks above ran on real changes.
        assert!(
            accepted > 300 && refused > 300,
            "{accepted} accepted, {refused} refused"
        );
    }

    #[test]
    fn create_then_delete_in_records() {
        let ctx = ControllerContext {
            num_partitions: 3,
            default_replication_factor: 1,
            delete_topic_enable: false,
        };
        let create = decide(
            &one_broker(7),
            &ctx,
            TopicCommand::CreateTopics(vec![NewTopic {
                name: "t".into(),
                num_partitions: -1,
                replication_factor: -1,
                assignments: Vec::new(),
                configs: vec![("cleanup.policy".into(), Some("compact".into()))],
            }]),
        );
        // One topic record, three partition records, one config record.
        assert_eq!(create.records.len(), 5);
        let state = crate::metadata::records::applied(&one_broker(7), &create.records).unwrap();
        let topic = &state.topics["t"];
        assert_eq!(topic.partitions, vec![PartitionMeta::single_replica(7); 3]);
        // delete.topic.enable=false refuses with TOPIC_DELETION_DISABLED and no records.
        let delete = decide(&state, &ctx, TopicCommand::DeleteTopics(vec!["t".into()]));
        assert!(delete.records.is_empty());
        assert_eq!(
            delete.outcomes[0].result.as_ref().unwrap_err().code,
            ErrorCode::TopicDeletionDisabled
        );
        let ctx = ControllerContext {
            delete_topic_enable: true,
            ..ctx
        };
        let delete = decide(&state, &ctx, TopicCommand::DeleteTopics(vec!["t".into()]));
        assert_eq!(
            delete.records,
            vec![MetadataRecord::RemoveTopic { id: topic.id }]
        );
    }

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
