//! A randomized, replayable run of the pure controller through brokers' lives: registrations
//! (restarts, duplicates), session lapses, unfencing, controlled shutdowns, topic commands,
//! ISR changes (as replication's AlterPartition will make them) and ElectLeaders, checking
//! after every step what Kafka's controller promises:
//! - never two leaders in one leader epoch of a partition, and epochs only grow;
//! - a leader is alive and in the ISR; the ISR is never empty and only holds replicas;
//! - a new leader comes from the previous ISR, unless an unclean election was allowed;
//! - a broker's epoch only grows.

use std::collections::BTreeMap;

use uuid::Uuid;

use super::controller::{decide, ControllerContext, NewTopic, TopicCommand};
use super::election::{elect_leaders, ElectionType};
use super::liveness::{fence, register, shut_down, unfence, Registration};
use super::model::{ClusterMeta, NO_LEADER};
use super::records::{applied, MetadataRecord};

/// xorshift64: a seeded, replayable sequence.
pub(super) struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

const BROKERS: i32 = 5;

/// One step of the world, and whether it may elect a leader outside the ISR.
fn random_step(rng: &mut Rng, state: &ClusterMeta, epoch: i64) -> (Vec<MetadataRecord>, bool) {
    let broker = 1 + rng.below(BROKERS as u64) as i32;
    let unclean_default = rng.below(8) == 0;
    match rng.below(9) {
        0 | 1 => {
            let registration = Registration {
                id: broker,
                incarnation: Uuid::from_u128(u128::from(rng.below(4))),
                cluster_id: "sim".into(),
                endpoints: vec![crate::metadata::Endpoint::plaintext(
                    "127.0.0.1",
                    9000 + broker as u16,
                )],
                rack: Some(format!("r{}", broker % 2)),
            };
            let session_valid = rng.below(2) == 0;
            (
                register(state, &registration, epoch, session_valid).unwrap_or_default(),
                false,
            )
        }
        2 => (fence(state, broker, unclean_default), unclean_default),
        3 | 4 => (unfence(state, broker), false),
        5 => (shut_down(state, broker, unclean_default), unclean_default),
        6 => {
            let ctx = ControllerContext {
                num_partitions: 3,
                default_replication_factor: 3,
                delete_topic_enable: true,
            };
            let name = rng.pick(&["a", "b", "c"]).to_string();
            let command = match rng.below(3) {
                0 | 1 => TopicCommand::CreateTopics(vec![NewTopic {
                    name,
                    num_partitions: -1,
                    replication_factor: *rng.pick(&[-1, 1, 2, 3]),
                    assignments: Vec::new(),
                    configs: Vec::new(),
                }]),
                _ => TopicCommand::DeleteTopics(vec![name]),
            };
            (decide(state, &ctx, command).records, false)
        }
        7 => (isr_change(rng, state), false),
        _ => {
            let kind = *rng.pick(&[ElectionType::Preferred, ElectionType::Unclean]);
            (
                elect_leaders(state, kind, None).0,
                kind == ElectionType::Unclean,
            )
        }
    }
}

/// What replication's AlterPartition does: a live replica that caught up joins the ISR, or a
/// lagging follower leaves it (never the leader, never the last member).
fn isr_change(rng: &mut Rng, state: &ClusterMeta) -> Vec<MetadataRecord> {
    let Some(topic) = state.topics.values().nth(rng.below(4) as usize) else {
        return Vec::new();
    };
    let index = rng.below(topic.partitions.len() as u64) as usize;
    let p = &topic.partitions[index];
    if p.leader == NO_LEADER {
        return Vec::new();
    }
    let mut next = p.clone();
    let replica = *rng.pick(&p.replicas);
    if p.isr.contains(&replica) {
        if replica == p.leader {
            return Vec::new();
        }
        next.isr.retain(|b| *b != replica);
    } else if state.is_live(replica) {
        next.isr.push(replica);
    } else {
        return Vec::new();
    }
    next.partition_epoch += 1;
    vec![MetadataRecord::Partition {
        topic_id: topic.id,
        partition: index as i32,
        state: next,
    }]
}

#[test]
fn randomized_broker_lives_keep_leaders_safe() {
    let mut elections = 0usize;
    for seed in 1..=60u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let mut state = ClusterMeta {
            cluster_id: "sim".into(),
            ..Default::default()
        };
        // (topic id, partition, leader epoch) → the one leader of that epoch.
        let mut leaders_by_epoch: BTreeMap<(Uuid, usize, i32), i32> = BTreeMap::new();
        for step in 0..400 {
            let epoch = step as i64 + 1;
            let (records, unclean_allowed) = random_step(&mut rng, &state, epoch);
            let next = applied(&state, &records)
                .unwrap_or_else(|e| panic!("seed {seed} step {step}: {e}"));
            let at = format!("seed {seed} step {step}");
            for (id, broker) in &next.brokers {
                if let Some(old) = state.brokers.get(id) {
                    assert!(broker.epoch >= old.epoch, "{at}: broker epoch went back");
                }
            }
            for topic in next.topics.values() {
                let old = state.topics.values().find(|t| t.id == topic.id);
                for (index, p) in topic.partitions.iter().enumerate() {
                    assert!(!p.isr.is_empty(), "{at}: empty ISR");
                    assert!(
                        p.isr.iter().all(|b| p.replicas.contains(b)),
                        "{at}: ISR outside the replicas"
                    );
                    if p.leader != NO_LEADER {
                        assert!(p.isr.contains(&p.leader), "{at}: leader outside the ISR");
                        assert!(next.is_live(p.leader), "{at}: leader not alive: {p:?}");
                    }
                    let seen = leaders_by_epoch
                        .entry((topic.id, index, p.leader_epoch))
                        .or_insert(p.leader);
                    assert_eq!(*seen, p.leader, "{at}: two leaders in one epoch");
                    let Some(before) = old.and_then(|t| t.partitions.get(index)) else {
                        continue;
                    };
                    assert!(p.leader_epoch >= before.leader_epoch, "{at}: epoch back");
                    assert!(p.partition_epoch >= before.partition_epoch);
                    if p.leader != before.leader && p.leader != NO_LEADER {
                        elections += 1;
                        assert!(
                            unclean_allowed || before.isr.contains(&p.leader),
                            "{at}: {} elected from outside the ISR {:?}",
                            p.leader,
                            before.isr
                        );
                    }
                }
            }
            state = next;
        }
    }
    // The runs reach real elections, not only refusals.
    assert!(elections > 500, "only {elections} elections");
}
