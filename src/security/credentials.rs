//! AlterUserScramCredentials (KIP-554) decided by the active controller: which changes are
//! accepted, as metadata records, and each user's result, by Kafka's rules
//! (`ScramControlManager`). Pure: the controller commits the records.

use crate::error_code::ErrorCode;
use crate::metadata::records::MetadataRecord;
use crate::metadata::ClusterMeta;

use super::scram::{ScramCredential, ScramMechanism, MAX_ITERATIONS, MIN_ITERATIONS};

/// One credential to set: the client salts the password (the broker never sees it).
#[derive(Debug, Clone)]
pub struct ScramUpsertion {
    pub user: String,
    /// Kafka's mechanism id (1 SCRAM-SHA-256, 2 SCRAM-SHA-512).
    pub mechanism: i8,
    pub iterations: i32,
    pub salt: Vec<u8>,
    pub salted_password: Vec<u8>,
}

/// One credential to remove.
#[derive(Debug, Clone)]
pub struct ScramDeletion {
    pub user: String,
    pub mechanism: i8,
}

/// A user's result: the error code and message Kafka answers.
pub type UserResult = (String, ErrorCode, Option<String>);

/// One user's accepted records, and the first refusal of any of its changes.
type UserChanges = (Vec<MetadataRecord>, Option<(ErrorCode, String)>);

/// The records of the accepted changes, and one result per user in request order. A user
/// with any refused change has none of its changes applied, as in Kafka.
pub fn decide(
    meta: &ClusterMeta,
    deletions: &[ScramDeletion],
    upsertions: &[ScramUpsertion],
) -> (Vec<MetadataRecord>, Vec<UserResult>) {
    let mut users: Vec<String> = Vec::new();
    let mut per_user: Vec<UserChanges> = Vec::new();
    // A (user, mechanism) named twice anywhere in the request is refused wherever it appears.
    let named: Vec<(&str, i8)> = deletions
        .iter()
        .map(|d| (d.user.as_str(), d.mechanism))
        .chain(upsertions.iter().map(|u| (u.user.as_str(), u.mechanism)))
        .collect();
    let changes = deletions
        .iter()
        .map(|d| (d.user.as_str(), d.mechanism, None))
        .chain(
            upsertions
                .iter()
                .map(|u| (u.user.as_str(), u.mechanism, Some(u))),
        );
    for (user, mechanism_id, upsertion) in changes {
        let index = match users.iter().position(|u| u == user) {
            Some(i) => i,
            None => {
                users.push(user.to_string());
                per_user.push((Vec::new(), None));
                users.len() - 1
            }
        };
        let twice = named.iter().filter(|&&n| n == (user, mechanism_id)).count() > 1;
        let outcome = check(meta, user, mechanism_id, upsertion, twice);
        let (records, error) = &mut per_user[index];
        match outcome {
            Ok(record) => records.push(record),
            Err(refusal) => {
                error.get_or_insert(refusal);
            }
        }
    }
    let mut all_records = Vec::new();
    let mut results = Vec::new();
    for (user, (records, error)) in users.into_iter().zip(per_user) {
        match error {
            Some((code, message)) => results.push((user, code, Some(message))),
            None => {
                all_records.extend(records);
                results.push((user, ErrorCode::None, None));
            }
        }
    }
    (all_records, results)
}

fn check(
    meta: &ClusterMeta,
    user: &str,
    mechanism_id: i8,
    upsertion: Option<&ScramUpsertion>,
    named_twice: bool,
) -> Result<MetadataRecord, (ErrorCode, String)> {
    if user.is_empty() {
        return Err((
            ErrorCode::UnacceptableCredential,
            "Username must not be empty".into(),
        ));
    }
    if named_twice {
        return Err((
            ErrorCode::DuplicateResource,
            "A user credential cannot be altered twice in the same request".into(),
        ));
    }
    let mechanism = ScramMechanism::from_id(mechanism_id).ok_or((
        ErrorCode::UnsupportedSaslMechanism,
        "Unknown SCRAM mechanism".to_string(),
    ))?;
    let Some(upsertion) = upsertion else {
        if !meta
            .scram_credentials
            .contains_key(&(user.to_string(), mechanism))
        {
            return Err((
                ErrorCode::ResourceNotFound,
                "Attempt to delete a user credential that does not exist".into(),
            ));
        }
        return Ok(MetadataRecord::RemoveScramCredential {
            user: user.to_string(),
            mechanism,
        });
    };
    if upsertion.iterations < MIN_ITERATIONS {
        return Err((
            ErrorCode::UnacceptableCredential,
            format!("Too few iterations (minimum {MIN_ITERATIONS})"),
        ));
    }
    if upsertion.iterations > MAX_ITERATIONS {
        return Err((
            ErrorCode::UnacceptableCredential,
            format!("Too many iterations (maximum {MAX_ITERATIONS})"),
        ));
    }
    if upsertion.salt.is_empty() || upsertion.salted_password.is_empty() {
        return Err((
            ErrorCode::UnacceptableCredential,
            "Salt and salted password must not be empty".into(),
        ));
    }
    Ok(MetadataRecord::ScramCredential {
        user: user.to_string(),
        credential: ScramCredential::from_salted_password(
            mechanism,
            upsertion.salt.clone(),
            &upsertion.salted_password,
            upsertion.iterations,
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upsert(user: &str, mechanism: i8, iterations: i32) -> ScramUpsertion {
        ScramUpsertion {
            user: user.into(),
            mechanism,
            iterations,
            salt: b"salt".to_vec(),
            salted_password: b"salted".to_vec(),
        }
    }

    fn delete(user: &str, mechanism: i8) -> ScramDeletion {
        ScramDeletion {
            user: user.into(),
            mechanism,
        }
    }

    fn codes(results: &[UserResult]) -> Vec<(&str, ErrorCode)> {
        results.iter().map(|(u, c, _)| (u.as_str(), *c)).collect()
    }

    #[test]
    fn upsertions_become_records_and_deletions_need_a_credential() {
        let mut meta = ClusterMeta::default();
        let (records, results) = decide(
            &meta,
            &[],
            &[upsert("alice", 1, 4096), upsert("alice", 2, 8192)],
        );
        assert_eq!(codes(&results), [("alice", ErrorCode::None)]);
        assert_eq!(records.len(), 2);
        for record in &records {
            crate::metadata::records::apply(&mut meta, record).unwrap();
        }
        assert_eq!(meta.scram_credentials.len(), 2);

        let (records, results) = decide(&meta, &[delete("alice", 1), delete("bob", 1)], &[]);
        assert_eq!(
            codes(&results),
            [
                ("alice", ErrorCode::None),
                ("bob", ErrorCode::ResourceNotFound)
            ]
        );
        assert_eq!(records.len(), 1);
    }

    #[test]
    fn a_refused_change_refuses_the_users_other_changes() {
        let meta = ClusterMeta::default();
        let (records, results) = decide(
            &meta,
            &[],
            &[
                upsert("carol", 1, 4096),
                upsert("carol", 2, 100),
                upsert("dave", 1, 4096),
                upsert("erin", 3, 4096),
                upsert("frank", 1, 20000),
                upsert("", 1, 4096),
            ],
        );
        assert_eq!(
            codes(&results),
            [
                ("carol", ErrorCode::UnacceptableCredential),
                ("dave", ErrorCode::None),
                ("erin", ErrorCode::UnsupportedSaslMechanism),
                ("frank", ErrorCode::UnacceptableCredential),
                ("", ErrorCode::UnacceptableCredential),
            ]
        );
        assert_eq!(records.len(), 1, "only dave's");
        let (_, results) = decide(&meta, &[delete("gina", 1)], &[upsert("gina", 1, 4096)]);
        assert_eq!(codes(&results), [("gina", ErrorCode::DuplicateResource)]);
    }
}
