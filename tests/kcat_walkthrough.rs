//! The operator walkthrough with Debian's kcat (built on librdkafka 2.0): list metadata,
//! produce keyed lines, consume them back from the beginning. Old clients exist in the wild.
//! kcat is installed by `scripts/install-test-clients.sh` (run by `scripts/test.sh`).

mod support;

use std::io::Write;
use std::process::{Command, Stdio};

use support::broker::Broker;

fn kcat(args: &[&str], stdin: Option<&str>) -> String {
    let mut child = Command::new("kcat")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kcat is missing: run scripts/test.sh (or scripts/install-test-clients.sh) first");
    {
        let mut input = child.stdin.take().expect("stdin");
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).expect("write to kcat");
        }
    }
    let output = child.wait_with_output().expect("kcat output");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "kcat {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[test]
fn kcat_lists_produces_and_consumes() {
    let broker = Broker::start_with(&["num.partitions=1"]);
    let b = broker.bootstrap();
    let metadata = kcat(&["-b", &b, "-L", "-m", "10"], None);
    assert!(metadata.contains("1 brokers:"), "{metadata}");
    assert!(
        metadata.contains(&format!("broker 0 at 127.0.0.1:{}", broker.port)),
        "{metadata}"
    );

    let lines: Vec<String> = (0..200)
        .map(|i| format!("user-{}:event {i}", i % 7))
        .collect();
    let input = lines.join("\n") + "\n";
    kcat(
        &["-b", &b, "-P", "-t", "walkthrough", "-K", ":", "-m", "10"],
        Some(&input),
    );

    let listed = kcat(&["-b", &b, "-L", "-t", "walkthrough", "-m", "10"], None);
    assert!(
        listed.contains("topic \"walkthrough\" with 1 partitions"),
        "{listed}"
    );

    let consumed = kcat(
        &[
            "-b",
            &b,
            "-C",
            "-t",
            "walkthrough",
            "-o",
            "beginning",
            "-e",
            "-q",
            "-f",
            "%p %o %k=%s\n",
        ],
        None,
    );
    let expected: Vec<String> = (0..200)
        .map(|i| format!("0 {i} user-{}=event {i}", i % 7))
        .collect();
    let got: Vec<&str> = consumed.lines().collect();
    assert_eq!(got, expected);
}
