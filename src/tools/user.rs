//! `weir user scram set|describe|delete`: SCRAM credentials in the cluster metadata (KIP-554),
//! as `kafka-configs.sh --alter --add-config 'SCRAM-SHA-256=[password=...]' --entity-type
//! users` manages them. The password is salted here (a random 16-byte salt and PBKDF2, as
//! Kafka's client does); the broker receives only the salted password.

use clap::{Args, Subcommand};
use kafka_protocol::messages::alter_user_scram_credentials_request::{
    ScramCredentialDeletion, ScramCredentialUpsertion,
};
use kafka_protocol::messages::describe_user_scram_credentials_request::UserName;
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse, ApiKey,
    DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse,
};
use kafka_protocol::protocol::StrBytes;
use serde_json::json;

use super::raw_client::RawClient;
use super::{table, Connection, Output, ToolError};
use crate::error_code::ErrorCode;
use crate::security::scram::{ScramMechanism, MAX_ITERATIONS, MIN_ITERATIONS};

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// SCRAM credentials (SASL SCRAM-SHA-256 and SCRAM-SHA-512 logins).
    #[command(subcommand)]
    Scram(ScramCommand),
}

#[derive(Subcommand, Debug)]
pub enum ScramCommand {
    /// Sets (or replaces) a user's credential for one mechanism.
    ///
    /// Example: weir user scram set --user alice --password alice-secret --mechanism SCRAM-SHA-512
    Set {
        #[command(flatten)]
        connection: Connection,
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        password: String,
        /// PBKDF2 iterations (Kafka's bounds: 4096-16384).
        #[arg(long, default_value_t = 4096)]
        iterations: i32,
    },
    /// Lists users with SCRAM credentials (all, or those named) and their mechanisms.
    ///
    /// Example: weir user scram describe --user alice
    Describe {
        #[command(flatten)]
        connection: Connection,
        #[arg(long = "user", value_name = "NAME")]
        users: Vec<String>,
    },
    /// Removes a user's credential for one mechanism.
    ///
    /// Example: weir user scram delete --user alice --mechanism SCRAM-SHA-256
    Delete {
        #[command(flatten)]
        connection: Connection,
        #[command(flatten)]
        target: Target,
    },
}

#[derive(Args, Debug)]
pub struct Target {
    #[arg(long)]
    user: String,
    /// SCRAM-SHA-256 or SCRAM-SHA-512.
    #[arg(long, default_value = "SCRAM-SHA-256")]
    mechanism: String,
}

impl Target {
    fn mechanism(&self) -> Result<ScramMechanism, ToolError> {
        ScramMechanism::from_name(&self.mechanism).ok_or_else(|| {
            ToolError::Usage(format!(
                "--mechanism {}: SCRAM-SHA-256 or SCRAM-SHA-512",
                self.mechanism
            ))
        })
    }
}

pub fn run(command: UserCommand) -> Result<(), ToolError> {
    let UserCommand::Scram(command) = command;
    match command {
        ScramCommand::Set {
            connection,
            target,
            password,
            iterations,
        } => set(&connection, &target, &password, iterations),
        ScramCommand::Describe { connection, users } => describe(&connection, &users),
        ScramCommand::Delete { connection, target } => delete(&connection, &target),
    }
}

fn set(
    connection: &Connection,
    target: &Target,
    password: &str,
    iterations: i32,
) -> Result<(), ToolError> {
    let mechanism = target.mechanism()?;
    if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
        return Err(ToolError::Usage(format!(
            "--iterations {iterations}: between {MIN_ITERATIONS} and {MAX_ITERATIONS}"
        )));
    }
    let mut salt = [0u8; 16];
    getrandom::getrandom(&mut salt)
        .map_err(|e| ToolError::Usage(format!("no randomness for the salt: {e}")))?;
    let salted = mechanism.salted_password(password.as_bytes(), &salt, iterations as u32);
    let request = AlterUserScramCredentialsRequest::default().with_upsertions(vec![
        ScramCredentialUpsertion::default()
            .with_name(StrBytes::from_string(target.user.clone()))
            .with_mechanism(mechanism.id())
            .with_iterations(iterations)
            .with_salt(salt.to_vec().into())
            .with_salted_password(salted.into()),
    ]);
    alter(connection, &request, "set", mechanism)
}

fn delete(connection: &Connection, target: &Target) -> Result<(), ToolError> {
    let mechanism = target.mechanism()?;
    let request = AlterUserScramCredentialsRequest::default().with_deletions(vec![
        ScramCredentialDeletion::default()
            .with_name(StrBytes::from_string(target.user.clone()))
            .with_mechanism(mechanism.id()),
    ]);
    alter(connection, &request, "deleted", mechanism)
}

fn alter(
    connection: &Connection,
    request: &AlterUserScramCredentialsRequest,
    done: &str,
    mechanism: ScramMechanism,
) -> Result<(), ToolError> {
    let response: AlterUserScramCredentialsResponse =
        RawClient::connect(connection)?.request(ApiKey::AlterUserScramCredentials, 0, request)?;
    for result in &response.results {
        refused(
            &result.user,
            result.error_code,
            result.error_message.as_deref(),
        )?;
        match connection.output {
            Output::Table => println!("{} {}: {done}", result.user.as_str(), mechanism.name()),
            Output::Json => println!(
                "{}",
                json!({ "user": result.user.as_str(), "mechanism": mechanism.name(), "result": done })
            ),
        }
    }
    Ok(())
}

/// A user's result with an error code, as the tool's error.
fn refused(user: &str, code: i16, message: Option<&str>) -> Result<(), ToolError> {
    if code == 0 {
        return Ok(());
    }
    Err(ToolError::Usage(format!(
        "{user}: {} {}",
        ErrorCode::from_wire(code),
        message.unwrap_or("")
    )))
}

fn describe(connection: &Connection, users: &[String]) -> Result<(), ToolError> {
    let request =
        DescribeUserScramCredentialsRequest::default().with_users((!users.is_empty()).then(|| {
            users
                .iter()
                .map(|u| UserName::default().with_name(StrBytes::from_string(u.clone())))
                .collect()
        }));
    let response: DescribeUserScramCredentialsResponse = RawClient::connect(connection)?.request(
        ApiKey::DescribeUserScramCredentials,
        0,
        &request,
    )?;
    if response.error_code != 0 {
        return Err(ToolError::Usage(format!(
            "DescribeUserScramCredentials: {}",
            ErrorCode::from_wire(response.error_code)
        )));
    }
    let mut rows = Vec::new();
    for result in &response.results {
        refused(
            &result.user,
            result.error_code,
            result.error_message.as_deref(),
        )?;
        for info in &result.credential_infos {
            let mechanism =
                ScramMechanism::from_id(info.mechanism).map_or("UNKNOWN", ScramMechanism::name);
            rows.push((result.user.to_string(), mechanism, info.iterations));
        }
    }
    match connection.output {
        Output::Table => table::print(
            &["USER", "MECHANISM", "ITERATIONS"],
            &rows
                .iter()
                .map(|(u, m, i)| vec![u.clone(), m.to_string(), i.to_string()])
                .collect::<Vec<_>>(),
        ),
        Output::Json => {
            let users: Vec<_> = rows
                .iter()
                .map(|(u, m, i)| json!({ "user": u, "mechanism": m, "iterations": i }))
                .collect();
            println!("{}", json!({ "credentials": users }));
        }
    }
    Ok(())
}
