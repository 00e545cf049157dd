//! `weir transactions list|describe`: the transactional ids the cluster's coordinators know
//! and one id's transaction in detail, as Kafka's `kafka-transactions.sh list` and
//! `describe` show them. librdkafka has no ListTransactions or DescribeTransactions, so this
//! speaks them itself: ListTransactions to every broker (each lists the ids it coordinates),
//! DescribeTransactions to the id's coordinator (FindCoordinator, key type 1).

use clap::Subcommand;
use kafka_protocol::messages::{
    ApiKey, DescribeTransactionsRequest, DescribeTransactionsResponse, FindCoordinatorRequest,
    FindCoordinatorResponse, ListTransactionsRequest, ListTransactionsResponse, MetadataRequest,
    MetadataResponse, TransactionalId,
};
use kafka_protocol::protocol::StrBytes;
use serde_json::json;

use super::raw_client::RawClient;
use super::{table, Connection, Output, ToolError};
use crate::error_code::ErrorCode;

#[derive(Subcommand, Debug)]
pub enum TransactionsCommand {
    /// Every transactional id with its producer id, state and coordinator.
    ///
    /// Example: weir transactions list --bootstrap-server 127.0.0.1:9092
    List {
        #[command(flatten)]
        connection: Connection,
    },
    /// One transactional id: producer id and epoch, state, timeout, how long its transaction
    /// has been open, and its partitions.
    ///
    /// Example: weir transactions describe --transactional-id payments-1
    Describe {
        #[command(flatten)]
        connection: Connection,
        #[arg(long, value_name = "ID")]
        transactional_id: String,
    },
}

pub fn run(command: TransactionsCommand) -> Result<(), ToolError> {
    match command {
        TransactionsCommand::List { connection } => list(&connection),
        TransactionsCommand::Describe {
            connection,
            transactional_id,
        } => describe(&connection, &transactional_id),
    }
}

fn refused(what: &str, code: i16) -> ToolError {
    ToolError::Usage(format!("{what}: {}", ErrorCode::from_wire(code)))
}

fn list(connection: &Connection) -> Result<(), ToolError> {
    let metadata: MetadataResponse = RawClient::connect(connection)?.request(
        ApiKey::Metadata,
        12,
        &MetadataRequest::default().with_topics(Some(Vec::new())),
    )?;
    let mut rows = Vec::new();
    for broker in &metadata.brokers {
        let address = format!("{}:{}", broker.host.as_str(), broker.port);
        let listed: ListTransactionsResponse = RawClient::connect_to(&address, connection)?
            .request(
                ApiKey::ListTransactions,
                1,
                &ListTransactionsRequest::default().with_duration_filter(-1),
            )?;
        if listed.error_code != 0 {
            return Err(refused(
                &format!("ListTransactions at broker {}", broker.node_id.0),
                listed.error_code,
            ));
        }
        for state in listed.transaction_states {
            rows.push((
                state.transactional_id.0.as_str().to_string(),
                state.producer_id.0,
                state.transaction_state.as_str().to_string(),
                broker.node_id.0,
            ));
        }
    }
    rows.sort();
    match connection.output {
        Output::Table => {
            let rows: Vec<Vec<String>> = rows
                .into_iter()
                .map(|(id, producer, state, coordinator)| {
                    vec![id, producer.to_string(), state, coordinator.to_string()]
                })
                .collect();
            table::print(
                &["TRANSACTIONAL ID", "PRODUCER ID", "STATE", "COORDINATOR"],
                &rows,
            );
        }
        Output::Json => {
            let ids: Vec<_> = rows
                .into_iter()
                .map(|(id, producer, state, coordinator)| {
                    json!({
                        "transactional_id": id,
                        "producer_id": producer,
                        "state": state,
                        "coordinator": coordinator,
                    })
                })
                .collect();
            println!("{}", json!({ "transactions": ids }));
        }
    }
    Ok(())
}

fn describe(connection: &Connection, transactional_id: &str) -> Result<(), ToolError> {
    let found: FindCoordinatorResponse = RawClient::connect(connection)?.request(
        ApiKey::FindCoordinator,
        3,
        &FindCoordinatorRequest::default()
            .with_key(StrBytes::from_string(transactional_id.to_string()))
            .with_key_type(1),
    )?;
    if found.error_code != 0 {
        return Err(refused("FindCoordinator", found.error_code));
    }
    let coordinator = found.node_id.0;
    let address = format!("{}:{}", found.host.as_str(), found.port);
    let described: DescribeTransactionsResponse = RawClient::connect_to(&address, connection)?
        .request(
            ApiKey::DescribeTransactions,
            0,
            &DescribeTransactionsRequest::default().with_transactional_ids(vec![TransactionalId(
                StrBytes::from_string(transactional_id.to_string()),
            )]),
        )?;
    let state = described
        .transaction_states
        .first()
        .ok_or_else(|| ToolError::Usage("DescribeTransactions answered nothing".into()))?;
    if state.error_code != 0 {
        return Err(refused(
            &format!("transactional id `{transactional_id}`"),
            state.error_code,
        ));
    }
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let open_ms = (state.transaction_start_time_ms >= 0)
        .then(|| (now_ms - state.transaction_start_time_ms).max(0));
    let partitions: Vec<String> = state
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(move |p| format!("{}-{p}", t.topic.0.as_str()))
        })
        .collect();
    match connection.output {
        Output::Table => table::print(
            &[
                "COORDINATOR",
                "TRANSACTIONAL ID",
                "PRODUCER ID",
                "EPOCH",
                "STATE",
                "TIMEOUT MS",
                "OPEN FOR",
                "PARTITIONS",
            ],
            &[vec![
                coordinator.to_string(),
                transactional_id.to_string(),
                state.producer_id.0.to_string(),
                state.producer_epoch.to_string(),
                state.transaction_state.as_str().to_string(),
                state.transaction_timeout_ms.to_string(),
                open_ms.map_or("-".to_string(), |ms| format!("{ms} ms")),
                if partitions.is_empty() {
                    "-".to_string()
                } else {
                    partitions.join(",")
                },
            ]],
        ),
        Output::Json => println!(
            "{}",
            json!({
                "coordinator": coordinator,
                "transactional_id": transactional_id,
                "producer_id": state.producer_id.0,
                "producer_epoch": state.producer_epoch,
                "state": state.transaction_state.as_str(),
                "timeout_ms": state.transaction_timeout_ms,
                "open_ms": open_ms,
                "partitions": partitions,
            })
        ),
    }
    Ok(())
}
