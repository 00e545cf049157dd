//! Debian's kcat (librdkafka 2.0 with OpenSSL and SASL, installed by
//! scripts/install-test-clients.sh) as a client of the security tests.

use std::io::Write;
use std::process::{Command, Stdio};

/// Runs kcat against `bootstrap` with `-X` `settings`, `args` and `input` on its stdin:
/// (exit success, stdout and stderr). Killed after 30 s.
pub fn kcat(
    bootstrap: &str,
    settings: &[String],
    args: &[&str],
    input: Option<&str>,
) -> (bool, String) {
    let mut command = Command::new("timeout");
    command
        .args(["30", "kcat", "-b", bootstrap])
        // cargo test puts its build directories on LD_LIBRARY_PATH, where the rdkafka crate's
        // librdkafka (built without TLS or SCRAM) would shadow Debian's.
        .env_remove("LD_LIBRARY_PATH");
    for setting in settings {
        command.args(["-X", setting]);
    }
    let mut child = command
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kcat");
    if let Some(input) = input {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write to kcat");
    }
    drop(child.stdin.take());
    let output = child.wait_with_output().expect("kcat output");
    (
        output.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

/// `-X` settings of a SASL_PLAINTEXT login.
pub fn sasl_settings(mechanism: &str, user: &str, password: &str) -> Vec<String> {
    vec![
        "security.protocol=SASL_PLAINTEXT".to_string(),
        format!("sasl.mechanism={mechanism}"),
        format!("sasl.username={user}"),
        format!("sasl.password={password}"),
    ]
}

/// Waits (at most 20 s) until `settings` log in at `address` (kcat -L): a credential or ACL
/// made elsewhere in the cluster reaches every broker through the metadata, moments later.
pub fn wait_for_login(address: &str, settings: &[String], what: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (ok, out) = kcat(address, settings, &["-L", "-m", "5"], None);
        if ok {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what} at {address}: {out}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}
