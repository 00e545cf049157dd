//! `weir serve` start-up errors: a bad configuration stops the broker before it binds anything,
//! with a message that names the offending key.

use std::process::Command;

fn serve(args: &[&str]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_weir"))
        .arg("serve")
        .args(args)
        .output()
        .expect("run weir serve");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn unknown_and_invalid_keys_stop_the_start_naming_the_key() {
    let (ok, stderr) = serve(&["--override", "log.retention.hourz=5"]);
    assert!(!ok);
    assert!(
        stderr.contains("unknown configuration key `log.retention.hourz`"),
        "{stderr}"
    );

    let (ok, stderr) = serve(&["--override", "num.partitions=many"]);
    assert!(!ok);
    assert!(stderr.contains("`num.partitions`"), "{stderr}");

    let (ok, stderr) = serve(&["--override", "default.replication.factor=0"]);
    assert!(!ok);
    assert!(stderr.contains("default.replication.factor"), "{stderr}");

    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("server.properties");
    std::fs::write(&file, "broker.id=1\nthis line is wrong\n").expect("write config");
    let (ok, stderr) = serve(&["--config", file.to_str().unwrap()]);
    assert!(!ok);
    assert!(stderr.contains("line 2"), "{stderr}");
}

mod support;
use support::broker;

#[test]
fn a_second_broker_on_the_same_port_refuses_to_start() {
    let first = broker::Broker::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let started = std::time::Instant::now();
    let (ok, stderr) = serve(&[
        "--override",
        &format!("listeners=PLAINTEXT://127.0.0.1:{}", first.port),
        "--override",
        &format!("log.dirs={}", dir.path().display()),
    ]);
    assert!(!ok, "the second broker must not start");
    assert!(stderr.contains("in use by another process"), "{stderr}");
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
}
