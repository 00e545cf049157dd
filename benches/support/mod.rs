//! A glommio shard on its own thread that runs benchmark jobs for criterion's thread, so that
//! the partition log is measured on a real io_uring executor, as the broker runs it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::mpsc;
use std::time::Duration;

use glommio::LocalExecutorBuilder;
use weir::clock::SystemClock;
use weir::log::{LogConfig, LogDir, PartitionLog};

pub type Job = Box<
    dyn FnOnce(Rc<PartitionLog>) -> std::pin::Pin<Box<dyn std::future::Future<Output = Duration>>>
        + Send,
>;

pub struct BenchShard {
    jobs: Option<mpsc::Sender<(Job, mpsc::Sender<Duration>)>>,
    executor: Option<glommio::ExecutorJoinHandle<()>>,
}

/// Benchmark data lives under `target/`, on the real disk (O_DIRECT needs it; tmpfs would lie).
pub fn existing_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/bench-data")
        .join(name)
}

/// `existing_dir`, emptied first.
pub fn bench_dir(name: &str) -> PathBuf {
    let dir = existing_dir(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

impl BenchShard {
    pub fn start(dir: PathBuf, config: LogConfig) -> Self {
        let (tx, rx) = mpsc::channel::<(Job, mpsc::Sender<Duration>)>();
        let executor = LocalExecutorBuilder::default()
            .io_memory(4 << 20)
            .name("bench-shard")
            .spawn(move || async move {
                let log_dir = LogDir::open(&dir).await.expect("open bench dir");
                let log = PartitionLog::open(&log_dir, "bench", 0, config, Rc::new(SystemClock))
                    .await
                    .expect("open bench log");
                while let Ok((job, reply)) = rx.recv() {
                    let elapsed = job(log.clone()).await;
                    let _ = reply.send(elapsed);
                }
                log.close().await.expect("close bench log");
            })
            .expect("start bench shard");
        Self {
            jobs: Some(tx),
            executor: Some(executor),
        }
    }

    /// Runs `job` on the shard and returns the time it measured.
    pub fn run(&self, job: Job) -> Duration {
        let (reply_tx, reply_rx) = mpsc::channel();
        self.jobs
            .as_ref()
            .expect("bench shard running")
            .send((job, reply_tx))
            .expect("bench shard alive");
        reply_rx.recv().expect("bench shard replied")
    }
}

impl Drop for BenchShard {
    /// Closes the log and waits for the shard's thread, so the next shard finds clean files.
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(executor) = self.executor.take() {
            let _ = executor.join();
        }
    }
}
