//! CreateAcls (30), DescribeAcls (29) and DeleteAcls (31): the cluster's ACLs, kept as
//! metadata records on every broker. Create and Delete are decided by the active controller
//! (forwarded there in an Envelope) and need ALTER on the cluster; Describe answers from this
//! broker's metadata and needs DESCRIBE on the cluster. Without an authorizer, Kafka answers
//! SECURITY_DISABLED, and so does Weir.

use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::delete_acls_response::{
    DeleteAclsFilterResult, DeleteAclsMatchingAcl,
};
use kafka_protocol::messages::describe_acls_response::{AclDescription, DescribeAclsResource};
use kafka_protocol::messages::{
    CreateAclsRequest, CreateAclsResponse, DeleteAclsRequest, DeleteAclsResponse,
    DescribeAclsRequest, DescribeAclsResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::authorize::AUTHORIZATION_FAILED;
use super::RequestContext;
use crate::error_code::ErrorCode;
use crate::security::acl::{AclBinding, AclCreation, AclFilter, AclOperation};
use crate::shard::controller::{ControllerOp, ControllerReply};
use crate::shard::ops::{ShardOp, ShardReply};

/// Why an ACL request is refused as a whole: its code and message.
fn refusal(ctx: &RequestContext<'_>, operation: AclOperation) -> Option<(ErrorCode, &'static str)> {
    if ctx.shard.config.authorizer.is_none() {
        return Some((ErrorCode::SecurityDisabled, "No Authorizer is configured."));
    }
    (!ctx.may_cluster(operation))
        .then_some((ErrorCode::ClusterAuthorizationFailed, AUTHORIZATION_FAILED))
}

fn message(text: impl Into<String>) -> Option<StrBytes> {
    Some(StrBytes::from_string(text.into()))
}

pub async fn create(ctx: &RequestContext<'_>, request: CreateAclsRequest) -> CreateAclsResponse {
    let count = request.creations.len();
    let failed_all = |code: ErrorCode, text: &str| {
        let result = AclCreationResult::default()
            .with_error_code(code.code())
            .with_error_message(message(text));
        CreateAclsResponse::default().with_results(vec![result; count])
    };
    if let Some((code, text)) = refusal(ctx, AclOperation::Alter) {
        return failed_all(code, text);
    }
    let creations = request
        .creations
        .into_iter()
        .map(|c| AclCreation {
            resource_type: c.resource_type,
            resource_name: c.resource_name.to_string(),
            pattern_type: c.resource_pattern_type,
            principal: c.principal.to_string(),
            host: c.host.to_string(),
            operation: c.operation,
            permission: c.permission_type,
        })
        .collect();
    let results = match ask(ctx, ControllerOp::CreateAcls(creations)).await {
        Ok(ControllerReply::AclsCreated(Ok(results))) => results,
        Ok(ControllerReply::AclsCreated(Err(code))) => {
            return failed_all(code, "the metadata quorum did not commit the ACLs")
        }
        _ => return failed_all(ErrorCode::NotController, "no active controller"),
    };
    let results = results
        .into_iter()
        .map(|result| match result {
            Ok(acl) => {
                tracing::info!(peer = %ctx.peer, principal = ctx.principal, %acl, "ACL created");
                AclCreationResult::default()
            }
            Err(e) => {
                tracing::info!(peer = %ctx.peer, reason = %e, "CreateAcls refused an ACL");
                AclCreationResult::default()
                    .with_error_code(e.code().code())
                    .with_error_message(message(e.to_string()))
            }
        })
        .collect();
    CreateAclsResponse::default().with_results(results)
}

pub fn describe(ctx: &RequestContext<'_>, request: DescribeAclsRequest) -> DescribeAclsResponse {
    if let Some((code, text)) = refusal(ctx, AclOperation::Describe) {
        return DescribeAclsResponse::default()
            .with_error_code(code.code())
            .with_error_message(message(text));
    }
    let filter = AclFilter::from_wire(
        request.resource_type_filter,
        request.resource_name_filter.map(|s| s.to_string()),
        request.pattern_type_filter,
        request.principal_filter.map(|s| s.to_string()),
        request.host_filter.map(|s| s.to_string()),
        request.operation,
        request.permission_type,
    );
    let filter = match filter {
        Ok(filter) => filter,
        Err(e) => {
            return DescribeAclsResponse::default()
                .with_error_code(e.code().code())
                .with_error_message(message(e.to_string()))
        }
    };
    let meta = ctx.shard.meta();
    // One resource per pattern, its ACLs beneath it (the set is sorted by resource first).
    let mut resources: Vec<DescribeAclsResource> = Vec::new();
    for acl in meta.acls.iter().filter(|acl| filter.matches(acl)) {
        let description = AclDescription::default()
            .with_principal(StrBytes::from_string(acl.principal.clone()))
            .with_host(StrBytes::from_string(acl.host.clone()))
            .with_operation(acl.operation as i8)
            .with_permission_type(acl.permission as i8);
        match resources.last_mut() {
            Some(last)
                if last.resource_type == acl.resource_type as i8
                    && last.resource_name.as_str() == acl.resource_name
                    && last.pattern_type == acl.pattern_type as i8 =>
            {
                last.acls.push(description)
            }
            _ => resources.push(
                DescribeAclsResource::default()
                    .with_resource_type(acl.resource_type as i8)
                    .with_resource_name(StrBytes::from_string(acl.resource_name.clone()))
                    .with_pattern_type(acl.pattern_type as i8)
                    .with_acls(vec![description]),
            ),
        }
    }
    DescribeAclsResponse::default().with_resources(resources)
}

pub async fn delete(ctx: &RequestContext<'_>, request: DeleteAclsRequest) -> DeleteAclsResponse {
    let count = request.filters.len();
    let failed_all = |code: ErrorCode, text: &str| {
        let result = DeleteAclsFilterResult::default()
            .with_error_code(code.code())
            .with_error_message(message(text));
        DeleteAclsResponse::default().with_filter_results(vec![result; count])
    };
    if let Some((code, text)) = refusal(ctx, AclOperation::Alter) {
        return failed_all(code, text);
    }
    let filters = request
        .filters
        .into_iter()
        .map(|f| {
            AclFilter::from_wire(
                f.resource_type_filter,
                f.resource_name_filter.map(|s| s.to_string()),
                f.pattern_type_filter,
                f.principal_filter.map(|s| s.to_string()),
                f.host_filter.map(|s| s.to_string()),
                f.operation,
                f.permission_type,
            )
        })
        .collect();
    let results = match ask(ctx, ControllerOp::DeleteAcls(filters)).await {
        Ok(ControllerReply::AclsDeleted(Ok(results))) => results,
        Ok(ControllerReply::AclsDeleted(Err(code))) => {
            return failed_all(code, "the metadata quorum did not commit the change")
        }
        _ => return failed_all(ErrorCode::NotController, "no active controller"),
    };
    let results = results
        .into_iter()
        .map(|result| match result {
            Ok(deleted) => DeleteAclsFilterResult::default().with_matching_acls(
                deleted
                    .iter()
                    .map(|acl| {
                        tracing::info!(peer = %ctx.peer, principal = ctx.principal, %acl, "ACL deleted");
                        matching(acl)
                    })
                    .collect(),
            ),
            Err(e) => DeleteAclsFilterResult::default()
                .with_error_code(e.code().code())
                .with_error_message(message(e.to_string())),
        })
        .collect();
    DeleteAclsResponse::default().with_filter_results(results)
}

fn matching(acl: &AclBinding) -> DeleteAclsMatchingAcl {
    DeleteAclsMatchingAcl::default()
        .with_resource_type(acl.resource_type as i8)
        .with_resource_name(StrBytes::from_string(acl.resource_name.clone()))
        .with_pattern_type(acl.pattern_type as i8)
        .with_principal(StrBytes::from_string(acl.principal.clone()))
        .with_host(StrBytes::from_string(acl.host.clone()))
        .with_operation(acl.operation as i8)
        .with_permission_type(acl.permission as i8)
}

async fn ask(ctx: &RequestContext<'_>, op: ControllerOp) -> Result<ControllerReply, ()> {
    match ctx
        .shard
        .call(super::admin::CONTROLLER_SHARD, ShardOp::Controller(op))
        .await
    {
        Ok(ShardReply::Controller(reply)) => Ok(reply),
        _ => Err(()),
    }
}
