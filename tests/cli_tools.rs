//! The client tools (`weir topic|produce|consume|group`) end to end against a real `weir serve`:
//! the classic operator flow, console produce/consume options, consumer group inspection and
//! offset resets, and the one-line failures (broker down, unknown topic, invalid config, bad
//! arguments).

#![cfg(feature = "tools")]

mod support;

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::broker::{free_port, Broker};
use support::kafka::wait_until;

fn weir(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run weir");
    let mut input = child.stdin.take().expect("stdin");
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).expect("write stdin");
    }
    drop(input);
    child.wait_with_output().expect("weir output")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs a tool command against `bootstrap` that must succeed; returns its standard output.
fn ok(bootstrap: &str, args: &[&str], stdin: Option<&str>) -> String {
    let mut all = args.to_vec();
    all.extend(["--bootstrap-server", bootstrap]);
    let output = weir(&all, stdin);
    assert!(
        output.status.success(),
        "weir {args:?} failed: {}{}",
        stdout(&output),
        stderr(&output)
    );
    stdout(&output)
}

/// Runs a tool command that must fail; returns its standard error.
fn fails(bootstrap: &str, args: &[&str], stdin: Option<&str>) -> String {
    let mut all = args.to_vec();
    all.extend(["--bootstrap-server", bootstrap]);
    let output = weir(&all, stdin);
    assert_eq!(
        output.status.code(),
        Some(1),
        "weir {args:?} should fail: {}{}",
        stdout(&output),
        stderr(&output)
    );
    let err = stderr(&output);
    assert!(!err.contains("panicked"), "{err}");
    err
}

fn json(text: &str) -> Value {
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[test]
fn classic_operator_flow_create_produce_consume_alter_describe_delete() {
    let broker = Broker::start();
    let b = broker.bootstrap();
    assert!(ok(
        &b,
        &["topic", "create", "orders", "--partitions", "1"],
        None
    )
    .contains("Created topic orders"));
    assert!(ok(&b, &["topic", "list"], None)
        .lines()
        .any(|l| l == "orders"));

    let lines: Vec<String> = (0..50).map(|i| format!("order number {i}")).collect();
    ok(&b, &["produce", "orders"], Some(&(lines.join("\n") + "\n")));
    let consumed = ok(
        &b,
        &[
            "consume",
            "orders",
            "--from-beginning",
            "--max-messages",
            "50",
        ],
        None,
    );
    assert_eq!(consumed.lines().collect::<Vec<_>>(), lines, "in order");

    ok(&b, &["topic", "alter", "orders", "--partitions", "6"], None);
    let described = json(&ok(
        &b,
        &["topic", "describe", "orders", "--output", "json"],
        None,
    ));
    let partitions = described["partitions"].as_array().expect("partitions");
    assert_eq!(partitions.len(), 6);
    assert_eq!(partitions[5]["partition"], 5);
    assert_eq!(partitions[5]["isr"], serde_json::json!([0]));
    let table = ok(&b, &["topic", "describe", "orders"], None);
    assert!(table.contains("PartitionCount: 6"), "{table}");
    assert!(table.contains("LEADER"), "{table}");

    assert!(ok(&b, &["topic", "delete", "orders"], None).contains("Deleted topic orders"));
    let listed = json(&ok(&b, &["topic", "list", "--output", "json"], None));
    assert!(!listed
        .as_array()
        .expect("list")
        .contains(&Value::from("orders")));
    assert!(listed
        .as_array()
        .expect("list")
        .contains(&Value::from("__consumer_offsets")));
    let external = ok(&b, &["topic", "list", "--exclude-internal"], None);
    assert!(!external.contains("__consumer_offsets"));
}

#[test]
fn console_producer_and_consumer_options() {
    let broker = Broker::start();
    let b = broker.bootstrap();
    ok(&b, &["topic", "create", "kv", "--partitions", "3"], None);
    // Keys, a header, a fixed partition, gzip, acks=1.
    ok(
        &b,
        &[
            "produce",
            "kv",
            "--key-separator",
            ":",
            "--header",
            "origin=test",
            "--partition",
            "2",
            "--compression",
            "gzip",
            "--acks",
            "1",
        ],
        Some("a:1\nb:2\nc:with:colons\n"),
    );
    let printed = ok(
        &b,
        &[
            "consume",
            "kv",
            "--partition",
            "2",
            "--offset",
            "earliest",
            "--max-messages",
            "3",
            "--format",
            "{partition}/{offset}\\t{key}={value} [{headers}]",
        ],
        None,
    );
    assert_eq!(
        printed,
        "2/0\ta=1 [origin:test]\n2/1\tb=2 [origin:test]\n2/2\tc=with:colons [origin:test]\n"
    );
    let from_one = ok(
        &b,
        &[
            "consume",
            "kv",
            "--partition",
            "2",
            "--offset",
            "1",
            "--max-messages",
            "1",
            "--output",
            "json",
        ],
        None,
    );
    let record = json(&from_one);
    assert_eq!(record["offset"], 1);
    assert_eq!(record["key"], "b");
    assert_eq!(record["value"], "2");
    assert_eq!(record["headers"]["origin"], "test");
    assert!(record["timestamp"].as_i64().expect("timestamp") > 1_600_000_000_000);

    // --timeout ends a consumer that has nothing more to read.
    let started = Instant::now();
    let all = ok(
        &b,
        &["consume", "kv", "--from-beginning", "--timeout", "1500"],
        None,
    );
    assert_eq!(all.lines().count(), 3);
    assert!(started.elapsed() < Duration::from_secs(15));

    // A line without the separator is reported by its number; the others are delivered.
    let err = fails(
        &b,
        &["produce", "kv", "--key-separator", ":", "--partition", "0"],
        Some("x:1\nnot keyed\ny:2\n"),
    );
    assert!(err.contains("line 2: not delivered"), "{err}");
    assert!(err.contains("1 of 3 records not delivered"), "{err}");
    let partition0 = ok(
        &b,
        &[
            "consume",
            "kv",
            "--partition",
            "0",
            "--offset",
            "earliest",
            "--max-messages",
            "2",
            "--format",
            "{key}",
        ],
        None,
    );
    assert_eq!(partition0, "x\ny\n");
}

/// `group reset-offsets workers --topic jobs` with `target` (and `--execute`, when given).
fn reset_workers<'a>(target: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["group", "reset-offsets", "workers", "--topic", "jobs"];
    args.extend_from_slice(target);
    args
}

/// The group's committed offset of partition 0 of `topic`, from `group describe --output json`.
fn committed(b: &str, group: &str) -> Value {
    let described = json(&ok(
        b,
        &["group", "describe", group, "--output", "json"],
        None,
    ));
    described["partitions"][0]["current_offset"].clone()
}

#[test]
fn consumer_groups_list_describe_reset_and_delete() {
    let broker = Broker::start_with(&["group.initial.rebalance.delay.ms=0"]);
    let b = broker.bootstrap();
    ok(&b, &["topic", "create", "jobs", "--partitions", "1"], None);
    let lines: String = (0..20).map(|i| format!("job {i}\n")).collect();
    ok(&b, &["produce", "jobs"], Some(&lines));
    let first = ok(
        &b,
        &[
            "consume",
            "jobs",
            "--group",
            "workers",
            "--from-beginning",
            "--max-messages",
            "5",
        ],
        None,
    );
    assert_eq!(first.lines().count(), 5);

    let groups = json(&ok(&b, &["group", "list", "--output", "json"], None));
    assert!(groups
        .as_array()
        .expect("groups")
        .iter()
        .any(|g| g["group"] == "workers" && g["state"] == "Empty"));
    let described = json(&ok(
        &b,
        &["group", "describe", "workers", "--output", "json"],
        None,
    ));
    assert_eq!(described["partitions"][0]["current_offset"], 5);
    assert_eq!(described["partitions"][0]["log_end_offset"], 20);
    assert_eq!(described["partitions"][0]["lag"], 15);
    let table = ok(&b, &["group", "describe", "workers"], None);
    assert!(
        table.contains("CURRENT-OFFSET  LOG-END-OFFSET  LAG"),
        "{table}"
    );

    // Dry run by default; --execute commits.
    let plan = ok(&b, &reset_workers(&["--to-earliest"]), None);
    assert!(plan.contains("Dry run"), "{plan}");
    assert_eq!(committed(&b, "workers"), 5);
    ok(
        &b,
        &reset_workers(&["--to-offset", "12", "--execute"]),
        None,
    );
    assert_eq!(committed(&b, "workers"), 12);
    ok(&b, &reset_workers(&["--to-latest", "--execute"]), None);
    assert_eq!(committed(&b, "workers"), 20);
    ok(
        &b,
        &reset_workers(&["--to-datetime", "2000-01-01T00:00:00Z", "--execute"]),
        None,
    );
    assert_eq!(
        committed(&b, "workers"),
        0,
        "every record is newer than 2000"
    );

    // A group with an active member cannot be reset; Ctrl-C ends the member, which commits.
    let member = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args([
            "consume",
            "jobs",
            "--group",
            "workers",
            "--timeout",
            "30000",
            "--bootstrap-server",
            &b,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start a group member");
    wait_until("the member to join", Duration::from_secs(20), || {
        let described = json(&ok(
            &b,
            &["group", "describe", "workers", "--output", "json"],
            None,
        ));
        described["members"]
            .as_array()
            .is_some_and(|m| m.len() == 1)
    });
    let err = fails(&b, &reset_workers(&["--to-earliest", "--execute"]), None);
    assert!(err.contains("inactive"), "{err}");
    wait_until(
        "the member to read everything",
        Duration::from_secs(20),
        || {
            let described = json(&ok(
                &b,
                &["group", "describe", "workers", "--output", "json"],
                None,
            ));
            described["partitions"][0]["current_offset"] == 20 || {
                // Auto-commit runs every 5 s; the member may have read everything before that.
                std::thread::sleep(Duration::from_millis(200));
                false
            }
        },
    );
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(member.id() as i32, libc::SIGINT) };
    let output = member.wait_with_output().expect("member exits");
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output).lines().count(), 20);
    assert!(stderr(&output).contains("Processed a total of 20 messages"));

    assert!(
        ok(&b, &["group", "delete", "workers"], None).contains("Deleted consumer group workers")
    );
    let err = fails(&b, &["group", "describe", "workers"], None);
    assert!(err.contains("does not exist"), "{err}");
}

#[test]
fn failures_are_one_line_with_a_hint_and_help_has_examples() {
    // Nothing listens on this port.
    let down = format!("127.0.0.1:{}", free_port());
    for args in [
        vec!["topic", "list"],
        vec!["group", "list"],
        vec!["consume", "t", "--max-messages", "1"],
    ] {
        let started = Instant::now();
        let err = fails(&down, &args, None);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{args:?} took too long"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains(&down) && err.contains("is the broker running"),
            "{err}"
        );
    }
    let started = Instant::now();
    let err = fails(&down, &["produce", "t"], Some("a\n"));
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(err.contains("cannot reach a Kafka broker"), "{err}");

    let broker = Broker::start();
    let b = broker.bootstrap();
    let err = fails(&b, &["topic", "describe", "missing"], None);
    assert!(err.contains("unknown topic `missing`"), "{err}");
    let err = fails(&b, &["consume", "missing", "--max-messages", "1"], None);
    assert!(err.contains("unknown topic `missing`"), "{err}");
    let err = fails(
        &b,
        &["topic", "create", "bad", "--config", "retention.mz=1"],
        None,
    );
    assert!(err.contains("INVALID_CONFIG"), "{err}");
    ok(&b, &["topic", "create", "dup"], None);
    let err = fails(&b, &["topic", "create", "dup"], None);
    assert!(err.contains("TOPIC_ALREADY_EXISTS"), "{err}");
    let err = fails(&b, &["produce", "dup", "--acks", "7"], Some("x\n"));
    assert!(err.contains("--acks 7"), "{err}");
    let err = fails(&b, &["topic", "alter", "dup"], None);
    assert!(
        err.contains("give --partitions, --config or --delete-config"),
        "{err}"
    );

    // Config overrides set and removed through alter.
    ok(
        &b,
        &[
            "topic",
            "alter",
            "dup",
            "--config",
            "retention.ms=60000",
            "--config",
            "segment.ms=3600000",
        ],
        None,
    );
    ok(
        &b,
        &["topic", "alter", "dup", "--delete-config", "segment.ms"],
        None,
    );
    let described = json(&ok(
        &b,
        &["topic", "describe", "dup", "--output", "json"],
        None,
    ));
    assert_eq!(described["configs"]["retention.ms"]["value"], "60000");
    assert_eq!(described["configs"]["retention.ms"]["override"], true);
    assert_eq!(described["configs"]["segment.ms"]["override"], false);

    // Argument errors are clap's (exit code 2), and every command's help has examples.
    let output = weir(&["consume", "t", "--offset", "5"], None);
    assert_eq!(output.status.code(), Some(2), "--offset needs --partition");
    for command in [
        vec!["topic", "create"],
        vec!["topic", "list"],
        vec!["topic", "describe"],
        vec!["topic", "alter"],
        vec!["topic", "delete"],
        vec!["produce"],
        vec!["consume"],
        vec!["group", "list"],
        vec!["group", "describe"],
        vec!["group", "reset-offsets"],
        vec!["group", "delete"],
    ] {
        let mut args = command.clone();
        args.push("--help");
        let help = stdout(&weir(&args, None));
        assert!(help.contains("Example"), "{command:?} --help: {help}");
        assert!(help.contains("--bootstrap-server"), "{command:?}");
    }
}
