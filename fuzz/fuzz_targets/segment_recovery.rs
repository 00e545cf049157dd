//! Any bytes as a partition's files after a crash: a segment, optionally with an offset index
//! and a clean-shutdown marker cut from the same input. Recovery must open the log (or refuse
//! with an error), every batch it then serves must pass its CRC check, and the log must take
//! and return a new append.
#![no_main]

/// The broker's own allocator, as in `weir serve`: decoders that reserve capacity from a
/// count read off the wire get address space, not an abort (see src/alloc.rs).
#[global_allocator]
static ALLOCATOR: weir::alloc::BrokerAllocator = weir::alloc::BrokerAllocator;

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;

use bytes::Bytes;
use glommio::{LocalExecutor, LocalExecutorBuilder};
use libfuzzer_sys::fuzz_target;
use weir::clock::SystemClock;
use weir::log::{LogConfig, LogDir, PartitionLog};
use weir::record::{batch_of, split_batches};

thread_local! {
    static EXECUTOR: LocalExecutor = LocalExecutorBuilder::default()
        .io_memory(1 << 20)
        .make()
        .expect("a glommio executor");
    /// On the real disk (O_DIRECT), under the fuzz crate's target dir unless WEIR_FUZZ_DIR says.
    static BASE: RefCell<PathBuf> = RefCell::new({
        let base = std::env::var_os("WEIR_FUZZ_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("target/fuzz-dirs"));
        std::fs::create_dir_all(&base).expect("fuzz dir base");
        base
    });
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let base = BASE.with(|b| b.borrow().clone());
    let dir = tempfile::tempdir_in(base).expect("fuzz dir");
    let partition = dir.path().join("events-0");
    std::fs::create_dir_all(&partition).expect("partition dir");
    // Up to a quarter of the input goes to each optional file; the rest is the segment.
    let quarter = rest.len() / 4;
    let (index, rest) = rest.split_at(if mode & 1 != 0 { quarter } else { 0 });
    let (marker, segment) = rest.split_at(if mode & 2 != 0 {
        quarter.min(rest.len())
    } else {
        0
    });
    std::fs::write(partition.join("00000000000000000000.log"), segment).expect("segment");
    if mode & 1 != 0 {
        std::fs::write(partition.join("00000000000000000000.index"), index).expect("index");
    }
    if mode & 2 != 0 {
        std::fs::write(partition.join("clean-shutdown"), marker).expect("marker");
    }
    let root = dir.path().to_path_buf();
    EXECUTOR.with(|executor| executor.run(check_recovery(root)));
});

async fn check_recovery(root: PathBuf) {
    let log_dir = LogDir::open(&root).await.expect("log dir");
    let opened = PartitionLog::open(
        &log_dir,
        "events",
        0,
        LogConfig::default(),
        Rc::new(SystemClock),
    )
    .await;
    let Ok(log) = opened else {
        return; // refused with an error: allowed
    };
    let end = log.log_end_offset();
    let mut offset = log.log_start_offset();
    while offset < end {
        let read = log
            .read(offset, 1 << 20)
            .await
            .expect("read recovered data");
        let mut next = offset;
        let bytes: Vec<u8> = read.fragments.concat();
        for batch in split_batches(Bytes::from(bytes)) {
            {
                let batch = batch.expect("recovered data splits into whole batches");
                assert_eq!(batch.check_integrity(), Ok(()), "served a corrupt batch");
                next = next.max(batch.last_offset() + 1);
            }
        }
        assert!(next > offset, "no progress reading at {offset} of {end}");
        offset = next;
    }
    let appended = log
        .append(batch_of(2, 16, 1_000))
        .expect("append after recovery");
    log.flush().await.expect("flush");
    assert_eq!(appended.base_offset, end);
    let back = log.read(end, 1 << 20).await.expect("read the new batch");
    let stored: Vec<Bytes> = back.fragments;
    assert!(!stored.is_empty());
    log.close().await.expect("close");
}
