//! Group coordinator work, run on the shard that coordinates the group.

use std::rc::Rc;

use bytes::Bytes;

use super::Shard;
use crate::error_code::ErrorCode;
use crate::group::coordinator::{GroupSummary, JoinOutcome, JoinRequest, SyncOutcome};
use crate::group::store::{CommittedOffset, OFFSETS_TOPIC};
use crate::group::GroupCoordinator;
use crate::group::{offsets_partition, write_group, write_offsets, OffsetToCommit};
use crate::log::PartitionLog;

pub enum GroupOp {
    Join(JoinRequest),
    Sync {
        group: String,
        generation: i32,
        member_id: String,
        instance_id: Option<String>,
        assignments: Vec<(String, Bytes)>,
    },
    Heartbeat {
        group: String,
        generation: i32,
        member_id: String,
        instance_id: Option<String>,
    },
    Leave {
        group: String,
        members: Vec<(String, Option<String>)>,
    },
    Commit {
        group: String,
        generation: i32,
        member_id: String,
        instance_id: Option<String>,
        offsets: Vec<OffsetToCommit>,
    },
    FetchOffsets {
        group: String,
        partitions: Option<Vec<(String, i32)>>,
        /// OffsetFetch v7+ `require_stable` (KIP-447): a partition with an offset committed
        /// inside an open transaction answers UNSTABLE_OFFSET_COMMIT instead.
        require_stable: bool,
    },
    /// TxnOffsetCommit: offsets committed inside producer `producer_id`'s transaction, which
    /// count once it commits.
    TxnCommit {
        group: String,
        producer_id: i64,
        producer_epoch: i16,
        generation: i32,
        member_id: String,
        instance_id: Option<String>,
        offsets: Vec<OffsetToCommit>,
    },
    Describe {
        group: String,
    },
    List,
    Delete {
        group: String,
    },
    DeleteOffsets {
        group: String,
        partitions: Vec<(String, i32)>,
    },
}

/// A partition's committed offset (if any), or why it cannot be given now.
pub type FetchedOffset = Result<Option<CommittedOffset>, ErrorCode>;

pub enum GroupReply {
    Joined(JoinOutcome),
    Synced(SyncOutcome),
    Code(ErrorCode),
    Codes(Vec<ErrorCode>),
    Offsets(Vec<((String, i32), FetchedOffset)>),
    Described(Option<GroupSummary>),
    Listed(Vec<(String, String, &'static str)>),
    /// This shard cannot answer for the group now: COORDINATOR_LOAD_IN_PROGRESS while its
    /// offsets partition is being loaded, NOT_COORDINATOR when this broker does not lead that
    /// partition (yet, or any more).
    Unavailable(ErrorCode),
}

impl GroupOp {
    /// The group the operation is about (`None` for ListGroups, which covers them all).
    fn group(&self) -> Option<&str> {
        match self {
            GroupOp::Join(request) => Some(&request.group),
            GroupOp::Sync { group, .. }
            | GroupOp::Heartbeat { group, .. }
            | GroupOp::Leave { group, .. }
            | GroupOp::Commit { group, .. }
            | GroupOp::FetchOffsets { group, .. }
            | GroupOp::TxnCommit { group, .. }
            | GroupOp::Describe { group }
            | GroupOp::Delete { group }
            | GroupOp::DeleteOffsets { group, .. } => Some(group),
            GroupOp::List => None,
        }
    }
}

/// The coordinator that may answer for `group` now (Kafka's coordinator states): that of its
/// offsets partition, led here and loaded. The request may have been routed by another shard
/// whose metadata is a step ahead of this one's, or may arrive while the partition's groups are
/// still being read from the log: answering then would miss committed offsets.
fn coordinator_of(shard: &Shard, group: &str) -> Result<Coordinator, ErrorCode> {
    let count = shard
        .meta()
        .topics
        .get(OFFSETS_TOPIC)
        .map(|t| t.partitions.len())
        .ok_or(ErrorCode::NotCoordinator)?;
    let partition = offsets_partition(group, count);
    if shard.loading_offsets.borrow().contains(&partition) {
        return Err(ErrorCode::CoordinatorLoadInProgress);
    }
    match shard.coordinator(partition) {
        Some(coordinator) if coordinator.log.is_leader() => Ok(coordinator),
        _ => Err(ErrorCode::NotCoordinator),
    }
}

/// The group coordinator of one `__consumer_offsets` partition and that partition's log, which
/// it loads from and writes to.
#[derive(Clone)]
pub struct Coordinator {
    pub log: Rc<PartitionLog>,
    pub groups: Rc<GroupCoordinator>,
}

pub async fn execute(shard: Rc<Shard>, op: GroupOp) -> GroupReply {
    let Some(group) = op.group() else {
        // ListGroups: every coordinator of this shard; Kafka answers
        // COORDINATOR_LOAD_IN_PROGRESS while any is loading.
        if !shard.loading_offsets.borrow().is_empty() {
            return GroupReply::Unavailable(ErrorCode::CoordinatorLoadInProgress);
        }
        let listed = shard
            .coordinators()
            .iter()
            .flat_map(|coordinator| coordinator.groups.list())
            .collect();
        return GroupReply::Listed(listed);
    };
    let coordinator = match coordinator_of(&shard, group) {
        Ok(found) => found,
        Err(code) => return GroupReply::Unavailable(code),
    };
    let persist = match &op {
        GroupOp::Join(request) => Some(request.group.clone()),
        GroupOp::Sync { group, .. } | GroupOp::Leave { group, .. } => Some(group.clone()),
        _ => None,
    };
    let reply = run(&shard, &coordinator, op).await;
    if let Some(group) = persist {
        persist_groups(&coordinator, Some(&group)).await;
    }
    reply
}

/// Writes the metadata of the coordinator's groups (all, or `only`) that reached a new Stable
/// or Empty generation to its `__consumer_offsets` partition, so that a restarted broker or the
/// next leader resumes them without a rebalance.
pub async fn persist_groups(coordinator: &Coordinator, only: Option<&str>) {
    for (group, record) in coordinator.groups.take_unpersisted(only) {
        if let Err(code) = write_group(&coordinator.log, &group, Some(&record)).await {
            tracing::error!(%group, error = %code, "group metadata not persisted");
        }
    }
}

async fn run(shard: &Rc<Shard>, coordinator: &Coordinator, op: GroupOp) -> GroupReply {
    let groups = &coordinator.groups;
    match op {
        GroupOp::Join(request) => GroupReply::Joined(groups.join(request).await),
        GroupOp::Sync {
            group,
            generation,
            member_id,
            instance_id,
            assignments,
        } => GroupReply::Synced(
            groups
                .sync(
                    &group,
                    generation,
                    &member_id,
                    instance_id.as_deref(),
                    assignments,
                )
                .await,
        ),
        GroupOp::Heartbeat {
            group,
            generation,
            member_id,
            instance_id,
        } => GroupReply::Code(groups.heartbeat(
            &group,
            generation,
            &member_id,
            instance_id.as_deref(),
        )),
        GroupOp::Leave { group, members } => GroupReply::Codes(groups.leave(&group, &members)),
        GroupOp::Commit {
            group,
            generation,
            member_id,
            instance_id,
            offsets,
        } => GroupReply::Codes(
            commit(
                shard,
                coordinator,
                &group,
                generation,
                &member_id,
                instance_id.as_deref(),
                offsets,
            )
            .await,
        ),
        GroupOp::FetchOffsets {
            group,
            partitions,
            require_stable,
        } => GroupReply::Offsets(
            groups
                .fetch_offsets(&group, partitions.as_deref())
                .into_iter()
                .map(|(tp, offset)| {
                    let unstable = require_stable && groups.has_pending_txn_offset(&group, &tp);
                    let answer = match unstable {
                        true => Err(ErrorCode::UnstableOffsetCommit),
                        false => Ok(offset),
                    };
                    (tp, answer)
                })
                .collect(),
        ),
        GroupOp::TxnCommit {
            group,
            producer_id,
            producer_epoch,
            generation,
            member_id,
            instance_id,
            offsets,
        } => GroupReply::Codes(
            txn_commit(
                shard,
                coordinator,
                TxnCommit {
                    group: &group,
                    producer_id,
                    producer_epoch,
                    generation,
                    member_id: &member_id,
                    instance_id: instance_id.as_deref(),
                },
                offsets,
            )
            .await,
        ),
        GroupOp::Describe { group } => GroupReply::Described(groups.describe(&group)),
        GroupOp::List => GroupReply::Listed(groups.list()),
        GroupOp::Delete { group } => GroupReply::Code(delete(coordinator, &group).await),
        GroupOp::DeleteOffsets { group, partitions } => {
            match delete_offsets(coordinator, &group, &partitions).await {
                Ok(codes) => GroupReply::Codes(codes),
                Err(code) => GroupReply::Code(code),
            }
        }
    }
}

/// OffsetCommit: membership and generation checks, per-partition checks, one durable append
/// of all accepted offsets, then they become visible to OffsetFetch.
async fn commit(
    shard: &Rc<Shard>,
    coordinator: &Coordinator,
    group: &str,
    generation: i32,
    member_id: &str,
    instance_id: Option<&str>,
    offsets: Vec<OffsetToCommit>,
) -> Vec<ErrorCode> {
    let groups = &coordinator.groups;
    if let Err(code) = groups.check_commit(group, generation, member_id, instance_id) {
        return vec![code; offsets.len()];
    }
    let (codes, accepted) = accept_offsets(shard, groups, offsets);
    match write_offsets(&coordinator.log, group, &accepted).await {
        Ok(()) => {
            groups.apply_offsets(group, accepted);
            codes
        }
        Err(code) => codes
            .into_iter()
            .map(|c| if c == ErrorCode::None { code } else { c })
            .collect(),
    }
}

/// The offsets to write, as `__consumer_offsets` values, and each one's code: refused for
/// too much metadata or an unknown partition.
#[allow(clippy::type_complexity)]
fn accept_offsets(
    shard: &Shard,
    groups: &GroupCoordinator,
    offsets: Vec<OffsetToCommit>,
) -> (
    Vec<ErrorCode>,
    Vec<((String, i32), Option<CommittedOffset>)>,
) {
    let meta = shard.meta();
    let max_metadata = groups.config().offset_metadata_max_bytes;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let mut codes = Vec::with_capacity(offsets.len());
    let mut accepted = Vec::new();
    for o in offsets {
        let metadata = o.metadata.unwrap_or_default();
        let known = meta
            .topics
            .get(&o.topic)
            .is_some_and(|t| t.partition(o.partition).is_some());
        let code = if metadata.len() > max_metadata {
            ErrorCode::OffsetMetadataTooLarge
        } else if !known {
            ErrorCode::UnknownTopicOrPartition
        } else {
            accepted.push((
                (o.topic, o.partition),
                Some(CommittedOffset {
                    offset: o.offset,
                    leader_epoch: o.leader_epoch,
                    metadata,
                    commit_timestamp_ms: now_ms,
                }),
            ));
            ErrorCode::None
        };
        codes.push(code);
    }
    (codes, accepted)
}

/// Who commits offsets inside a transaction.
struct TxnCommit<'a> {
    group: &'a str,
    producer_id: i64,
    producer_epoch: i16,
    generation: i32,
    member_id: &'a str,
    instance_id: Option<&'a str>,
}

/// TxnOffsetCommit: Kafka's checks (a member's generation when one is named, KIP-447; none
/// for a producer that names only the group), then one durable transactional append of the
/// accepted offsets under the producer's id and epoch. They stay pending until the
/// transaction's marker reaches this partition.
async fn txn_commit(
    shard: &Rc<Shard>,
    coordinator: &Coordinator,
    who: TxnCommit<'_>,
    offsets: Vec<OffsetToCommit>,
) -> Vec<ErrorCode> {
    let groups = &coordinator.groups;
    let names_member =
        who.generation >= 0 || !who.member_id.is_empty() || who.instance_id.is_some();
    if names_member {
        if let Err(code) =
            groups.check_commit(who.group, who.generation, who.member_id, who.instance_id)
        {
            return vec![code; offsets.len()];
        }
    }
    let (codes, accepted) = accept_offsets(shard, groups, offsets);
    let written = crate::group::write_txn_offsets(
        &coordinator.log,
        who.group,
        who.producer_id,
        who.producer_epoch,
        &accepted,
    )
    .await;
    match written {
        Ok(()) => {
            groups.stage_txn_offsets(who.producer_id, who.group, accepted);
            codes
        }
        Err(code) => codes
            .into_iter()
            .map(|c| if c == ErrorCode::None { code } else { c })
            .collect(),
    }
}

async fn delete(coordinator: &Coordinator, group: &str) -> ErrorCode {
    let (log, groups) = (&coordinator.log, &coordinator.groups);
    let keys = match groups.check_delete(group) {
        Ok(keys) => keys,
        Err(code) => return code,
    };
    let tombstones: Vec<_> = keys.into_iter().map(|k| (k, None)).collect();
    let written = match write_offsets(log, group, &tombstones).await {
        Ok(()) => write_group(log, group, None).await,
        Err(code) => Err(code),
    };
    match written {
        Ok(()) => {
            groups.remove_group(group);
            tracing::info!(%group, "group deleted");
            ErrorCode::None
        }
        Err(code) => code,
    }
}

/// OffsetDelete: tombstones for the partitions no member subscribes to.
async fn delete_offsets(
    coordinator: &Coordinator,
    group: &str,
    partitions: &[(String, i32)],
) -> Result<Vec<ErrorCode>, ErrorCode> {
    let groups = &coordinator.groups;
    let codes = groups.check_offset_delete(group, partitions)?;
    let tombstones: Vec<_> = partitions
        .iter()
        .zip(&codes)
        .filter(|(_, code)| **code == ErrorCode::None)
        .map(|(tp, _)| (tp.clone(), None))
        .collect();
    write_offsets(&coordinator.log, group, &tombstones).await?;
    groups.apply_offsets(group, tombstones);
    Ok(codes)
}
