//! `weir dump-log` prints the batches of a segment written by the partition log, and fails with
//! a clear message on corrupt data.

mod support;

use std::process::Command;

use support::*;
use weir::log::LogConfig;

#[test]
fn dump_log_prints_batches_and_flags_corruption() {
    let dir = data_dir();
    let path = dir.path().to_path_buf();
    run(move || async move {
        let log = open_log(&path, LogConfig::default(), system_clock()).await;
        log.append(small_batch()).unwrap();
        log.append(numbered_batch(1, 2, 40)).unwrap();
        log.close().await.unwrap();
    });
    let segment = partition_dir(dir.path()).join("00000000000000000000.log");
    let output = Command::new(env!("CARGO_BIN_EXE_weir"))
        .arg("dump-log")
        .arg(&segment)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains("baseOffset: 0 lastOffset: 2 count: 3 position: 0"),
        "{stdout}"
    );
    assert!(
        stdout.contains("baseOffset: 3 lastOffset: 4 count: 2"),
        "{stdout}"
    );
    assert_eq!(stdout.matches("isValid: true").count(), 2);

    let mut bytes = std::fs::read(&segment).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&segment, &bytes).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_weir"))
        .arg("dump-log")
        .arg(&segment)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("CRC-32C mismatch"), "{stderr}");
}
