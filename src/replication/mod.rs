//! Kafka's replica fetcher: a follower pulls its partitions' new batches from their leaders
//! with Fetch requests as a replica (`replica_id` = this broker), over the leader's client
//! listener (`inter.broker.listener.name`), and appends them unchanged (`append_replicated`).
//!
//! One fetcher task per (leader broker, shard) batches every partition the shard follows from
//! that leader into one Fetch, as Kafka's `ReplicaFetcherThread` does per source broker. Each
//! Fetch long-polls at the leader, whose answer also carries its high watermark. A follower's
//! fetch offset is its log end, and the leader counts it as having everything below: so before
//! asking again the follower writes what it appended to its segment files (not synced, as
//! Kafka's followers leave it in the page cache), and the leader's count survives a crash of
//! the follower's process.

mod client;
mod isr;
pub mod read_replica;

pub use client::{FetchError, LeaderConnection, Secured};
pub use isr::run_isr_manager;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::rc::Rc;
use std::time::Duration;

use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::messages::{BrokerId, FetchRequest, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::error_code::ErrorCode;
use crate::log::{Durability, FetchSource, PartitionLog, NO_EPOCH};
use crate::shard::ops::TopicPartition;
use crate::shard::Shard;

/// Kafka's `replica.fetch.max.bytes` (per partition) and `replica.fetch.response.max.bytes`.
const PARTITION_MAX_BYTES: i32 = 1 << 20;
const RESPONSE_MAX_BYTES: i32 = 10 << 20;
/// After a failed fetch (leader unreachable, or not the leader any more): Kafka's
/// `replica.fetch.backoff.ms`.
const BACKOFF: Duration = Duration::from_millis(200);
/// How often the shard looks for leaders to start fetching from.
const SCAN_INTERVAL: Duration = Duration::from_millis(100);

/// One of this shard's partition logs with the partition's metadata: what the fetchers and
/// the ISR manager work from.
pub struct LocalReplica {
    pub tp: TopicPartition,
    pub topic_id: uuid::Uuid,
    pub log: Rc<PartitionLog>,
    pub state: crate::metadata::PartitionMeta,
}

impl LocalReplica {
    /// The leader broker `me` fetches this partition from, when it follows it.
    pub fn followed_leader(&self, me: i32) -> Option<i32> {
        let leader = self.state.leader;
        (leader != me && leader != crate::metadata::NO_LEADER && self.state.replicas.contains(&me))
            .then_some(leader)
    }
}

/// This shard's partitions that broker `me` follows from `leader`.
fn followed_from(shard: &Shard, leader: i32) -> Vec<LocalReplica> {
    let me = shard.config.broker_id;
    shard
        .local_replicas()
        .into_iter()
        .filter(|r| r.followed_leader(me) == Some(leader))
        .collect()
}

/// Starts a fetcher for every leader this shard follows partitions of, for as long as the
/// process runs; a fetcher ends when the shard no longer follows anything from its leader.
pub async fn run_fetchers(shard: Rc<Shard>) {
    let running: Rc<RefCell<HashSet<i32>>> = Default::default();
    loop {
        glommio::timer::sleep(SCAN_INTERVAL).await;
        if crate::shard::shutting_down() {
            return;
        }
        let me = shard.config.broker_id;
        let leaders: BTreeSet<i32> = shard
            .local_replicas()
            .iter()
            .filter_map(|r| r.followed_leader(me))
            .collect();
        for leader in leaders {
            if running.borrow_mut().insert(leader) {
                let shard = shard.clone();
                let running = running.clone();
                glommio::spawn_local(async move {
                    fetch_from(&shard, leader).await;
                    running.borrow_mut().remove(&leader);
                })
                .detach();
            }
        }
    }
}

/// The fetch loop for the partitions this shard follows from `leader`.
async fn fetch_from(shard: &Rc<Shard>, leader: i32) {
    let me = shard.config.broker_id;
    let mut connection: Option<LeaderConnection> = None;
    tracing::info!(shard = shard.id, leader, "replica fetcher started");
    loop {
        if crate::shard::shutting_down() {
            return;
        }
        let partitions = followed_from(shard, leader);
        if partitions.is_empty() {
            tracing::info!(
                shard = shard.id,
                leader,
                "replica fetcher stopped: nothing to follow from this leader"
            );
            return;
        }
        if connection.is_none() {
            let Some(endpoint) = shard.inter_broker_endpoint(leader) else {
                glommio::timer::sleep(BACKOFF).await;
                continue;
            };
            match LeaderConnection::connect(&endpoint, me, &shard.config).await {
                Ok(c) => connection = Some(c),
                Err(e @ crate::replication::client::FetchError::Login(_)) => {
                    tracing::warn!(leader, error = %e, "the leader refused this broker's login; retrying");
                    glommio::timer::sleep(BACKOFF).await;
                    continue;
                }
                Err(e) => {
                    tracing::debug!(leader, error = %e, "cannot reach the leader; retrying");
                    glommio::timer::sleep(BACKOFF).await;
                    continue;
                }
            }
        }
        let Some(link) = connection.as_mut() else {
            continue;
        };
        let wait_ms = shard.config.cluster.replica_fetch_wait_max_ms;
        let request = fetch_request(me, &partitions, wait_ms);
        let response = match link.fetch(&request).await {
            Ok(response) => response,
            Err(e) => {
                tracing::debug!(leader, error = %e, "replica fetch failed; reconnecting");
                connection = None;
                glommio::timer::sleep(BACKOFF).await;
                continue;
            }
        };
        let mut failed = false;
        for topic in response.responses {
            for p in topic.partitions {
                let tp = TopicPartition {
                    topic: topic.topic.0.as_str().to_string(),
                    partition: p.partition_index,
                };
                let Some(followed) = partitions.iter().find(|f| f.tp == tp) else {
                    continue;
                };
                // Applied only if the log still follows this leader in the epoch the fetch
                // was sent in: the answer may arrive after a leadership change.
                let source = FetchSource {
                    leader,
                    leader_epoch: followed.state.leader_epoch,
                };
                let outcome = take_answer(&followed.log, p, source).await;
                if let Err(code) = outcome {
                    failed = true;
                    tracing::debug!(partition = %tp, leader, error = %code, "replica fetch answered with an error");
                }
            }
        }
        if failed {
            // The leader moved or the metadata is behind: the next round uses what the
            // metadata says by then.
            glommio::timer::sleep(BACKOFF).await;
        }
    }
}

/// One partition's share of a Fetch answer: its batches appended and written, and the
/// leader's high watermark taken; or, when the leader says this log diverges from its own,
/// the log cut there (the next fetch starts from the cut, and checks again). Nothing is
/// applied once the log no longer follows `source` (the log's own check, StaleFetch:
/// NOT_LEADER_OR_FOLLOWER, and the next round fetches as the metadata says by then).
async fn take_answer(
    log: &PartitionLog,
    answer: PartitionData,
    source: FetchSource,
) -> Result<(), ErrorCode> {
    if answer.error_code == ErrorCode::OffsetOutOfRange.code() {
        log.check_follows(source).map_err(|e| e.error_code())?;
        return reconcile_out_of_range(log, answer.log_start_offset).await;
    }
    if answer.error_code != 0 {
        return Err(ErrorCode::NotLeaderOrFollower);
    }
    let diverging = &answer.diverging_epoch;
    if diverging.epoch != NO_EPOCH || diverging.end_offset != -1 {
        return log
            .truncate_to_divergence(diverging.epoch, diverging.end_offset, source)
            .await
            .map(|_| ())
            .map_err(|e| e.error_code());
    }
    let high_watermark = answer.high_watermark;
    if let Some(records) = answer.records.filter(|r| !r.is_empty()) {
        let end = log.append_replicated(records, source).map_err(|e| {
            tracing::warn!(topic = log.topic(), partition = log.partition(), error = %e, "replicated batches refused");
            e.error_code()
        })?;
        log.wait_for(end, Durability::Written).await.map_err(|e| {
            tracing::error!(topic = log.topic(), partition = log.partition(), error = %e, "replicated batches not written");
            e.error_code()
        })?;
    }
    log.set_follower_high_watermark(high_watermark);
    Ok(())
}

/// OFFSET_OUT_OF_RANGE: this follower's log end is not in the leader's log. Behind the
/// leader's log start (retention removed what it needs): start over there. Past the leader's
/// end (an unclean election left the leader shorter): cut back to the high watermark, which
/// every in-sync replica had.
async fn reconcile_out_of_range(
    log: &PartitionLog,
    leader_log_start: i64,
) -> Result<(), ErrorCode> {
    let end = log.log_end_offset();
    let result = if leader_log_start > end {
        tracing::warn!(
            topic = log.topic(),
            partition = log.partition(),
            log_end_offset = end,
            leader_log_start,
            "follower behind the leader's log start: starting over there"
        );
        log.restart_at(leader_log_start)
            .await
            .map(|()| leader_log_start)
    } else {
        let hw = log.high_watermark();
        tracing::warn!(
            topic = log.topic(),
            partition = log.partition(),
            log_end_offset = end,
            high_watermark = hw,
            "follower past the leader's log end: cutting back to the high watermark"
        );
        let target = if hw < end { hw } else { log.log_start_offset() };
        log.truncate_to(target).await
    };
    result.map(|_| ()).map_err(|e| e.error_code())
}

/// `wait_ms`: how long the leader holds a fetch that finds nothing new
/// (`replica.fetch.wait.max.ms`).
fn fetch_request(me: i32, partitions: &[LocalReplica], wait_ms: u64) -> FetchRequest {
    let mut topics: BTreeMap<&str, Vec<FetchPartition>> = BTreeMap::new();
    for f in partitions {
        topics.entry(&f.tp.topic).or_default().push(
            FetchPartition::default()
                .with_partition(f.tp.partition)
                .with_current_leader_epoch(f.state.leader_epoch)
                // The leader checks that our log agrees with its own up to our end (KIP-595's
                // form of KIP-101/279's truncation).
                .with_last_fetched_epoch(f.log.latest_epoch().unwrap_or(NO_EPOCH))
                .with_fetch_offset(f.log.log_end_offset())
                .with_log_start_offset(f.log.log_start_offset())
                .with_partition_max_bytes(PARTITION_MAX_BYTES),
        );
    }
    FetchRequest::default()
        .with_replica_id(BrokerId(me))
        .with_max_wait_ms(i32::try_from(wait_ms).unwrap_or(i32::MAX))
        .with_min_bytes(1)
        .with_max_bytes(RESPONSE_MAX_BYTES)
        .with_session_id(0)
        .with_session_epoch(-1)
        .with_topics(
            topics
                .into_iter()
                .map(|(topic, partitions)| {
                    FetchTopic::default()
                        .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
                        .with_partitions(partitions)
                })
                .collect(),
        )
}
