//! The group coordinator of one shard: the state machine (`groups::Groups`) and the requests
//! waiting on it. A JoinGroup or SyncGroup that must wait holds a one-shot channel under its
//! ticket; every call that can complete waiting requests hands their answers over here, so the
//! state machine itself holds no channel and is tested without an executor.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use bytes::Bytes;
use glommio::channels::local_channel::{self, LocalSender};

use super::groups::{Answer, Completion, Groups, Start, Ticket};
pub use super::groups::{
    GroupConfig, GroupState, GroupSummary, JoinOutcome, JoinRequest, MemberSummary, SyncOutcome,
};
use crate::clock::Monotonic;
use crate::error_code::ErrorCode;

enum Waiter {
    Join(LocalSender<JoinOutcome>),
    Sync(LocalSender<SyncOutcome>),
}

pub struct GroupCoordinator {
    groups: Groups,
    waiters: RefCell<HashMap<Ticket, Waiter>>,
}

/// Everything that does not wait is the state machine's own.
impl std::ops::Deref for GroupCoordinator {
    type Target = Groups;

    fn deref(&self) -> &Groups {
        &self.groups
    }
}

impl GroupCoordinator {
    pub fn new(config: GroupConfig) -> Self {
        Self::from_groups(Groups::new(config))
    }

    pub fn with_time(config: GroupConfig, time: Rc<dyn Monotonic>) -> Self {
        Self::from_groups(Groups::with_time(config, time))
    }

    fn from_groups(groups: Groups) -> Self {
        GroupCoordinator {
            groups,
            waiters: RefCell::default(),
        }
    }

    /// JoinGroup: answers when the join phase ends (or at once for errors and for the
    /// MEMBER_ID_REQUIRED handshake).
    pub async fn join(&self, request: JoinRequest) -> JoinOutcome {
        let (start, completions) = self.groups.join(request);
        self.answer(start, completions, Waiter::Join, || {
            JoinOutcome::error(ErrorCode::UnknownMemberId, "")
        })
        .await
    }

    /// SyncGroup: the leader's assignments are stored and sent to every member.
    pub async fn sync(
        &self,
        group_id: &str,
        generation: i32,
        member_id: &str,
        instance_id: Option<&str>,
        assignments: Vec<(String, Bytes)>,
    ) -> SyncOutcome {
        let (start, completions) =
            self.groups
                .sync(group_id, generation, member_id, instance_id, assignments);
        self.answer(start, completions, Waiter::Sync, || {
            SyncOutcome::error(ErrorCode::UnknownMemberId)
        })
        .await
    }

    /// A request's answer: at once, or once the completion of its ticket arrives (`gone`
    /// when its group went away without one).
    async fn answer<T>(
        &self,
        start: Start<T>,
        completions: Vec<Completion>,
        waiter: fn(LocalSender<T>) -> Waiter,
        gone: impl FnOnce() -> T,
    ) -> T {
        let receiver = match start {
            Start::Answered(outcome) => {
                self.deliver(completions);
                return outcome;
            }
            Start::Waiting(ticket) => {
                let (sender, receiver) = local_channel::new_bounded(1);
                self.waiters.borrow_mut().insert(ticket, waiter(sender));
                receiver
            }
        };
        // Registered first: the completions may already hold this request's own answer.
        self.deliver(completions);
        receiver.recv().await.unwrap_or_else(gone)
    }

    /// LeaveGroup for each (member id, instance id); the group rebalances without them.
    pub fn leave(&self, group_id: &str, members: &[(String, Option<String>)]) -> Vec<ErrorCode> {
        let (codes, completions) = self.groups.leave(group_id, members);
        self.deliver(completions);
        codes
    }

    /// Session expiry and the end of join phases; the shard calls it periodically.
    pub fn tick(&self) {
        let completions = self.groups.tick();
        self.deliver(completions);
    }

    /// Forgets a group; its waiting requests are answered.
    pub fn remove_group(&self, group_id: &str) {
        let completions = self.groups.remove_group(group_id);
        self.deliver(completions);
    }

    /// Forgets every group (the coordinator is unloaded); returns how many there were.
    pub fn remove_all(&self) -> usize {
        let ids = self.groups.group_ids();
        for id in &ids {
            self.remove_group(id);
        }
        ids.len()
    }

    /// Hands each answer to the request waiting under its ticket (gone if its connection
    /// closed meanwhile).
    fn deliver(&self, completions: Vec<Completion>) {
        if completions.is_empty() {
            return;
        }
        let mut waiters = self.waiters.borrow_mut();
        for Completion { ticket, answer } in completions {
            match (waiters.remove(&ticket), answer) {
                (Some(Waiter::Join(sender)), Answer::Join(outcome)) => {
                    let _ = sender.try_send(outcome);
                }
                (Some(Waiter::Sync(sender)), Answer::Sync(outcome)) => {
                    let _ = sender.try_send(outcome);
                }
                (None, _) => {}
                (Some(_), _) => {
                    tracing::error!(ticket, "a group answer of the wrong kind for its ticket")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::clock::ManualMonotonic;
    use futures_lite::future::{poll_once, yield_now};
    use glommio::{spawn_local, LocalExecutorBuilder, Task};

    const GROUP: &str = "g";

    /// Runs `test` on a glommio executor of its own (the coordinator's waiters are glommio
    /// channels); the time is the test's.
    fn run<Fut: std::future::Future<Output = ()> + 'static>(
        test: impl FnOnce(Rc<GroupCoordinator>, ManualMonotonic) -> Fut + Send + 'static,
    ) {
        LocalExecutorBuilder::default()
            .io_memory(1 << 20)
            .spawn(move || async move {
                let time = ManualMonotonic::new();
                let config = GroupConfig {
                    initial_rebalance_delay_ms: 3_000,
                    ..GroupConfig::default()
                };
                let coordinator =
                    Rc::new(GroupCoordinator::with_time(config, Rc::new(time.clone())));
                test(coordinator, time).await
            })
            .expect("start executor")
            .join()
            .expect("test executor panicked");
    }

    fn request(member_id: &str, client: &str, session_timeout_ms: i32) -> JoinRequest {
        JoinRequest {
            group: GROUP.into(),
            member_id: member_id.into(),
            instance_id: None,
            client_id: client.into(),
            client_host: "/127.0.0.1".into(),
            session_timeout_ms,
            rebalance_timeout_ms: 60_000,
            protocol_type: "consumer".into(),
            protocols: vec![("range".into(), Bytes::from_static(b"subscription"))],
            require_known_member_id: false,
        }
    }

    fn join(coordinator: &Rc<GroupCoordinator>, request: JoinRequest) -> Task<JoinOutcome> {
        let coordinator = coordinator.clone();
        spawn_local(async move { coordinator.join(request).await })
    }

    /// The task's result if it has finished, after letting every ready task run.
    async fn finished<T>(task: &mut Task<T>) -> Option<T> {
        yield_now().await;
        poll_once(task).await
    }

    fn state(coordinator: &GroupCoordinator) -> &'static str {
        coordinator.describe(GROUP).map_or("Dead", |g| g.state)
    }

    #[test]
    fn a_new_group_waits_the_initial_delay_then_elects_a_leader_and_syncs() {
        run(|coordinator, time| async move {
            let mut a = join(&coordinator, request("", "a", 10_000));
            let mut b = join(&coordinator, request("", "b", 10_000));
            assert!(finished(&mut a).await.is_none());
            assert_eq!(state(&coordinator), "PreparingRebalance");
            // group.initial.rebalance.delay.ms: not before 3 s, even with every member in.
            time.advance(Duration::from_millis(2_900));
            coordinator.tick();
            assert!(finished(&mut a).await.is_none() && finished(&mut b).await.is_none());
            time.advance(Duration::from_millis(200));
            coordinator.tick();
            let a = finished(&mut a).await.expect("join phase over");
            let b = finished(&mut b).await.expect("join phase over");
            assert_eq!((a.error, b.error), (ErrorCode::None, ErrorCode::None));
            assert_eq!((a.generation, b.generation), (1, 1));
            assert_eq!(a.leader, b.leader);
            assert_eq!(a.protocol_name.as_deref(), Some("range"));
            let (leader, follower) = if a.leader == a.member_id {
                (a, b)
            } else {
                (b, a)
            };
            // Only the leader is told the members and their subscriptions.
            assert_eq!(leader.members.len(), 2);
            assert!(follower.members.is_empty());
            assert_eq!(state(&coordinator), "CompletingRebalance");

            // The follower's SyncGroup waits for the leader's assignments.
            let mut follower_sync = {
                let (c, id) = (coordinator.clone(), follower.member_id.clone());
                spawn_local(async move { c.sync(GROUP, 1, &id, None, Vec::new()).await })
            };
            assert!(finished(&mut follower_sync).await.is_none());
            let assignments = vec![
                (leader.member_id.clone(), Bytes::from_static(b"p0")),
                (follower.member_id.clone(), Bytes::from_static(b"p1")),
            ];
            let mine = coordinator
                .sync(GROUP, 1, &leader.member_id, None, assignments)
                .await;
            assert_eq!(
                (mine.error, &mine.assignment[..]),
                (ErrorCode::None, &b"p0"[..])
            );
            let theirs = finished(&mut follower_sync).await.expect("assigned");
            assert_eq!(&theirs.assignment[..], b"p1");
            assert_eq!(state(&coordinator), "Stable");
            assert_eq!(
                coordinator.heartbeat(GROUP, 1, &follower.member_id, None),
                ErrorCode::None
            );
            assert_eq!(
                coordinator.heartbeat(GROUP, 0, &follower.member_id, None),
                ErrorCode::IllegalGeneration
            );
        });
    }

    #[test]
    fn a_member_that_stops_heartbeating_is_removed_after_its_session_timeout() {
        run(|coordinator, time| async move {
            let mut a = join(&coordinator, request("", "a", 10_000));
            let mut b = join(&coordinator, request("", "b", 6_000));
            time.advance(Duration::from_secs(3));
            coordinator.tick();
            let a = finished(&mut a).await.expect("joined");
            let b = finished(&mut b).await.expect("joined");
            let leader = a.leader.clone();
            let assignments = vec![
                (a.member_id.clone(), Bytes::new()),
                (b.member_id.clone(), Bytes::new()),
            ];
            let follower = if leader == a.member_id { &b } else { &a };
            let mut follower_sync = {
                let (c, id) = (coordinator.clone(), follower.member_id.clone());
                spawn_local(async move { c.sync(GROUP, 1, &id, None, Vec::new()).await })
            };
            finished(&mut follower_sync).await;
            coordinator.sync(GROUP, 1, &leader, None, assignments).await;
            assert_eq!(state(&coordinator), "Stable");

            // A heartbeats every 3 s; B (6 s session) goes quiet.
            for _ in 0..2 {
                time.advance(Duration::from_secs(3));
                assert_eq!(
                    coordinator.heartbeat(GROUP, 1, &a.member_id, None),
                    ErrorCode::None
                );
                coordinator.tick();
            }
            assert_eq!(
                state(&coordinator),
                "Stable",
                "6 s is not past a 6 s session"
            );
            time.advance(Duration::from_millis(100));
            coordinator.tick();
            // B is gone: the group rebalances, and A hears so on its next heartbeat.
            assert_eq!(
                coordinator.heartbeat(GROUP, 1, &b.member_id, None),
                ErrorCode::UnknownMemberId
            );
            assert_eq!(
                coordinator.heartbeat(GROUP, 1, &a.member_id, None),
                ErrorCode::RebalanceInProgress
            );
            let summary = coordinator.describe(GROUP).expect("group");
            assert_eq!(summary.members.len(), 1);
            assert_eq!(summary.members[0].member_id, a.member_id);
        });
    }

    #[test]
    fn bad_joins_are_answered_at_once() {
        run(|coordinator, _time| async move {
            // group.min.session.timeout.ms is 6 s.
            let mut short = join(&coordinator, request("", "a", 1_000));
            let answer = finished(&mut short).await.expect("answered at once");
            assert_eq!(answer.error, ErrorCode::InvalidSessionTimeout);
            let mut unknown = join(&coordinator, request("nobody", "a", 10_000));
            let answer = finished(&mut unknown).await.expect("answered at once");
            assert_eq!(answer.error, ErrorCode::UnknownMemberId);
            // JoinGroup v4+: the first join gets a member id to come back with (KIP-394).
            let mut first = join(
                &coordinator,
                JoinRequest {
                    require_known_member_id: true,
                    ..request("", "a", 10_000)
                },
            );
            let answer = finished(&mut first).await.expect("answered at once");
            assert_eq!(answer.error, ErrorCode::MemberIdRequired);
            assert!(answer.member_id.starts_with("a-"));
        });
    }
}
