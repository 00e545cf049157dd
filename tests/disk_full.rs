//! A full disk, for real: `weir serve` with `log.dirs` on a small ext4 file system (a loop
//! device; the test needs root, as CI has). Produce answers KAFKA_STORAGE_ERROR (56) once the
//! disk is full, every acknowledged record stays readable, and produce works again as soon as
//! space returns, with no restart.

mod support;

use std::time::{Duration, Instant};

use support::broker::Broker;
use support::disk::SmallDisk;
use support::kafka::create_topic;
use support::load::read_partition;
use support::wire::{produce_request, Wire};

const KAFKA_STORAGE_ERROR: i16 = 56;
const TOPIC: &str = "filling";
const RECORDS_PER_BATCH: usize = 250;
/// 250 records of 1,000 bytes: ~256 KB per request.
const VALUE_BYTES: usize = 1_000;

/// One acks=all Produce of a ~256 KB batch: (error code, base offset).
fn produce_batch(wire: &mut Wire, n: usize) -> (i16, i64) {
    let batch = weir::record::batch_of(RECORDS_PER_BATCH, VALUE_BYTES, n as i64);
    let response = wire.request(7, &produce_request(TOPIC, 0, batch, -1));
    let partition = &response.responses[0].partition_responses[0];
    (partition.error_code, partition.base_offset)
}

#[test]
fn a_full_disk_answers_kafka_storage_error_keeps_reads_and_recovers_when_space_returns() {
    let disk = SmallDisk::mount(64);
    let log_dir = disk.path().join("data");
    let mut broker = Broker::start_with(&[
        &format!("log.dirs={}", log_dir.display()),
        "log.segment.bytes=8388608",
        "offsets.topic.num.partitions=1",
    ]);
    create_topic(&broker.bootstrap(), TOPIC, 1);
    // Leave about 12 MiB: room for one 8 MiB segment (with no blocks reserved for root), then full.
    disk.fill(12 << 20);

    let mut wire = Wire::connect(&broker.bootstrap());
    let mut acked_batches = 0;
    let mut refusal = None;
    for n in 0..200 {
        match produce_batch(&mut wire, n) {
            (0, base) => {
                assert_eq!(base, (n * RECORDS_PER_BATCH) as i64);
                acked_batches += 1;
            }
            (code, _) => {
                refusal = Some(code);
                break;
            }
        }
    }
    assert_eq!(
        refusal,
        Some(KAFKA_STORAGE_ERROR),
        "after {acked_batches} acknowledged batches"
    );
    assert!(
        acked_batches > 0,
        "the disk was full before the first batch"
    );
    assert!(broker.is_running());
    assert!(broker.log().contains("No space left on device"));

    // Reads keep working while the disk is full: every acknowledged record.
    let acked_records = (acked_batches * RECORDS_PER_BATCH) as i64;
    let stored = read_partition(&broker.bootstrap(), TOPIC, 0);
    assert!(stored.len() as i64 >= acked_records);
    for offset in 0..acked_records {
        assert_eq!(
            stored.get(&offset).map(Vec::len),
            Some(VALUE_BYTES),
            "offset {offset}"
        );
    }

    // Space returns: produce succeeds again without a restart.
    disk.unfill();
    let deadline = Instant::now() + Duration::from_secs(15);
    let base = loop {
        match produce_batch(&mut wire, 1_000) {
            (0, base) => break base,
            (code, _) => {
                assert_eq!(code, KAFKA_STORAGE_ERROR);
                assert!(
                    Instant::now() < deadline,
                    "produce still failing 15 s after space returned"
                );
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    };
    assert!(base >= acked_records);
    let stored = read_partition(&broker.bootstrap(), TOPIC, 0);
    assert_eq!(
        stored.keys().next_back().copied(),
        Some(base + RECORDS_PER_BATCH as i64 - 1)
    );
    // And all of it survives a restart.
    broker.restart();
    let after = read_partition(&broker.bootstrap(), TOPIC, 0);
    assert_eq!(after.len(), stored.len());
}
