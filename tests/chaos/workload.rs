//! The workloads besides the idempotent producers (`support::load::LoadProducer`): a consumer
//! group that commits what it read, and topic creation and deletion. Each runs on its own
//! thread until stopped, tolerates the errors faults cause, and keeps what the checker needs.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use crate::checker::GroupView;
use crate::support::load::RecordId;

pub const GROUP: &str = "chaos-group";

/// A workload thread: runs until told to stop, then hands back what it kept.
pub struct Worker<T> {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<T>>,
}

impl<T: Send + 'static> Worker<T> {
    /// Runs `body` on its own thread; it returns once the flag it is given is set.
    fn spawn(body: impl FnOnce(&AtomicBool) -> T + Send + 'static) -> Worker<T> {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::spawn({
            let stop = stop.clone();
            move || body(&stop)
        });
        Worker {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops the thread and returns what it kept.
    pub fn finish(mut self) -> T {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .expect("running")
            .join()
            .expect("workload thread")
    }
}

impl<T> Drop for Worker<T> {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

const COMMIT_EVERY: Duration = Duration::from_millis(500);

/// A group member that reads the topic and commits, every `COMMIT_EVERY`, the offset after
/// the last record it read of each partition (synchronously, so each acknowledged commit is
/// known). Finished, it returns what it saw of each partition.
pub fn start_group_consumer(bootstrap: &str, topic: &str) -> Worker<BTreeMap<i32, GroupView>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", GROUP)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "1000")
        .set("reconnect.backoff.ms", "20")
        .set("reconnect.backoff.max.ms", "200")
        .create()
        .expect("group consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let topic = topic.to_string();
    Worker::spawn(move |stop| {
        let mut views: BTreeMap<i32, GroupView> = BTreeMap::new();
        // The offset after the last record read, per partition, not yet committed.
        let mut uncommitted: BTreeMap<i32, i64> = BTreeMap::new();
        let mut last_commit = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            if let Some(Ok(message)) = consumer.poll(Duration::from_millis(100)) {
                let view = views.entry(message.partition()).or_default();
                let id = message.payload().and_then(RecordId::parse);
                // A value that is no record id is left to the checker's phantom check.
                if let Some(id) = id {
                    view.read.insert(message.offset(), id);
                }
                uncommitted.insert(message.partition(), message.offset() + 1);
            }
            if last_commit.elapsed() >= COMMIT_EVERY && !uncommitted.is_empty() {
                last_commit = Instant::now();
                let mut offsets = TopicPartitionList::new();
                for (partition, offset) in &uncommitted {
                    offsets
                        .add_partition_offset(&topic, *partition, Offset::Offset(*offset))
                        .expect("commit list");
                }
                if consumer.commit(&offsets, CommitMode::Sync).is_ok() {
                    for (partition, offset) in std::mem::take(&mut uncommitted) {
                        views.entry(partition).or_default().commits.push(offset);
                    }
                }
            }
        }
        views
    })
}

/// The group's committed offsets (OffsetFetch), as a new client that does not join sees them.
pub fn fetch_committed(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
) -> Option<BTreeMap<i32, Option<i64>>> {
    let reader: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", GROUP)
        .set("enable.auto.commit", "false")
        .create()
        .expect("offset reader");
    let mut wanted = TopicPartitionList::new();
    for partition in 0..partitions {
        wanted.add_partition(topic, partition);
    }
    let committed = reader
        .committed_offsets(wanted, Duration::from_secs(10))
        .ok()?;
    Some(
        committed
            .elements()
            .iter()
            .map(|e| match e.offset() {
                Offset::Offset(offset) => (e.partition(), Some(offset)),
                _ => (e.partition(), None),
            })
            .collect(),
    )
}

/// What topic churn did: topics whose creation and deletion were acknowledged.
#[derive(Debug, Default)]
pub struct ChurnOutcome {
    pub created: Vec<String>,
    pub deleted: Vec<String>,
    /// Deletions that failed at the client: the topic may or may not be gone.
    pub delete_unknown: Vec<String>,
    pub failed_requests: usize,
}

/// Creates a topic `churn-N` (RF=3) every few seconds and deletes the one before the last.
pub fn start_topic_churn(bootstrap: &str) -> Worker<ChurnOutcome> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("admin client");
    Worker::spawn(move |stop| {
        let mut outcome = ChurnOutcome::default();
        let options = AdminOptions::new()
            .operation_timeout(Some(Duration::from_secs(8)))
            .request_timeout(Some(Duration::from_secs(10)));
        let mut next = 0;
        while !stop.load(Ordering::Relaxed) {
            let name = format!("churn-{next}");
            next += 1;
            let topic = NewTopic::new(&name, 1, TopicReplication::Fixed(3));
            let created = futures_lite::future::block_on(admin.create_topics([&topic], &options));
            match created.ok().and_then(|mut r| r.pop()) {
                Some(Ok(_)) => outcome.created.push(name),
                _ => outcome.failed_requests += 1,
            }
            let live: Vec<String> = outcome
                .created
                .iter()
                .filter(|t| !outcome.deleted.contains(t) && !outcome.delete_unknown.contains(t))
                .cloned()
                .collect();
            if live.len() > 2 {
                let victim = live[0].clone();
                let deleted = futures_lite::future::block_on(
                    admin.delete_topics(&[victim.as_str()], &options),
                );
                match deleted.ok().and_then(|mut r| r.pop()) {
                    Some(Ok(_)) => outcome.deleted.push(victim),
                    _ => {
                        outcome.failed_requests += 1;
                        outcome.delete_unknown.push(victim);
                    }
                }
            }
            for _ in 0..20 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        outcome
    })
}
