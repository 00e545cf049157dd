//! The checker: pure functions from what the workloads saw and what the cluster stored, once
//! healed and settled, to the anomalies Jepsen's Kafka and Redpanda analyses named. Each check
//! has a unit test that feeds it the anomaly it names.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use crate::support::load::{Ack, RecordId};

/// Something the cluster did that Kafka promises it does not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Anomaly {
    /// An acknowledged record is not in the log.
    Lost {
        id: RecordId,
        partition: i32,
        offset: i64,
    },
    /// An acknowledged record is stored, but not at the offset its acknowledgement named.
    Moved {
        id: RecordId,
        acked: i64,
        stored: i64,
    },
    /// A record is stored more than once (the producers are idempotent).
    Duplicate { id: RecordId, offsets: Vec<i64> },
    /// One producer's records in one partition are stored out of the order it sent them.
    Reordered {
        partition: i32,
        offset: i64,
        id: RecordId,
        after: RecordId,
    },
    /// A stored record that no producer sent.
    Phantom {
        partition: i32,
        offset: i64,
        value: String,
    },
    /// Replicas of a partition hold different bytes below the high watermark.
    Divergent {
        partition: i32,
        replica: i32,
        leader: i32,
    },
    /// A group's committed offset for a partition went backwards.
    CommitBackwards { partition: i32, from: i64, to: i64 },
    /// A commit the coordinator acknowledged is not what it answers afterwards.
    CommitLost {
        partition: i32,
        committed: i64,
        fetched: i64,
    },
    /// The group's consumer never saw a record below its committed offset.
    Skipped { partition: i32, offset: i64 },
    /// A consumer read a record that the log does not hold there once settled (it read
    /// uncommitted data that was later truncated).
    UncommittedRead {
        partition: i32,
        offset: i64,
        read: RecordId,
        stored: Option<RecordId>,
    },
    /// Once settled, the cluster's view is wrong: brokers disagree on metadata, a partition
    /// has no leader, a deleted topic lives on, and so on.
    ControlPlane(String),
    /// An idempotent producer failed fatally (librdkafka's fatal errors: sequence or epoch
    /// trouble the broker caused).
    ProducerFatal(String),
}

impl Anomaly {
    /// The anomaly's class, as the report counts them.
    pub fn class(&self) -> &'static str {
        match self {
            Anomaly::Lost { .. } => "lost",
            Anomaly::Moved { .. } => "moved",
            Anomaly::Duplicate { .. } => "duplicate",
            Anomaly::Reordered { .. } => "reordered",
            Anomaly::Phantom { .. } => "phantom",
            Anomaly::Divergent { .. } => "divergent",
            Anomaly::CommitBackwards { .. } => "commit backwards",
            Anomaly::CommitLost { .. } => "commit lost",
            Anomaly::Skipped { .. } => "skipped",
            Anomaly::UncommittedRead { .. } => "uncommitted read",
            Anomaly::ControlPlane(_) => "control plane",
            Anomaly::ProducerFatal(_) => "producer fatal",
        }
    }
}

impl fmt::Display for Anomaly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Anomaly::Lost {
                id,
                partition,
                offset,
            } => {
                write!(f, "lost: {id:?} acknowledged at {partition}@{offset}")
            }
            Anomaly::Moved { id, acked, stored } => {
                write!(
                    f,
                    "moved: {id:?} acknowledged at {acked}, stored at {stored}"
                )
            }
            Anomaly::Duplicate { id, offsets } => {
                write!(f, "duplicate: {id:?} stored at {offsets:?}")
            }
            Anomaly::Reordered {
                partition,
                offset,
                id,
                after,
            } => write!(
                f,
                "reordered: {id:?} at {partition}@{offset} stored after {after:?}"
            ),
            Anomaly::Phantom {
                partition,
                offset,
                value,
            } => {
                write!(
                    f,
                    "phantom: {partition}@{offset} holds {value:?}, never sent"
                )
            }
            Anomaly::Divergent {
                partition,
                replica,
                leader,
            } => write!(
                f,
                "divergent: partition {partition} on broker {replica} differs from leader {leader}"
            ),
            Anomaly::CommitBackwards {
                partition,
                from,
                to,
            } => {
                write!(
                    f,
                    "commit backwards: partition {partition} from {from} to {to}"
                )
            }
            Anomaly::CommitLost {
                partition,
                committed,
                fetched,
            } => write!(
                f,
                "commit lost: partition {partition} committed {committed}, fetched {fetched}"
            ),
            Anomaly::Skipped { partition, offset } => write!(
                f,
                "skipped: the group never read {partition}@{offset}, below its committed offset"
            ),
            Anomaly::UncommittedRead {
                partition,
                offset,
                read,
                stored,
            } => write!(
                f,
                "uncommitted read: {partition}@{offset} was read as {read:?}, stored as {stored:?}"
            ),
            Anomaly::ControlPlane(what) => write!(f, "control plane: {what}"),
            Anomaly::ProducerFatal(what) => write!(f, "producer fatal: {what}"),
        }
    }
}

/// One partition's records once settled, read from its leader: offset → value.
pub type StoredPartition = BTreeMap<i64, Vec<u8>>;

/// The producer id and epoch of the batch that stored a partition's offset.
pub type Writer<'a> = &'a dyn Fn(i32, i64) -> Option<(i64, i16)>;

/// What [`check_records`] found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RecordCheck {
    pub anomalies: Vec<Anomaly>,
    /// Records stored twice by one producer under two epochs: librdkafka re-sends records
    /// whose outcome it does not know after it bumps its epoch for timed-out ones, and no
    /// broker can tell them apart (librdkafka issue #4953). Kafka promises no more; counted,
    /// not an anomaly. A record stored twice under one epoch is one.
    pub duplicates_across_epochs: usize,
}

/// Lost, moved, duplicated, reordered and phantom records. `sent` is how many records each
/// producer run sent (ids `run-0` .. `run-(sent-1)`); `stored` is every partition of the topic;
/// `writer` says which producer epoch stored an offset.
pub fn check_records(
    stored: &BTreeMap<i32, StoredPartition>,
    sent: &HashMap<u32, u64>,
    acks: &[Ack],
    writer: Writer<'_>,
) -> RecordCheck {
    let mut anomalies = Vec::new();
    let mut where_stored: HashMap<RecordId, Vec<(i32, i64)>> = HashMap::new();
    for (&partition, records) in stored {
        // The last record of each run seen so far in this partition.
        let mut last_of_run: HashMap<u32, RecordId> = HashMap::new();
        for (&offset, value) in records {
            let id =
                RecordId::parse(value).filter(|id| sent.get(&id.run).is_some_and(|n| id.seq < *n));
            let Some(id) = id else {
                anomalies.push(Anomaly::Phantom {
                    partition,
                    offset,
                    value: String::from_utf8_lossy(&value[..value.len().min(40)]).into_owned(),
                });
                continue;
            };
            let copies = where_stored.entry(id).or_default();
            copies.push((partition, offset));
            if copies.len() > 1 {
                continue; // reported as a duplicate below, not again as reordered
            }
            if let Some(after) = last_of_run.get(&id.run).filter(|last| last.seq > id.seq) {
                anomalies.push(Anomaly::Reordered {
                    partition,
                    offset,
                    id,
                    after: *after,
                });
            }
            let last = last_of_run.entry(id.run).or_insert(id);
            if id.seq > last.seq {
                *last = id;
            }
        }
    }
    let mut duplicates_across_epochs = 0;
    let mut duplicates: Vec<_> = Vec::new();
    for (id, copies) in where_stored.iter().filter(|(_, copies)| copies.len() > 1) {
        let writers: Vec<_> = copies
            .iter()
            .map(|(p, offset)| writer(*p, *offset))
            .collect();
        let one_epoch_twice = writers
            .iter()
            .enumerate()
            .any(|(i, w)| w.is_none() || writers[i + 1..].contains(w));
        if one_epoch_twice {
            duplicates.push(Anomaly::Duplicate {
                id: *id,
                offsets: copies.iter().map(|(_, offset)| *offset).collect(),
            });
        } else {
            duplicates_across_epochs += 1;
        }
    }
    duplicates.sort_by_key(|d| format!("{d}"));
    anomalies.extend(duplicates);
    for ack in acks {
        match where_stored.get(&ack.id).map(Vec::as_slice) {
            None | Some([]) => anomalies.push(Anomaly::Lost {
                id: ack.id,
                partition: ack.partition,
                offset: ack.offset,
            }),
            Some(copies) if !copies.contains(&(ack.partition, ack.offset)) => {
                anomalies.push(Anomaly::Moved {
                    id: ack.id,
                    acked: ack.offset,
                    stored: copies[0].1,
                })
            }
            Some(_) => {}
        }
    }
    RecordCheck {
        anomalies,
        duplicates_across_epochs,
    }
}

/// What the group's one consumer saw of one partition.
#[derive(Debug, Default, Clone)]
pub struct GroupView {
    /// Offset → the record read there (the last read, if read more than once).
    pub read: BTreeMap<i64, RecordId>,
    /// The offsets its commits acknowledged, in order.
    pub commits: Vec<i64>,
    /// What OffsetFetch answered once settled; `None` when nothing was committed.
    pub fetched: Option<i64>,
}

/// Commits that go backwards or are lost, records skipped below the committed offset, and
/// reads of records the settled log does not hold.
pub fn check_group(
    stored: &BTreeMap<i32, StoredPartition>,
    views: &BTreeMap<i32, GroupView>,
) -> Vec<Anomaly> {
    let mut anomalies = Vec::new();
    for (&partition, view) in views {
        for pair in view.commits.windows(2) {
            if pair[1] < pair[0] {
                anomalies.push(Anomaly::CommitBackwards {
                    partition,
                    from: pair[0],
                    to: pair[1],
                });
            }
        }
        let last_commit = view.commits.iter().copied().max();
        if let Some(committed) = last_commit {
            let fetched = view.fetched.unwrap_or(-1);
            if fetched < committed {
                anomalies.push(Anomaly::CommitLost {
                    partition,
                    committed,
                    fetched,
                });
            }
        }
        let empty = StoredPartition::new();
        let records = stored.get(&partition).unwrap_or(&empty);
        let committed = view.fetched.or(last_commit).unwrap_or(0);
        if let Some(offset) = records
            .range(..committed)
            .map(|(offset, _)| *offset)
            .find(|offset| !view.read.contains_key(offset))
        {
            anomalies.push(Anomaly::Skipped { partition, offset });
        }
        for (&offset, &read) in &view.read {
            let held = records.get(&offset).and_then(|v| RecordId::parse(v));
            if held != Some(read) {
                anomalies.push(Anomaly::UncommittedRead {
                    partition,
                    offset,
                    read,
                    stored: held,
                });
            }
        }
    }
    anomalies
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    fn id(run: u32, seq: u64) -> RecordId {
        RecordId { run, seq }
    }

    fn ack(record: RecordId, partition: i32, offset: i64) -> Ack {
        let now = Instant::now();
        Ack {
            id: record,
            partition,
            offset,
            sent_at: now,
            acked_at: now,
        }
    }

    /// Partition 0 holding `ids` at offsets 0, 1, ...
    fn log(ids: &[RecordId]) -> BTreeMap<i32, StoredPartition> {
        let records = ids
            .iter()
            .enumerate()
            .map(|(offset, id)| (offset as i64, id.value(3).into_bytes()))
            .collect();
        BTreeMap::from([(0, records)])
    }

    fn sent(runs: &[(u32, u64)]) -> HashMap<u32, u64> {
        runs.iter().copied().collect()
    }

    /// Every offset written by producer 1 at epoch 0.
    fn one_epoch(_partition: i32, _offset: i64) -> Option<(i64, i16)> {
        Some((1, 0))
    }

    #[test]
    fn a_record_stored_again_after_a_client_epoch_bump_is_counted_not_failed() {
        let stored = log(&[id(1, 0), id(1, 1), id(1, 0), id(1, 1), id(1, 2)]);
        let acks = [
            ack(id(1, 0), 0, 2),
            ack(id(1, 1), 0, 3),
            ack(id(1, 2), 0, 4),
        ];
        // Offsets 0-1 by epoch 3, the re-sends at 2-4 by epoch 4.
        let bumped = |_: i32, offset: i64| Some((1, if offset < 2 { 3 } else { 4 }));
        let found = check_records(&stored, &sent(&[(1, 3)]), &acks, &bumped);
        assert_eq!(
            found,
            RecordCheck {
                anomalies: vec![],
                duplicates_across_epochs: 2
            }
        );
        // The same copies under one epoch: the broker took a retry twice.
        let found = check_records(&stored, &sent(&[(1, 3)]), &acks, &one_epoch);
        assert_eq!(found.anomalies.len(), 2);
        assert_eq!(found.duplicates_across_epochs, 0);
    }

    #[test]
    fn a_faithful_log_has_no_anomaly() {
        let stored = log(&[id(1, 0), id(2, 0), id(1, 1), id(1, 2)]);
        // 1-3 was sent but not acknowledged, and not stored: not an anomaly.
        let acks = [
            ack(id(1, 0), 0, 0),
            ack(id(2, 0), 0, 1),
            ack(id(1, 2), 0, 3),
        ];
        assert_eq!(
            check_records(&stored, &sent(&[(1, 4), (2, 1)]), &acks, &one_epoch),
            RecordCheck::default()
        );
    }

    #[test]
    fn each_record_anomaly_is_named() {
        let mut stored = log(&[id(1, 0), id(1, 2), id(1, 1), id(1, 2), id(3, 0)]);
        stored.get_mut(&0).unwrap().insert(5, b"garbage".to_vec());
        let acks = [
            ack(id(1, 0), 0, 0),
            ack(id(1, 1), 0, 1),
            ack(id(1, 2), 0, 1),
            ack(id(1, 3), 0, 4),
        ];
        let found = check_records(&stored, &sent(&[(1, 4)]), &acks, &one_epoch).anomalies;
        let expected = vec![
            Anomaly::Reordered {
                partition: 0,
                offset: 2,
                id: id(1, 1),
                after: id(1, 2),
            },
            Anomaly::Phantom {
                partition: 0,
                offset: 4,
                value: id(3, 0).value(3),
            },
            Anomaly::Phantom {
                partition: 0,
                offset: 5,
                value: "garbage".into(),
            },
            Anomaly::Duplicate {
                id: id(1, 2),
                offsets: vec![1, 3],
            },
            Anomaly::Moved {
                id: id(1, 1),
                acked: 1,
                stored: 2,
            },
            Anomaly::Lost {
                id: id(1, 3),
                partition: 0,
                offset: 4,
            },
        ];
        assert_eq!(found, expected);
    }

    #[test]
    fn each_group_anomaly_is_named() {
        let stored = log(&[id(1, 0), id(1, 1), id(1, 2), id(1, 3)]);
        let view = GroupView {
            // Offset 1 never read; offset 3 read as a record that is not there.
            read: BTreeMap::from([(0, id(1, 0)), (2, id(1, 2)), (3, id(9, 9))]),
            commits: vec![1, 3, 2],
            fetched: Some(2),
        };
        let found = check_group(&stored, &BTreeMap::from([(0, view)]));
        assert_eq!(
            found,
            vec![
                Anomaly::CommitBackwards {
                    partition: 0,
                    from: 3,
                    to: 2
                },
                Anomaly::CommitLost {
                    partition: 0,
                    committed: 3,
                    fetched: 2
                },
                Anomaly::Skipped {
                    partition: 0,
                    offset: 1
                },
                Anomaly::UncommittedRead {
                    partition: 0,
                    offset: 3,
                    read: id(9, 9),
                    stored: Some(id(1, 3)),
                },
            ]
        );
        let faithful = GroupView {
            read: BTreeMap::from([(0, id(1, 0)), (1, id(1, 1))]),
            commits: vec![1, 2],
            fetched: Some(2),
        };
        assert_eq!(
            check_group(&stored, &BTreeMap::from([(0, faithful)])),
            vec![]
        );
    }
}
