//! Consumer groups with librdkafka (the `rdkafka` crate) against a real `weir serve`: queue mode
//! (one group splits the partitions; every message consumed once), publish/subscribe (every
//! group gets everything), a member leaving mid-stream, and committed offsets surviving a broker
//! restart. Every wait is bounded.

mod support;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::message::Message;
use support::broker::Broker;
use support::kafka::{
    committed_total, create_topic, group_consumer, group_consumer_with, produce, wait_until,
};

/// Brokers for these tests start rebalances at once (Kafka waits 3 s for more members).
fn broker() -> Broker {
    Broker::start_with(&["group.initial.rebalance.delay.ms=0"])
}

/// What one consumer thread saw.
#[derive(Default)]
struct Seen {
    messages: Vec<(i32, i64, String)>,
    partitions: BTreeSet<i32>,
}

/// Runs a subscribed consumer until `stop`, committing after each processed poll batch.
fn run_member(
    bootstrap: String,
    group: String,
    topic: String,
    ready: Arc<Mutex<HashMap<usize, usize>>>,
    me: usize,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Seen> {
    run_member_with(bootstrap, group, topic, ready, me, stop, Vec::new())
}

fn run_member_with(
    bootstrap: String,
    group: String,
    topic: String,
    ready: Arc<Mutex<HashMap<usize, usize>>>,
    me: usize,
    stop: Arc<AtomicBool>,
    extra: Vec<(&'static str, String)>,
) -> std::thread::JoinHandle<Seen> {
    std::thread::spawn(move || {
        let extra: Vec<(&str, &str)> = extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let consumer = group_consumer_with(&bootstrap, &group, &extra);
        consumer.subscribe(&[&topic]).expect("subscribe");
        let mut seen = Seen::default();
        let deadline = Instant::now() + Duration::from_secs(120);
        while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
            let assigned = consumer.assignment().map(|a| a.count()).unwrap_or(0);
            ready.lock().unwrap().insert(me, assigned);
            let Some(message) = consumer.poll(Duration::from_millis(100)) else {
                continue;
            };
            let Ok(message) = message else {
                continue;
            };
            let key = String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned();
            let value = String::from_utf8_lossy(message.payload().unwrap_or_default()).into_owned();
            assert_eq!(value, key.replace("k-", "v-"));
            seen.partitions.insert(message.partition());
            seen.messages
                .push((message.partition(), message.offset(), key));
            // Commit after processing: the next offset to read. A commit racing a rebalance
            // gets ILLEGAL_GENERATION or REBALANCE_IN_PROGRESS (as from Kafka); a later commit
            // covers it, and the tests check the final committed offsets.
            if let Err(e) = consumer.commit_message(&message, CommitMode::Sync) {
                let text = e.to_string();
                assert!(
                    text.contains("generation") || text.contains("rebalanc"),
                    "unexpected commit error: {text}"
                );
            }
        }
        seen
    })
}

#[test]
fn queue_mode_splits_partitions_and_consumes_each_message_once() {
    let broker = broker();
    let b = broker.bootstrap();
    create_topic(&b, "jobs", 4);
    let ready = Arc::new(Mutex::new(HashMap::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let members: Vec<_> = (0..2)
        .map(|me| {
            run_member(
                b.clone(),
                "workers".into(),
                "jobs".into(),
                ready.clone(),
                me,
                stop.clone(),
            )
        })
        .collect();
    // Both members hold part of the topic before anything is produced, so that no rebalance
    // moves a partition mid-stream.
    wait_until("both members assigned", Duration::from_secs(60), || {
        let r = ready.lock().unwrap();
        r.len() == 2 && r.values().all(|&n| n > 0) && r.values().sum::<usize>() == 4
    });
    let ends = produce(&b, "jobs", 20_000);
    assert_eq!(ends.values().sum::<i64>(), 20_000);

    wait_until("all messages committed", Duration::from_secs(90), || {
        committed_total(&b, "workers", "jobs", 4) == 20_000
    });
    stop.store(true, Ordering::Relaxed);
    let seen: Vec<Seen> = members
        .into_iter()
        .map(|m| m.join().expect("member"))
        .collect();

    let mut all = HashSet::new();
    for s in &seen {
        assert!(!s.messages.is_empty(), "both members consumed");
        for (p, o, _) in &s.messages {
            assert!(all.insert((*p, *o)), "({p}, {o}) consumed twice");
        }
    }
    assert_eq!(all.len(), 20_000, "every message consumed exactly once");
    let (a, b_) = (&seen[0].partitions, &seen[1].partitions);
    assert!(
        a.is_disjoint(b_),
        "partitions split between members: {a:?} / {b_:?}"
    );
    assert_eq!(a.len() + b_.len(), 4);
}

#[test]
fn publish_subscribe_every_group_gets_everything() {
    let broker = broker();
    let b = broker.bootstrap();
    create_topic(&b, "news", 2);
    produce(&b, "news", 2_000);
    for group in ["reader-a", "reader-b"] {
        let consumer = group_consumer(&b, group);
        consumer.subscribe(&["news"]).expect("subscribe");
        let mut keys = HashSet::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while keys.len() < 2_000 {
            assert!(
                Instant::now() < deadline,
                "{group}: only {} messages",
                keys.len()
            );
            if let Some(Ok(message)) = consumer.poll(Duration::from_millis(100)) {
                keys.insert(message.key().unwrap_or_default().to_vec());
            }
        }
        consumer
            .commit_consumer_state(CommitMode::Sync)
            .expect("commit");
        assert_eq!(keys.len(), 2_000, "{group} got every message");
    }
}

#[test]
fn a_member_leaving_hands_its_partitions_over() {
    let broker = broker();
    let b = broker.bootstrap();
    create_topic(&b, "tasks", 4);
    let ready = Arc::new(Mutex::new(HashMap::new()));
    let stop_all = Arc::new(AtomicBool::new(false));
    let stop_one = Arc::new(AtomicBool::new(false));
    let leaving = run_member(
        b.clone(),
        "crew".into(),
        "tasks".into(),
        ready.clone(),
        0,
        stop_one.clone(),
    );
    let stayers: Vec<_> = (1..3)
        .map(|me| {
            run_member(
                b.clone(),
                "crew".into(),
                "tasks".into(),
                ready.clone(),
                me,
                stop_all.clone(),
            )
        })
        .collect();
    wait_until("three members assigned", Duration::from_secs(60), || {
        let r = ready.lock().unwrap();
        r.len() == 3 && r.values().all(|&n| n > 0)
    });
    produce(&b, "tasks", 3_000);
    // One member leaves (LeaveGroup on close); the others take its partitions and finish.
    std::thread::sleep(Duration::from_millis(300));
    stop_one.store(true, Ordering::Relaxed);
    let left = leaving.join().expect("leaving member");
    wait_until("all messages committed", Duration::from_secs(90), || {
        committed_total(&b, "crew", "tasks", 4) == 3_000
    });
    stop_all.store(true, Ordering::Relaxed);
    let mut all: HashSet<(i32, i64)> = left.messages.iter().map(|(p, o, _)| (*p, *o)).collect();
    for s in stayers {
        let s = s.join().expect("member");
        all.extend(s.messages.iter().map(|(p, o, _)| (*p, *o)));
    }
    assert_eq!(all.len(), 3_000, "nothing lost when a member left");
    assert!(
        broker.log().contains("LeaveGroup"),
        "the member left with LeaveGroup"
    );
}

#[test]
fn committed_offsets_survive_a_broker_restart() {
    let mut broker = broker();
    let b = broker.bootstrap();
    create_topic(&b, "ledger", 2);
    produce(&b, "ledger", 1_000);
    // Consume about half, committing each message, then leave.
    let first: HashSet<Vec<u8>> = {
        let consumer = group_consumer(&b, "auditors");
        consumer.subscribe(&["ledger"]).expect("subscribe");
        let mut keys = HashSet::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while keys.len() < 500 {
            assert!(Instant::now() < deadline, "only {} consumed", keys.len());
            if let Some(Ok(message)) = consumer.poll(Duration::from_millis(100)) {
                keys.insert(message.key().unwrap_or_default().to_vec());
                consumer
                    .commit_message(&message, CommitMode::Sync)
                    .expect("commit");
            }
        }
        keys
    };
    let committed_before = committed_total(&b, "auditors", "ledger", 2);
    assert_eq!(committed_before as usize, first.len());

    broker.restart();
    assert_eq!(
        committed_total(&b, "auditors", "ledger", 2),
        committed_before,
        "offsets reloaded"
    );
    // The group resumes where it committed: exactly the rest arrives.
    let consumer = group_consumer(&b, "auditors");
    consumer.subscribe(&["ledger"]).expect("subscribe");
    let mut rest = HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while first.len() + rest.len() < 1_000 {
        assert!(
            Instant::now() < deadline,
            "only {} more consumed",
            rest.len()
        );
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(100)) {
            let key = message.key().unwrap_or_default().to_vec();
            assert!(!first.contains(&key), "a committed message came again");
            rest.insert(key);
        }
    }
    assert_eq!(first.len() + rest.len(), 1_000);
}

#[test]
fn cooperative_sticky_members_join_incrementally_and_lose_nothing() {
    let broker = broker();
    let b = broker.bootstrap();
    create_topic(&b, "coop", 4);
    produce(&b, "coop", 2_000);
    let ready = Arc::new(Mutex::new(HashMap::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let cooperative = || {
        vec![(
            "partition.assignment.strategy",
            "cooperative-sticky".to_string(),
        )]
    };
    let first = run_member_with(
        b.clone(),
        "coop-crew".into(),
        "coop".into(),
        ready.clone(),
        0,
        stop.clone(),
        cooperative(),
    );
    wait_until(
        "the first member owns everything",
        Duration::from_secs(60),
        || ready.lock().unwrap().get(&0).copied() == Some(4),
    );
    // A second member joins mid-stream: the incremental protocol moves only some partitions.
    let second = run_member_with(
        b.clone(),
        "coop-crew".into(),
        "coop".into(),
        ready.clone(),
        1,
        stop.clone(),
        cooperative(),
    );
    wait_until("partitions shared", Duration::from_secs(60), || {
        let r = ready.lock().unwrap();
        r.get(&1).copied().unwrap_or(0) > 0 && r.values().sum::<usize>() == 4
    });
    produce(&b, "coop", 2_000);
    wait_until("all committed", Duration::from_secs(90), || {
        committed_total(&b, "coop-crew", "coop", 4) == 4_000
    });
    stop.store(true, Ordering::Relaxed);
    let mut all = HashSet::new();
    for member in [first, second] {
        let seen = member.join().expect("member");
        all.extend(seen.messages.iter().map(|(p, o, _)| (*p, *o)));
    }
    assert_eq!(
        all.len(),
        4_000,
        "nothing lost across the incremental rebalance"
    );
}

#[test]
fn a_static_member_restarting_keeps_its_partitions() {
    let broker = broker();
    let b = broker.bootstrap();
    create_topic(&b, "static", 4);
    let assignment = |consumer: &rdkafka::consumer::BaseConsumer| -> BTreeSet<i32> {
        consumer
            .assignment()
            .map(|a| a.elements().iter().map(|e| e.partition()).collect())
            .unwrap_or_default()
    };
    let member = |instance: &str| {
        let consumer = group_consumer_with(&b, "statics", &[("group.instance.id", instance)]);
        consumer.subscribe(&["static"]).expect("subscribe");
        consumer
    };
    let a = member("worker-a");
    let other = member("worker-b");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut before = BTreeSet::new();
    while before.is_empty() || assignment(&other).is_empty() {
        assert!(Instant::now() < deadline, "static members not assigned");
        let _ = a.poll(Duration::from_millis(50));
        let _ = other.poll(Duration::from_millis(50));
        before = assignment(&a);
    }
    // Restart worker-a (a static member does not leave on close): it comes back under the same
    // group.instance.id, within the session timeout, and gets the same partitions.
    drop(a);
    let a = member("worker-a");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut after = BTreeSet::new();
    while after.is_empty() {
        assert!(
            Instant::now() < deadline,
            "restarted static member not assigned"
        );
        let _ = a.poll(Duration::from_millis(50));
        let _ = other.poll(Duration::from_millis(50));
        after = assignment(&a);
    }
    assert_eq!(before, after, "same partitions after the restart");
}
