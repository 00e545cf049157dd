//! `weir acl add|list|remove`: the cluster's ACLs (CreateAcls, DescribeAcls, DeleteAcls), as
//! `kafka-acls.sh --add|--list|--remove` manages them, with its option names
//! (`--allow-principal`, `--deny-principal`, `--operation`, `--topic`, `--group`,
//! `--transactional-id`, `--cluster`, `--resource-pattern-type`).

use clap::{Args, Subcommand};
use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::{
    ApiKey, CreateAclsRequest, CreateAclsResponse, DeleteAclsRequest, DeleteAclsResponse,
    DescribeAclsRequest, DescribeAclsResponse,
};
use kafka_protocol::protocol::StrBytes;
use serde_json::json;

use super::raw_client::RawClient;
use super::{table, wire_code_name, Connection, Output, ToolError};
use crate::security::acl::{AclOperation, PatternType, Permission, ResourceType, CLUSTER_NAME};

/// Kafka's ANY code in filters (resource type, pattern type, operation, permission).
const ANY: i8 = 1;
/// Kafka's MATCH pattern type: every ACL that applies to the name (literal, prefixed, `*`).
const MATCH: i8 = 2;
const VERSION: i16 = 3;

#[derive(Subcommand, Debug)]
pub enum AclCommand {
    /// Adds an ACL for each principal and operation on the resource (kafka-acls.sh --add).
    ///
    /// Example: weir acl add --allow-principal User:alice --operation Write --operation Describe --topic orders --resource-pattern-type prefixed
    Add {
        #[command(flatten)]
        connection: Connection,
        #[command(flatten)]
        acl: AclArgs,
    },
    /// Lists ACLs: all, or those of a resource and principal (kafka-acls.sh --list).
    ///
    /// Example: weir acl list --topic orders --resource-pattern-type match
    List {
        #[command(flatten)]
        connection: Connection,
        #[command(flatten)]
        resource: ResourceArgs,
        /// Only this principal's ACLs.
        #[arg(long, value_name = "TYPE:NAME")]
        principal: Option<String>,
    },
    /// Removes the ACLs of each principal and operation on the resource (kafka-acls.sh
    /// --remove); with no principal or operation, every ACL of the resource.
    ///
    /// Example: weir acl remove --allow-principal User:alice --operation Write --topic orders
    Remove {
        #[command(flatten)]
        connection: Connection,
        #[command(flatten)]
        acl: AclArgs,
    },
}

/// One resource (`--topic`, `--group`, `--transactional-id` or `--cluster`) and its pattern.
#[derive(Args, Debug)]
pub struct ResourceArgs {
    #[arg(long, value_name = "NAME")]
    topic: Option<String>,
    #[arg(long, value_name = "NAME")]
    group: Option<String>,
    #[arg(long, value_name = "ID")]
    transactional_id: Option<String>,
    /// The cluster resource (`kafka-cluster`).
    #[arg(long)]
    cluster: bool,
    /// literal (the default) or prefixed; in list and remove also any and match.
    #[arg(long, value_name = "TYPE")]
    resource_pattern_type: Option<String>,
}

#[derive(Args, Debug)]
pub struct AclArgs {
    /// A principal the ACLs allow (User:alice, User:* for everyone); repeatable.
    #[arg(long = "allow-principal", value_name = "TYPE:NAME")]
    allow: Vec<String>,
    /// A principal the ACLs deny; repeatable. DENY wins over ALLOW.
    #[arg(long = "deny-principal", value_name = "TYPE:NAME")]
    deny: Vec<String>,
    /// Read, Write, Create, Delete, Alter, Describe, ClusterAction, DescribeConfigs,
    /// AlterConfigs, IdempotentWrite or All; repeatable.
    #[arg(long = "operation", value_name = "OPERATION")]
    operations: Vec<String>,
    /// The client address the ACLs apply to.
    #[arg(long, default_value = "*")]
    host: String,
    #[command(flatten)]
    resource: ResourceArgs,
}

/// A resource as the wire has it: (type code, name, pattern type code).
struct Resource {
    resource_type: i8,
    name: Option<String>,
    pattern_type: i8,
}

impl ResourceArgs {
    /// The resource named, or `None` when none is (only `list` allows that).
    fn resource(&self, filter: bool) -> Result<Option<Resource>, ToolError> {
        let named: Vec<(ResourceType, &str)> = [
            self.topic.as_deref().map(|n| (ResourceType::Topic, n)),
            self.group.as_deref().map(|n| (ResourceType::Group, n)),
            self.transactional_id
                .as_deref()
                .map(|n| (ResourceType::TransactionalId, n)),
            self.cluster
                .then_some((ResourceType::Cluster, CLUSTER_NAME)),
        ]
        .into_iter()
        .flatten()
        .collect();
        let pattern = self.resource_pattern_type.as_deref();
        let (resource_type, name) = match named.as_slice() {
            [] if pattern.is_none() => return Ok(None),
            [] => {
                return Err(ToolError::Usage(
                    "--resource-pattern-type needs a resource (--topic, --group, \
                     --transactional-id or --cluster)"
                        .into(),
                ))
            }
            [one] => *one,
            _ => {
                return Err(ToolError::Usage(
                    "name one resource: --topic, --group, --transactional-id or --cluster".into(),
                ))
            }
        };
        let pattern_type = match pattern.map(str::to_ascii_lowercase).as_deref() {
            None | Some("literal") => PatternType::Literal as i8,
            Some("prefixed") => PatternType::Prefixed as i8,
            Some("any") if filter => ANY,
            Some("match") if filter => MATCH,
            Some(other) => {
                let allowed = match filter {
                    true => "literal, prefixed, any or match",
                    false => "literal or prefixed",
                };
                return Err(ToolError::Usage(format!(
                    "--resource-pattern-type {other}: {allowed}"
                )));
            }
        };
        Ok(Some(Resource {
            resource_type: resource_type as i8,
            name: Some(name.to_string()),
            pattern_type,
        }))
    }
}

/// An operation by Kafka's name, in any case, with or without underscores (DescribeConfigs,
/// DESCRIBE_CONFIGS).
fn operation(name: &str) -> Result<AclOperation, ToolError> {
    let wanted = name.replace('_', "").to_ascii_lowercase();
    (2..=14)
        .filter_map(AclOperation::from_code)
        .find(|op| op.name().replace('_', "").to_ascii_lowercase() == wanted)
        .ok_or_else(|| ToolError::Usage(format!("--operation {name}: not a Kafka ACL operation")))
}

impl AclArgs {
    /// Each (principal, permission) and operation, the resource, and the host.
    fn entries(&self) -> Result<Vec<(String, Permission, AclOperation)>, ToolError> {
        let operations = self
            .operations
            .iter()
            .map(|name| operation(name))
            .collect::<Result<Vec<_>, _>>()?;
        let principals = self
            .allow
            .iter()
            .map(|p| (p, Permission::Allow))
            .chain(self.deny.iter().map(|p| (p, Permission::Deny)));
        let mut entries = Vec::new();
        for (principal, permission) in principals {
            if !crate::security::acl::is_principal(principal) {
                return Err(ToolError::Usage(format!(
                    "{principal} is not a principal (Type:name, as User:alice)"
                )));
            }
            for operation in &operations {
                entries.push((principal.clone(), permission, *operation));
            }
        }
        Ok(entries)
    }
}

pub fn run(command: AclCommand) -> Result<(), ToolError> {
    match command {
        AclCommand::Add { connection, acl } => add(&connection, &acl),
        AclCommand::List {
            connection,
            resource,
            principal,
        } => list(&connection, &resource, principal.as_deref()),
        AclCommand::Remove { connection, acl } => remove(&connection, &acl),
    }
}

fn add(connection: &Connection, acl: &AclArgs) -> Result<(), ToolError> {
    let resource = acl.resource.resource(false)?.ok_or_else(|| {
        ToolError::Usage(
            "name the resource: --topic, --group, --transactional-id or --cluster".into(),
        )
    })?;
    let entries = acl.entries()?;
    if entries.is_empty() {
        return Err(ToolError::Usage(
            "give --allow-principal or --deny-principal, and --operation".into(),
        ));
    }
    let creations = entries
        .iter()
        .map(|(principal, permission, operation)| {
            AclCreation::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(StrBytes::from_string(
                    resource.name.clone().unwrap_or_default(),
                ))
                .with_resource_pattern_type(resource.pattern_type)
                .with_principal(StrBytes::from_string(principal.clone()))
                .with_host(StrBytes::from_string(acl.host.clone()))
                .with_operation(*operation as i8)
                .with_permission_type(*permission as i8)
        })
        .collect();
    let response: CreateAclsResponse = RawClient::connect(connection)?.request(
        ApiKey::CreateAcls,
        VERSION,
        &CreateAclsRequest::default().with_creations(creations),
    )?;
    for ((principal, permission, operation), result) in entries.iter().zip(&response.results) {
        refused(
            "CreateAcls",
            result.error_code,
            result.error_message.as_deref(),
        )?;
        match connection.output {
            Output::Table => println!(
                "added: {} {} {} on {}",
                permission.name(),
                principal,
                operation.name(),
                resource.name.as_deref().unwrap_or_default()
            ),
            Output::Json => println!(
                "{}",
                json!({ "added": { "principal": principal, "permission": permission.name(), "operation": operation.name(), "resource": resource.name } })
            ),
        }
    }
    Ok(())
}

fn refused(what: &str, code: i16, message: Option<&str>) -> Result<(), ToolError> {
    if code == 0 {
        return Ok(());
    }
    Err(ToolError::Usage(format!(
        "{what}: {} {}",
        wire_code_name(code),
        message.unwrap_or("")
    )))
}

fn list(
    connection: &Connection,
    resource: &ResourceArgs,
    principal: Option<&str>,
) -> Result<(), ToolError> {
    let resource = resource.resource(true)?.unwrap_or(Resource {
        resource_type: ANY,
        name: None,
        pattern_type: ANY,
    });
    let request = DescribeAclsRequest::default()
        .with_resource_type_filter(resource.resource_type)
        .with_resource_name_filter(resource.name.map(StrBytes::from_string))
        .with_pattern_type_filter(resource.pattern_type)
        .with_principal_filter(principal.map(|p| StrBytes::from_string(p.to_string())))
        // Kafka's default is an empty string, which matches no host.
        .with_host_filter(None)
        .with_operation(ANY)
        .with_permission_type(ANY);
    let response: DescribeAclsResponse =
        RawClient::connect(connection)?.request(ApiKey::DescribeAcls, VERSION, &request)?;
    refused(
        "DescribeAcls",
        response.error_code,
        response.error_message.as_deref(),
    )?;
    let mut rows = Vec::new();
    for resource in &response.resources {
        for acl in &resource.acls {
            rows.push([
                acl.principal.to_string(),
                Permission::from_code(acl.permission_type)
                    .map_or("?", Permission::name)
                    .into(),
                AclOperation::from_code(acl.operation)
                    .map_or("?", AclOperation::name)
                    .into(),
                acl.host.to_string(),
                ResourceType::from_code(resource.resource_type)
                    .map_or("?", ResourceType::name)
                    .into(),
                resource.resource_name.to_string(),
                PatternType::from_code(resource.pattern_type)
                    .map_or("?", PatternType::name)
                    .into(),
            ]);
        }
    }
    rows.sort();
    const HEADERS: [&str; 7] = [
        "PRINCIPAL",
        "PERMISSION",
        "OPERATION",
        "HOST",
        "RESOURCE_TYPE",
        "NAME",
        "PATTERN",
    ];
    match connection.output {
        Output::Table => table::print(
            &HEADERS,
            &rows.iter().map(|r| r.to_vec()).collect::<Vec<_>>(),
        ),
        Output::Json => {
            let acls: Vec<_> = rows
                .iter()
                .map(|r| {
                    let fields = HEADERS.iter().map(|h| h.to_ascii_lowercase()).zip(r.iter());
                    serde_json::Value::Object(
                        fields
                            .map(|(k, v)| (k, serde_json::Value::String(v.clone())))
                            .collect(),
                    )
                })
                .collect();
            println!("{}", json!({ "acls": acls }));
        }
    }
    Ok(())
}

fn remove(connection: &Connection, acl: &AclArgs) -> Result<(), ToolError> {
    let resource = acl.resource.resource(true)?.ok_or_else(|| {
        ToolError::Usage(
            "name the resource: --topic, --group, --transactional-id or --cluster".into(),
        )
    })?;
    // No principal or no operation: every one (Kafka's ANY).
    let mut entries: Vec<(Option<String>, i8, i8)> = acl
        .entries()?
        .into_iter()
        .map(|(p, permission, op)| (Some(p), permission as i8, op as i8))
        .collect();
    if entries.is_empty() {
        let principals: Vec<(Option<String>, i8)> = acl
            .allow
            .iter()
            .map(|p| (Some(p.clone()), Permission::Allow as i8))
            .chain(
                acl.deny
                    .iter()
                    .map(|p| (Some(p.clone()), Permission::Deny as i8)),
            )
            .collect();
        let principals = match principals.is_empty() {
            true => vec![(None, ANY)],
            false => principals,
        };
        let operations = acl
            .operations
            .iter()
            .map(|name| operation(name).map(|op| op as i8))
            .collect::<Result<Vec<_>, _>>()?;
        let operations = match operations.is_empty() {
            true => vec![ANY],
            false => operations,
        };
        for (principal, permission) in &principals {
            for operation in &operations {
                entries.push((principal.clone(), *permission, *operation));
            }
        }
    }
    let filters = entries
        .iter()
        .map(|(principal, permission, operation)| {
            DeleteAclsFilter::default()
                .with_resource_type_filter(resource.resource_type)
                .with_resource_name_filter(resource.name.clone().map(StrBytes::from_string))
                .with_pattern_type_filter(resource.pattern_type)
                .with_principal_filter(principal.clone().map(StrBytes::from_string))
                .with_host_filter(Some(StrBytes::from_string(acl.host.clone())))
                .with_operation(*operation)
                .with_permission_type(*permission)
        })
        .collect();
    let response: DeleteAclsResponse = RawClient::connect(connection)?.request(
        ApiKey::DeleteAcls,
        VERSION,
        &DeleteAclsRequest::default().with_filters(filters),
    )?;
    let mut removed = 0;
    for result in &response.filter_results {
        refused(
            "DeleteAcls",
            result.error_code,
            result.error_message.as_deref(),
        )?;
        removed += result.matching_acls.len();
    }
    match connection.output {
        Output::Table => println!("removed {removed} ACLs"),
        Output::Json => println!("{}", json!({ "removed": removed })),
    }
    Ok(())
}
