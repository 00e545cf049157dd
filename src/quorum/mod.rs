//! The metadata quorum: KRaft's role, on TiKV's raft-rs (see DESIGN.md, "The cluster").
//!
//! raft-rs is sans-I/O: a `RawNode` is fed ticks, peer messages and proposals, and hands back
//! `Ready` batches of entries and a hard state to make durable, messages to send and committed
//! entries to apply. This module is the shell that does that I/O on shard 0 and nothing more:
//! entries and hard states are fsynced to `weir-quorum.log` before raft-rs is told they are
//! (and before any message that depends on them leaves), messages go over the controller
//! listener (`wire`), and committed entries, each one command's metadata records, are applied
//! to the metadata, which is then written as the snapshot file and published to every shard.
//! No consensus logic lives here.
//!
//! Why raft-rs rather than openraft: raft-rs never does I/O or spawns tasks itself, so it runs
//! inside one glommio shard as it is (no Send bounds, no tokio); openraft drives its own async
//! runtime and storage callbacks.

mod disk;
pub mod observer;
mod storage;
pub mod wire;

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use glommio::channels::local_channel::{self, LocalReceiver, LocalSender};
use raft::eraftpb::{ConfState, Entry, EntryType, HardState, Message, Snapshot};
use raft::storage::MemStorage;
use raft::{GetEntriesContext, RawNode, StateRole, Storage};

use disk::QuorumLog;
pub use disk::{load as load_log, quorum_log_path, LoadedLog};
use storage::{raft_logger, raft_snapshot, Applied, QuorumStorage};
use wire::PeerLink;

use crate::log::blocking;
use crate::metadata::record_codec::{decode_records, encode_records};
use crate::metadata::records::{self, MetadataRecord};
use crate::metadata::{self, ClusterMeta, QuorumSnapshot, SnapshotView};

/// Entries kept in the log behind the applied snapshot, so that a member a little behind gets
/// entries rather than a whole snapshot; the file is rewritten when twice as many pile up.
const RETAINED_ENTRIES: u64 = 512;

pub type LocalBoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T>>>;

/// What the shard does with the metadata after each batch of applied entries.
pub type Publish = Rc<dyn Fn(Rc<ClusterMeta>) -> LocalBoxFuture<()>>;

/// The quorum's timing (Kafka's `controller.quorum.*` keys), in ticks of `tick`.
#[derive(Debug, Clone)]
pub struct QuorumConfig {
    pub node_id: u64,
    /// Every voter's controller listener, this node's included (`controller.quorum.voters`).
    pub voters: BTreeMap<u64, SocketAddr>,
    pub tick: Duration,
    /// `controller.quorum.election.timeout.ms` in ticks (raft-rs randomizes it up to twice).
    pub election_ticks: usize,
    /// Leader heartbeats, in ticks (`controller.quorum.fetch.timeout.ms` is the follower side
    /// of the same timing in Kafka).
    pub heartbeat_ticks: usize,
    pub log_dir: PathBuf,
    /// How this node reaches the other voters (TLS, login).
    pub dialer: wire::Dialer,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProposeError {
    #[error("this node is not the quorum leader")]
    NotLeader,
    #[error("the proposal was not committed within {0:?}")]
    Timeout(Duration),
}

#[derive(Debug, thiserror::Error)]
pub enum QuorumError {
    #[error("raft: {0}")]
    Raft(#[from] raft::Error),
    #[error(
        "the metadata in {dir} was written by a quorum of voters {stored:?}, but controller.quorum.voters names {configured:?}; changing the voters of an existing quorum is not supported"
    )]
    VotersChanged {
        dir: String,
        stored: Vec<u64>,
        configured: Vec<u64>,
    },
}

/// One voter in [`QuorumStatus`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoterStatus {
    pub id: u64,
    /// The voter's last log index the leader knows of.
    pub log_end: u64,
    /// When it was last heard from (ms since the epoch); None: never since this node started.
    pub last_heard_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumStatus {
    pub leader: Option<u64>,
    pub term: u64,
    pub high_watermark: u64,
    pub voters: Vec<VoterStatus>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

enum Input {
    Raft(Message),
    Propose { data: Vec<u8>, seq: u64 },
}

pub struct Quorum {
    config: QuorumConfig,
    raw: RefCell<RawNode<QuorumStorage>>,
    mem: MemStorage,
    log: RefCell<Option<QuorumLog>>,
    peers: HashMap<u64, Rc<PeerLink>>,
    inputs: LocalSender<Input>,
    inbox: RefCell<Option<LocalReceiver<Input>>>,
    pending: RefCell<HashMap<u64, LocalSender<Result<u64, ProposeError>>>>,
    next_seq: Cell<u64>,
    applied: Rc<RefCell<Applied>>,
    /// This node's role as of the last `Ready`.
    role: Cell<StateRole>,
    /// When each peer was last heard from (ms since the epoch), for DescribeQuorum.
    last_heard: RefCell<HashMap<u64, i64>>,
    file: SnapshotFile,
    /// The cluster this data dir belongs to ("" on a first start): metadata of another
    /// cluster stops the node before it is written over this data dir's.
    cluster_id: String,
}

impl Quorum {
    /// Opens the quorum from the snapshot (the metadata file) and the log replayed after it.
    /// On a first start of a one-voter quorum this node campaigns at once.
    pub fn open(
        config: QuorumConfig,
        snapshot: QuorumSnapshot,
        loaded: LoadedLog,
    ) -> Result<Quorum, QuorumError> {
        let voters: Vec<u64> = config.voters.keys().map(|id| raft_id(*id)).collect();
        // A single node restarted with another node.id is still the whole quorum: it takes
        // over its own log (its vote was for its old id).
        let renamed_single_node =
            voters.len() == 1 && snapshot.voters.len() == 1 && snapshot.voters != voters;
        if !snapshot.voters.is_empty() && snapshot.voters != voters && !renamed_single_node {
            return Err(QuorumError::VotersChanged {
                dir: config.log_dir.display().to_string(),
                stored: snapshot.voters,
                configured: voters,
            });
        }
        let cluster_id = snapshot.meta.cluster_id.clone();
        let mem = MemStorage::new();
        if snapshot.index == 0 {
            mem.initialize_with_conf_state(ConfState::from((voters.clone(), Vec::new())));
        } else {
            mem.wl()
                .apply_snapshot(raft_snapshot(snapshot.index, snapshot.term, &voters))?;
        }
        let entries: Vec<Entry> = loaded
            .entries
            .into_iter()
            .filter(|e| e.index > snapshot.index)
            .collect();
        match entries.first() {
            Some(first) if first.index != snapshot.index + 1 => tracing::warn!(
                snapshot_index = snapshot.index,
                first_entry = first.index,
                "the metadata log does not continue the metadata file (it was recovered from an older copy); its entries are dropped and the quorum's leader resends what is missing"
            ),
            Some(_) => mem.wl().append(&entries)?,
            None => {}
        }
        if let Some(mut hs) = loaded.hard_state {
            if renamed_single_node {
                hs.vote = raft::INVALID_ID;
            }
            let last = mem.last_index()?;
            hs.commit = hs.commit.clamp(snapshot.index, last);
            hs.term = hs.term.max(snapshot.term);
            mem.wl().set_hardstate(hs);
        }
        let applied = Rc::new(RefCell::new(Applied {
            meta: Rc::new(snapshot.meta),
            index: snapshot.index,
            term: snapshot.term,
        }));
        let raft_config = raft::Config {
            id: raft_id(config.node_id),
            election_tick: config.election_ticks,
            heartbeat_tick: config.heartbeat_ticks,
            applied: snapshot.index,
            check_quorum: true,
            pre_vote: true,
            max_size_per_msg: 1 << 20,
            max_inflight_msgs: 256,
            ..Default::default()
        };
        raft_config.validate()?;
        let storage = QuorumStorage {
            mem: mem.clone(),
            applied: applied.clone(),
            voters: voters.clone(),
        };
        let mut raw = RawNode::new(&raft_config, storage, &raft_logger())?;
        if voters == [raft_id(config.node_id)] {
            raw.campaign()?;
        }
        let log = QuorumLog::open(&quorum_log_path(&config.log_dir)).map_err(|e| {
            raft::Error::Store(raft::StorageError::Other(Box::new(std::io::Error::other(
                e.to_string(),
            ))))
        })?;
        let (inputs, inbox) = local_channel::new_unbounded();
        let peers = config
            .voters
            .iter()
            .filter(|(id, _)| **id != config.node_id)
            .map(|(id, address)| (*id, PeerLink::start(*id, *address, config.dialer.clone())))
            .collect();
        Ok(Quorum {
            raw: RefCell::new(raw),
            mem,
            log: RefCell::new(Some(log)),
            peers,
            inputs,
            inbox: RefCell::new(Some(inbox)),
            pending: Default::default(),
            next_seq: Cell::new(1),
            role: Cell::new(StateRole::Follower),
            cluster_id,
            applied,
            file: SnapshotFile::new(config.log_dir.clone()),
            last_heard: Default::default(),
            config,
        })
    }

    /// The cluster this node's data dir belonged to when it started ("" on a first start).
    pub fn data_dir_cluster_id(&self) -> &str {
        &self.cluster_id
    }

    /// The applied metadata.
    pub fn meta(&self) -> Rc<ClusterMeta> {
        self.applied.borrow().meta.clone()
    }

    /// The quorum leader this node knows of (None during an election).
    pub fn leader(&self) -> Option<u64> {
        let leader = self.raw.borrow().raft.leader_id;
        (leader != raft::INVALID_ID).then(|| node_id(leader))
    }

    /// Whether this node is the active controller: the quorum leader, with everything of
    /// earlier terms applied (its own first entry of the term is), so its decisions see the
    /// whole committed metadata.
    pub fn is_active(&self) -> bool {
        let raw = self.raw.borrow();
        raw.raft.state == StateRole::Leader && self.applied.borrow().term == raw.raft.term
    }

    pub fn term(&self) -> u64 {
        self.raw.borrow().raft.term
    }

    pub fn applied_index(&self) -> u64 {
        self.applied.borrow().index
    }

    /// What DescribeQuorum reports (KIP-595): the leader, its epoch (the Raft term), the high
    /// watermark (the committed index) and each voter's log end as the leader last saw it.
    /// Only the leader knows the voters' progress; another node reports what it has itself.
    pub fn status(&self) -> QuorumStatus {
        let raw = self.raw.borrow();
        let last_index = self.mem.last_index().unwrap_or(0);
        let heard = self.last_heard.borrow();
        let voters = self
            .config
            .voters
            .keys()
            .map(|id| {
                let log_end = if *id == self.config.node_id {
                    last_index
                } else {
                    raw.raft.prs().get(raft_id(*id)).map_or(0, |p| p.matched)
                };
                let last_heard_ms = match *id == self.config.node_id {
                    true => Some(now_ms()),
                    false => heard.get(id).copied(),
                };
                VoterStatus {
                    id: *id,
                    log_end,
                    last_heard_ms,
                }
            })
            .collect();
        QuorumStatus {
            leader: self.leader(),
            term: raw.raft.term,
            high_watermark: raw.raft.raft_log.committed,
            voters,
        }
    }

    pub fn peer(&self, id: u64) -> Option<&Rc<PeerLink>> {
        self.peers.get(&id)
    }

    /// Hands a peer's Raft message to the quorum.
    pub fn receive(&self, message: Message) {
        self.last_heard
            .borrow_mut()
            .insert(node_id(message.from), now_ms());
        let _ = self.inputs.try_send(Input::Raft(message));
    }

    /// Proposes one command's records and waits until they are committed and applied here;
    /// returns their log index.
    pub async fn propose(
        &self,
        records: &[MetadataRecord],
        timeout: Duration,
    ) -> Result<u64, ProposeError> {
        if !self.is_active() {
            return Err(ProposeError::NotLeader);
        }
        let seq = self.next_seq.get();
        self.next_seq.set(seq + 1);
        let (reply, answer) = local_channel::new_bounded(1);
        self.pending.borrow_mut().insert(seq, reply);
        let data = encode_records(records);
        if self.inputs.try_send(Input::Propose { data, seq }).is_err() {
            self.pending.borrow_mut().remove(&seq);
            return Err(ProposeError::NotLeader);
        }
        let outcome = glommio::timer::timeout(timeout, async { Ok(answer.recv().await) }).await;
        self.pending.borrow_mut().remove(&seq);
        match outcome {
            Ok(Some(result)) => result,
            Ok(None) => Err(ProposeError::NotLeader),
            Err(_) => Err(ProposeError::Timeout(timeout)),
        }
    }

    /// Drives the node until the process stops: ticks, inputs, and every `Ready`.
    /// `publish` is called with the metadata after each batch of applied entries.
    pub async fn run(self: Rc<Self>, publish: Publish) {
        let Some(inbox) = self.inbox.borrow_mut().take() else {
            return;
        };
        let mut next_tick = Instant::now() + self.config.tick;
        loop {
            let wait = next_tick.saturating_duration_since(Instant::now());
            let input = futures_lite::future::or(async { inbox.recv().await }, async {
                glommio::timer::sleep(wait).await;
                None
            })
            .await;
            if let Some(input) = input {
                self.take(input);
            }
            if Instant::now() >= next_tick {
                self.raw.borrow_mut().tick();
                next_tick = Instant::now() + self.config.tick;
            }
            while self.raw.borrow().has_ready() {
                self.handle_ready(&publish).await;
            }
        }
    }

    fn take(&self, input: Input) {
        let mut raw = self.raw.borrow_mut();
        match input {
            Input::Raft(message) => {
                if let Err(e) = raw.step(message) {
                    tracing::debug!(error = %e, "quorum message not taken");
                }
            }
            Input::Propose { data, seq } => {
                let mut context = self.config.node_id.to_be_bytes().to_vec();
                context.extend_from_slice(&seq.to_be_bytes());
                if raw.propose(context, data).is_err() {
                    if let Some(reply) = self.pending.borrow_mut().remove(&seq) {
                        let _ = reply.try_send(Err(ProposeError::NotLeader));
                    }
                }
            }
        }
    }

    async fn handle_ready(&self, publish: &Publish) {
        let mut ready = self.raw.borrow_mut().ready();
        if let Some(soft) = ready.ss() {
            if soft.raft_state != self.role.get() {
                tracing::info!(
                    node = self.config.node_id,
                    role = ?soft.raft_state,
                    leader = node_id(soft.leader_id),
                    term = self.raw.borrow().raft.term,
                    "quorum role changed"
                );
                if self.role.get() == StateRole::Leader {
                    // Proposals of a leader that stepped down may or may not commit under the
                    // next one: their callers are told to ask again.
                    for (_, reply) in self.pending.borrow_mut().drain() {
                        let _ = reply.try_send(Err(ProposeError::NotLeader));
                    }
                }
                self.role.set(soft.raft_state);
            }
        }
        self.send(ready.take_messages());
        if !ready.snapshot().is_empty() {
            self.install_snapshot(ready.snapshot().clone(), publish)
                .await;
        }
        let entries = ready.take_entries();
        let hard_state = ready.hs().cloned();
        let (entries, hard_state) = self.persist(entries, hard_state).await;
        if !entries.is_empty() {
            if let Err(e) = self.mem.wl().append(&entries) {
                fatal(&format!("metadata log entries do not fit the log: {e}"));
            }
        }
        if let Some(hs) = hard_state {
            self.mem.wl().set_hardstate(hs);
        }
        self.send(ready.take_persisted_messages());
        let committed = ready.take_committed_entries();
        self.apply(committed, publish).await;
        let mut light = self.raw.borrow_mut().advance(ready);
        if let Some(commit) = light.commit_index() {
            self.mem.wl().mut_hard_state().commit = commit;
        }
        self.send(light.take_messages());
        self.apply(light.take_committed_entries(), publish).await;
        self.raw.borrow_mut().advance_apply();
    }

    fn send(&self, messages: Vec<Message>) {
        for message in messages {
            let to = message.to;
            let sent = self
                .peers
                .get(&node_id(to))
                .is_some_and(|peer| peer.send_raft(&message));
            if !sent {
                self.raw.borrow_mut().report_unreachable(to);
            }
        }
    }

    /// Makes entries and hard state durable; hands them back for the in-memory log.
    async fn persist(
        &self,
        entries: Vec<Entry>,
        hard_state: Option<HardState>,
    ) -> (Vec<Entry>, Option<HardState>) {
        if entries.is_empty() && hard_state.is_none() {
            return (entries, hard_state);
        }
        let Some(mut log) = self.log.borrow_mut().take() else {
            fatal("the metadata log is in use by another write");
        };
        let (log, result, entries, hard_state) = blocking(move || {
            let result = log.append(&entries, hard_state.as_ref());
            (log, result, entries, hard_state)
        })
        .await;
        *self.log.borrow_mut() = Some(log);
        if let Err(e) = result {
            fatal(&format!("cannot write the metadata log: {e}"));
        }
        (entries, hard_state)
    }

    /// A snapshot from the leader replaces the applied metadata (this node was too far behind
    /// for entries).
    async fn install_snapshot(&self, snapshot: Snapshot, publish: &Publish) {
        let decoded = match metadata::decode_snapshot(&snapshot.data) {
            Ok(decoded) => decoded,
            Err(e) => fatal(&format!("the quorum leader sent a damaged snapshot: {e}")),
        };
        tracing::info!(
            index = decoded.index,
            term = decoded.term,
            "metadata snapshot installed from the quorum leader"
        );
        self.check_cluster_id(&decoded.meta.cluster_id);
        // Stored as sent: it is the metadata file's format.
        self.file.store(snapshot.data.to_vec()).await;
        if let Err(e) = self.mem.wl().apply_snapshot(snapshot) {
            fatal(&format!("cannot install the metadata snapshot: {e}"));
        }
        let meta = Rc::new(decoded.meta);
        *self.applied.borrow_mut() = Applied {
            meta: meta.clone(),
            index: decoded.index,
            term: decoded.term,
        };
        self.rewrite_log().await;
        publish(meta).await;
    }

    async fn apply(&self, entries: Vec<Entry>, publish: &Publish) {
        let Some(last) = entries.last() else {
            return;
        };
        let (last_index, last_term) = (last.index, last.term);
        let mut meta = self.applied.borrow().meta.clone();
        let mut changed = false;
        let mut done = Vec::new();
        for entry in &entries {
            if entry.get_entry_type() != EntryType::EntryNormal || entry.data.is_empty() {
                // The leader's empty entry of a new term; voters are static (no conf changes).
                continue;
            }
            match apply_entry(&meta, &entry.data) {
                Ok(next) => {
                    meta = Rc::new(next);
                    changed = true;
                }
                // Every member skips the same entry the same way: the metadata stays equal.
                Err(e) => {
                    tracing::error!(index = entry.index, error = %e, "metadata log entry not applied")
                }
            }
            if entry.context.len() == 16 {
                let node = u64::from_be_bytes(entry.context[..8].try_into().unwrap_or_default());
                let seq = u64::from_be_bytes(entry.context[8..].try_into().unwrap_or_default());
                if node == self.config.node_id {
                    done.push((seq, entry.index));
                }
            }
        }
        *self.applied.borrow_mut() = Applied {
            meta: meta.clone(),
            index: last_index,
            term: last_term,
        };
        if changed {
            self.check_cluster_id(&meta.cluster_id);
            let voters = self.raw.borrow().store().voters.clone();
            let encoded = metadata::encode_view(SnapshotView {
                meta: &meta,
                index: last_index,
                term: last_term,
                voters: &voters,
            });
            self.file.store(encoded).await;
            publish(meta).await;
        }
        for (seq, index) in done {
            if let Some(reply) = self.pending.borrow_mut().remove(&seq) {
                let _ = reply.try_send(Ok(index));
            }
        }
        self.compact(last_index).await;
    }

    /// An observer's fetch (`observer`): the committed entries after `after`, once there are
    /// any (waiting up to `max_wait`), or the applied metadata as a snapshot when those
    /// entries have left the log. Only applied entries are sent: they are committed.
    pub async fn answer_fetch(&self, after: u64, max_wait: Duration) -> bytes::Bytes {
        let deadline = Instant::now() + max_wait;
        while self.applied_index() <= after && Instant::now() < deadline {
            glommio::timer::sleep(Duration::from_millis(5)).await;
        }
        let leader = self
            .leader()
            .and_then(|id| self.config.voters.get(&id).map(|address| (id, *address)));
        let (meta, index, term) = {
            let applied = self.applied.borrow();
            (applied.meta.clone(), applied.index, applied.term)
        };
        let first = self.mem.first_index().unwrap_or(1);
        if after >= index {
            return observer::FetchAnswer::Entries {
                leader,
                entries: Vec::new(),
            }
            .encode();
        }
        if after + 1 < first {
            let voters = self.raw.borrow().store().voters.clone();
            let snapshot = metadata::encode_view(SnapshotView {
                meta: &meta,
                index,
                term,
                voters: &voters,
            });
            return observer::FetchAnswer::Snapshot {
                leader,
                snapshot: snapshot.into(),
            }
            .encode();
        }
        let entries = self
            .mem
            .entries(
                after + 1,
                index + 1,
                observer::MAX_ANSWER_BYTES,
                GetEntriesContext::empty(false),
            )
            .unwrap_or_default()
            .into_iter()
            .map(|e| {
                let data = match e.get_entry_type() {
                    EntryType::EntryNormal => bytes::Bytes::from(e.data.to_vec()),
                    _ => bytes::Bytes::new(),
                };
                (e.index, e.term, data)
            })
            .collect();
        observer::FetchAnswer::Entries { leader, entries }.encode()
    }

    /// Metadata of another cluster stops the node before it is written over this data dir's.
    fn check_cluster_id(&self, theirs: &str) {
        if !self.cluster_id.is_empty() && !theirs.is_empty() && theirs != self.cluster_id {
            fatal(&format!(
                "this data dir ({}) belongs to cluster {}, but the metadata quorum of controller.quorum.voters is cluster {theirs}; refusing to join (use an empty data dir to join that cluster)",
                self.config.log_dir.display(),
                self.cluster_id
            ));
        }
    }

    /// Bounds the log: past twice the retained tail behind the applied index, entries before
    /// the tail leave memory and the file.
    async fn compact(&self, applied: u64) {
        let first = self.mem.first_index().unwrap_or(1);
        if applied < first + 2 * RETAINED_ENTRIES {
            return;
        }
        if let Err(e) = self.mem.wl().compact(applied - RETAINED_ENTRIES) {
            tracing::warn!(error = %e, "metadata log not compacted");
            return;
        }
        self.rewrite_log().await;
    }

    async fn rewrite_log(&self) {
        let first = self.mem.first_index().unwrap_or(1);
        let last = self.mem.last_index().unwrap_or(0);
        let entries = if last >= first {
            self.mem
                .entries(first, last + 1, None, GetEntriesContext::empty(false))
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        let hard_state = self.mem.rl().hard_state().clone();
        let Some(mut log) = self.log.borrow_mut().take() else {
            return;
        };
        let (log, result) = blocking(move || {
            let result = log.rewrite(&entries, &hard_state);
            (log, result)
        })
        .await;
        *self.log.borrow_mut() = Some(log);
        if let Err(e) = result {
            fatal(&format!("cannot rewrite the metadata log: {e}"));
        }
    }
}

/// One committed entry's records applied to `meta`.
fn apply_entry(meta: &ClusterMeta, data: &[u8]) -> Result<ClusterMeta, String> {
    let records = decode_records(data).map_err(|e| e.to_string())?;
    records::applied(meta, &records).map_err(|e| e.to_string())
}

/// The metadata file (the applied snapshot), rewritten on every change; the copy it replaces
/// is kept from memory as the previous one.
struct SnapshotFile {
    dir: PathBuf,
    /// The file as this process last wrote it (it becomes the previous copy next).
    stored: RefCell<Option<Vec<u8>>>,
}

impl SnapshotFile {
    fn new(dir: PathBuf) -> Self {
        SnapshotFile {
            dir,
            stored: RefCell::new(None),
        }
    }

    /// Writes the encoded snapshot as the metadata file (on the blocking pool).
    async fn store(&self, encoded: Vec<u8>) {
        let dir = self.dir.clone();
        let current = self.stored.borrow_mut().take();
        let (result, encoded) = blocking(move || {
            let result = metadata::store_encoded(&dir, &encoded, current.as_deref());
            (result, encoded)
        })
        .await;
        if let Err(e) = result {
            fatal(&format!("cannot write the metadata snapshot: {e}"));
        }
        *self.stored.borrow_mut() = Some(encoded);
    }
}

/// Where this node's metadata comes from: the quorum it votes in (a controller), or the
/// controllers it observes (a broker-only node, which never decides anything).
#[derive(Clone)]
pub enum MetadataLog {
    Voter(Rc<Quorum>),
    Observer(Rc<observer::Observer>),
}

impl MetadataLog {
    pub fn meta(&self) -> Rc<ClusterMeta> {
        match self {
            MetadataLog::Voter(q) => q.meta(),
            MetadataLog::Observer(o) => o.meta(),
        }
    }

    pub fn applied_index(&self) -> u64 {
        match self {
            MetadataLog::Voter(q) => q.applied_index(),
            MetadataLog::Observer(o) => o.applied_index(),
        }
    }

    /// The quorum leader (the active controller) this node knows of.
    pub fn leader(&self) -> Option<u64> {
        match self {
            MetadataLog::Voter(q) => q.leader(),
            MetadataLog::Observer(o) => o.leader(),
        }
    }

    /// Whether this node is the active controller (never an observer).
    pub fn is_active(&self) -> bool {
        match self {
            MetadataLog::Voter(q) => q.is_active(),
            MetadataLog::Observer(_) => false,
        }
    }

    pub fn data_dir_cluster_id(&self) -> &str {
        match self {
            MetadataLog::Voter(q) => q.data_dir_cluster_id(),
            MetadataLog::Observer(o) => o.data_dir_cluster_id(),
        }
    }

    /// The link to controller `id`, to call it.
    pub fn peer(&self, id: u64) -> Option<Rc<PeerLink>> {
        match self {
            MetadataLog::Voter(q) => q.peer(id).cloned(),
            MetadataLog::Observer(o) => o.peer(id),
        }
    }

    /// The quorum this node votes in, if it is a controller.
    pub fn voter(&self) -> Option<&Rc<Quorum>> {
        match self {
            MetadataLog::Voter(q) => Some(q),
            MetadataLog::Observer(_) => None,
        }
    }

    /// Commits records through the quorum (the active controller only).
    pub async fn propose(
        &self,
        records: &[MetadataRecord],
        timeout: Duration,
    ) -> Result<u64, ProposeError> {
        match self {
            MetadataLog::Voter(q) => q.propose(records, timeout).await,
            MetadataLog::Observer(_) => Err(ProposeError::NotLeader),
        }
    }
}

/// raft-rs reserves id 0 (no node); Kafka's node ids start at 0. Quorum member ids are node
/// ids plus one, in the Raft messages and the snapshot's voter list.
fn raft_id(node: u64) -> u64 {
    node + 1
}

fn node_id(raft: u64) -> u64 {
    raft.saturating_sub(1)
}

/// The metadata log cannot be written: as Kafka halts on a failed metadata log, the process
/// stops, so that it never acts on state it could not make durable.
pub fn fatal(reason: &str) -> ! {
    tracing::error!("{reason}; stopping");
    std::process::exit(1)
}
