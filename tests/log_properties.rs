//! Property: for random sequences of appends (random batch sizes), segment rolls, clean or
//! crash-like reopens and reads from random offsets, every acknowledged batch reads back
//! byte-identical and offsets stay contiguous.

mod support;

use bytes::Bytes;
use proptest::prelude::*;
use support::*;
use weir::log::{Durability, LogConfig};

#[derive(Debug, Clone)]
enum Op {
    Append {
        records: usize,
        value_len: usize,
    },
    /// Reopen; `clean: false` drops the log without closing it, as a killed process would.
    Reopen {
        clean: bool,
    },
    Read {
        at_percent: u8,
        max_bytes: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1usize..20, 1usize..3000).prop_map(|(records, value_len)| Op::Append { records, value_len }),
        1 => any::<bool>().prop_map(|clean| Op::Reopen { clean }),
        3 => (0u8..=100, 1usize..20_000).prop_map(|(at_percent, max_bytes)| Op::Read { at_percent, max_bytes }),
    ]
}

fn check(ops: Vec<Op>, segment_bytes: u64, tail_cache_bytes: u64) {
    let dir = data_dir();
    let config = LogConfig {
        segment_bytes,
        tail_cache_bytes,
        index_interval_bytes: 1024,
        preallocate_bytes: 64 * 1024,
        ..LogConfig::default()
    };
    run(move || async move {
        let mut log = open_log(dir.path(), config.clone(), system_clock()).await;
        let mut acked: Vec<(i64, Bytes)> = Vec::new();
        let mut next_offset = 0i64;
        for (n, op) in ops.into_iter().enumerate() {
            match op {
                Op::Append { records, value_len } => {
                    let batch = numbered_batch(n, records, value_len);
                    let info = log.append(batch.clone()).unwrap();
                    assert_eq!(info.base_offset, next_offset, "offsets contiguous");
                    next_offset = info.last_offset + 1;
                    // acks=1: in the file, so it survives the process dying.
                    log.wait_for(next_offset, Durability::Written)
                        .await
                        .unwrap();
                    acked.push((info.base_offset, batch));
                }
                Op::Reopen { clean } => {
                    if clean {
                        log.close().await.unwrap();
                    }
                    drop(log);
                    log = open_log(dir.path(), config.clone(), system_clock()).await;
                    assert_eq!(
                        log.log_end_offset(),
                        next_offset,
                        "nothing acknowledged lost"
                    );
                }
                Op::Read {
                    at_percent,
                    max_bytes,
                } => {
                    if acked.is_empty() {
                        continue;
                    }
                    let target = next_offset * i64::from(at_percent) / 100;
                    let read = log.read(target, max_bytes).await.unwrap();
                    if target == next_offset {
                        assert!(read.is_empty());
                        continue;
                    }
                    let batches = read.batches().unwrap();
                    assert!(!batches.is_empty(), "a read below the end returns a batch");
                    assert!(read.size_bytes <= max_bytes || batches.len() == 1);
                    let start = acked
                        .iter()
                        .position(|(base, b)| {
                            let records = weir::record::RecordBatch::new(b.clone())
                                .unwrap()
                                .record_count() as i64;
                            base + records > target
                        })
                        .unwrap();
                    for (stored, (base, sent)) in batches.iter().zip(&acked[start..]) {
                        assert_stored_matches(stored, sent, *base);
                    }
                }
            }
        }
        // Everything reads back in order from the start.
        let mut offset = 0;
        let mut seen = 0;
        while offset < next_offset {
            let read = log.read(offset, 64 * 1024).await.unwrap();
            for stored in read.batches().unwrap() {
                let (base, sent) = &acked[seen];
                assert_stored_matches(&stored, sent, *base);
                offset = stored.last_offset() + 1;
                seen += 1;
            }
        }
        assert_eq!(seen, acked.len());
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn acknowledged_batches_read_back_identical(
        ops in prop::collection::vec(op(), 1..60),
        segment_bytes in prop::sample::select(vec![8 * 1024u64, 32 * 1024, 1 << 20]),
        tail_cache_bytes in prop::sample::select(vec![0u64, 16 * 1024, 4 << 20]),
    ) {
        check(ops, segment_bytes, tail_cache_bytes);
    }
}
