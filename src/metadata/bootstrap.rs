//! A new cluster's first records from format time, as `kafka-storage format --add-scram`
//! gives them: `weir storage format` writes them to `log.dirs`, and the first active
//! controller of a new cluster commits them with the cluster id. They let a cluster whose
//! listeners all need SASL/SCRAM be reached from its first start. Only SCRAM credentials are
//! taken (Kafka's other bootstrap records have no Weir counterpart yet).

use std::path::Path;

use super::record_codec::{decode_records, encode_records};
use super::records::MetadataRecord;
use crate::security::scram::{ScramCredential, ScramMechanism, MAX_ITERATIONS, MIN_ITERATIONS};

/// The file in `log.dirs` (Kafka's is `bootstrap.checkpoint`).
pub const BOOTSTRAP_FILE: &str = "weir-bootstrap.records";

/// Why format-time records are refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BootstrapError {
    #[error(
        "--add-scram {0}: expected MECHANISM=[name=USER,password=PASSWORD] (iterations=N optional), \
         as kafka-storage format takes it"
    )]
    Syntax(String),
    #[error("--add-scram: unknown mechanism {0} (SCRAM-SHA-256 or SCRAM-SHA-512)")]
    Mechanism(String),
    #[error("--add-scram: iterations {0} outside {MIN_ITERATIONS}-{MAX_ITERATIONS}")]
    Iterations(String),
    #[error("{path}: {reason}")]
    File { path: String, reason: String },
}

/// One `--add-scram` argument (`SCRAM-SHA-256=[name=alice,password=alice-secret]`) as its
/// credential record, salted with `salt`.
pub fn scram_record(argument: &str, salt: [u8; 16]) -> Result<MetadataRecord, BootstrapError> {
    let syntax = || BootstrapError::Syntax(redacted(argument));
    let (mechanism, rest) = argument.split_once('=').ok_or_else(syntax)?;
    let mechanism = ScramMechanism::from_name(mechanism.trim())
        .ok_or_else(|| BootstrapError::Mechanism(mechanism.trim().to_string()))?;
    let body = rest
        .trim()
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .ok_or_else(syntax)?;
    let (mut name, mut password, mut iterations) = (None, None, 4096);
    for field in body.split(',') {
        match field.split_once('=') {
            Some(("name", value)) => name = Some(unquote(value)),
            Some(("password", value)) => password = Some(unquote(value)),
            Some(("iterations", value)) => {
                iterations = value
                    .trim()
                    .parse::<i32>()
                    .ok()
                    .filter(|i| (MIN_ITERATIONS..=MAX_ITERATIONS).contains(i))
                    .ok_or_else(|| BootstrapError::Iterations(value.trim().to_string()))?;
            }
            _ => return Err(syntax()),
        }
    }
    let (Some(user), Some(password)) = (name.filter(|n| !n.is_empty()), password) else {
        return Err(syntax());
    };
    Ok(MetadataRecord::ScramCredential {
        user,
        credential: ScramCredential::from_password(mechanism, &password, salt.to_vec(), iterations),
    })
}

/// Kafka accepts the values quoted: `name="alice"`.
fn unquote(value: &str) -> String {
    let value = value.trim();
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value)
        .to_string()
}

/// The argument without its password, for an error message.
fn redacted(argument: &str) -> String {
    match argument.find("password=") {
        Some(at) => format!("{}password=...]", &argument[..at]),
        None => argument.to_string(),
    }
}

/// The records `log_dir` was formatted with (none when it was not).
pub fn read(log_dir: &Path) -> Result<Vec<MetadataRecord>, BootstrapError> {
    let path = log_dir.join(BOOTSTRAP_FILE);
    let file_error = |reason: String| BootstrapError::File {
        path: path.display().to_string(),
        reason,
    };
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(file_error(e.to_string())),
    };
    let records = decode_records(&bytes).map_err(|e| file_error(e.to_string()))?;
    if let Some(other) = records
        .iter()
        .find(|r| !matches!(r, MetadataRecord::ScramCredential { .. }))
    {
        return Err(file_error(format!(
            "not a format-time record: {}",
            kind(other)
        )));
    }
    Ok(records)
}

fn kind(record: &MetadataRecord) -> &'static str {
    match record {
        MetadataRecord::ScramCredential { .. } => "ScramCredential",
        _ => "another metadata record",
    }
}

/// The file's bytes for `records`.
pub fn encode(records: &[MetadataRecord]) -> Vec<u8> {
    encode_records(records)
}

/// Format-time records, kept apart so that a config dump never shows salted keys.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct BootstrapRecords(pub Vec<MetadataRecord>);

impl std::fmt::Debug for BootstrapRecords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BootstrapRecords({} records)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafkas_add_scram_arguments_give_credentials() {
        let salt = [7u8; 16];
        let record = scram_record(
            "SCRAM-SHA-512=[name=alice,password=\"alice secret\",iterations=8192]",
            salt,
        )
        .unwrap();
        let MetadataRecord::ScramCredential { user, credential } = &record else {
            panic!("{record:?}");
        };
        assert_eq!(user, "alice");
        assert_eq!(
            *credential,
            ScramCredential::from_password(
                ScramMechanism::Sha512,
                "alice secret",
                salt.to_vec(),
                8192
            )
        );
        for bad in [
            "SCRAM-SHA-256=[name=alice]",
            "SCRAM-SHA-256=name=alice,password=x",
            "SCRAM-SHA-256=[name=alice,password=x,colour=blue]",
            "SCRAM-MD5=[name=alice,password=x]",
            "SCRAM-SHA-256=[name=alice,password=x,iterations=10]",
        ] {
            let error = scram_record(bad, salt).unwrap_err().to_string();
            assert!(
                !error.contains("password=x"),
                "the password is not echoed: {error}"
            );
        }
    }

    #[test]
    fn the_file_holds_only_credentials() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path()), Ok(Vec::new()), "not formatted");
        let record = scram_record("SCRAM-SHA-256=[name=bob,password=pw]", [1; 16]).unwrap();
        std::fs::write(
            dir.path().join(BOOTSTRAP_FILE),
            encode(std::slice::from_ref(&record)),
        )
        .unwrap();
        assert_eq!(read(dir.path()), Ok(vec![record]));
        std::fs::write(
            dir.path().join(BOOTSTRAP_FILE),
            encode(&[MetadataRecord::ClusterId("x".into())]),
        )
        .unwrap();
        assert!(read(dir.path()).is_err());
    }
}
