//! The partition log API through real direct-I/O files: offsets, reads, rolling, durability,
//! truncation, DeleteRecords, retention and ListOffsets by timestamp.

mod support;

use std::rc::Rc;

use bytes::Bytes;
use support::*;
use weir::clock::ManualClock;
use weir::log::{
    Durability, FetchSource, FlushPolicy, LogConfig, LogDir, LogError, PartitionLog,
    ReadAheadConfig,
};
use weir::record::{batch_of, split_batches, BatchBuilder, NewRecord, TimestampType};
use weir::ErrorCode;

#[test]
fn a_fresh_empty_data_dir_works_including_cold_direct_reads() {
    let dir = data_dir();
    let path = dir.path().join("not-yet-created");
    run(move || async move {
        let log = open_log(&path, LogConfig::default(), system_clock()).await;
        assert_eq!((log.log_start_offset(), log.log_end_offset()), (0, 0));
        let sent = numbered_batch(1, 10, 100);
        let info = log.append(sent.clone()).unwrap();
        assert_eq!((info.base_offset, info.last_offset), (0, 9));
        log.wait_for(10, Durability::Synced).await.unwrap();
        log.close().await.unwrap();
        drop(log);
        // Reopened, the tail cache is empty: this read is a direct read of the segment file,
        // which fails with EOPNOTSUPP if glommio's polled-I/O probe went wrong.
        let log = open_log(&path, LogConfig::default(), system_clock()).await;
        let read = log.read(0, 1 << 20).await.unwrap();
        let batches = read.batches().unwrap();
        assert_eq!(batches.len(), 1);
        assert_stored_matches(&batches[0], &sent, 0);
        assert!(path.join("events-0/00000000000000000000.log").exists());
    });
}

#[test]
fn offsets_are_contiguous_and_reads_return_whole_batches() {
    let dir = data_dir();
    run(move || async move {
        let log = open_log(dir.path(), LogConfig::default(), system_clock()).await;
        let sizes = [5usize, 1, 7, 3];
        let mut next = 0;
        let mut sent = Vec::new();
        for (n, count) in sizes.iter().enumerate() {
            let batch = numbered_batch(n, *count, 50);
            let info = log.append(batch.clone()).unwrap();
            assert_eq!(info.base_offset, next);
            assert_eq!(info.last_offset, next + *count as i64 - 1);
            assert_eq!(info.log_append_time_ms, -1, "CreateTime topic");
            next += *count as i64;
            sent.push((info.base_offset, batch));
        }
        assert_eq!(log.log_end_offset(), 16);
        // Appended is not yet readable by consumers: the high watermark is the written offset,
        // so a crash cannot take back a record a consumer was served.
        assert_eq!(log.high_watermark(), 0);
        let early = log
            .read_below(0, 1 << 20, log.high_watermark())
            .await
            .unwrap();
        assert!(early.is_empty());
        log.wait_for(16, Durability::Written).await.unwrap();
        assert_eq!(log.high_watermark(), 16);
        // A read below an end offset stops before the batch that reaches it.
        let below = log.read_below(0, 1 << 20, 6).await.unwrap();
        let batches = below.batches().unwrap();
        assert_eq!(
            batches.iter().map(|b| b.base_offset()).collect::<Vec<_>>(),
            vec![0, 5]
        );

        // An offset inside a batch returns that whole batch, as Kafka does.
        let read = log.read(7, 1 << 20).await.unwrap();
        let batches = read.batches().unwrap();
        assert_eq!(batches[0].base_offset(), 6);
        assert_eq!(batches.len(), 2);

        // max_bytes smaller than one batch still returns that one batch.
        let read = log.read(0, 10).await.unwrap();
        assert_eq!(read.batches().unwrap().len(), 1);

        // max_bytes bounds the rest.
        let two = sent[0].1.len() + sent[1].1.len();
        let read = log.read(0, two).await.unwrap();
        assert_eq!(read.batches().unwrap().len(), 2);
        assert_eq!(read.size_bytes, two);
        // One byte short of the second batch: it is left for the next fetch (and, from a
        // segment file, not read at all).
        let read = log.read(0, two - 1).await.unwrap();
        assert_eq!(read.batches().unwrap().len(), 1);
        assert_eq!(read.size_bytes, sent[0].1.len());

        // At the log end: empty; beyond it: OFFSET_OUT_OF_RANGE.
        assert!(log.read(16, 1 << 20).await.unwrap().is_empty());
        let err = log.read(17, 100).await.unwrap_err();
        assert_eq!(err.error_code(), ErrorCode::OffsetOutOfRange);
        let err = log.read(-1, 100).await.unwrap_err();
        assert_eq!(err.error_code(), ErrorCode::OffsetOutOfRange);

        // Same answers from disk after a restart.
        log.close().await.unwrap();
        drop(log);
        let log = open_log(dir.path(), LogConfig::default(), system_clock()).await;
        assert_eq!(log.log_end_offset(), 16);
        for (base, batch) in &sent {
            let read = log.read(*base, 1).await.unwrap();
            assert_stored_matches(&read.batches().unwrap()[0], batch, *base);
        }
    });
}

#[test]
fn bad_batches_get_kafka_error_codes_and_append_nothing() {
    let dir = data_dir();
    run(move || async move {
        let config = LogConfig {
            max_message_bytes: 2_000,
            ..LogConfig::default()
        };
        let log = open_log(dir.path(), config, system_clock()).await;
        let too_big = batch_of(1, 3_000, 0);
        assert_eq!(
            log.append(too_big).unwrap_err().error_code(),
            ErrorCode::MessageTooLarge
        );
        let mut corrupt = small_batch().to_vec();
        let last = corrupt.len() - 1;
        corrupt[last] ^= 1;
        assert_eq!(
            log.append(Bytes::from(corrupt.clone()))
                .unwrap_err()
                .error_code(),
            ErrorCode::CorruptMessage
        );
        // A good batch followed by a bad one: all or nothing.
        let mut mixed = small_batch().to_vec();
        mixed.extend_from_slice(&corrupt);
        assert!(log.append(Bytes::from(mixed)).is_err());
        assert_eq!(
            log.append(Bytes::new()).unwrap_err().error_code(),
            ErrorCode::InvalidRecord
        );
        assert_eq!(log.log_end_offset(), 0, "nothing was appended");

        // Several good batches in one request are appended in order.
        let mut two = small_batch().to_vec();
        two.extend_from_slice(&small_batch());
        let info = log.append(Bytes::from(two)).unwrap();
        assert_eq!((info.base_offset, info.last_offset), (0, 5));
    });
}

#[test]
fn segments_roll_at_segment_bytes_with_kafka_file_names() {
    let dir = data_dir();
    let path = dir.path().to_path_buf();
    run(move || async move {
        let config = LogConfig {
            segment_bytes: 16 * 1024,
            index_interval_bytes: 1024,
            ..LogConfig::default()
        };
        let log = open_log(&path, config.clone(), system_clock()).await;
        let mut sent = Vec::new();
        for n in 0..40 {
            let batch = numbered_batch(n, 4, 500);
            let info = log.append(batch.clone()).unwrap();
            sent.push((info.base_offset, batch));
        }
        log.flush().await.unwrap();
        let bases = log.segment_base_offsets();
        assert!(bases.len() >= 5, "segments: {bases:?}");
        let partition = partition_dir(&path);
        for base in &bases[..bases.len() - 1] {
            let log_file = partition.join(format!("{base:020}.log"));
            let size = std::fs::metadata(&log_file).unwrap().len();
            assert!(
                size <= 16 * 1024,
                "sealed segment trimmed to its batches: {size}"
            );
            assert!(partition.join(format!("{base:020}.index")).exists());
            assert!(partition.join(format!("{base:020}.timeindex")).exists());
            let index_len = std::fs::metadata(partition.join(format!("{base:020}.index")))
                .unwrap()
                .len();
            assert!(index_len > 0 && index_len.is_multiple_of(8));
        }
        log.close().await.unwrap();
        drop(log);
        let log = open_log(&path, config, system_clock()).await;
        assert_eq!(log.segment_base_offsets(), bases);
        assert_eq!(log.log_end_offset(), 160);
        for (base, batch) in &sent {
            for offset in [*base, base + 3] {
                let read = log.read(offset, 1).await.unwrap();
                assert_stored_matches(&read.batches().unwrap()[0], batch, *base);
            }
        }
    });
}

#[test]
fn segments_roll_at_segment_ms() {
    let dir = data_dir();
    run(move || async move {
        let clock = ManualClock::new(1_000_000);
        let config = LogConfig {
            segment_ms: 60_000,
            ..LogConfig::default()
        };
        let log = open_log(dir.path(), config, manual_clock(&clock)).await;
        log.append(small_batch()).unwrap();
        clock.advance_ms(59_999);
        log.append(small_batch()).unwrap();
        assert_eq!(log.segment_base_offsets(), vec![0]);
        clock.advance_ms(1);
        log.append(small_batch()).unwrap();
        assert_eq!(log.segment_base_offsets(), vec![0, 6]);
        log.flush().await.unwrap();
    });
}

#[test]
fn group_commit_shares_fdatasync_between_concurrent_appenders() {
    let dir = data_dir();
    run(move || async move {
        let log = open_log(dir.path(), LogConfig::default(), system_clock()).await;
        let appenders = 64;
        let mut tasks = Vec::new();
        for n in 0..appenders {
            let log = log.clone();
            tasks.push(glommio::spawn_local(async move {
                let info = log.append(numbered_batch(n, 1, 4000)).unwrap();
                log.wait_for(info.last_offset + 1, Durability::Synced)
                    .await
                    .unwrap();
                assert!(log.durable_offset() > info.last_offset);
            }));
        }
        for task in tasks {
            task.await;
        }
        let stats = log.io_stats();
        assert_eq!(log.durable_offset(), appenders as i64);
        assert!(
            stats.syncs < appenders as u64 / 4,
            "64 acks=all appends should share fdatasyncs, got {stats:?}"
        );
    });
}

/// A writer writes what was appended when it took the I/O lock, not what keeps arriving while
/// its writes run: an acks=all waiter then waits for at most a write ahead of its own and its
/// fdatasync, however fast producers append (before, the lock holder chased new appends for as
/// long as they came faster than its writes, and the waiter's fdatasync waited behind all of
/// them).
#[test]
fn an_acks_all_waiter_does_not_wait_behind_writes_of_later_appends() {
    let dir = data_dir();
    run(move || async move {
        let log = open_log(dir.path(), LogConfig::default(), system_clock()).await;
        let appends = 2000;
        let appended = Rc::new(std::cell::Cell::new(0usize));
        // Producers that never stop: a batch every 20 µs, faster than a direct write completes.
        let stream = glommio::spawn_local({
            let log = log.clone();
            let appended = appended.clone();
            async move {
                for n in 0..appends {
                    log.append(numbered_batch(n, 1, 2000)).unwrap();
                    appended.set(n + 1);
                    glommio::timer::sleep(std::time::Duration::from_micros(20)).await;
                }
            }
        });
        glommio::timer::sleep(std::time::Duration::from_millis(2)).await;
        let writes_before = log.io_stats().writes;
        let info = log.append(numbered_batch(9999, 1, 2000)).unwrap();
        log.wait_for(info.last_offset + 1, Durability::Synced)
            .await
            .unwrap();
        let writes = log.io_stats().writes - writes_before;
        let appended_by_then = appended.get();
        stream.await;
        log.flush().await.unwrap();
        assert!(
            appended_by_then < appends,
            "the producers were still appending when the waiter was answered ({appended_by_then} appended, {writes} writes)"
        );
        assert!(
            writes <= 3,
            "the acks=all waiter waited for {writes} writes (at most the one in flight, its own \
             and one more expected)"
        );
    });
}

#[test]
fn interval_flush_policy_acks_on_write_and_syncs_every_n_messages() {
    let dir = data_dir();
    run(move || async move {
        let config = LogConfig {
            flush: FlushPolicy {
                interval_messages: Some(10),
                interval_ms: None,
            },
            ..LogConfig::default()
        };
        let log = open_log(dir.path(), config, system_clock()).await;
        assert_eq!(log.ack_durability(), Durability::Written);
        for _ in 0..2 {
            let info = log.append(small_batch()).unwrap();
            log.wait_for(info.last_offset + 1, log.ack_durability())
                .await
                .unwrap();
        }
        assert_eq!(log.written_offset(), 6);
        assert_eq!(log.durable_offset(), 0, "6 < log.flush.interval.messages");
        for _ in 0..2 {
            let info = log.append(small_batch()).unwrap();
            log.wait_for(info.last_offset + 1, Durability::Written)
                .await
                .unwrap();
        }
        // The background flusher syncs once 10 messages are unsynced.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while log.durable_offset() < 12 && std::time::Instant::now() < deadline {
            glommio::timer::sleep(std::time::Duration::from_millis(5)).await;
        }
        assert_eq!(log.durable_offset(), 12);
    });
}

#[test]
fn log_append_time_topics_stamp_the_broker_time() {
    let dir = data_dir();
    run(move || async move {
        let clock = ManualClock::new(1_700_000_000_000);
        let config = LogConfig {
            message_timestamp_type: TimestampType::LogAppendTime,
            ..LogConfig::default()
        };
        let log = open_log(dir.path(), config, manual_clock(&clock)).await;
        let info = log.append(small_batch()).unwrap();
        assert_eq!(info.log_append_time_ms, 1_700_000_000_000);
        let stored = log.read(0, 1 << 20).await.unwrap().batches().unwrap();
        assert_eq!(stored[0].max_timestamp(), 1_700_000_000_000);
        assert_eq!(
            stored[0].attributes().timestamp_type(),
            TimestampType::LogAppendTime
        );
        assert_eq!(stored[0].check_integrity(), Ok(()), "CRC recomputed");
    });
}

#[test]
fn truncate_to_removes_whole_batches_and_appends_continue() {
    let dir = data_dir();
    let path = dir.path().to_path_buf();
    run(move || async move {
        let config = LogConfig {
            segment_bytes: 8 * 1024,
            ..LogConfig::default()
        };
        let log = open_log(&path, config.clone(), system_clock()).await;
        for n in 0..30 {
            log.append(numbered_batch(n, 5, 300)).unwrap();
        }
        assert_eq!(log.log_end_offset(), 150);
        let segments_before = log.segment_base_offsets().len();
        // 72 is inside the batch [70, 74]: the whole batch goes.
        let new_end = log.truncate_to(72).await.unwrap();
        assert_eq!(new_end, 70);
        assert_eq!(log.log_end_offset(), 70);
        assert!(log.segment_base_offsets().len() < segments_before);
        assert!(log.read(70, 100).await.unwrap().is_empty());
        let read = log.read(65, 1 << 20).await.unwrap().batches().unwrap();
        assert_eq!(read.last().unwrap().last_offset(), 69);

        let replacement = numbered_batch(999, 2, 10);
        let info = log.append(replacement.clone()).unwrap();
        assert_eq!(info.base_offset, 70);
        log.close().await.unwrap();
        drop(log);
        let log = open_log(&path, config, system_clock()).await;
        assert_eq!(log.log_end_offset(), 72);
        let read = log.read(70, 1 << 20).await.unwrap().batches().unwrap();
        assert_stored_matches(&read[0], &replacement, 70);

        // Truncating below the log start empties the log and restarts it there.
        assert_eq!(log.truncate_to(0).await.unwrap(), 0);
        assert_eq!((log.log_start_offset(), log.log_end_offset()), (0, 0));
        assert_eq!(log.append(small_batch()).unwrap().base_offset, 0);
    });
}

#[test]
fn delete_records_raises_the_log_start_offset_durably() {
    let dir = data_dir();
    let path = dir.path().to_path_buf();
    run(move || async move {
        let config = LogConfig {
            segment_bytes: 4 * 1024,
            ..LogConfig::default()
        };
        let log = open_log(&path, config.clone(), system_clock()).await;
        for n in 0..20 {
            log.append(numbered_batch(n, 2, 500)).unwrap();
        }
        log.flush().await.unwrap();
        let err = log.delete_records_before(41).await.unwrap_err();
        assert_eq!(err.error_code(), ErrorCode::OffsetOutOfRange);
        assert_eq!(log.delete_records_before(25).await.unwrap(), 25);
        assert_eq!(log.log_start_offset(), 25);
        assert!(log.segment_base_offsets()[0] <= 25);
        assert!(
            log.segment_base_offsets()[0] > 0,
            "segments below were deleted"
        );
        let err = log.read(24, 100).await.unwrap_err();
        assert!(matches!(err, LogError::OffsetOutOfRange { .. }));
        // Lowering is a no-op, like Kafka's.
        assert_eq!(log.delete_records_before(3).await.unwrap(), 25);
        log.close().await.unwrap();
        drop(log);
        let log = open_log(&path, config, system_clock()).await;
        assert_eq!(log.log_start_offset(), 25, "checkpoint survives a restart");
        let batches = log.read(25, 1).await.unwrap().batches().unwrap();
        assert_eq!(
            batches[0].last_offset(),
            25,
            "batch [24, 25] holds offset 25"
        );
    });
}

#[test]
fn retention_by_time_and_size_deletes_old_segments_with_an_injected_clock() {
    let dir = data_dir();
    run(move || async move {
        let clock = ManualClock::new(0);
        let config = LogConfig {
            segment_bytes: 2 * 1024,
            retention_ms: Some(1_000),
            ..LogConfig::default()
        };
        let log = open_log(dir.path(), config.clone(), manual_clock(&clock)).await;
        // Record timestamps 10_000 + n ms: segments age by their largest timestamp.
        for n in 0..12 {
            let mut builder = BatchBuilder::new();
            builder.push(NewRecord {
                key: None,
                value: Some(&[7u8; 900]),
                timestamp_ms: 10_000 + n,
            });
            log.append(builder.build()).unwrap();
        }
        log.flush().await.unwrap();
        let segments = log.segment_base_offsets();
        assert!(segments.len() >= 4, "{segments:?}");

        clock.set_ms(10_500);
        assert_eq!(log.apply_retention().await.unwrap().deleted_segments, 0);
        clock.set_ms(100_000);
        let outcome = log.apply_retention().await.unwrap();
        assert_eq!(
            outcome.deleted_segments,
            segments.len() - 1,
            "all but the active one"
        );
        assert_eq!(outcome.log_start_offset, *segments.last().unwrap());
        assert_eq!(log.log_start_offset(), *segments.last().unwrap());
        let err = log.read(0, 10).await.unwrap_err();
        assert_eq!(err.error_code(), ErrorCode::OffsetOutOfRange);

        // Size retention: keep the newest segments within retention.bytes.
        for _ in 0..12 {
            log.append(batch_of(1, 900, 200_000)).unwrap();
        }
        log.flush().await.unwrap();
        log.set_config(LogConfig {
            retention_ms: None,
            retention_bytes: Some(3 * 1024),
            ..config
        });
        let before = log.segment_base_offsets().len();
        let outcome = log.apply_retention().await.unwrap();
        assert!(outcome.deleted_segments > 0 && outcome.deleted_segments < before);
        assert_eq!(log.segment_base_offsets()[0], outcome.log_start_offset);
    });
}

#[test]
fn offset_for_timestamp_matches_a_linear_scan() {
    let dir = data_dir();
    run(move || async move {
        let config = LogConfig {
            segment_bytes: 4 * 1024,
            index_interval_bytes: 512,
            ..LogConfig::default()
        };
        let log = open_log(dir.path(), config, system_clock()).await;
        // Timestamps rise with some disorder inside batches, as real producers' do.
        let mut records = Vec::new(); // (offset, timestamp)
        let mut offset = 0i64;
        for n in 0..60i64 {
            let mut builder = BatchBuilder::new();
            for i in 0..4i64 {
                let ts = 1_000 + n * 10 + (i * 7) % 5;
                builder.push(NewRecord {
                    key: None,
                    value: Some(&[1u8; 100]),
                    timestamp_ms: ts,
                });
                records.push((offset, ts));
                offset += 1;
            }
            log.append(builder.build()).unwrap();
        }
        for target in [0, 1_000, 1_001, 1_004, 1_250, 1_333, 1_594, 1_600, 5_000] {
            let want = records.iter().find(|(_, ts)| *ts >= target).copied();
            let got = log.offset_for_timestamp(target).await.unwrap();
            assert_eq!(
                got.map(|g| (g.offset, g.timestamp_ms)),
                want,
                "target {target}"
            );
        }
        let _ = Rc::clone(&log);
    });
}

#[test]
fn tail_reads_come_from_memory_and_equal_the_disk_copy() {
    let dir = data_dir();
    let path = dir.path().to_path_buf();
    run(move || async move {
        let log = open_log(&path, LogConfig::default(), system_clock()).await;
        for n in 0..50 {
            log.append(numbered_batch(n, 10, 200)).unwrap();
        }
        let from_memory = log.read(0, 1 << 30).await.unwrap();
        assert_eq!(
            from_memory.fragments.len(),
            100,
            "header + records per batch"
        );
        log.close().await.unwrap();
        drop(log);
        let log = open_log(&path, LogConfig::default(), system_clock()).await;
        let from_disk = log.read(0, 1 << 30).await.unwrap();
        assert_eq!(from_disk.to_vec(), from_memory.to_vec());
        let stored: Vec<_> = split_batches(Bytes::from(from_disk.to_vec()))
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(stored.len(), 50);
    });
}

/// The leader epoch cache through real files: a leader's epoch starts at its log end and its
/// batches carry it; the `leader-epoch-checkpoint` is Kafka's text and survives a reopen; a
/// follower's cut drops the epochs past it, even when nothing is cut (an epoch this broker
/// started as leader without appending anything: Kafka's `truncateTo` does the same, or the
/// follower would name that epoch to its leader forever).
#[test]
fn leader_epochs_follow_appends_leaderships_and_cuts() {
    let dir = data_dir();
    run(move || async move {
        let log = open_log(dir.path(), LogConfig::default(), system_clock()).await;
        log.set_leader_epoch(3);
        log.lead(Vec::new());
        log.append(numbered_batch(0, 4, 10)).unwrap();
        log.wait_for(4, Durability::Written).await.unwrap();
        log.set_leader_epoch(5);
        log.lead(Vec::new());
        log.append(numbered_batch(1, 2, 10)).unwrap();
        log.wait_for(6, Durability::Written).await.unwrap();
        assert_eq!(log.epoch_starts(), vec![(3, 0), (5, 4)]);
        let stored = log.read(4, 1 << 20).await.unwrap().batches().unwrap();
        assert_eq!(stored[0].partition_leader_epoch(), 5);
        assert_eq!(log.end_offset_for_epoch(3), (3, 4));
        assert_eq!(log.end_offset_for_epoch(4), (3, 4));
        log.close().await.unwrap();
        drop(log);
        let checkpoint =
            std::fs::read_to_string(dir.path().join("events-0/leader-epoch-checkpoint"))
                .expect("checkpoint");
        assert_eq!(checkpoint, "0\n2\n3 0\n5 4\n");

        let log = open_log(dir.path(), LogConfig::default(), system_clock()).await;
        assert_eq!(log.epoch_starts(), vec![(3, 0), (5, 4)]);
        // Leader of epoch 7 for a moment, nothing appended; then a follower again.
        log.set_leader_epoch(7);
        log.lead(Vec::new());
        assert_eq!(log.epoch_starts(), vec![(3, 0), (5, 4), (7, 6)]);
        log.follow(2);
        assert_eq!(log.truncate_to(6).await.unwrap(), 6);
        assert_eq!(log.epoch_starts(), vec![(3, 0), (5, 4)]);
        assert_eq!(log.truncate_to(4).await.unwrap(), 4);
        assert_eq!(log.epoch_starts(), vec![(3, 0)]);
        log.close().await.unwrap();
    });
}

/// Found by the fault suite (seed 101, 3 brokers + 3 controllers): a follower's fetch answer
/// that arrives after the log became leader must not be appended. It was: the old leader's
/// epoch-5 batch landed after this log had started epoch 6 at that offset, so the log and its
/// epoch cache disagreed, and every follower was told to cut to the same offset forever (an
/// ISR of one, for good). Answers are applied only while the log follows the leader, in the
/// epoch, the fetch was sent to (Kafka's fetcher checks its fetch state the same way).
#[test]
fn a_fetch_answer_from_a_leader_no_longer_followed_is_refused() {
    let leader_dir = data_dir();
    let follower_dir = data_dir();
    run(move || async move {
        // The leader's log in epoch 5: the batches a fetch would carry, offsets and epoch set.
        let leader = open_log(leader_dir.path(), LogConfig::default(), system_clock()).await;
        leader.set_leader_epoch(5);
        leader.lead(Vec::new());
        leader.append(numbered_batch(0, 4, 10)).unwrap();
        leader.append(numbered_batch(1, 2, 10)).unwrap();
        leader.wait_for(6, Durability::Written).await.unwrap();
        let stored = leader.read(0, 1 << 20).await.unwrap().batches().unwrap();
        let (first, second) = (stored[0].as_bytes().clone(), stored[1].as_bytes().clone());

        let log = open_log(follower_dir.path(), LogConfig::default(), system_clock()).await;
        let from_leader = FetchSource {
            leader: 2,
            leader_epoch: 5,
        };
        log.set_leader_epoch(5);
        log.follow(2);
        assert!(log.follows(from_leader));
        assert_eq!(log.append_replicated(first, from_leader).unwrap(), 4);
        // Elected leader in epoch 6 while a fetch to broker 2 was out.
        log.set_leader_epoch(6);
        log.lead(Vec::new());
        assert!(!log.follows(from_leader));
        assert!(matches!(
            log.append_replicated(second.clone(), from_leader),
            Err(LogError::StaleFetch {
                leader: 2,
                leader_epoch: 5
            })
        ));
        assert!(matches!(
            log.truncate_to_divergence(5, 2, from_leader).await,
            Err(LogError::StaleFetch { .. })
        ));
        assert_eq!(log.log_end_offset(), 4);
        assert_eq!(log.epoch_starts(), vec![(5, 0), (6, 4)]);
        // A follower of broker 2 again, but in epoch 7: answers sent in epoch 5 stay refused.
        log.set_leader_epoch(7);
        log.follow(2);
        assert!(log.append_replicated(second, from_leader).is_err());
        log.close().await.unwrap();
        leader.close().await.unwrap();
    });
}

/// A follower that cuts batches of an idempotent producer forgets them: when it leads again,
/// the producer's retry of a cut batch is stored, not answered as a duplicate with offsets
/// that now hold other records (which would acknowledge a record the log does not have).
#[test]
fn a_cut_idempotent_batch_is_stored_again_when_retried() {
    let dir = data_dir();
    run(move || async move {
        let log = open_log(dir.path(), LogConfig::default(), system_clock()).await;
        log.set_leader_epoch(1);
        log.lead(Vec::new());
        log.append(sequenced_batch(7, 0, 0, 3)).unwrap();
        let cut = log.append(sequenced_batch(7, 0, 3, 2)).unwrap();
        assert_eq!(cut.base_offset, 3);
        log.wait_for(5, Durability::Written).await.unwrap();
        // A new leader lacks the second batch: this log follows it and cuts.
        log.set_leader_epoch(2);
        log.follow(2);
        assert_eq!(log.truncate_to(3).await.unwrap(), 3);
        // Leader again; the producer retries the batch it never had acknowledged.
        log.set_leader_epoch(3);
        log.lead(Vec::new());
        log.append(numbered_batch(9, 1, 10)).unwrap();
        let retried = log.append(sequenced_batch(7, 0, 3, 2)).unwrap();
        assert_eq!(
            retried.base_offset, 4,
            "stored again, after the other record"
        );
        assert_eq!(log.log_end_offset(), 6);
        // The batch still in the log is still a duplicate.
        let kept = log.append(sequenced_batch(7, 0, 0, 3)).unwrap();
        assert_eq!(kept.base_offset, 0);
        log.close().await.unwrap();
    });
}

/// A transactional batch of `count` records of producer `id` (epoch 0) from sequence `seq`.
fn transactional_batch(id: i64, seq: i32, count: usize, key: &str) -> Bytes {
    let mut builder = BatchBuilder::new();
    for _ in 0..count {
        builder.push(NewRecord {
            key: Some(key.as_bytes()),
            value: Some(&[7u8; 100]),
            timestamp_ms: 1_700_000_000_000,
        });
    }
    builder
        .producer(id, 0, seq)
        .flags(weir::record::TRANSACTIONAL_FLAG);
    builder.build()
}

fn marker(id: i64, commit: bool) -> weir::record::TxnMarker {
    weir::record::TxnMarker {
        producer_id: id,
        producer_epoch: 0,
        commit,
        coordinator_epoch: 0,
    }
}

/// KIP-98 in the log: the last stable offset waits for the oldest open transaction; an abort
/// leaves a `.txnindex` entry that a read_committed fetch gets for every range it overlaps;
/// the entries and the open transactions survive a roll, a clean close and a crash.
#[test]
fn transactions_hold_the_lso_and_aborts_are_indexed_across_restarts() {
    let dir = data_dir();
    run(move || async move {
        let config = LogConfig {
            segment_bytes: 4 * 1024,
            ..LogConfig::default()
        };
        let log = open_log(dir.path(), config.clone(), system_clock()).await;
        // Producer 1 commits 0..=4 (marker 5); producer 2 opens at 6 and aborts later.
        log.append(transactional_batch(1, 0, 5, "a")).unwrap();
        log.append(transactional_batch(2, 0, 3, "b")).unwrap();
        log.wait_for(8, Durability::Written).await.unwrap();
        assert_eq!(log.last_stable_offset(), 0, "producer 1 is open from 0");
        let commit = log.append_marker(marker(1, true)).unwrap();
        assert_eq!(commit.base_offset, 8);
        log.wait_for(9, Durability::Written).await.unwrap();
        assert_eq!(log.last_stable_offset(), 5, "producer 2 is open from 5");
        // Enough plain data to roll segments between the aborted records and the marker.
        for n in 0..40 {
            log.append(numbered_batch(n, 4, 100)).unwrap();
        }
        let abort = log.append_marker(marker(2, false)).unwrap();
        let end = abort.last_offset + 1;
        log.wait_for(end, Durability::Written).await.unwrap();
        assert_eq!(log.last_stable_offset(), end);
        assert!(log.segment_base_offsets().len() > 2, "rolled");
        let expected = weir::log::transactions::AbortedTxn {
            producer_id: 2,
            first_offset: 5,
            last_offset: abort.base_offset,
            last_stable_offset: end,
        };
        assert_eq!(log.aborted_between(0, end), vec![expected]);
        assert_eq!(log.aborted_between(6, 7), vec![expected], "overlaps");
        assert!(
            log.aborted_between(0, 5).is_empty(),
            "before its first offset"
        );
        // A marker with an older epoch than the producer's is refused.
        let mut old = marker(2, true);
        old.producer_epoch = -1;
        assert_eq!(
            log.append_marker(old).unwrap_err().error_code(),
            ErrorCode::InvalidProducerEpoch
        );

        // Producer 3 opens a transaction and the broker stops cleanly: both survive.
        let open = log.append(transactional_batch(3, 0, 2, "c")).unwrap();
        log.wait_for(open.last_offset + 1, Durability::Written)
            .await
            .unwrap();
        log.close().await.unwrap();
        drop(log);
        let log = open_log(dir.path(), config.clone(), system_clock()).await;
        assert_eq!(log.aborted_between(0, i64::MAX), vec![expected]);
        assert_eq!(log.last_stable_offset(), open.base_offset);

        // A crash (no clean close): the scan of the active segment rebuilds the same state.
        let abort3 = log.append_marker(marker(3, false)).unwrap();
        log.wait_for(abort3.last_offset + 1, Durability::Written)
            .await
            .unwrap();
        drop(log);
        let log = open_log(dir.path(), config.clone(), system_clock()).await;
        let all = log.aborted_between(0, i64::MAX);
        assert_eq!(all.len(), 2);
        assert_eq!(all[0], expected);
        assert_eq!(
            (all[1].producer_id, all[1].first_offset, all[1].last_offset),
            (3, open.base_offset, abort3.base_offset)
        );
        assert_eq!(
            log.last_stable_offset(),
            log.high_watermark(),
            "nothing open"
        );
    });
}

/// A reader through old data with `log.read.ahead.bytes` set: reads `chunks` fetches of
/// 256 KiB from offset 0, pausing 5 ms after each (a client handling what it got). Returns the
/// fetches that waited for a segment read and the most bytes the shard held ahead.
/// A log configuration that keeps nothing in the tail cache: every read is a segment read.
fn without_tail_cache() -> LogConfig {
    LogConfig {
        tail_cache_bytes: 0,
        ..LogConfig::default()
    }
}

/// Appends `numbered_batch(n, records, value_len)` for each `n` of `numbers` and waits until
/// they are written; returns the batches as sent.
async fn append_written(
    log: &PartitionLog,
    numbers: std::ops::Range<usize>,
    records: usize,
    value_len: usize,
) -> Vec<Bytes> {
    let sent: Vec<Bytes> = numbers
        .map(|n| {
            let batch = numbered_batch(n, records, value_len);
            log.append(batch.clone()).unwrap();
            batch
        })
        .collect();
    log.wait_for(log.log_end_offset(), Durability::Written)
        .await
        .unwrap();
    sent
}

async fn sequential_reader(
    log_dir: &LogDir,
    log: &PartitionLog,
    sent: &[Bytes],
    records_per_batch: i64,
) -> (u64, u64) {
    let mut offset = 0;
    let mut most_held = 0;
    while offset < log.log_end_offset() {
        let read = log
            .read(offset, 256 << 10)
            .await
            .unwrap()
            .batches()
            .unwrap();
        for batch in &read {
            let n = (batch.base_offset() / records_per_batch) as usize;
            assert_stored_matches(batch, &sent[n], offset);
            offset = batch.last_offset() + 1;
        }
        most_held = most_held.max(log_dir.read_ahead_stats().held_bytes);
        glommio::timer::sleep(std::time::Duration::from_millis(5)).await;
    }
    (log_dir.read_ahead_stats().fetch_waits, most_held)
}

/// Read-ahead (Weir's `log.read.ahead.bytes`): a consumer going through old data finds its next
/// segment reads already made, within the shard's `log.read.ahead.memory.bytes`; bytes read
/// ahead of a log that is then cut (a follower truncating, KIP-101) and written again are never
/// served for the new data.
#[test]
fn read_ahead_serves_sequential_readers_and_never_the_bytes_of_a_cut_log() {
    let dir = data_dir();
    let path = dir.path().to_path_buf();
    run(move || async move {
        let config = without_tail_cache();
        let records_per_batch = 4;
        let mut waits = Vec::new();
        for (name, window_bytes) in [("off", 0), ("on", 2 << 20)] {
            let memory_bytes = 3 << 20;
            let read_ahead = ReadAheadConfig {
                window_bytes,
                memory_bytes,
            };
            let sub = path.join(name);
            let log_dir = LogDir::open_with(&sub, read_ahead).await.unwrap();
            let log = PartitionLog::open(&log_dir, "events", 0, config.clone(), system_clock())
                .await
                .unwrap();
            let sent = append_written(&log, 0..384, records_per_batch as usize, 4000).await;
            let (fetch_waits, most_held) =
                sequential_reader(&log_dir, &log, &sent, records_per_batch).await;
            // The read a fetch waits for is made whatever the budget; reads ahead stay in it.
            assert!(
                most_held <= memory_bytes as u64 + (1 << 20),
                "{name}: held {most_held}"
            );
            waits.push(fetch_waits);
            if name == "off" {
                continue;
            }

            // Read ahead of offset 700, then cut the log there and write other batches.
            let cut = 700;
            let before_cut = log.read(cut - 40, 64 << 10).await.unwrap();
            assert!(!before_cut.is_empty());
            assert!(log_dir.read_ahead_stats().held_bytes >= 1 << 20);
            let new_end = log.truncate_to(cut).await.unwrap();
            assert_eq!(new_end, cut);
            let replacements = append_written(&log, 5000..5100, 3, 3000).await;
            // The next fetch of that reader resumes where it stopped, below the cut: what it
            // reads from the cut on is the new batches, not the bytes read ahead before.
            let resume = before_cut.last_offset().unwrap() + 1;
            let read = log.read(resume, 1 << 20).await.unwrap().batches().unwrap();
            let (old, new): (Vec<_>, Vec<_>) = read.iter().partition(|b| b.base_offset() < cut);
            assert_eq!(old.len() as i64, (cut - resume) / records_per_batch);
            for batch in old {
                let n = (batch.base_offset() / records_per_batch) as usize;
                assert_stored_matches(batch, &sent[n], batch.base_offset());
            }
            assert_eq!(new.len(), replacements.len());
            for (n, batch) in new.iter().enumerate() {
                assert_stored_matches(batch, &replacements[n], cut + 3 * n as i64);
            }
        }
        // 6 MiB in 1 MiB reads: without read-ahead a fetch waits for each read; with it, only
        // the first fetches do.
        let [off, on] = [waits[0], waits[1]];
        assert!(off >= 6, "read-ahead off: {off} waits");
        assert!(on <= 2, "read-ahead on: {on} waits (off: {off})");
    });
}

/// A read from the segment files lends the shard's direct-read buffers to the fetch (no copy):
/// contiguous batches come as one slice of a read, a batch straddling two reads as two. Such
/// bytes may not leave the shard's thread uncopied: `unbind_from_shard` (what the mesh does
/// before a reply crosses to another shard) copies them into bytes of their own, and a slice
/// dropped on another thread anyway is leaked and counted rather than dropped there.
#[test]
fn segment_reads_lend_their_buffers_and_copy_them_only_to_leave_the_shard() {
    let dir = data_dir();
    let path = dir.path().to_path_buf();
    run(move || async move {
        let log = open_log(&path, without_tail_cache(), system_clock()).await;
        // 600 batches of 4 records of 1000 bytes: about 2.4 MB, so the 1 MiB reads split some.
        let sent = append_written(&log, 0..600, 4, 1000).await;

        let small = log.read(0, 64 << 10).await.unwrap();
        assert!(small.shard_bound);
        assert_eq!(
            small.fragments.len(),
            1,
            "contiguous batches in one read: one slice"
        );
        assert_eq!(
            small.fragments[0].len(),
            small.size_bytes,
            "the slice is the batches"
        );

        // Everything, in fetches of up to 1 MiB: a fetch that crosses from one read into the
        // next has two slices; the bytes are the batches as sent.
        let mut offset = 0;
        let mut straddling = 0;
        let mut bound = Vec::new();
        while offset < log.log_end_offset() {
            let read = log.read(offset, 1 << 20).await.unwrap();
            straddling += usize::from(read.fragments.len() > 1);
            for batch in read.batches().unwrap() {
                let n = (batch.base_offset() / 4) as usize;
                assert_stored_matches(&batch, &sent[n], batch.base_offset());
                offset = batch.last_offset() + 1;
            }
            bound.push(read);
        }
        assert!(straddling >= 1, "no fetch crossed two reads");

        // Copied to leave the shard: one fragment with the same bytes, no longer bound.
        let mut leaving = bound[1].clone();
        let expected = leaving.to_vec();
        leaving.unbind_from_shard();
        assert!(!leaving.shard_bound);
        assert_eq!(leaving.fragments.len(), 1);
        assert_eq!(leaving.to_vec(), expected);
        let leaked_before = weir::log::shard_read_slices_leaked();
        let elsewhere = std::thread::spawn(move || leaving.to_vec());
        assert_eq!(elsewhere.join().unwrap(), expected);
        assert_eq!(weir::log::shard_read_slices_leaked(), leaked_before);

        // Bytes still bound, dropped on another thread: read there intact, then leaked (their
        // `Rc` may not be counted down off the shard), never dropped there.
        let stray = bound.pop().unwrap();
        let stray_bytes = stray.to_vec();
        let slices = stray.fragments.len() as u64;
        let elsewhere = std::thread::spawn(move || stray.to_vec());
        assert_eq!(elsewhere.join().unwrap(), stray_bytes);
        assert_eq!(
            weir::log::shard_read_slices_leaked(),
            leaked_before + slices
        );
    });
}
