//! Consumer groups with kafka-python (independent of librdkafka) against a real `weir serve`:
//! queue mode across two member processes, a member killed with SIGKILL (the group recovers
//! after its session timeout), and commit/resume across a broker restart — plus a mixed group
//! of a kafka-python and a librdkafka member.

mod support;

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use support::broker::Broker;
use support::kafka::{committed_total, create_topic, produce, wait_until};
use support::python::python;

/// One kafka-python member process and the file it reports to.
struct Member {
    child: Child,
    out: PathBuf,
}

impl Member {
    fn start(
        bootstrap: &str,
        topic: &str,
        group: &str,
        dir: &Path,
        name: &str,
        max: Option<usize>,
    ) -> Member {
        let out = dir.join(format!("{name}.out"));
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/group_member.py");
        let mut command = Command::new(python());
        command
            .arg(script)
            .arg(bootstrap)
            .arg(topic)
            .arg(group)
            .arg(&out)
            .arg(dir.join("stop"));
        if let Some(max) = max {
            command.arg(max.to_string());
        }
        Member {
            child: command.spawn().expect("start kafka-python member"),
            out,
        }
    }

    fn report(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }

    /// Partitions currently assigned (last "assigned N" line).
    fn assigned(&self) -> usize {
        self.report()
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("assigned "))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }

    /// (partition, offset) of every message it reported.
    fn consumed(&self) -> Vec<(i32, i64)> {
        self.report()
            .lines()
            .filter(|l| !l.starts_with("assigned"))
            .filter_map(|l| {
                let mut parts = l.split(' ');
                Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
            })
            .collect()
    }

    fn wait(mut self) -> Member {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while self.child.try_wait().expect("member status").is_none() {
            assert!(std::time::Instant::now() < deadline, "member did not exit");
            std::thread::sleep(Duration::from_millis(50));
        }
        self
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn broker() -> Broker {
    Broker::start_with(&["group.initial.rebalance.delay.ms=0"])
}

#[test]
fn kafka_python_queue_mode_consumes_each_message_once() {
    let broker = broker();
    let b = broker.bootstrap();
    let dir = tempfile::tempdir().expect("tempdir");
    create_topic(&b, "py-jobs", 4);
    let members: Vec<Member> = (0..2)
        .map(|i| {
            Member::start(
                &b,
                "py-jobs",
                "py-workers",
                dir.path(),
                &format!("m{i}"),
                None,
            )
        })
        .collect();
    wait_until("both members assigned", Duration::from_secs(60), || {
        members.iter().all(|m| m.assigned() > 0)
            && members.iter().map(Member::assigned).sum::<usize>() == 4
    });
    produce(&b, "py-jobs", 4_000);
    wait_until("all committed", Duration::from_secs(90), || {
        committed_total(&b, "py-workers", "py-jobs", 4) == 4_000
    });
    std::fs::write(dir.path().join("stop"), b"").expect("stop file");
    let members: Vec<Member> = members.into_iter().map(Member::wait).collect();
    let mut all = HashSet::new();
    let mut partitions: Vec<BTreeSet<i32>> = Vec::new();
    for m in &members {
        let consumed = m.consumed();
        assert!(!consumed.is_empty(), "both members consumed");
        partitions.push(consumed.iter().map(|(p, _)| *p).collect());
        for position in consumed {
            assert!(all.insert(position), "{position:?} consumed twice");
        }
    }
    assert_eq!(all.len(), 4_000);
    assert!(partitions[0].is_disjoint(&partitions[1]), "{partitions:?}");
}

#[test]
fn a_killed_member_is_replaced_after_its_session_timeout() {
    let broker = broker();
    let b = broker.bootstrap();
    let dir = tempfile::tempdir().expect("tempdir");
    create_topic(&b, "py-crash", 4);
    let mut victim = Member::start(&b, "py-crash", "py-crew", dir.path(), "victim", None);
    let survivor = Member::start(&b, "py-crash", "py-crew", dir.path(), "survivor", None);
    wait_until("both members assigned", Duration::from_secs(60), || {
        victim.assigned() > 0 && survivor.assigned() > 0
    });
    // SIGKILL: no LeaveGroup; the coordinator notices when heartbeats stop (session 6 s).
    victim.child.kill().expect("kill member");
    let _ = victim.child.wait();
    produce(&b, "py-crash", 2_000);
    wait_until(
        "the survivor took over and committed everything",
        Duration::from_secs(60),
        || committed_total(&b, "py-crew", "py-crash", 4) == 2_000,
    );
    let consumed: HashSet<(i32, i64)> = survivor.consumed().into_iter().collect();
    assert_eq!(consumed.len(), 2_000, "nothing lost");
    assert!(
        broker.log().contains("session timeout"),
        "the coordinator expired the member"
    );
}

#[test]
fn kafka_python_commits_survive_a_broker_restart() {
    let mut broker = broker();
    let b = broker.bootstrap();
    let dir = tempfile::tempdir().expect("tempdir");
    create_topic(&b, "py-ledger", 2);
    produce(&b, "py-ledger", 1_000);
    let first = Member::start(&b, "py-ledger", "py-audit", dir.path(), "first", Some(300)).wait();
    let first_seen: HashSet<(i32, i64)> = first.consumed().into_iter().collect();
    assert!(first_seen.len() >= 300);
    assert_eq!(
        committed_total(&b, "py-audit", "py-ledger", 2) as usize,
        first_seen.len()
    );

    broker.restart();
    let rest = Member::start(&b, "py-ledger", "py-audit", dir.path(), "rest", None);
    wait_until("the rest consumed", Duration::from_secs(60), || {
        first_seen.len() + rest.consumed().len() >= 1_000
    });
    let rest_seen: HashSet<(i32, i64)> = rest.consumed().into_iter().collect();
    assert!(
        first_seen.is_disjoint(&rest_seen),
        "committed messages came again"
    );
    assert_eq!(first_seen.len() + rest_seen.len(), 1_000);
}

#[test]
fn a_mixed_group_of_kafka_python_and_librdkafka_shares_the_work() {
    use rdkafka::consumer::{CommitMode, Consumer};
    use rdkafka::message::Message;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    let broker = broker();
    let b = broker.bootstrap();
    let dir = tempfile::tempdir().expect("tempdir");
    create_topic(&b, "mixed", 4);
    let python_member = Member::start(&b, "mixed", "mixed-crew", dir.path(), "py", None);
    let stop = Arc::new(AtomicBool::new(false));
    let assigned = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let rdkafka_member = {
        let (b, stop, assigned) = (b.clone(), stop.clone(), assigned.clone());
        std::thread::spawn(move || {
            let consumer = support::kafka::group_consumer(&b, "mixed-crew");
            consumer.subscribe(&["mixed"]).expect("subscribe");
            let mut seen = Vec::new();
            let deadline = std::time::Instant::now() + Duration::from_secs(120);
            while !stop.load(Ordering::Relaxed) && std::time::Instant::now() < deadline {
                let count = consumer.assignment().map(|a| a.count()).unwrap_or(0);
                assigned.store(count, Ordering::Relaxed);
                if let Some(Ok(message)) = consumer.poll(Duration::from_millis(100)) {
                    seen.push((message.partition(), message.offset()));
                    consumer
                        .commit_message(&message, CommitMode::Sync)
                        .expect("commit");
                }
            }
            seen
        })
    };
    wait_until("both clients assigned", Duration::from_secs(60), || {
        python_member.assigned() > 0
            && assigned.load(Ordering::Relaxed) > 0
            && python_member.assigned() + assigned.load(Ordering::Relaxed) == 4
    });
    produce(&b, "mixed", 2_000);
    wait_until("all committed", Duration::from_secs(90), || {
        committed_total(&b, "mixed-crew", "mixed", 4) == 2_000
    });
    stop.store(true, Ordering::Relaxed);
    std::fs::write(dir.path().join("stop"), b"").expect("stop file");
    let from_rdkafka = rdkafka_member.join().expect("rdkafka member");
    let python_member = python_member.wait();
    let from_python = python_member.consumed();
    assert!(
        !from_rdkafka.is_empty() && !from_python.is_empty(),
        "both clients consumed"
    );
    let mut all = HashSet::new();
    for position in from_rdkafka.into_iter().chain(from_python) {
        assert!(all.insert(position), "{position:?} consumed twice");
    }
    assert_eq!(all.len(), 2_000);
}
