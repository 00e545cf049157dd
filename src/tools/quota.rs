//! `weir quota set|remove|describe`: client quotas (AlterClientQuotas, DescribeClientQuotas,
//! KIP-546), as `kafka-configs.sh --entity-type users|clients --alter --add-config
//! producer_byte_rate=...` manages them: a user, a client id, or a client id of a user, each
//! named or the default.

use clap::{Args, Subcommand};
use kafka_protocol::messages::alter_client_quotas_request::{EntityData, EntryData, OpData};
use kafka_protocol::messages::describe_client_quotas_request::ComponentData;
use kafka_protocol::messages::{
    AlterClientQuotasRequest, AlterClientQuotasResponse, ApiKey, DescribeClientQuotasRequest,
    DescribeClientQuotasResponse,
};
use kafka_protocol::protocol::StrBytes;
use serde_json::json;

use super::raw_client::RawClient;
use super::{table, wire_code_name, Connection, Output, ToolError};
use crate::security::quota::{QuotaKind, CLIENT_ID, USER};

const VERSION: i16 = 1;

#[derive(Subcommand, Debug)]
pub enum QuotaCommand {
    /// Sets quotas of an entity, each per broker: byte rates (bytes per second) and the request
    /// percentage (percent of one core's time the client's requests may take, KIP-124).
    ///
    /// Example: weir quota set --user alice --producer-byte-rate 1048576 --consumer-byte-rate 2097152 --request-percentage 25
    Set {
        #[command(flatten)]
        connection: Connection,
        #[command(flatten)]
        entity: EntityArgs,
        #[arg(long, value_name = "BYTES")]
        producer_byte_rate: Option<u64>,
        #[arg(long, value_name = "BYTES")]
        consumer_byte_rate: Option<u64>,
        #[arg(long, value_name = "PERCENT")]
        request_percentage: Option<f64>,
    },
    /// Removes quotas of an entity (`--key producer_byte_rate`, repeatable).
    ///
    /// Example: weir quota remove --client-id-default --key consumer_byte_rate
    Remove {
        #[command(flatten)]
        connection: Connection,
        #[command(flatten)]
        entity: EntityArgs,
        /// producer_byte_rate, consumer_byte_rate or request_percentage.
        #[arg(long = "key", value_name = "KEY", required = true)]
        keys: Vec<String>,
    },
    /// Lists quotas: all, or those of entities matching the user and client id given.
    ///
    /// Example: weir quota describe --user alice
    Describe {
        #[command(flatten)]
        connection: Connection,
        #[command(flatten)]
        entity: EntityArgs,
    },
}

/// Whom a quota is for: `--user` or `--user-default`, `--client-id` or `--client-id-default`.
#[derive(Args, Debug)]
pub struct EntityArgs {
    #[arg(long, value_name = "NAME", conflicts_with = "user_default")]
    user: Option<String>,
    /// The default of every user without a quota of its own.
    #[arg(long)]
    user_default: bool,
    #[arg(long, value_name = "ID", conflicts_with = "client_id_default")]
    client_id: Option<String>,
    /// The default of every client id without a quota of its own.
    #[arg(long)]
    client_id_default: bool,
}

impl EntityArgs {
    /// (entity type, name: `None` for the default) of each part given.
    fn parts(&self) -> Vec<(&'static str, Option<String>)> {
        let user = match (&self.user, self.user_default) {
            (Some(name), _) => Some((USER, Some(name.clone()))),
            (None, true) => Some((USER, None)),
            (None, false) => None,
        };
        let client = match (&self.client_id, self.client_id_default) {
            (Some(name), _) => Some((CLIENT_ID, Some(name.clone()))),
            (None, true) => Some((CLIENT_ID, None)),
            (None, false) => None,
        };
        user.into_iter().chain(client).collect()
    }

    fn entity(&self) -> Result<Vec<EntityData>, ToolError> {
        let parts = self.parts();
        if parts.is_empty() {
            return Err(ToolError::Usage(
                "name the entity: --user or --user-default, --client-id or --client-id-default"
                    .into(),
            ));
        }
        Ok(parts
            .into_iter()
            .map(|(entity_type, name)| {
                EntityData::default()
                    .with_entity_type(StrBytes::from_static_str(entity_type))
                    .with_entity_name(name.map(StrBytes::from_string))
            })
            .collect())
    }
}

pub fn run(command: QuotaCommand) -> Result<(), ToolError> {
    match command {
        QuotaCommand::Set {
            connection,
            entity,
            producer_byte_rate,
            consumer_byte_rate,
            request_percentage,
        } => {
            let ops: Vec<OpData> = [
                (QuotaKind::Produce, producer_byte_rate.map(|r| r as f64)),
                (QuotaKind::Fetch, consumer_byte_rate.map(|r| r as f64)),
                (QuotaKind::Request, request_percentage),
            ]
            .into_iter()
            .filter_map(|(kind, value)| {
                Some(
                    OpData::default()
                        .with_key(StrBytes::from_static_str(kind.key()))
                        .with_value(value?),
                )
            })
            .collect();
            if ops.is_empty() {
                return Err(ToolError::Usage(
                    "give --producer-byte-rate, --consumer-byte-rate or --request-percentage"
                        .into(),
                ));
            }
            alter(&connection, &entity, ops, "set")
        }
        QuotaCommand::Remove {
            connection,
            entity,
            keys,
        } => {
            let ops = keys
                .iter()
                .map(|key| {
                    OpData::default()
                        .with_key(StrBytes::from_string(key.clone()))
                        .with_remove(true)
                })
                .collect();
            alter(&connection, &entity, ops, "removed")
        }
        QuotaCommand::Describe { connection, entity } => describe(&connection, &entity),
    }
}

fn alter(
    connection: &Connection,
    entity: &EntityArgs,
    ops: Vec<OpData>,
    done: &str,
) -> Result<(), ToolError> {
    let request = AlterClientQuotasRequest::default().with_entries(vec![EntryData::default()
        .with_entity(entity.entity()?)
        .with_ops(ops)]);
    let response: AlterClientQuotasResponse =
        RawClient::connect(connection)?.request(ApiKey::AlterClientQuotas, VERSION, &request)?;
    let name = entity_name(&entity.parts());
    for entry in &response.entries {
        if entry.error_code != 0 {
            return Err(ToolError::Usage(format!(
                "AlterClientQuotas {name}: {} {}",
                wire_code_name(entry.error_code),
                entry.error_message.as_deref().unwrap_or("")
            )));
        }
    }
    match connection.output {
        Output::Table => println!("{name}: {done}"),
        Output::Json => println!("{}", json!({ "entity": name, "result": done })),
    }
    Ok(())
}

/// `user=alice,client-id=<default>`, as the tools print an entity.
fn entity_name<S: AsRef<str>>(parts: &[(&str, Option<S>)]) -> String {
    parts
        .iter()
        .map(|(entity_type, name)| {
            format!(
                "{entity_type}={}",
                name.as_ref().map_or("<default>", |n| n.as_ref())
            )
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn describe(connection: &Connection, entity: &EntityArgs) -> Result<(), ToolError> {
    let components = entity
        .parts()
        .into_iter()
        .map(|(entity_type, name)| {
            ComponentData::default()
                .with_entity_type(StrBytes::from_static_str(entity_type))
                // 0: this name, 1: the default.
                .with_match_type(if name.is_some() { 0 } else { 1 })
                .with_match(name.map(StrBytes::from_string))
        })
        .collect();
    let request = DescribeClientQuotasRequest::default().with_components(components);
    let response: DescribeClientQuotasResponse =
        RawClient::connect(connection)?.request(ApiKey::DescribeClientQuotas, VERSION, &request)?;
    if response.error_code != 0 {
        return Err(ToolError::Usage(format!(
            "DescribeClientQuotas: {} {}",
            wire_code_name(response.error_code),
            response.error_message.as_deref().unwrap_or("")
        )));
    }
    let mut rows: Vec<[String; 3]> = Vec::new();
    for entry in response.entries.iter().flatten() {
        let parts: Vec<(&str, Option<&str>)> = entry
            .entity
            .iter()
            .map(|e| (e.entity_type.as_str(), e.entity_name.as_deref()))
            .collect();
        let name = entity_name(&parts);
        for value in &entry.values {
            rows.push([name.clone(), value.key.to_string(), value.value.to_string()]);
        }
    }
    rows.sort();
    match connection.output {
        Output::Table => table::print(
            &["ENTITY", "KEY", "VALUE"],
            &rows.iter().map(|r| r.to_vec()).collect::<Vec<_>>(),
        ),
        Output::Json => {
            let quotas: Vec<_> = rows
                .iter()
                .map(|[entity, key, value]| json!({ "entity": entity, "key": key, "value": value.parse::<f64>().unwrap_or(0.0) }))
                .collect();
            println!("{}", json!({ "quotas": quotas }));
        }
    }
    Ok(())
}
