//! The kafka-python interpreter the tests run (installed by scripts/install-test-clients.sh).

use std::path::PathBuf;

/// `WEIR_TEST_PYTHON`, or the virtualenv under target/.
pub fn python() -> PathBuf {
    let path = std::env::var_os("WEIR_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-python/bin/python")
        });
    assert!(
        path.exists(),
        "{} is missing: run scripts/test.sh (or scripts/install-test-clients.sh) first",
        path.display()
    );
    path
}

/// Runs `tests/python/<script>` with `args` under the test interpreter; it must exit 0.
/// Returns its standard output.
#[allow(dead_code)] // not every test binary that includes `support` runs a script
pub fn run_script(script: &str, args: &[&str]) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/python")
        .join(script);
    let output = std::process::Command::new(python())
        .arg(&path)
        .args(args)
        .output()
        .expect("run kafka-python");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "kafka-python {script} failed:\n{stdout}\n{stderr}"
    );
    stdout
}
