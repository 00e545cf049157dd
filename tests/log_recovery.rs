//! Crash recovery: torn and corrupted tails, damaged indexes. The log must come back to the last
//! whole valid batch, never serve garbage, never panic.

mod support;

use std::fs::OpenOptions;
use std::path::Path;

use bytes::Bytes;
use support::*;
use weir::log::LogConfig;

/// Writes `batches` batches and closes the log; returns each batch's (base offset, bytes).
fn write_log(path: &Path, config: LogConfig, batches: usize) -> Vec<(i64, Bytes)> {
    let path = path.to_path_buf();
    let (tx, rx) = std::sync::mpsc::channel();
    run(move || async move {
        let log = open_log(&path, config, system_clock()).await;
        let mut sent = Vec::new();
        for n in 0..batches {
            let batch = numbered_batch(n, 3, 120);
            let info = log.append(batch.clone()).unwrap();
            sent.push((info.base_offset, batch));
        }
        log.close().await.unwrap();
        tx.send(sent).unwrap();
    });
    rx.recv().unwrap()
}

/// Reopens the log and returns (log end offset, every batch read from offset 0 as bytes).
fn reopen_and_read(path: &Path, config: LogConfig) -> (i64, Vec<Bytes>) {
    let path = path.to_path_buf();
    let (tx, rx) = std::sync::mpsc::channel();
    run(move || async move {
        let log = open_log(&path, config, system_clock()).await;
        let end = log.log_end_offset();
        let mut batches = Vec::new();
        let mut offset = log.log_start_offset();
        while offset < end {
            let read = log.read(offset, 1 << 20).await.unwrap();
            for batch in read.batches().unwrap() {
                assert_eq!(
                    batch.check_integrity(),
                    Ok(()),
                    "never serves a corrupt batch"
                );
                offset = batch.last_offset() + 1;
                batches.push(batch.into_bytes());
            }
        }
        // The log takes appends at the recovered end.
        let info = log.append(small_batch()).unwrap();
        assert_eq!(info.base_offset, end);
        log.close().await.unwrap();
        tx.send((end, batches)).unwrap();
    });
    rx.recv().unwrap()
}

fn active_segment(path: &Path) -> std::path::PathBuf {
    let mut logs: Vec<_> = std::fs::read_dir(partition_dir(path))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    logs.sort();
    logs.pop().unwrap()
}

/// The marker a clean close leaves (`log::clean_close`).
fn clean_shutdown_marker(path: &Path) -> std::path::PathBuf {
    partition_dir(path).join("clean-shutdown")
}

/// Damage that happens in a crash comes without a clean close: no marker vouches for the
/// active segment.
fn as_after_a_crash(path: &Path) {
    let _ = std::fs::remove_file(clean_shutdown_marker(path));
}

fn check_prefix(sent: &[(i64, Bytes)], end: i64, read: &[Bytes], whole_batches: usize) {
    assert_eq!(read.len(), whole_batches);
    assert_eq!(
        end,
        sent.get(whole_batches)
            .map_or(3 * sent.len() as i64, |b| b.0)
    );
    for ((base, bytes), stored) in sent.iter().zip(read) {
        assert_eq!(&stored[..8], &base.to_be_bytes());
        assert_eq!(&stored[16..], &bytes[16..]);
    }
}

#[test]
fn a_segment_cut_anywhere_in_its_last_batch_recovers_to_the_previous_batch() {
    let dir = data_dir();
    let config = LogConfig::default();
    let sent = write_log(dir.path(), config.clone(), 6);
    let segment = active_segment(dir.path());
    let pristine = std::fs::read(&segment).unwrap();
    let last_len = sent.last().unwrap().1.len();
    let last_start = pristine.len() - last_len;
    // Every byte position would be 200+ reopen cycles; a spread sample covers the header, the
    // first record and the end.
    let mut cuts: Vec<usize> = (0..70).chain((70..last_len).step_by(23)).collect();
    cuts.push(last_len - 1);
    for cut in cuts {
        std::fs::write(&segment, &pristine[..last_start + cut]).unwrap();
        let (end, read) = reopen_and_read(dir.path(), config.clone());
        check_prefix(&sent, end, &read, 5);
        let size = std::fs::metadata(&segment).unwrap().len() as usize;
        assert!(size >= last_start, "the valid prefix is kept ({cut})");
    }
}

#[test]
fn flipped_bytes_in_the_last_batch_are_truncated_not_served() {
    let dir = data_dir();
    let config = LogConfig::default();
    let sent = write_log(dir.path(), config.clone(), 4);
    let segment = active_segment(dir.path());
    let pristine = std::fs::read(&segment).unwrap();
    let last_start = pristine.len() - sent.last().unwrap().1.len();
    for at in (last_start..pristine.len()).step_by(17) {
        let mut damaged = pristine.clone();
        damaged[at] ^= 0x5a;
        std::fs::write(&segment, &damaged).unwrap();
        as_after_a_crash(dir.path());
        let (end, read) = reopen_and_read(dir.path(), config.clone());
        check_prefix(&sent, end, &read, 3);
    }
}

/// A clean close leaves a marker describing the active segment; the next open uses it instead of
/// scanning, and removes it, so that only a new clean close vouches again. A marker that does not
/// match the file (stale, damaged) is ignored and the segment scanned.
#[test]
fn the_clean_shutdown_marker_is_used_once_and_only_when_it_matches() {
    let dir = data_dir();
    let config = LogConfig::default();
    let sent = write_log(dir.path(), config.clone(), 20);
    let marker = clean_shutdown_marker(dir.path());
    let first_marker = std::fs::read(&marker).expect("a clean close leaves the marker");

    // Reopen (from the marker), then crash after more appends were written: no new marker.
    let path = dir.path().to_path_buf();
    let marker_path = marker.clone();
    let config_for_crash = config.clone();
    run(move || async move {
        let log = open_log(&path, config_for_crash, system_clock()).await;
        assert_eq!(log.log_end_offset(), 60);
        assert!(!marker_path.exists(), "the marker is consumed by the open");
        let mut end = 0;
        for n in 20..25 {
            end = log.append(numbered_batch(n, 3, 120)).unwrap().last_offset + 1;
        }
        log.wait_for(end, weir::log::Durability::Written)
            .await
            .unwrap();
        // Dropped without close: a crash.
    });
    assert!(!marker.exists());
    let (end, read) = reopen_and_read(dir.path(), config.clone());
    assert_eq!(
        end, 75,
        "the scan finds what was written after the marker was used"
    );
    check_prefix(&sent, 60, &read[..20], 20);

    // reopen_and_read appended one batch of 3 and closed cleanly: a fresh marker. A stale marker
    // (the first one, for a shorter file) and a damaged one are both ignored.
    assert!(marker.exists());
    std::fs::write(&marker, &first_marker).unwrap();
    let (end, _) = reopen_and_read(dir.path(), config.clone());
    assert_eq!(end, 78, "75 and the 3 records reopen_and_read appended");
    let mut damaged = std::fs::read(&marker).unwrap();
    damaged[20] ^= 0x01;
    std::fs::write(&marker, &damaged).unwrap();
    let (end, read) = reopen_and_read(dir.path(), config);
    assert_eq!(end, 81);
    assert_eq!(read.len(), 27);
}

/// Opens and cleanly closes the log; returns the bytes recovery scanned on the open.
fn scanned_on_open(path: &Path, config: LogConfig) -> u64 {
    let path = path.to_path_buf();
    let (tx, rx) = std::sync::mpsc::channel();
    run(move || async move {
        let log = open_log(&path, config, system_clock()).await;
        tx.send(log.io_stats().recovery_scanned_bytes).unwrap();
        log.close().await.unwrap();
    });
    rx.recv().unwrap()
}

fn segment_files(path: &Path, extension: &str) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(partition_dir(path))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == extension))
        .collect();
    files.sort();
    files
}

/// With the marker the active segment is not scanned, even when a sealed segment's damaged
/// index makes recovery scan that one; without it (a crash) the active segment is scanned.
#[test]
fn the_marker_spares_the_scan_of_the_active_segment() {
    let dir = data_dir();
    let config = LogConfig {
        segment_bytes: 4096,
        ..LogConfig::default()
    };
    write_log(dir.path(), config.clone(), 20);
    let logs = segment_files(dir.path(), "log");
    assert!(logs.len() >= 3, "several segments: {logs:?}");
    let size = |path: &Path| std::fs::metadata(path).unwrap().len();
    assert_eq!(scanned_on_open(dir.path(), config.clone()), 0);

    std::fs::remove_file(&segment_files(dir.path(), "index")[0]).unwrap();
    assert_eq!(
        scanned_on_open(dir.path(), config.clone()),
        size(&logs[0]),
        "only the sealed segment without its index"
    );

    as_after_a_crash(dir.path());
    assert_eq!(
        scanned_on_open(dir.path(), config),
        size(&active_segment(dir.path()))
    );
}

#[test]
fn garbage_after_the_last_batch_is_removed() {
    let dir = data_dir();
    let config = LogConfig::default();
    let sent = write_log(dir.path(), config.clone(), 3);
    let segment = active_segment(dir.path());
    let len = std::fs::metadata(&segment).unwrap().len();
    let mut file = OpenOptions::new().append(true).open(&segment).unwrap();
    std::io::Write::write_all(&mut file, &[0xEE; 5000]).unwrap();
    drop(file);
    let (end, read) = reopen_and_read(dir.path(), config);
    check_prefix(&sent, end, &read, 3);
    assert!(std::fs::metadata(&segment).unwrap().len() >= len);
}

#[test]
fn missing_and_damaged_indexes_of_sealed_segments_are_rebuilt() {
    let dir = data_dir();
    let config = LogConfig {
        segment_bytes: 4 * 1024,
        index_interval_bytes: 600,
        ..LogConfig::default()
    };
    let sent = write_log(dir.path(), config.clone(), 40);
    let partition = partition_dir(dir.path());
    let mut indexes: Vec<_> = std::fs::read_dir(&partition)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "index"))
        .collect();
    indexes.sort();
    assert!(indexes.len() >= 3);
    let good = std::fs::read(&indexes[1]).unwrap();
    std::fs::remove_file(&indexes[0]).unwrap();
    std::fs::write(&indexes[1], &good[..good.len() - 3]).unwrap(); // partial entry
    let mut reversed = std::fs::read(&indexes[2]).unwrap();
    reversed.reverse(); // entries no longer increase
    std::fs::write(&indexes[2], &reversed).unwrap();

    let (end, read) = reopen_and_read(dir.path(), config);
    check_prefix(&sent, end, &read, 40);
    assert!(indexes[0].exists(), "rebuilt");
    assert_eq!(
        std::fs::read(&indexes[1]).unwrap(),
        good,
        "rebuilt identically"
    );
}

#[test]
fn corruption_inside_a_sealed_segment_without_index_drops_what_follows() {
    let dir = data_dir();
    let config = LogConfig {
        segment_bytes: 4 * 1024,
        ..LogConfig::default()
    };
    let sent = write_log(dir.path(), config.clone(), 30);
    let partition = partition_dir(dir.path());
    let first_log = partition.join("00000000000000000000.log");
    let first_index = partition.join("00000000000000000000.index");
    std::fs::remove_file(&first_index).unwrap();
    let mut bytes = std::fs::read(&first_log).unwrap();
    let second_batch = sent[1].1.len();
    bytes[second_batch + 40] ^= 0xff; // inside the second batch
    std::fs::write(&first_log, &bytes).unwrap();
    let (end, read) = reopen_and_read(dir.path(), config);
    check_prefix(&sent, end, &read, 1);
}

/// Kafka's `log-start-offset` checkpoint is plain text without a checksum: a damaged one must
/// neither stop the open nor leave the log start past the data.
#[test]
fn damaged_log_start_checkpoints_are_ignored_or_bounded_by_the_data() {
    let dir = data_dir();
    let sent = write_log(dir.path(), LogConfig::default(), 10);
    let checkpoint = partition_dir(dir.path()).join("log-start-offset");
    for (reopens, damage) in [
        &b"0\n999999\n"[..], // a flipped digit: beyond the log end
        b"0\n-5\n",          // negative
        b"\xff\x00garbage",  // not text
        b"",                 // empty
    ]
    .into_iter()
    .enumerate()
    {
        std::fs::write(&checkpoint, damage).unwrap();
        let (end, read) = reopen_and_read(dir.path(), LogConfig::default());
        // Every batch is still read from offset 0: the 10 written first, then the small one
        // each earlier reopen appended.
        assert_eq!(read.len(), 10 + reopens, "{damage:?}: log end {end}");
        for ((base, bytes), stored) in sent.iter().zip(&read) {
            assert_eq!(&stored[..8], &base.to_be_bytes());
            assert_eq!(&stored[16..], &bytes[16..]);
        }
    }
}
