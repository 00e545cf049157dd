//! The classic consumer group protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup) and
//! committed offsets, for the groups whose `__consumer_offsets` partition this shard owns.
//!
//! States follow Kafka's GroupCoordinator: Empty -> PreparingRebalance (members (re)join; it ends
//! when every known member has rejoined, or at the rebalance timeout, dropping the others) ->
//! CompletingRebalance (the leader's SyncGroup carries the assignment) -> Stable. Heartbeats
//! answer REBALANCE_IN_PROGRESS to make members rejoin; members that stop heartbeating for
//! `session.timeout.ms` are removed.
//!
//! This is the pure state machine: no channels, no I/O, time from an injected clock. A JoinGroup
//! or SyncGroup that must wait gets a ticket; whatever completes waiting requests (another
//! member's join or sync, a leave, the clock) returns the answers as [`Completion`]s, which the
//! shell (`coordinator::GroupCoordinator`) hands to the waiting requests. Unit tests drive it
//! synchronously.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::store::{CommittedOffset, GroupRecord, MemberRecord};
use crate::clock::{Monotonic, SystemMonotonic};
use crate::error_code::ErrorCode;

/// Broker settings of the group coordinator (Kafka's key names).
#[derive(Debug, Clone)]
pub struct GroupConfig {
    /// `group.min.session.timeout.ms`
    pub min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms`
    pub max_session_timeout_ms: i32,
    /// `group.initial.rebalance.delay.ms`: how long a new group waits for more members.
    pub initial_rebalance_delay_ms: u64,
    /// `offset.metadata.max.bytes`
    pub offset_metadata_max_bytes: usize,
}

impl Default for GroupConfig {
    fn default() -> Self {
        GroupConfig {
            min_session_timeout_ms: 6_000,
            max_session_timeout_ms: 1_800_000,
            initial_rebalance_delay_ms: 3_000,
            offset_metadata_max_bytes: 4096,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
}

impl GroupState {
    /// Kafka's names, as DescribeGroups and ListGroups report them.
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
        }
    }
}

pub struct JoinRequest {
    pub group: String,
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
    /// JoinGroup v4+ clients get MEMBER_ID_REQUIRED on their first join.
    pub require_known_member_id: bool,
}

#[derive(Debug, Clone)]
pub struct JoinOutcome {
    pub error: ErrorCode,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: String,
    pub member_id: String,
    /// Every member and its metadata for the chosen protocol: the leader's answer only.
    pub members: Vec<(String, Option<String>, Bytes)>,
}

impl JoinOutcome {
    pub(crate) fn error(error: ErrorCode, member_id: &str) -> Self {
        JoinOutcome {
            error,
            generation: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            member_id: member_id.to_string(),
            members: Vec::new(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct SyncOutcome {
    pub error: ErrorCode,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Bytes,
}

impl SyncOutcome {
    pub(crate) fn error(error: ErrorCode) -> Self {
        SyncOutcome {
            error,
            protocol_type: None,
            protocol_name: None,
            assignment: Bytes::new(),
        }
    }
}

/// A member as DescribeGroups shows it.
#[derive(Debug, Clone)]
pub struct MemberSummary {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub metadata: Bytes,
    pub assignment: Bytes,
}

#[derive(Debug, Clone)]
pub struct GroupSummary {
    pub state: &'static str,
    pub protocol_type: String,
    pub protocol_name: String,
    pub members: Vec<MemberSummary>,
}

/// A waiting JoinGroup or SyncGroup (Kafka's DelayedJoin / DelayedSync).
pub type Ticket = u64;

/// The answer to a waiting request, by its ticket.
#[derive(Debug, Clone)]
pub struct Completion {
    pub ticket: Ticket,
    pub answer: Answer,
}

#[derive(Debug, Clone)]
pub enum Answer {
    Join(JoinOutcome),
    Sync(SyncOutcome),
}

/// How a JoinGroup or SyncGroup starts: answered at once, or waiting under a ticket.
#[derive(Debug)]
pub enum Start<T> {
    Answered(T),
    Waiting(Ticket),
}

struct Member {
    instance_id: Option<String>,
    client_id: String,
    client_host: String,
    session_timeout: Duration,
    rebalance_timeout: Duration,
    protocols: Vec<(String, Bytes)>,
    assignment: Bytes,
    last_seen: Instant,
    /// Its JoinGroup waiting for the join phase to end.
    join_waiting: Option<Ticket>,
    /// Its SyncGroup waiting for the leader's assignment.
    sync_waiting: Option<Ticket>,
}

struct Group {
    state: GroupState,
    generation: i32,
    protocol_type: Option<String>,
    protocol_name: Option<String>,
    leader: Option<String>,
    members: BTreeMap<String, Member>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, not yet joined.
    pending_ids: HashSet<String>,
    /// group.instance.id -> member id (static membership).
    static_members: HashMap<String, String>,
    /// The join phase ends at this time at the latest.
    rebalance_deadline: Instant,
    /// ...and not before this one (group.initial.rebalance.delay.ms for a new group).
    rebalance_not_before: Instant,
    /// The generation last written to `__consumer_offsets`.
    persisted_generation: Option<i32>,
}

impl Group {
    fn new(now: Instant) -> Self {
        Group {
            state: GroupState::Empty,
            generation: 0,
            protocol_type: None,
            protocol_name: None,
            leader: None,
            members: BTreeMap::new(),
            pending_ids: HashSet::new(),
            static_members: HashMap::new(),
            rebalance_deadline: now,
            rebalance_not_before: now,
            persisted_generation: None,
        }
    }

    fn record(&self) -> GroupRecord {
        let protocol = self.protocol_name.clone().unwrap_or_default();
        GroupRecord {
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            generation: self.generation,
            protocol: self.protocol_name.clone(),
            leader: self.leader.clone(),
            state_timestamp_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64),
            members: self
                .members
                .iter()
                .map(|(id, m)| MemberRecord {
                    member_id: id.clone(),
                    instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    rebalance_timeout_ms: m.rebalance_timeout.as_millis() as i32,
                    session_timeout_ms: m.session_timeout.as_millis() as i32,
                    subscription: m.metadata_for(&protocol),
                    assignment: m.assignment.clone(),
                })
                .collect(),
        }
    }

    /// A group as it was persisted: Stable with its members (who then have a session timeout
    /// to heartbeat), or Empty.
    fn from_record(record: GroupRecord, now: Instant) -> Self {
        let mut group = Group::new(now);
        group.generation = record.generation;
        group.protocol_type = (!record.protocol_type.is_empty()).then_some(record.protocol_type);
        group.protocol_name = record.protocol.clone();
        group.leader = record.leader;
        group.persisted_generation = Some(record.generation);
        let protocol = record.protocol.unwrap_or_default();
        for m in record.members {
            if let Some(instance) = &m.instance_id {
                group
                    .static_members
                    .insert(instance.clone(), m.member_id.clone());
            }
            group.members.insert(
                m.member_id,
                Member {
                    instance_id: m.instance_id,
                    client_id: m.client_id,
                    client_host: m.client_host,
                    session_timeout: Duration::from_millis(m.session_timeout_ms.max(0) as u64),
                    rebalance_timeout: Duration::from_millis(m.rebalance_timeout_ms.max(0) as u64),
                    protocols: vec![(protocol.clone(), m.subscription)],
                    assignment: m.assignment,
                    last_seen: now,
                    join_waiting: None,
                    sync_waiting: None,
                },
            );
        }
        group.state = if group.members.is_empty() {
            GroupState::Empty
        } else {
            GroupState::Stable
        };
        group
    }

    /// Checks a request's member id, instance id and generation the way Kafka does.
    fn check_member(
        &self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: Option<i32>,
    ) -> Result<(), ErrorCode> {
        if let Some(instance) = instance_id {
            match self.static_members.get(instance) {
                Some(current) if current != member_id => return Err(ErrorCode::FencedInstanceId),
                _ => {}
            }
        }
        if !self.members.contains_key(member_id) {
            return Err(ErrorCode::UnknownMemberId);
        }
        if let Some(generation) = generation {
            if generation != self.generation {
                return Err(ErrorCode::IllegalGeneration);
            }
        }
        Ok(())
    }

    fn prepare_rebalance(
        &mut self,
        now: Instant,
        initial_delay: Duration,
        out: &mut Vec<Completion>,
    ) {
        if self.state == GroupState::CompletingRebalance {
            // Members waiting for the old generation's assignment must rejoin.
            for member in self.members.values_mut() {
                if let Some(ticket) = member.sync_waiting.take() {
                    out.push(Completion::sync(
                        ticket,
                        SyncOutcome::error(ErrorCode::RebalanceInProgress),
                    ));
                }
            }
        }
        if self.state != GroupState::PreparingRebalance {
            let timeout = self
                .members
                .values()
                .map(|m| m.rebalance_timeout)
                .max()
                .unwrap_or(Duration::ZERO);
            self.rebalance_deadline = now + timeout;
            self.rebalance_not_before = if self.state == GroupState::Empty {
                now + initial_delay
            } else {
                now
            };
            self.state = GroupState::PreparingRebalance;
        }
    }

    /// Removes a member; its waiting requests are answered with `code`.
    fn remove_member(&mut self, member_id: &str, code: ErrorCode, out: &mut Vec<Completion>) {
        if let Some(member) = self.members.remove(member_id) {
            if let Some(instance) = &member.instance_id {
                self.static_members.remove(instance);
            }
            member.answer_waiting(member_id, code, out);
        }
        if self.leader.as_deref() == Some(member_id) {
            self.leader = None;
        }
    }

    /// Ends the join phase when every member has rejoined (after the initial delay), or at the
    /// rebalance timeout without the members that did not rejoin.
    fn maybe_complete_join(&mut self, now: Instant, out: &mut Vec<Completion>) {
        if self.state != GroupState::PreparingRebalance {
            return;
        }
        let all_joined = self.members.values().all(|m| m.join_waiting.is_some());
        if !((all_joined && now >= self.rebalance_not_before) || now >= self.rebalance_deadline) {
            return;
        }
        let absent: Vec<String> = self
            .members
            .iter()
            .filter(|(_, m)| m.join_waiting.is_none())
            .map(|(id, _)| id.clone())
            .collect();
        for id in absent {
            self.remove_member(&id, ErrorCode::UnknownMemberId, out);
        }
        self.generation += 1;
        if self.members.is_empty() {
            self.state = GroupState::Empty;
            self.protocol_name = None;
            self.leader = None;
            return;
        }
        self.protocol_name = self.choose_protocol();
        let leader = match &self.leader {
            Some(leader) if self.members.contains_key(leader) => leader.clone(),
            _ => self.members.keys().next().cloned().unwrap_or_default(),
        };
        self.leader = Some(leader.clone());
        self.state = GroupState::CompletingRebalance;
        let protocol = self.protocol_name.clone().unwrap_or_default();
        let all_members: Vec<(String, Option<String>, Bytes)> = self
            .members
            .iter()
            .map(|(id, m)| (id.clone(), m.instance_id.clone(), m.metadata_for(&protocol)))
            .collect();
        for (id, member) in self.members.iter_mut() {
            member.assignment = Bytes::new();
            member.last_seen = now;
            if let Some(ticket) = member.join_waiting.take() {
                out.push(Completion::join(
                    ticket,
                    JoinOutcome {
                        error: ErrorCode::None,
                        generation: self.generation,
                        protocol_type: self.protocol_type.clone(),
                        protocol_name: self.protocol_name.clone(),
                        leader: leader.clone(),
                        member_id: id.clone(),
                        members: if *id == leader {
                            all_members.clone()
                        } else {
                            Vec::new()
                        },
                    },
                ));
            }
        }
    }

    /// Kafka's selection: among the protocols every member supports, each member votes for the
    /// first of them in its own preference order; the most votes win.
    fn choose_protocol(&self) -> Option<String> {
        let mut candidates: Option<HashSet<&str>> = None;
        for member in self.members.values() {
            let names: HashSet<&str> = member.protocols.iter().map(|(n, _)| n.as_str()).collect();
            candidates = Some(match candidates {
                None => names,
                Some(c) => c.intersection(&names).copied().collect(),
            });
        }
        let candidates = candidates?;
        let mut votes: BTreeMap<&str, usize> = BTreeMap::new();
        for member in self.members.values() {
            if let Some((name, _)) = member
                .protocols
                .iter()
                .find(|(n, _)| candidates.contains(n.as_str()))
            {
                *votes.entry(name.as_str()).or_default() += 1;
            }
        }
        votes
            .into_iter()
            .max_by_key(|(_, count)| *count)
            .map(|(name, _)| name.to_string())
    }

    /// Topics the members subscribe to, from their consumer-protocol subscriptions (groups of
    /// other protocol types subscribe to nothing Kafka knows).
    fn subscribed_topics(&self) -> HashSet<String> {
        use kafka_protocol::messages::ConsumerProtocolSubscription;
        use kafka_protocol::protocol::Decodable;
        let mut topics = HashSet::new();
        if self.protocol_type.as_deref() != Some("consumer") {
            return topics;
        }
        for member in self.members.values() {
            for (_, metadata) in &member.protocols {
                let mut bytes = metadata.clone();
                if bytes.len() < 2 {
                    continue;
                }
                // The subscription starts with its version; newer ones decode as the newest we
                // know, as Kafka does.
                let version = i16::from_be_bytes([bytes[0], bytes[1]]).clamp(0, 3);
                let _ = bytes.split_to(2);
                if let Ok(subscription) = ConsumerProtocolSubscription::decode(&mut bytes, version)
                {
                    topics.extend(subscription.topics.iter().map(|t| t.as_str().to_string()));
                }
            }
        }
        topics
    }

    /// Whether a joining member's protocols can work with the group's.
    fn supports(&self, protocol_type: &str, protocols: &[(String, Bytes)]) -> bool {
        if self.members.is_empty() {
            return !protocol_type.is_empty() && !protocols.is_empty();
        }
        if self.protocol_type.as_deref() != Some(protocol_type) {
            return false;
        }
        self.members.values().all(|m| {
            m.protocols
                .iter()
                .any(|(n, _)| protocols.iter().any(|(p, _)| p == n))
        })
    }
}

impl Completion {
    fn join(ticket: Ticket, outcome: JoinOutcome) -> Self {
        Completion {
            ticket,
            answer: Answer::Join(outcome),
        }
    }

    fn sync(ticket: Ticket, outcome: SyncOutcome) -> Self {
        Completion {
            ticket,
            answer: Answer::Sync(outcome),
        }
    }
}

impl Member {
    /// Answers its waiting requests with `code` (it left, expired, or the group went away).
    fn answer_waiting(&self, member_id: &str, code: ErrorCode, out: &mut Vec<Completion>) {
        if let Some(ticket) = self.join_waiting {
            out.push(Completion::join(
                ticket,
                JoinOutcome::error(code, member_id),
            ));
        }
        if let Some(ticket) = self.sync_waiting {
            out.push(Completion::sync(ticket, SyncOutcome::error(code)));
        }
    }

    fn metadata_for(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(n, _)| n == protocol)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }
}

/// One group's committed offsets by (topic, partition).
type GroupOffsets = BTreeMap<(String, i32), CommittedOffset>;

/// An offset committed inside an open transaction: group, (topic, partition), value.
type PendingTxnOffset = (String, (String, i32), Option<CommittedOffset>);

/// The groups and committed offsets of one shard: the state machine without its waiters.
pub struct Groups {
    config: GroupConfig,
    /// Sessions and rebalance phases are timed with this (injected in tests).
    time: Rc<dyn Monotonic>,
    groups: RefCell<HashMap<String, Group>>,
    offsets: RefCell<HashMap<String, GroupOffsets>>,
    /// Offsets committed inside open transactions (TxnOffsetCommit), by producer id: they
    /// become committed offsets when the transaction's commit marker reaches the partition,
    /// and are dropped by its abort marker (Kafka's pending transactional offsets).
    pending_txn_offsets: RefCell<HashMap<i64, Vec<PendingTxnOffset>>>,
    next_ticket: Cell<Ticket>,
}

fn new_member_id(client_id: &str) -> String {
    format!("{client_id}-{}", uuid::Uuid::new_v4())
}

impl Groups {
    pub fn new(config: GroupConfig) -> Self {
        Self::with_time(config, Rc::new(SystemMonotonic))
    }

    pub fn with_time(config: GroupConfig, time: Rc<dyn Monotonic>) -> Self {
        Groups {
            config,
            time,
            groups: RefCell::default(),
            offsets: RefCell::default(),
            pending_txn_offsets: RefCell::default(),
            next_ticket: Cell::new(1),
        }
    }

    fn ticket(&self) -> Ticket {
        let ticket = self.next_ticket.get();
        self.next_ticket.set(ticket + 1);
        ticket
    }

    pub fn config(&self) -> &GroupConfig {
        &self.config
    }

    /// JoinGroup: answered at once (errors, the MEMBER_ID_REQUIRED handshake, a follower
    /// rejoining a stable group unchanged), or waiting until the join phase ends, which may be
    /// now (then its answer is among the completions).
    pub fn join(&self, request: JoinRequest) -> (Start<JoinOutcome>, Vec<Completion>) {
        let mut out = Vec::new();
        let start = match self.start_join(request, &mut out) {
            Ok(ticket) => Start::Waiting(ticket),
            Err(outcome) => Start::Answered(*outcome),
        };
        (start, out)
    }

    fn start_join(
        &self,
        request: JoinRequest,
        out: &mut Vec<Completion>,
    ) -> Result<Ticket, Box<JoinOutcome>> {
        let fail = |code: ErrorCode| Err(Box::new(JoinOutcome::error(code, &request.member_id)));
        if request.group.is_empty() {
            return fail(ErrorCode::InvalidGroupId);
        }
        if request.session_timeout_ms < self.config.min_session_timeout_ms
            || request.session_timeout_ms > self.config.max_session_timeout_ms
        {
            return fail(ErrorCode::InvalidSessionTimeout);
        }
        let mut groups = self.groups.borrow_mut();
        let group = groups
            .entry(request.group.clone())
            .or_insert_with(|| Group::new(self.time.now()));
        if !group.supports(&request.protocol_type, &request.protocols) {
            return fail(ErrorCode::InconsistentGroupProtocol);
        }
        let mut member_id = request.member_id.clone();
        if member_id.is_empty() {
            match &request.instance_id {
                // A static member restarting: it takes its old slot under a new member id, and
                // the old id is fenced (FENCED_INSTANCE_ID).
                Some(instance) if group.static_members.contains_key(instance) => {
                    let old = group.static_members[instance].clone();
                    member_id = new_member_id(&request.client_id);
                    if let Some(member) = group.members.remove(&old) {
                        group.members.insert(member_id.clone(), member);
                    }
                    if group.leader.as_deref() == Some(old.as_str()) {
                        group.leader = Some(member_id.clone());
                    }
                    group
                        .static_members
                        .insert(instance.clone(), member_id.clone());
                }
                Some(_) => member_id = new_member_id(&request.client_id),
                None if request.require_known_member_id => {
                    let id = new_member_id(&request.client_id);
                    group.pending_ids.insert(id.clone());
                    return Err(Box::new(JoinOutcome::error(
                        ErrorCode::MemberIdRequired,
                        &id,
                    )));
                }
                None => member_id = new_member_id(&request.client_id),
            }
        } else if !group.members.contains_key(&member_id) && !group.pending_ids.remove(&member_id) {
            return fail(ErrorCode::UnknownMemberId);
        } else if let Some(instance) = &request.instance_id {
            if group
                .static_members
                .get(instance)
                .is_some_and(|current| *current != member_id)
            {
                return fail(ErrorCode::FencedInstanceId);
            }
        }

        let now = self.time.now();
        let existing = group.members.get(&member_id);
        let unchanged = existing.is_some_and(|m| m.protocols == request.protocols);
        let is_leader = group.leader.as_deref() == Some(member_id.as_str());
        if group.state == GroupState::Stable && unchanged && !is_leader {
            // A follower rejoining with what it had: Kafka answers with the current generation.
            let protocol = group.protocol_name.clone().unwrap_or_default();
            if let Some(member) = group.members.get_mut(&member_id) {
                member.last_seen = now;
            }
            return Err(Box::new(JoinOutcome {
                error: ErrorCode::None,
                generation: group.generation,
                protocol_type: group.protocol_type.clone(),
                protocol_name: Some(protocol),
                leader: group.leader.clone().unwrap_or_default(),
                member_id: member_id.clone(),
                members: Vec::new(),
            }));
        }
        let assignment = existing.map(|m| m.assignment.clone()).unwrap_or_default();
        if let Some(old) = group.members.get_mut(&member_id) {
            // The same member joining again: its earlier join is answered now.
            if let Some(previous) = old.join_waiting.take() {
                out.push(Completion::join(
                    previous,
                    JoinOutcome::error(ErrorCode::RebalanceInProgress, &member_id),
                ));
            }
        }
        let ticket = self.ticket();
        if let Some(instance) = &request.instance_id {
            group
                .static_members
                .insert(instance.clone(), member_id.clone());
        }
        group.protocol_type = Some(request.protocol_type.clone());
        group.members.insert(
            member_id.clone(),
            Member {
                instance_id: request.instance_id.clone(),
                client_id: request.client_id.clone(),
                client_host: request.client_host.clone(),
                session_timeout: Duration::from_millis(request.session_timeout_ms as u64),
                rebalance_timeout: Duration::from_millis(request.rebalance_timeout_ms.max(0) as u64),
                protocols: request.protocols,
                assignment,
                last_seen: now,
                join_waiting: Some(ticket),
                sync_waiting: None,
            },
        );
        group.prepare_rebalance(
            now,
            Duration::from_millis(self.config.initial_rebalance_delay_ms),
            out,
        );
        group.maybe_complete_join(now, out);
        Ok(ticket)
    }

    /// SyncGroup: answered at once, or waiting for the leader's; the leader's stores the
    /// assignments and answers every waiting member (itself included) in the completions.
    pub fn sync(
        &self,
        group_id: &str,
        generation: i32,
        member_id: &str,
        instance_id: Option<&str>,
        assignments: Vec<(String, Bytes)>,
    ) -> (Start<SyncOutcome>, Vec<Completion>) {
        let answered = |outcome| (Start::Answered(outcome), Vec::new());
        let mut groups = self.groups.borrow_mut();
        let Some(group) = groups.get_mut(group_id) else {
            return answered(SyncOutcome::error(ErrorCode::UnknownMemberId));
        };
        if let Err(code) = group.check_member(member_id, instance_id, Some(generation)) {
            return answered(SyncOutcome::error(code));
        }
        match group.state {
            GroupState::Empty => return answered(SyncOutcome::error(ErrorCode::UnknownMemberId)),
            GroupState::PreparingRebalance => {
                return answered(SyncOutcome::error(ErrorCode::RebalanceInProgress))
            }
            GroupState::Stable => {
                let member = &group.members[member_id];
                return answered(SyncOutcome {
                    error: ErrorCode::None,
                    protocol_type: group.protocol_type.clone(),
                    protocol_name: group.protocol_name.clone(),
                    assignment: member.assignment.clone(),
                });
            }
            GroupState::CompletingRebalance => {}
        }
        let ticket = self.ticket();
        let mut out = Vec::new();
        if let Some(member) = group.members.get_mut(member_id) {
            // A second SyncGroup of the same member replaces its first.
            if let Some(previous) = member.sync_waiting.replace(ticket) {
                out.push(Completion::sync(
                    previous,
                    SyncOutcome::error(ErrorCode::UnknownMemberId),
                ));
            }
            member.last_seen = self.time.now();
        }
        if group.leader.as_deref() == Some(member_id) {
            let assignments: HashMap<String, Bytes> = assignments.into_iter().collect();
            for (id, member) in group.members.iter_mut() {
                member.assignment = assignments.get(id).cloned().unwrap_or_default();
            }
            group.state = GroupState::Stable;
            for member in group.members.values_mut() {
                if let Some(waiting) = member.sync_waiting.take() {
                    out.push(Completion::sync(
                        waiting,
                        SyncOutcome {
                            error: ErrorCode::None,
                            protocol_type: group.protocol_type.clone(),
                            protocol_name: group.protocol_name.clone(),
                            assignment: member.assignment.clone(),
                        },
                    ));
                }
            }
        }
        (Start::Waiting(ticket), out)
    }

    pub fn heartbeat(
        &self,
        group_id: &str,
        generation: i32,
        member_id: &str,
        instance_id: Option<&str>,
    ) -> ErrorCode {
        let mut groups = self.groups.borrow_mut();
        let Some(group) = groups.get_mut(group_id) else {
            return ErrorCode::UnknownMemberId;
        };
        if let Err(code) = group.check_member(member_id, instance_id, None) {
            return code;
        }
        if let Some(member) = group.members.get_mut(member_id) {
            member.last_seen = self.time.now();
        }
        match group.state {
            GroupState::Empty => ErrorCode::UnknownMemberId,
            GroupState::PreparingRebalance => ErrorCode::RebalanceInProgress,
            _ if generation != group.generation => ErrorCode::IllegalGeneration,
            _ => ErrorCode::None,
        }
    }

    /// LeaveGroup for each (member id, instance id); the group rebalances without them.
    pub fn leave(
        &self,
        group_id: &str,
        members: &[(String, Option<String>)],
    ) -> (Vec<ErrorCode>, Vec<Completion>) {
        let mut out = Vec::new();
        let mut groups = self.groups.borrow_mut();
        let Some(group) = groups.get_mut(group_id) else {
            return (vec![ErrorCode::UnknownMemberId; members.len()], out);
        };
        let mut results = Vec::with_capacity(members.len());
        let mut left = false;
        for (member_id, instance_id) in members {
            let id = match instance_id {
                Some(instance) if member_id.is_empty() => group
                    .static_members
                    .get(instance)
                    .cloned()
                    .unwrap_or_default(),
                _ => member_id.clone(),
            };
            match group.check_member(&id, instance_id.as_deref(), None) {
                Ok(()) => {
                    group.remove_member(&id, ErrorCode::UnknownMemberId, &mut out);
                    left = true;
                    results.push(ErrorCode::None);
                }
                Err(code) => results.push(code),
            }
        }
        if left {
            let now = self.time.now();
            group.prepare_rebalance(now, Duration::ZERO, &mut out);
            group.maybe_complete_join(now, &mut out);
        }
        (results, out)
    }

    /// Session expiry and the end of join phases; the shard calls it periodically.
    pub fn tick(&self) -> Vec<Completion> {
        let now = self.time.now();
        let mut out = Vec::new();
        for (name, group) in self.groups.borrow_mut().iter_mut() {
            let expired: Vec<String> = group
                .members
                .iter()
                .filter(|(_, m)| {
                    m.join_waiting.is_none()
                        && m.sync_waiting.is_none()
                        && now.duration_since(m.last_seen) > m.session_timeout
                })
                .map(|(id, _)| id.clone())
                .collect();
            if !expired.is_empty() {
                tracing::info!(group = %name, members = ?expired, "session timeout: removing members");
                for id in &expired {
                    group.remove_member(id, ErrorCode::UnknownMemberId, &mut out);
                }
                group.prepare_rebalance(now, Duration::ZERO, &mut out);
            }
            group.maybe_complete_join(now, &mut out);
        }
        out
    }

    /// Validates an OffsetCommit's membership; `Ok` means the offsets may be written.
    pub fn check_commit(
        &self,
        group_id: &str,
        generation: i32,
        member_id: &str,
        instance_id: Option<&str>,
    ) -> Result<(), ErrorCode> {
        if group_id.is_empty() {
            return Err(ErrorCode::InvalidGroupId);
        }
        let mut groups = self.groups.borrow_mut();
        let group = groups
            .entry(group_id.to_string())
            .or_insert_with(|| Group::new(self.time.now()));
        if generation < 0 && member_id.is_empty() {
            // A commit without group membership (assign() consumers, tools).
            return if group.members.is_empty() {
                Ok(())
            } else {
                Err(ErrorCode::UnknownMemberId)
            };
        }
        group.check_member(member_id, instance_id, Some(generation))?;
        if group.state == GroupState::CompletingRebalance {
            return Err(ErrorCode::RebalanceInProgress);
        }
        Ok(())
    }

    /// Makes written offsets visible (after they are durable in `__consumer_offsets`).
    pub fn apply_offsets(
        &self,
        group: &str,
        offsets: Vec<((String, i32), Option<CommittedOffset>)>,
    ) {
        let mut all = self.offsets.borrow_mut();
        let group_offsets = all.entry(group.to_string()).or_default();
        for (tp, value) in offsets {
            match value {
                Some(v) => {
                    group_offsets.insert(tp, v);
                }
                None => {
                    group_offsets.remove(&tp);
                }
            }
        }
        if group_offsets.is_empty() {
            all.remove(group);
        }
        drop(all);
        self.groups
            .borrow_mut()
            .entry(group.to_string())
            .or_insert_with(|| Group::new(self.time.now()));
    }

    /// Offsets written inside producer `producer_id`'s open transaction: they wait for its
    /// marker.
    pub fn stage_txn_offsets(
        &self,
        producer_id: i64,
        group: &str,
        offsets: Vec<((String, i32), Option<CommittedOffset>)>,
    ) {
        let mut pending = self.pending_txn_offsets.borrow_mut();
        let staged = pending.entry(producer_id).or_default();
        staged.extend(
            offsets
                .into_iter()
                .map(|(tp, value)| (group.to_string(), tp, value)),
        );
    }

    /// Producer `producer_id`'s transaction ended on this partition: a commit makes its
    /// offsets the groups' committed offsets, an abort drops them.
    pub fn complete_txn(&self, producer_id: i64, commit: bool) {
        let Some(staged) = self.pending_txn_offsets.borrow_mut().remove(&producer_id) else {
            return;
        };
        if !commit {
            return;
        }
        for (group, tp, value) in staged {
            self.apply_offsets(&group, vec![(tp, value)]);
        }
    }

    /// Whether an open transaction holds an offset of `group` for `tp` (KIP-447's
    /// UNSTABLE_OFFSET_COMMIT).
    pub fn has_pending_txn_offset(&self, group: &str, tp: &(String, i32)) -> bool {
        self.pending_txn_offsets
            .borrow()
            .values()
            .flatten()
            .any(|(g, t, _)| g == group && t == tp)
    }

    /// Committed offsets of `group`: all of them, or the requested partitions (-1 when none).
    pub fn fetch_offsets(
        &self,
        group: &str,
        partitions: Option<&[(String, i32)]>,
    ) -> Vec<((String, i32), Option<CommittedOffset>)> {
        let all = self.offsets.borrow();
        let group_offsets = all.get(group);
        match partitions {
            None => group_offsets
                .map(|o| {
                    o.iter()
                        .map(|(k, v)| (k.clone(), Some(v.clone())))
                        .collect()
                })
                .unwrap_or_default(),
            Some(wanted) => wanted
                .iter()
                .map(|tp| (tp.clone(), group_offsets.and_then(|o| o.get(tp)).cloned()))
                .collect(),
        }
    }

    pub fn describe(&self, group_id: &str) -> Option<GroupSummary> {
        let groups = self.groups.borrow();
        let group = groups.get(group_id)?;
        let protocol = group.protocol_name.clone().unwrap_or_default();
        let show_members = matches!(
            group.state,
            GroupState::Stable | GroupState::CompletingRebalance | GroupState::PreparingRebalance
        );
        Some(GroupSummary {
            state: group.state.name(),
            protocol_type: group.protocol_type.clone().unwrap_or_default(),
            protocol_name: if group.state == GroupState::Stable {
                protocol.clone()
            } else {
                String::new()
            },
            members: if show_members {
                group
                    .members
                    .iter()
                    .map(|(id, m)| MemberSummary {
                        member_id: id.clone(),
                        instance_id: m.instance_id.clone(),
                        client_id: m.client_id.clone(),
                        client_host: m.client_host.clone(),
                        metadata: m.metadata_for(&protocol),
                        assignment: m.assignment.clone(),
                    })
                    .collect()
            } else {
                Vec::new()
            },
        })
    }

    /// (group, protocol type, state) of every group here.
    pub fn list(&self) -> Vec<(String, String, &'static str)> {
        self.groups
            .borrow()
            .iter()
            .map(|(id, g)| {
                (
                    id.clone(),
                    g.protocol_type.clone().unwrap_or_default(),
                    g.state.name(),
                )
            })
            .collect()
    }

    /// DeleteGroups: only a group without members; returns its offsets' keys to tombstone.
    pub fn check_delete(&self, group_id: &str) -> Result<Vec<(String, i32)>, ErrorCode> {
        let groups = self.groups.borrow();
        let Some(group) = groups.get(group_id) else {
            return Err(ErrorCode::GroupIdNotFound);
        };
        if !group.members.is_empty() {
            return Err(ErrorCode::NonEmptyGroup);
        }
        Ok(self
            .offsets
            .borrow()
            .get(group_id)
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default())
    }

    /// OffsetDelete: the partitions whose offsets may go (the group exists and none of its
    /// members subscribes to the topic) and the error for each of the others.
    pub fn check_offset_delete(
        &self,
        group_id: &str,
        partitions: &[(String, i32)],
    ) -> Result<Vec<ErrorCode>, ErrorCode> {
        let groups = self.groups.borrow();
        let group = groups.get(group_id).ok_or(ErrorCode::GroupIdNotFound)?;
        let subscribed = group.subscribed_topics();
        Ok(partitions
            .iter()
            .map(|(topic, _)| {
                if subscribed.contains(topic.as_str()) {
                    ErrorCode::GroupSubscribedToTopic
                } else {
                    ErrorCode::None
                }
            })
            .collect())
    }

    /// Groups (all, or `only`) that reached a generation not yet persisted in a state worth
    /// persisting (Stable, or Empty), with their records; they count as persisted from here.
    pub fn take_unpersisted(&self, only: Option<&str>) -> Vec<(String, GroupRecord)> {
        let mut groups = self.groups.borrow_mut();
        groups
            .iter_mut()
            .filter(|(name, _)| only.is_none_or(|o| o == name.as_str()))
            .filter(|(_, g)| {
                matches!(g.state, GroupState::Stable | GroupState::Empty)
                    && g.persisted_generation != Some(g.generation)
                    && (g.generation > 0 || g.persisted_generation.is_some())
            })
            .map(|(name, g)| {
                g.persisted_generation = Some(g.generation);
                (name.clone(), g.record())
            })
            .collect()
    }

    /// Replays a group metadata record (start-up): `None` is a deleted group.
    pub fn restore_group(&self, group_id: &str, record: Option<GroupRecord>) {
        let mut groups = self.groups.borrow_mut();
        match record {
            Some(record) => {
                groups.insert(
                    group_id.to_string(),
                    Group::from_record(record, self.time.now()),
                );
            }
            None => {
                groups.remove(group_id);
            }
        }
    }

    /// Every group this coordinator knows (members or committed offsets).
    pub fn group_ids(&self) -> Vec<String> {
        let mut ids: std::collections::BTreeSet<String> =
            self.groups.borrow().keys().cloned().collect();
        ids.extend(self.offsets.borrow().keys().cloned());
        ids.into_iter().collect()
    }

    /// Forgets a group (deleted, or its offsets partition moved to another leader): its
    /// waiting requests are answered UNKNOWN_MEMBER_ID, and the members join again.
    pub fn remove_group(&self, group_id: &str) -> Vec<Completion> {
        let mut out = Vec::new();
        if let Some(group) = self.groups.borrow_mut().remove(group_id) {
            for (id, member) in &group.members {
                member.answer_waiting(id, ErrorCode::UnknownMemberId, &mut out);
            }
        }
        self.offsets.borrow_mut().remove(group_id);
        out
    }
}

/// The state machine driven synchronously: every answer to a waiting request shows up as a
/// completion of its ticket, with time from a manual clock.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualMonotonic;

    const GROUP: &str = "g";

    fn groups() -> (Groups, ManualMonotonic) {
        let time = ManualMonotonic::new();
        let config = GroupConfig {
            initial_rebalance_delay_ms: 0,
            ..GroupConfig::default()
        };
        (Groups::with_time(config, Rc::new(time.clone())), time)
    }

    fn request(member_id: &str, client: &str) -> JoinRequest {
        JoinRequest {
            group: GROUP.into(),
            member_id: member_id.into(),
            instance_id: None,
            client_id: client.into(),
            client_host: "/127.0.0.1".into(),
            session_timeout_ms: 10_000,
            rebalance_timeout_ms: 60_000,
            protocol_type: "consumer".into(),
            protocols: vec![("range".into(), Bytes::from_static(b"subscription"))],
            require_known_member_id: false,
        }
    }

    fn waiting<T: std::fmt::Debug>(start: Start<T>) -> Ticket {
        match start {
            Start::Waiting(ticket) => ticket,
            Start::Answered(answer) => panic!("answered at once: {answer:?}"),
        }
    }

    fn answer(completions: &[Completion], ticket: Ticket) -> &Answer {
        completions
            .iter()
            .find(|c| c.ticket == ticket)
            .map(|c| &c.answer)
            .unwrap_or_else(|| panic!("no answer for ticket {ticket}: {completions:?}"))
    }

    fn joined(completions: &[Completion], ticket: Ticket) -> &JoinOutcome {
        match answer(completions, ticket) {
            Answer::Join(outcome) => outcome,
            other => panic!("not a join answer: {other:?}"),
        }
    }

    fn synced(completions: &[Completion], ticket: Ticket) -> &SyncOutcome {
        match answer(completions, ticket) {
            Answer::Sync(outcome) => outcome,
            other => panic!("not a sync answer: {other:?}"),
        }
    }

    /// One member forms the group; a second one joins, the first rejoins, and both are answered
    /// at that moment with the new generation; the leader's SyncGroup answers both syncs.
    #[test]
    fn a_join_phase_ends_when_every_member_rejoined_and_the_leaders_sync_answers_all() {
        let (groups, _) = groups();
        let (start, done) = groups.join(request("", "a"));
        let a_join = waiting(start);
        let a = joined(&done, a_join).member_id.clone();
        assert_eq!(joined(&done, a_join).generation, 1);
        let (start, done) = groups.sync(GROUP, 1, &a, None, vec![(a.clone(), "a0".into())]);
        assert_eq!(synced(&done, waiting(start)).assignment, Bytes::from("a0"));

        // B joins: the group waits for A to rejoin; nobody is answered yet.
        let (start, done) = groups.join(request("", "b"));
        let b_join = waiting(start);
        assert!(done.is_empty(), "{done:?}");
        assert_eq!(
            groups.heartbeat(GROUP, 1, &a, None),
            ErrorCode::RebalanceInProgress
        );
        let (start, done) = groups.join(request(&a, "a"));
        let a_join = waiting(start);
        let (to_a, to_b) = (joined(&done, a_join), joined(&done, b_join));
        assert_eq!((to_a.generation, to_b.generation), (2, 2));
        assert_eq!(to_a.leader, a);
        assert_eq!(to_a.members.len(), 2, "the leader gets every member");
        assert!(to_b.members.is_empty());
        let b = to_b.member_id.clone();

        // B's sync waits for the leader's, which answers both.
        let (start, done) = groups.sync(GROUP, 2, &b, None, Vec::new());
        let b_sync = waiting(start);
        assert!(done.is_empty());
        let assignments = vec![(a.clone(), "a1".into()), (b.clone(), "b1".into())];
        let (start, done) = groups.sync(GROUP, 2, &a, None, assignments);
        let a_sync = waiting(start);
        assert_eq!(synced(&done, a_sync).assignment, Bytes::from("a1"));
        assert_eq!(synced(&done, b_sync).assignment, Bytes::from("b1"));
        assert_eq!(groups.heartbeat(GROUP, 2, &b, None), ErrorCode::None);
    }

    /// A member that joins again while its first join waits: the first is answered
    /// REBALANCE_IN_PROGRESS, the second waits on.
    #[test]
    fn joining_again_answers_the_earlier_join() {
        let (groups, _) = groups();
        let (start, done) = groups.join(request("", "a"));
        let a = joined(&done, waiting(start)).member_id.clone();
        let (start, done) = groups.join(request("", "b"));
        let first = waiting(start);
        let b = {
            // B waits for A; its member id comes with the join answer, so it joins again
            // under the id it will get: take it from the group's description.
            assert!(done.is_empty());
            let summary = groups.describe(GROUP).expect("group");
            summary
                .members
                .iter()
                .map(|m| m.member_id.clone())
                .find(|id| *id != a)
                .expect("b")
        };
        let (start, done) = groups.join(request(&b, "b"));
        let second = waiting(start);
        assert_eq!(joined(&done, first).error, ErrorCode::RebalanceInProgress);
        assert!(done.iter().all(|c| c.ticket != second));
    }

    /// Members leave or expire during a join phase: the phase ends for those still waiting.
    #[test]
    fn leaving_and_expiring_members_end_the_join_phase_for_the_others() {
        let (groups, time) = groups();
        let (start, done) = groups.join(request("", "a"));
        let a = joined(&done, waiting(start)).member_id.clone();
        groups.sync(GROUP, 1, &a, None, Vec::new());
        let (start, _) = groups.join(request("", "b"));
        let b_join = waiting(start);
        // A leaves instead of rejoining: B's join completes, B leads generation 2.
        let (codes, done) = groups.leave(GROUP, &[(a.clone(), None)]);
        assert_eq!(codes, vec![ErrorCode::None]);
        let to_b = joined(&done, b_join);
        assert_eq!((to_b.generation, to_b.leader == to_b.member_id), (2, true));
        let b = to_b.member_id.clone();
        groups.sync(GROUP, 2, &b, None, Vec::new());

        // C joins; B never rejoins and stops heartbeating: after B's session timeout the
        // clock's tick ends the phase with C alone.
        let (start, _) = groups.join(request("", "c"));
        let c_join = waiting(start);
        time.advance(Duration::from_secs(11));
        let done = groups.tick();
        let to_c = joined(&done, c_join);
        assert_eq!((to_c.error, to_c.generation), (ErrorCode::None, 3));
        assert_eq!(
            groups.heartbeat(GROUP, 3, &b, None),
            ErrorCode::UnknownMemberId
        );
    }

    /// A group that goes away (its offsets partition moved) answers its waiting requests.
    #[test]
    fn removing_a_group_answers_its_waiting_requests() {
        let (groups, _) = groups();
        let (start, done) = groups.join(request("", "a"));
        let a = joined(&done, waiting(start)).member_id.clone();
        groups.sync(GROUP, 1, &a, None, Vec::new());
        let (start, _) = groups.join(request("", "b"));
        let b_join = waiting(start);
        let done = groups.remove_group(GROUP);
        assert_eq!(joined(&done, b_join).error, ErrorCode::UnknownMemberId);
        assert!(groups.describe(GROUP).is_none());
    }
}
