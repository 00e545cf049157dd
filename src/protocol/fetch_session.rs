//! Incremental fetch sessions (KIP-227, Fetch v7+). A session remembers a consumer's partitions,
//! fetch offsets and what it was last told, so that later requests name only what changed and
//! responses carry only partitions with news. Sessions live on the shard of the connection that
//! made them (a request that lands elsewhere gets FETCH_SESSION_ID_NOT_FOUND and the client
//! starts a new one), capped per shard as Kafka's `max.incremental.fetch.session.cache.slots`.

use std::collections::HashMap;
use std::time::Instant;

use crate::error_code::ErrorCode;
use crate::shard::ops::TopicPartition;

/// Kafka's default `max.incremental.fetch.session.cache.slots`.
pub const MAX_SESSIONS_PER_SHARD: usize = 1000;

/// `session_epoch` values with a meaning of their own.
const INITIAL_EPOCH: i32 = 0;
const FINAL_EPOCH: i32 = -1;

/// One partition a fetch reads: where from, and at most how much.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedPartition {
    pub tp: TopicPartition,
    pub fetch_offset: i64,
    pub max_bytes: i32,
    pub epochs: FetchEpochs,
}

/// The leader epochs a fetch names for a partition (-1: not given).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchEpochs {
    /// The leader epoch the fetcher's metadata has (KIP-320): another one is refused.
    pub current_leader_epoch: i32,
    /// The epoch of the last batch the fetcher has (v12+): the leader checks that the
    /// fetcher's log does not diverge from its own there.
    pub last_fetched_epoch: i32,
}

impl Default for FetchEpochs {
    fn default() -> Self {
        FetchEpochs {
            current_leader_epoch: -1,
            last_fetched_epoch: -1,
        }
    }
}

/// What a partition's response told the client last time (to decide what is news).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PartitionReport {
    pub error_code: i16,
    pub high_watermark: i64,
    pub log_start_offset: i64,
    pub has_records: bool,
    /// The answer redirects the fetcher (a diverging epoch, a preferred read replica): always
    /// news, as in Kafka's sessions.
    pub must_respond: bool,
}

struct SessionPartition {
    fetch_offset: i64,
    max_bytes: i32,
    epochs: FetchEpochs,
    last_reported: Option<PartitionReport>,
}

struct FetchSession {
    /// The epoch the next request must carry.
    next_epoch: i32,
    /// In the order the client added them (responses follow it).
    partitions: Vec<(TopicPartition, SessionPartition)>,
    last_used: Instant,
}

/// How a fetch request relates to sessions, decided before any partition is read.
#[derive(Debug, PartialEq, Eq)]
pub enum SessionMode {
    /// No session: answer every requested partition, session id 0.
    Sessionless,
    /// A new session was created: answer every partition, with its id.
    Full { session_id: i32 },
    /// An existing session: answer only partitions with news.
    Incremental { session_id: i32 },
}

#[derive(Debug, PartialEq, Eq)]
pub struct FetchPlan {
    pub mode: SessionMode,
    pub partitions: Vec<PlannedPartition>,
}

pub struct FetchSessions {
    shard: usize,
    next_serial: u32,
    sessions: HashMap<i32, FetchSession>,
}

impl FetchSessions {
    pub fn new(shard: usize) -> Self {
        FetchSessions {
            shard,
            next_serial: 1,
            sessions: HashMap::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// Applies a request's session fields and partitions: creates, updates or closes the session
    /// and returns what to read. `requested` and `forgotten` are the request's lists.
    pub fn begin(
        &mut self,
        session_id: i32,
        epoch: i32,
        requested: Vec<PlannedPartition>,
        forgotten: Vec<TopicPartition>,
    ) -> Result<FetchPlan, ErrorCode> {
        if epoch == INITIAL_EPOCH || epoch == FINAL_EPOCH {
            if session_id != 0 {
                self.sessions.remove(&session_id);
            }
            if epoch == FINAL_EPOCH {
                return Ok(FetchPlan {
                    mode: SessionMode::Sessionless,
                    partitions: requested,
                });
            }
            let session_id = self.new_session_id();
            self.evict_if_full();
            let partitions = requested
                .iter()
                .map(|p| {
                    (
                        p.tp.clone(),
                        SessionPartition {
                            fetch_offset: p.fetch_offset,
                            max_bytes: p.max_bytes,
                            epochs: p.epochs,
                            last_reported: None,
                        },
                    )
                })
                .collect();
            self.sessions.insert(
                session_id,
                FetchSession {
                    next_epoch: 1,
                    partitions,
                    last_used: Instant::now(),
                },
            );
            return Ok(FetchPlan {
                mode: SessionMode::Full { session_id },
                partitions: requested,
            });
        }
        let session = self
            .sessions
            .get_mut(&session_id)
            .ok_or(ErrorCode::FetchSessionIdNotFound)?;
        if epoch != session.next_epoch {
            return Err(ErrorCode::InvalidFetchSessionEpoch);
        }
        session.last_used = Instant::now();
        session.partitions.retain(|(tp, _)| !forgotten.contains(tp));
        for p in requested {
            match session.partitions.iter_mut().find(|(tp, _)| *tp == p.tp) {
                Some((_, known)) => {
                    known.fetch_offset = p.fetch_offset;
                    known.max_bytes = p.max_bytes;
                    known.epochs = p.epochs;
                }
                None => session.partitions.push((
                    p.tp,
                    SessionPartition {
                        fetch_offset: p.fetch_offset,
                        max_bytes: p.max_bytes,
                        epochs: p.epochs,
                        last_reported: None,
                    },
                )),
            }
        }
        Ok(FetchPlan {
            mode: SessionMode::Incremental { session_id },
            partitions: session
                .partitions
                .iter()
                .map(|(tp, p)| PlannedPartition {
                    tp: tp.clone(),
                    fetch_offset: p.fetch_offset,
                    max_bytes: p.max_bytes,
                    epochs: p.epochs,
                })
                .collect(),
        })
    }

    /// A fetch answered with no partitions because its client is over its quota (KIP-219), as
    /// Kafka's `getThrottledResponse`: a new session is not kept (the client starts one again),
    /// an incremental one moves to its next epoch. Returns the session id to answer with.
    pub fn throttled(&mut self, mode: &SessionMode) -> i32 {
        match *mode {
            SessionMode::Sessionless => 0,
            SessionMode::Full { session_id } => {
                self.sessions.remove(&session_id);
                0
            }
            SessionMode::Incremental { session_id } => {
                if let Some(session) = self.sessions.get_mut(&session_id) {
                    session.next_epoch = session.next_epoch.checked_add(1).unwrap_or(1);
                }
                session_id
            }
        }
    }

    /// Records what the response tells the client and returns, per planned partition, whether
    /// it goes in the response: all of them for full fetches; for incremental ones those with
    /// records, an error, or a changed high watermark or log start offset (as Kafka decides).
    pub fn finish(
        &mut self,
        mode: &SessionMode,
        reports: &[(TopicPartition, PartitionReport)],
    ) -> Vec<bool> {
        let (session_id, incremental) = match *mode {
            SessionMode::Sessionless => return vec![true; reports.len()],
            SessionMode::Full { session_id } => (session_id, false),
            SessionMode::Incremental { session_id } => (session_id, true),
        };
        let Some(session) = self.sessions.get_mut(&session_id) else {
            return vec![true; reports.len()];
        };
        if incremental {
            // A new session's first incremental request carries epoch 1 (set at creation).
            session.next_epoch = session.next_epoch.checked_add(1).unwrap_or(1);
        }
        reports
            .iter()
            .map(|(tp, report)| {
                let Some((_, known)) = session.partitions.iter_mut().find(|(t, _)| t == tp) else {
                    return true;
                };
                let news = report.has_records
                    || report.must_respond
                    || report.error_code != 0
                    || known.last_reported.is_none_or(|last| {
                        last.high_watermark != report.high_watermark
                            || last.log_start_offset != report.log_start_offset
                    });
                known.last_reported = Some(*report);
                !incremental || news
            })
            .collect()
    }

    fn new_session_id(&mut self) -> i32 {
        loop {
            // Shard in the low bits so ids of different shards never collide; positive, nonzero.
            let id = ((self.next_serial as u64 * 64 + self.shard as u64) & 0x7fff_ffff) as i32;
            self.next_serial = self.next_serial.wrapping_add(1);
            if id != 0 && !self.sessions.contains_key(&id) {
                return id;
            }
        }
    }

    fn evict_if_full(&mut self) {
        if self.sessions.len() < MAX_SESSIONS_PER_SHARD {
            return;
        }
        if let Some(oldest) = self
            .sessions
            .iter()
            .min_by_key(|(_, s)| s.last_used)
            .map(|(id, _)| *id)
        {
            self.sessions.remove(&oldest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(p: i32) -> TopicPartition {
        TopicPartition {
            topic: "t".into(),
            partition: p,
        }
    }

    fn planned(p: i32, offset: i64) -> PlannedPartition {
        PlannedPartition {
            tp: tp(p),
            fetch_offset: offset,
            max_bytes: 1024,
            epochs: FetchEpochs::default(),
        }
    }

    fn report(hw: i64, has_records: bool) -> PartitionReport {
        PartitionReport {
            error_code: 0,
            high_watermark: hw,
            log_start_offset: 0,
            has_records,
            must_respond: false,
        }
    }

    #[test]
    fn sessionless_fetch_keeps_nothing() {
        let mut sessions = FetchSessions::new(0);
        let plan = sessions.begin(0, -1, vec![planned(0, 5)], vec![]).unwrap();
        assert_eq!(plan.mode, SessionMode::Sessionless);
        assert!(sessions.is_empty());
    }

    #[test]
    fn incremental_fetch_reports_only_news() {
        let mut sessions = FetchSessions::new(1);
        let plan = sessions
            .begin(0, 0, vec![planned(0, 0), planned(1, 0)], vec![])
            .unwrap();
        let SessionMode::Full { session_id } = plan.mode else {
            panic!("expected a new session, got {:?}", plan.mode);
        };
        assert_eq!(session_id % 64, 1, "shard id in the low bits");
        let include = sessions.finish(
            &plan.mode,
            &[(tp(0), report(10, true)), (tp(1), report(0, false))],
        );
        assert_eq!(include, vec![true, true]);

        // Epoch 1 moves partition 0's offset; nothing new on partition 1.
        let plan = sessions
            .begin(session_id, 1, vec![planned(0, 10)], vec![])
            .unwrap();
        assert_eq!(plan.mode, SessionMode::Incremental { session_id });
        assert_eq!(plan.partitions, vec![planned(0, 10), planned(1, 0)]);
        let include = sessions.finish(
            &plan.mode,
            &[(tp(0), report(10, false)), (tp(1), report(3, false))],
        );
        assert_eq!(
            include,
            vec![false, true],
            "only the partition whose high watermark moved"
        );

        // Forgetting a partition drops it from the session.
        let plan = sessions.begin(session_id, 2, vec![], vec![tp(1)]).unwrap();
        assert_eq!(plan.partitions, vec![planned(0, 10)]);
    }

    #[test]
    fn wrong_epoch_and_unknown_session_are_kafka_errors() {
        let mut sessions = FetchSessions::new(0);
        let plan = sessions.begin(0, 0, vec![planned(0, 0)], vec![]).unwrap();
        let SessionMode::Full { session_id } = plan.mode else {
            panic!("expected a new session");
        };
        sessions.finish(&plan.mode, &[(tp(0), report(0, false))]);
        assert_eq!(
            sessions.begin(session_id, 5, vec![], vec![]),
            Err(ErrorCode::InvalidFetchSessionEpoch)
        );
        assert_eq!(
            sessions.begin(session_id + 64, 1, vec![], vec![]),
            Err(ErrorCode::FetchSessionIdNotFound)
        );
        // Epoch -1 closes the session.
        sessions.begin(session_id, -1, vec![], vec![]).unwrap();
        assert!(sessions.is_empty());
    }
}
