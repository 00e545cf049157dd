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
