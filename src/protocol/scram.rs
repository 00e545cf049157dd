//! AlterUserScramCredentials (51) and DescribeUserScramCredentials (50), KIP-554: SCRAM
//! credentials in the cluster metadata. Alter is decided by the active controller (forwarded
//! there by other brokers); Describe answers from this broker's metadata, never with a salt
//! or key.

use kafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use kafka_protocol::messages::describe_user_scram_credentials_response::{
    CredentialInfo, DescribeUserScramCredentialsResult,
};
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse,
    DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::admin::CONTROLLER_SHARD;
use super::authorize::AUTHORIZATION_FAILED;
use super::RequestContext;
use crate::error_code::ErrorCode;
use crate::security::acl::AclOperation;
use crate::security::credentials::{ScramDeletion, ScramUpsertion, UserResult};
use crate::shard::controller::{ControllerOp, ControllerReply};
use crate::shard::ops::{ShardOp, ShardReply};

pub async fn alter(
    ctx: &RequestContext<'_>,
    request: AlterUserScramCredentialsRequest,
) -> AlterUserScramCredentialsResponse {
    let deletions: Vec<ScramDeletion> = request
        .deletions
        .iter()
        .map(|d| ScramDeletion {
            user: d.name.to_string(),
            mechanism: d.mechanism,
        })
        .collect();
    let upsertions: Vec<ScramUpsertion> = request
        .upsertions
        .iter()
        .map(|u| ScramUpsertion {
            user: u.name.to_string(),
            mechanism: u.mechanism,
            iterations: u.iterations,
            salt: u.salt.to_vec(),
            salted_password: u.salted_password.to_vec(),
        })
        .collect();
    let users: Vec<String> = deletions
        .iter()
        .map(|d| d.user.clone())
        .chain(upsertions.iter().map(|u| u.user.clone()))
        .collect();
    // One result per user when the request fails as a whole.
    let each_user = |code: ErrorCode, message: Option<&str>| {
        let mut results: Vec<UserResult> = Vec::new();
        for user in &users {
            if !results.iter().any(|(u, _, _)| u == user) {
                results.push((user.clone(), code, message.map(String::from)));
            }
        }
        results
    };
    let results = if !ctx.may_cluster(AclOperation::Alter) {
        each_user(
            ErrorCode::ClusterAuthorizationFailed,
            Some(AUTHORIZATION_FAILED),
        )
    } else {
        let op = ControllerOp::AlterScramCredentials {
            deletions,
            upsertions,
        };
        match ctx
            .shard
            .call(CONTROLLER_SHARD, ShardOp::Controller(op))
            .await
        {
            Ok(ShardReply::Controller(ControllerReply::ScramResults(results))) => results,
            _ => each_user(ErrorCode::NotController, None),
        }
    };
    for (user, code, message) in &results {
        match code {
            ErrorCode::None => {
                tracing::info!(peer = %ctx.peer, %user, "SCRAM credentials altered")
            }
            code => {
                tracing::info!(peer = %ctx.peer, %user, error = code.name(), reason = message.as_deref().unwrap_or(""), "SCRAM credential change refused")
            }
        }
    }
    AlterUserScramCredentialsResponse::default().with_results(
        results
            .into_iter()
            .map(|(user, code, message)| {
                AlterUserScramCredentialsResult::default()
                    .with_user(StrBytes::from_string(user))
                    .with_error_code(code.code())
                    .with_error_message(message.map(StrBytes::from_string))
            })
            .collect(),
    )
}

/// Every user with credentials (users null or empty), or the named ones; a named user without
/// any is RESOURCE_NOT_FOUND, a name given twice DUPLICATE_RESOURCE, as Kafka answers.
pub fn describe(
    ctx: &RequestContext<'_>,
    request: DescribeUserScramCredentialsRequest,
) -> DescribeUserScramCredentialsResponse {
    if !ctx.may_cluster(AclOperation::Describe) {
        return DescribeUserScramCredentialsResponse::default()
            .with_error_code(ErrorCode::ClusterAuthorizationFailed.code())
            .with_error_message(Some(StrBytes::from_static_str(AUTHORIZATION_FAILED)));
    }
    let meta = ctx.shard.meta();
    let infos = |user: &str| -> Vec<CredentialInfo> {
        meta.scram_credentials
            .iter()
            .filter(|((u, _), _)| u == user)
            .map(|((_, mechanism), credential)| {
                CredentialInfo::default()
                    .with_mechanism(mechanism.id())
                    .with_iterations(credential.iterations)
            })
            .collect()
    };
    let named: Vec<String> = request
        .users
        .unwrap_or_default()
        .iter()
        .map(|u| u.name.to_string())
        .collect();
    let users: Vec<String> = if named.is_empty() {
        let mut all: Vec<String> = meta
            .scram_credentials
            .keys()
            .map(|(u, _)| u.clone())
            .collect();
        all.dedup();
        all
    } else {
        named.clone()
    };
    let results = users
        .iter()
        .map(|user| {
            let result =
                DescribeUserScramCredentialsResult::default().with_user(StrBytes::from_string(user.clone()));
            if named.iter().filter(|n| *n == user).count() > 1 {
                return result
                    .with_error_code(ErrorCode::DuplicateResource.code())
                    .with_error_message(Some(StrBytes::from_string(format!(
                        "Cannot describe SCRAM credentials for the same user twice in a single request: {user}"
                    ))));
            }
            let credential_infos = infos(user);
            if credential_infos.is_empty() {
                return result
                    .with_error_code(ErrorCode::ResourceNotFound.code())
                    .with_error_message(Some(StrBytes::from_string(format!(
                        "Attempt to describe a user credential that does not exist: {user}"
                    ))));
            }
            result.with_credential_infos(credential_infos)
        })
        .collect();
    DescribeUserScramCredentialsResponse::default().with_results(results)
}
