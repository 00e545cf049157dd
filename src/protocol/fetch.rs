//! Fetch (1), v4-v12: long poll (`min_bytes`, `max_wait_ms`), per-partition and per-response
//! byte limits, fetch sessions, and a response framed by hand around the stored record bytes so
//! that they go from the owner shard's memory (or a direct read) to the socket uncopied.

use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use glommio::channels::local_channel;
use kafka_protocol::messages::FetchRequest;

use super::fetch_session::{
    FetchEpochs, FetchPlan, PartitionReport, PlannedPartition, SessionMode,
};
use super::RequestContext;
use crate::error_code::ErrorCode;
use crate::log::ReadBatches;
use crate::security::acl::{AclOperation, ResourceType};
use crate::security::quota::QuotaKind;
use crate::shard::ops::{PartitionRead, Reader, ShardOp, ShardReply, TopicPartition};
use crate::shard::request_time;
use crate::shard::Shard;

/// First version with compact (flexible) encoding.
const FLEXIBLE_VERSION: i16 = 12;

struct PartitionResult {
    tp: TopicPartition,
    error: ErrorCode,
    high_watermark: i64,
    last_stable_offset: i64,
    log_start_offset: i64,
    records: Option<ReadBatches>,
    /// read_committed: the aborted transactions overlapping `records` (KIP-98).
    aborted: Option<Vec<crate::log::transactions::AbortedTxn>>,
    /// Fetch v12's `diverging_epoch` (epoch, end offset), when the fetcher's log diverges.
    diverging: Option<(i32, i64)>,
    /// KIP-392 (v11+): the follower the consumer should fetch from instead.
    preferred_read_replica: Option<i32>,
}

impl PartitionResult {
    /// An answer that redirects the fetcher (a diverging epoch, a preferred read replica):
    /// it ends a long poll, and an incremental fetch session always includes it.
    fn must_respond(&self) -> bool {
        self.diverging.is_some() || self.preferred_read_replica.is_some()
    }
}

pub async fn handle(ctx: &RequestContext<'_>, request: FetchRequest) -> Vec<Bytes> {
    let version = ctx.api_version;
    let requested: Vec<PlannedPartition> = request
        .topics
        .iter()
        .flat_map(|topic| {
            topic.partitions.iter().map(|p| PlannedPartition {
                tp: TopicPartition {
                    topic: topic.topic.0.as_str().to_string(),
                    partition: p.partition,
                },
                fetch_offset: p.fetch_offset,
                max_bytes: p.partition_max_bytes,
                // Both are -1 ("not given") in versions without them.
                epochs: FetchEpochs {
                    current_leader_epoch: p.current_leader_epoch,
                    last_fetched_epoch: p.last_fetched_epoch,
                },
            })
        })
        .collect();
    let plan = if version >= 7 {
        let forgotten = request
            .forgotten_topics_data
            .iter()
            .flat_map(|t| {
                t.partitions.iter().map(|&partition| TopicPartition {
                    topic: t.topic.0.as_str().to_string(),
                    partition,
                })
            })
            .collect();
        ctx.shard.fetch_sessions.borrow_mut().begin(
            request.session_id,
            request.session_epoch,
            requested,
            forgotten,
        )
    } else {
        Ok(FetchPlan {
            mode: SessionMode::Sessionless,
            partitions: requested,
        })
    };
    let plan = match plan {
        Ok(plan) => plan,
        Err(code) => {
            tracing::debug!(peer = %ctx.peer, session_id = request.session_id, epoch = request.session_epoch, error = %code, "fetch session refused");
            return encode(version, code, 0, &[], 0);
        }
    };

    let max_wait = Duration::from_millis(request.max_wait_ms.max(0) as u64);
    let response_max = if request.max_bytes > 0 {
        request.max_bytes as usize
    } else {
        usize::MAX
    };
    let min_bytes = request.min_bytes.max(0) as usize;
    // A follower's fetch (replica id >= 0, Kafka's replica fetcher) reads up to the leader's
    // written end and reports how far the follower has the log. A consumer's Fetch v11+
    // carries client metadata (its rack): followers serve it too (KIP-392).
    let reader = if request.replica_id.0 >= 0 {
        Reader::Follower(request.replica_id.0)
    } else {
        Reader::Consumer {
            rack: (version >= 11 && !request.rack_id.is_empty())
                .then(|| request.rack_id.as_str().to_string()),
            follower_may_serve: version >= 11,
            // Fetch v4+: isolation_level 1 is READ_COMMITTED.
            read_committed: request.isolation_level == 1,
        }
    };
    // Authorization, as Kafka's: a follower's fetch needs CLUSTER_ACTION, a consumer's READ
    // on each topic; refused partitions answer TOPIC_AUTHORIZATION_FAILED.
    let mut refused_topics: Vec<&str> = Vec::new();
    let follower_refused =
        matches!(reader, Reader::Follower(_)) && !ctx.may_cluster(AclOperation::ClusterAction);
    for planned in &plan.partitions {
        let topic = planned.tp.topic.as_str();
        if !refused_topics.contains(&topic)
            && (follower_refused
                || (!matches!(reader, Reader::Follower(_))
                    && !ctx.may(AclOperation::Read, ResourceType::Topic, topic)))
        {
            refused_topics.push(topic);
        }
    }
    // A consumer with a quota (not a follower) gets at most its quota's window at once.
    let quota = match reader {
        Reader::Follower(_) => None,
        Reader::Consumer { .. } => ctx.quota(QuotaKind::Fetch),
    };
    let response_max = quota
        .as_ref()
        .map_or(response_max, |q| response_max.min(q.max_fetch_bytes(ctx)));
    let read = ReadSpec {
        response_max,
        reader: &reader,
        refused_topics: &refused_topics,
    };
    let results =
        read_with_long_poll(ctx.shard, &plan.partitions, min_bytes, max_wait, &read).await;
    let results = apply_response_limit(results, response_max);
    // The consumer's quota counts the record bytes, nearly all of the response; its request
    // quota (KIP-124), the time the fetch took. Over either, the fetch is answered with no
    // partitions and its bytes are not counted (Kafka's throttled fetch response).
    let bytes: usize = results
        .iter()
        .filter_map(|r| r.records.as_ref())
        .map(|b| b.size_bytes)
        .sum();
    let byte_throttle = match &quota {
        Some(quota) => quota.record(ctx, bytes).await,
        None => 0,
    };
    let request_throttle = ctx.record_request_time().await;
    if byte_throttle > 0 || request_throttle > 0 {
        if let Some(quota) = &quota {
            quota.unrecord(ctx, bytes).await;
        }
        let session_id = ctx.shard.fetch_sessions.borrow_mut().throttled(&plan.mode);
        let throttle_ms = byte_throttle.max(request_throttle);
        return encode(version, ErrorCode::None, session_id, &[], throttle_ms);
    }

    let reports: Vec<(TopicPartition, PartitionReport)> = results
        .iter()
        .map(|r| {
            (
                r.tp.clone(),
                PartitionReport {
                    error_code: r.error.code(),
                    high_watermark: r.high_watermark,
                    log_start_offset: r.log_start_offset,
                    has_records: r.records.as_ref().is_some_and(|b| !b.is_empty()),
                    must_respond: r.must_respond(),
                },
            )
        })
        .collect();
    let include = ctx
        .shard
        .fetch_sessions
        .borrow_mut()
        .finish(&plan.mode, &reports);
    let session_id = match plan.mode {
        SessionMode::Sessionless => 0,
        SessionMode::Full { session_id } | SessionMode::Incremental { session_id } => session_id,
    };
    let included: Vec<PartitionResult> = results
        .into_iter()
        .zip(include)
        .filter_map(|(r, keep)| keep.then_some(r))
        .collect();
    encode(version, ErrorCode::None, session_id, &included, 0)
}

/// Reads every partition (in parallel, each on its owner shard); while fewer than `min_bytes`
/// are available and no partition has an error, waits for any partition to grow, until
/// `max_wait` has passed.
async fn read_with_long_poll(
    shard: &Rc<Shard>,
    partitions: &[PlannedPartition],
    min_bytes: usize,
    max_wait: Duration,
    read: &ReadSpec<'_>,
) -> Vec<PartitionResult> {
    let reader = read.reader;
    let deadline = Instant::now() + max_wait;
    loop {
        let results = read_all(shard, partitions, read).await;
        let available: usize = results
            .iter()
            .filter_map(|r| r.records.as_ref())
            .map(|b| b.size_bytes)
            .sum();
        // A diverging fetcher or a consumer sent elsewhere must hear it at once, as it must
        // an error.
        let any_error = results
            .iter()
            .any(|r| r.error != ErrorCode::None || r.must_respond());
        let now = Instant::now();
        if available >= min_bytes || any_error || now >= deadline || partitions.is_empty() {
            return results;
        }
        wait_for_any_append(shard, partitions, &results, deadline - now, reader).await;
        // A graceful shutdown answers with what there is (see `PartitionLog::end_long_polls`).
        if Instant::now() >= deadline || crate::shard::shutting_down() {
            return read_all(shard, partitions, read).await;
        }
    }
}

/// How a fetch reads: its response limit, who reads, and the topics it may not read.
struct ReadSpec<'a> {
    response_max: usize,
    reader: &'a Reader,
    refused_topics: &'a [&'a str],
}

async fn read_all(
    shard: &Rc<Shard>,
    partitions: &[PlannedPartition],
    read: &ReadSpec<'_>,
) -> Vec<PartitionResult> {
    let (response_max, reader) = (read.response_max, read.reader);
    let tasks: Vec<_> = partitions
        .iter()
        .map(|p| {
            let refused = read.refused_topics.contains(&p.tp.topic.as_str());
            let shard = shard.clone();
            let tp = p.tp.clone();
            let offset = p.fetch_offset;
            let max_bytes = (p.max_bytes.max(0) as usize).min(response_max);
            let epochs = p.epochs;
            let reader = reader.clone();
            // A timed request's reads count as its time (KIP-124); its waits do not.
            let clock = request_time::polling();
            glommio::spawn_local(request_time::timed(clock, async move {
                if refused {
                    return PartitionRead::refused(ErrorCode::TopicAuthorizationFailed);
                }
                let served_by_followers = reader.served_by_followers();
                let op = ShardOp::Read {
                    tp,
                    offset,
                    max_bytes,
                    reader,
                    epochs,
                };
                let reply = match served_by_followers {
                    true => shard.call_replica(op).await,
                    false => shard.call_owner(op).await,
                };
                match reply {
                    Ok(ShardReply::Read(read)) => read,
                    Ok(_) => PartitionRead::refused(ErrorCode::UnknownServerError),
                    Err(code) => PartitionRead::refused(code),
                }
            }))
        })
        .collect();
    let mut results = Vec::with_capacity(tasks.len());
    for (task, planned) in tasks.into_iter().zip(partitions) {
        let read = task.await;
        let (high_watermark, last_stable_offset, log_start_offset) =
            read.offsets.map_or((-1, -1, -1), |o| {
                (o.high_watermark, o.last_stable_offset, o.log_start_offset)
            });
        let (error, records) = match read.result {
            Ok(batches) => (ErrorCode::None, Some(batches)),
            Err(code) => (code, None),
        };
        results.push(PartitionResult {
            tp: planned.tp.clone(),
            error,
            high_watermark,
            last_stable_offset,
            log_start_offset,
            records,
            aborted: read.aborted,
            diverging: read.diverging,
            preferred_read_replica: read.preferred_read_replica,
        });
    }
    results
}

/// Resolves when any partition grows past what the last read saw (a consumer: its high
/// watermark; a follower: its fetch offset, written), or after `timeout`.
async fn wait_for_any_append(
    shard: &Rc<Shard>,
    partitions: &[PlannedPartition],
    results: &[PartitionResult],
    timeout: Duration,
    reader: &Reader,
) {
    let replica = reader.follower().is_some();
    let (tx, rx) = local_channel::new_bounded(results.len().max(1));
    // Shared by the waiting tasks; the channel closes when the last of them is done.
    let tx = Rc::new(tx);
    for (result, planned) in results.iter().zip(partitions) {
        let (topic, partition) = (&result.tp.topic, result.tp.partition);
        let route = match reader.served_by_followers() {
            true => shard.replica_route(topic, partition),
            false => shard.route(topic, partition),
        };
        let Ok(owner) = route.local() else {
            continue;
        };
        let shard = shard.clone();
        let tx = tx.clone();
        let op = ShardOp::WaitForAppend {
            tp: result.tp.clone(),
            offset: match replica {
                true => planned.fetch_offset,
                false => result.high_watermark,
            },
            timeout,
            replica,
        };
        glommio::spawn_local(async move {
            let _ = shard.call(owner, op).await;
            let _ = tx.try_send(());
        })
        .detach();
    }
    drop(tx);
    let _ = glommio::timer::timeout(timeout, async {
        rx.recv().await;
        Ok(())
    })
    .await;
}

/// The response's `max_bytes` (Kafka's fetch.max.bytes): partitions are taken in request order;
/// the first one with data is returned whole even if larger (so consumers always progress,
/// KIP-74), later ones only if they fit, else they are returned empty and fetched next time.
fn apply_response_limit(
    mut results: Vec<PartitionResult>,
    response_max: usize,
) -> Vec<PartitionResult> {
    let mut remaining = response_max;
    let mut first = true;
    for result in &mut results {
        let Some(batches) = &result.records else {
            continue;
        };
        if batches.is_empty() {
            continue;
        }
        if first || batches.size_bytes <= remaining {
            remaining = remaining.saturating_sub(batches.size_bytes);
            first = false;
        } else {
            result.records = Some(ReadBatches::default());
        }
    }
    results
}

/// Writes the Fetch response body; record bytes are referenced, not copied.
fn encode(
    version: i16,
    error: ErrorCode,
    session_id: i32,
    results: &[PartitionResult],
    throttle_ms: i32,
) -> Vec<Bytes> {
    let flexible = version >= FLEXIBLE_VERSION;
    let mut parts = Vec::new();
    let mut head = BytesMut::with_capacity(128 + results.len() * 64);
    head.put_i32(throttle_ms);
    if version >= 7 {
        head.put_i16(error.code());
        head.put_i32(session_id);
    }
    // Group consecutive partitions of one topic, as the request listed them.
    let mut topics: Vec<(&str, Vec<&PartitionResult>)> = Vec::new();
    for r in results {
        match topics.last_mut() {
            Some((name, list)) if *name == r.tp.topic => list.push(r),
            _ => topics.push((&r.tp.topic, vec![r])),
        }
    }
    put_array_len(&mut head, topics.len(), flexible);
    for (name, partitions) in &topics {
        put_string(&mut head, name, flexible);
        put_array_len(&mut head, partitions.len(), flexible);
        for r in partitions {
            head.put_i32(r.tp.partition);
            head.put_i16(r.error.code());
            head.put_i64(r.high_watermark);
            head.put_i64(r.last_stable_offset);
            if version >= 5 {
                head.put_i64(r.log_start_offset);
            }
            // aborted_transactions: null unless read_committed; each entry is the producer id
            // and the transaction's first offset.
            match &r.aborted {
                None if flexible => put_uvarint(&mut head, 0),
                None => head.put_i32(-1),
                Some(aborted) => {
                    put_array_len(&mut head, aborted.len(), flexible);
                    for a in aborted {
                        head.put_i64(a.producer_id);
                        head.put_i64(a.first_offset);
                        if flexible {
                            put_uvarint(&mut head, 0);
                        }
                    }
                }
            }
            if version >= 11 {
                head.put_i32(r.preferred_read_replica.unwrap_or(-1));
            }
            let size = r.records.as_ref().map_or(0, |b| b.size_bytes);
            if flexible {
                put_uvarint(&mut head, size as u64 + 1);
            } else {
                head.put_i32(size as i32);
            }
            if let Some(batches) = &r.records {
                if !batches.is_empty() {
                    parts.push(head.split().freeze());
                    parts.extend(batches.fragments.iter().cloned());
                }
            }
            if flexible {
                match r.diverging {
                    // Tagged field 0, DivergingEpoch: epoch, end offset, its own (empty)
                    // tagged fields; 13 bytes.
                    Some((epoch, end_offset)) => {
                        put_uvarint(&mut head, 1);
                        put_uvarint(&mut head, 0);
                        put_uvarint(&mut head, 13);
                        head.put_i32(epoch);
                        head.put_i64(end_offset);
                        put_uvarint(&mut head, 0);
                    }
                    None => put_uvarint(&mut head, 0), // partition tagged fields
                }
            }
        }
        if flexible {
            put_uvarint(&mut head, 0); // topic tagged fields
        }
    }
    if flexible {
        put_uvarint(&mut head, 0); // response tagged fields
    }
    parts.push(head.freeze());
    parts
}

fn put_uvarint(buf: &mut BytesMut, mut value: u64) {
    while value >= 0x80 {
        buf.put_u8((value as u8) | 0x80);
        value >>= 7;
    }
    buf.put_u8(value as u8);
}

fn put_array_len(buf: &mut BytesMut, len: usize, flexible: bool) {
    if flexible {
        put_uvarint(buf, len as u64 + 1);
    } else {
        buf.put_i32(len as i32);
    }
}

fn put_string(buf: &mut BytesMut, s: &str, flexible: bool) {
    if flexible {
        put_uvarint(buf, s.len() as u64 + 1);
    } else {
        buf.put_i16(s.len() as i16);
    }
    buf.put_slice(s.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::FetchResponse;
    use kafka_protocol::protocol::Decodable;

    fn result(partition: i32, records: &[u8]) -> PartitionResult {
        PartitionResult {
            tp: TopicPartition {
                topic: "events".into(),
                partition,
            },
            error: ErrorCode::None,
            high_watermark: 42,
            last_stable_offset: 40,
            log_start_offset: 7,
            records: Some(ReadBatches {
                fragments: vec![Bytes::copy_from_slice(records)],
                size_bytes: records.len(),
                high_watermark: 42,
                log_start_offset: 7,
                last_offset: Some(41),
                shard_bound: false,
            }),
            aborted: (partition == 1).then(|| {
                vec![crate::log::transactions::AbortedTxn {
                    producer_id: 5,
                    first_offset: 30,
                    last_offset: 35,
                    last_stable_offset: 36,
                }]
            }),
            diverging: None,
            preferred_read_replica: None,
        }
    }

    fn concat(parts: &[Bytes]) -> Bytes {
        let mut all = BytesMut::new();
        for p in parts {
            all.extend_from_slice(p);
        }
        all.freeze()
    }

    /// The hand-written framing decodes with the kafka-protocol crate at every version.
    #[test]
    fn hand_framed_response_decodes_at_every_version() {
        let results = vec![result(0, b"batch-bytes"), result(1, b"")];
        for version in 4..=12 {
            let mut bytes = concat(&encode(version, ErrorCode::None, 99, &results, 0));
            let decoded = FetchResponse::decode(&mut bytes, version).unwrap();
            assert_eq!(bytes.len(), 0, "v{version}: trailing bytes");
            assert_eq!(decoded.responses.len(), 1, "v{version}");
            let partitions = &decoded.responses[0].partitions;
            assert_eq!(partitions.len(), 2);
            assert_eq!(partitions[0].high_watermark, 42);
            assert_eq!(partitions[0].last_stable_offset, 40);
            assert_eq!(partitions[0].records.as_deref(), Some(&b"batch-bytes"[..]));
            assert_eq!(partitions[0].aborted_transactions, None);
            let aborted = partitions[1].aborted_transactions.as_ref().unwrap();
            assert_eq!(
                (aborted[0].producer_id.0, aborted[0].first_offset),
                (5, 30),
                "v{version}"
            );
            if version >= 5 {
                assert_eq!(partitions[0].log_start_offset, 7);
            }
            if version >= 7 {
                assert_eq!(decoded.session_id, 99);
            }
        }
    }

    /// KIP-595's diverging epoch, tagged field 0 of a v12 partition, decodes as Kafka's.
    #[test]
    fn diverging_epoch_decodes_as_the_tagged_field() {
        let mut diverging = result(0, b"");
        diverging.diverging = Some((5, 100));
        let results = vec![diverging, result(1, b"batch-bytes")];
        let mut bytes = concat(&encode(12, ErrorCode::None, 0, &results, 0));
        let decoded = FetchResponse::decode(&mut bytes, 12).unwrap();
        assert_eq!(bytes.len(), 0, "trailing bytes");
        let partitions = &decoded.responses[0].partitions;
        assert_eq!(partitions[0].diverging_epoch.epoch, 5);
        assert_eq!(partitions[0].diverging_epoch.end_offset, 100);
        assert_eq!(partitions[1].diverging_epoch.epoch, -1, "absent");
        assert_eq!(partitions[1].records.as_deref(), Some(&b"batch-bytes"[..]));
    }

    #[test]
    fn response_limit_keeps_the_first_partition_whole() {
        let results = vec![
            result(0, &[1; 100]),
            result(1, &[2; 100]),
            result(2, &[3; 10]),
        ];
        let limited = apply_response_limit(results, 50);
        let sizes: Vec<usize> = limited
            .iter()
            .map(|r| r.records.as_ref().unwrap().size_bytes)
            .collect();
        assert_eq!(sizes, vec![100, 0, 0]);
    }
}
