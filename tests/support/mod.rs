//! Helpers shared by the storage tests: an executor per test, data directories on the real
//! disk (never tmpfs: O_DIRECT must be exercised), and batch builders.
#![allow(dead_code)]

pub mod admin;
pub mod broker;
pub mod cluster;
pub mod disk;
pub mod kafka;
pub mod kcat;
pub mod load;
pub mod netns;
pub mod pki;
pub mod python;
pub mod wire;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use bytes::Bytes;
use glommio::LocalExecutorBuilder;
use weir::clock::{Clock, ManualClock, SystemClock};
use weir::log::{LogConfig, LogDir, PartitionLog};
use weir::record::{batch_of, RecordBatch};

/// Runs the `weir` binary (a client tool) with `args`: (exit success, stdout and stderr).
pub fn weir(args: &[&str]) -> (bool, String) {
    weir_with_input(args, "")
}

/// `weir user scram set` (AlterUserScramCredentials) through `bootstrap`, which must succeed.
pub fn set_scram(bootstrap: &str, user: &str, password: &str, mechanism: &str) {
    let (ok, out) = weir(&[
        "user",
        "scram",
        "set",
        "--bootstrap-server",
        bootstrap,
        "--user",
        user,
        "--password",
        password,
        "--mechanism",
        mechanism,
    ]);
    assert!(ok, "weir user scram set: {out}");
}

/// [`weir`] with `input` on its standard input (`weir produce`).
pub fn weir_with_input(args: &[&str], input: &str) -> (bool, String) {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run weir");
    let mut stdin = child.stdin.take().expect("weir's stdin");
    stdin
        .write_all(input.as_bytes())
        .expect("write weir's stdin");
    drop(stdin);
    let output = child.wait_with_output().expect("weir's output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// A batch of `count` records from idempotent producer `id` at `epoch`, first sequence
/// `seq` (its producer fields set and its CRC recomputed).
pub fn sequenced_batch(id: i64, epoch: i16, seq: i32, count: usize) -> Bytes {
    let mut bytes =
        bytes::BytesMut::from(&weir::record::batch_of(count, 20, 1_700_000_000_000)[..]);
    bytes[43..51].copy_from_slice(&id.to_be_bytes());
    bytes[51..53].copy_from_slice(&epoch.to_be_bytes());
    bytes[53..57].copy_from_slice(&seq.to_be_bytes());
    let crc = crc32c::crc32c(&bytes[21..]);
    bytes[17..21].copy_from_slice(&crc.to_be_bytes());
    bytes.freeze()
}

/// Runs `test` on a fresh glommio executor (its own io_uring), as a shard would.
pub fn run<F, Fut>(test: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + 'static,
{
    LocalExecutorBuilder::default()
        .io_memory(2 << 20)
        .spawn(test)
        .expect("start executor")
        .join()
        .expect("test executor panicked");
}

/// A temporary data directory under cargo's target dir, on the same disk as the build.
pub fn data_dir() -> tempfile::TempDir {
    let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("storage-tests");
    std::fs::create_dir_all(&base).expect("create test base dir");
    tempfile::tempdir_in(base).expect("create test dir")
}

pub fn system_clock() -> Rc<dyn Clock> {
    Rc::new(SystemClock)
}

pub fn manual_clock(clock: &ManualClock) -> Rc<dyn Clock> {
    Rc::new(clock.clone())
}

pub async fn open_log(dir: &Path, config: LogConfig, clock: Rc<dyn Clock>) -> Rc<PartitionLog> {
    let log_dir = LogDir::open(dir).await.expect("open log dir");
    PartitionLog::open(&log_dir, "events", 0, config, clock)
        .await
        .expect("open partition log")
}

pub fn partition_dir(dir: &Path) -> PathBuf {
    dir.join("events-0")
}

/// Distinct content per batch so that a mix-up of batches cannot pass a comparison.
pub fn numbered_batch(n: usize, records: usize, value_len: usize) -> Bytes {
    let value_len = value_len.max(8);
    let mut builder = weir::record::BatchBuilder::new();
    let value = format!("{n:08}").repeat(value_len / 8 + 1);
    for i in 0..records {
        builder.push(weir::record::NewRecord {
            key: Some(format!("b{n}-r{i}").as_bytes()),
            value: Some(&value.as_bytes()[..value_len]),
            timestamp_ms: 1_000_000 + n as i64,
        });
    }
    builder.build()
}

pub fn small_batch() -> Bytes {
    batch_of(3, 32, 1_000)
}

/// The stored form of a client batch: same bytes but base offset and leader epoch.
pub fn assert_stored_matches(stored: &RecordBatch, sent: &Bytes, base_offset: i64) {
    assert_eq!(stored.base_offset(), base_offset);
    assert_eq!(stored.size_bytes(), sent.len());
    assert_eq!(
        &stored.as_bytes()[16..],
        &sent[16..],
        "bytes after the epoch are the client's"
    );
    assert_eq!(stored.check_integrity(), Ok(()));
}
