//! The `weir` binary: `weir serve` runs the broker; `weir dump-log` is the storage inspector
//! that `kafka-dump-log.sh` is for Kafka; `weir topic|produce|consume|group|perf` are the client
//! tools (`kafka-topics.sh`, the console producer and consumer, `kafka-consumer-groups.sh`),
//! built with the default `tools` feature.

use std::path::PathBuf;
use std::process::ExitCode;

use bytes::Bytes;
use clap::{Parser, Subcommand};
use weir::config::{parse_properties, BrokerConfig};
use weir::record::{declared_batch_size, RecordBatch};

#[derive(Parser)]
#[command(
    name = "weir",
    version,
    about = "Kafka-compatible streaming log, thread-per-core on io_uring"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the broker. With no arguments: data in ./weir-data, clients on 127.0.0.1:9092.
    ///
    /// Example: weir serve --config server.properties --override num.partitions=3
    Serve {
        /// A server.properties file with Kafka's key names (see README).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Set a config key, as kafka-server-start.sh --override does; repeatable. Applied on
        /// top of --config.
        #[arg(long = "override", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
        /// Shards: executors, one pinned per core. Default: every CPU the process may use.
        #[arg(long, value_name = "N")]
        smp: Option<usize>,
        /// Print every broker and topic config key (type, default, valid values, meaning) and
        /// exit; `markdown` prints the README's tables.
        #[arg(long, value_name = "FORMAT", num_args = 0..=1, default_missing_value = "text",
              value_parser = ["text", "markdown"])]
        help_config: Option<String>,
    },
    /// Prepare a node's data directory before its first start (kafka-storage.sh format).
    ///
    /// Example: weir storage format --config server.properties --add-scram 'SCRAM-SHA-256=[name=admin,password=admin-secret]'
    #[command(subcommand)]
    Storage(StorageCommand),
    /// Print the record batches of segment files, as kafka-dump-log.sh --files does.
    ///
    /// Example: weir dump-log data/events-0/00000000000000000000.log
    DumpLog {
        /// Segment files (`<base offset>.log`).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Brokers, the active controller and the metadata quorum (kafka-metadata-quorum.sh).
    #[cfg(feature = "tools")]
    #[command(subcommand)]
    Cluster(weir::tools::cluster::ClusterCommand),
    /// Elect preferred (or, unclean, any live) replicas as leaders (kafka-leader-election.sh).
    ///
    /// Example: weir leader-election --election-type PREFERRED --all-topic-partitions
    #[cfg(feature = "tools")]
    LeaderElection(weir::tools::leader_election::LeaderElectionArgs),
    /// Create, list, describe, alter and delete topics (kafka-topics.sh).
    #[cfg(feature = "tools")]
    #[command(subcommand)]
    Topic(weir::tools::topic::TopicCommand),
    /// Send lines of standard input as records (kafka-console-producer.sh).
    ///
    /// Example: printf 'k1:hello\nk2:world\n' | weir produce events --key-separator :
    #[cfg(feature = "tools")]
    Produce(weir::tools::produce::ProduceArgs),
    /// Print records of a topic (kafka-console-consumer.sh).
    ///
    /// Example: weir consume events --from-beginning --max-messages 10 --format '{key}\t{value}'
    #[cfg(feature = "tools")]
    Consume(weir::tools::consume::ConsumeArgs),
    /// List, describe, reset and delete consumer groups (kafka-consumer-groups.sh).
    #[cfg(feature = "tools")]
    #[command(subcommand)]
    Group(weir::tools::group::GroupCommand),
    /// List transactional ids and describe one's transaction (kafka-transactions.sh).
    ///
    /// Example: weir transactions describe --transactional-id payments-1
    #[cfg(feature = "tools")]
    #[command(subcommand)]
    Transactions(weir::tools::transactions::TransactionsCommand),
    /// SCRAM users: set, describe and delete credentials (kafka-configs.sh --entity-type users).
    ///
    /// Example: weir user scram set --user alice --password alice-secret
    #[cfg(feature = "tools")]
    #[command(subcommand)]
    User(weir::tools::user::UserCommand),
    /// Add, list and remove ACLs (kafka-acls.sh).
    ///
    /// Example: weir acl add --allow-principal User:alice --operation Write --topic orders
    #[cfg(feature = "tools")]
    #[command(subcommand)]
    Acl(weir::tools::acl::AclCommand),
    /// Client quotas: produce and fetch byte rates of users and client ids (kafka-configs.sh
    /// --entity-type users|clients).
    ///
    /// Example: weir quota set --client-id reports --producer-byte-rate 1048576
    #[cfg(feature = "tools")]
    #[command(subcommand)]
    Quota(weir::tools::quota::QuotaCommand),
    /// Load and latency harness: produce, consume and end-to-end (kafka-*-perf-test.sh).
    ///
    /// Example: weir perf produce perf-test --num-records 1000000 --acks all
    #[cfg(feature = "tools")]
    #[command(subcommand)]
    Perf(weir::tools::perf::PerfCommand),
}

#[derive(Subcommand)]
enum StorageCommand {
    /// Writes the records a new cluster starts with into `log.dirs`: SCRAM users, so that a
    /// cluster whose listeners all need SCRAM can be reached from its first start.
    Format {
        /// The node's server.properties (for `log.dirs`).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Set a config key, as for `weir serve`; repeatable.
        #[arg(long = "override", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
        /// A SCRAM user: 'SCRAM-SHA-256=[name=alice,password=alice-secret]' (iterations=N
        /// optional); repeatable.
        #[arg(long = "add-scram", value_name = "CREDENTIAL", required = true)]
        add_scram: Vec<String>,
        /// Leave a directory that already holds a cluster's data as it is, without an error.
        #[arg(long)]
        ignore_formatted: bool,
    },
}

#[global_allocator]
static ALLOCATOR: weir::alloc::BrokerAllocator = weir::alloc::BrokerAllocator;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve {
            help_config: Some(format),
            ..
        } => {
            match format.as_str() {
                "markdown" => print!("{}", weir::config::keys_markdown()),
                _ => print!("{}", weir::config::keys_text()),
            }
            ExitCode::SUCCESS
        }
        Command::Serve {
            config,
            overrides,
            smp,
            help_config: None,
        } => match serve(config, overrides, smp) {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("weir serve: {message}");
                ExitCode::FAILURE
            }
        },
        #[cfg(feature = "tools")]
        Command::Cluster(command) => tool("cluster", weir::tools::cluster::run(command)),
        #[cfg(feature = "tools")]
        Command::LeaderElection(args) => {
            tool("leader-election", weir::tools::leader_election::run(args))
        }
        #[cfg(feature = "tools")]
        Command::Topic(command) => tool("topic", weir::tools::topic::run(command)),
        #[cfg(feature = "tools")]
        Command::Produce(args) => tool("produce", weir::tools::produce::run(args)),
        #[cfg(feature = "tools")]
        Command::Consume(args) => tool("consume", weir::tools::consume::run(args)),
        #[cfg(feature = "tools")]
        Command::Group(command) => tool("group", weir::tools::group::run(command)),
        #[cfg(feature = "tools")]
        Command::Transactions(command) => {
            tool("transactions", weir::tools::transactions::run(command))
        }
        #[cfg(feature = "tools")]
        Command::User(command) => tool("user", weir::tools::user::run(command)),
        #[cfg(feature = "tools")]
        Command::Acl(command) => tool("acl", weir::tools::acl::run(command)),
        #[cfg(feature = "tools")]
        Command::Quota(command) => tool("quota", weir::tools::quota::run(command)),
        #[cfg(feature = "tools")]
        Command::Perf(command) => tool("perf", weir::tools::perf::run(command)),
        Command::Storage(StorageCommand::Format {
            config,
            overrides,
            add_scram,
            ignore_formatted,
        }) => match format_storage(config, overrides, &add_scram, ignore_formatted) {
            Ok(message) => {
                println!("{message}");
                ExitCode::SUCCESS
            }
            Err(message) => {
                eprintln!("weir storage format: {message}");
                ExitCode::FAILURE
            }
        },
        Command::DumpLog { files } => {
            let mut ok = true;
            for file in files {
                if let Err(message) = dump_log(&file) {
                    eprintln!("weir dump-log: {}: {message}", file.display());
                    ok = false;
                }
            }
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// One line on failure, exit code 1, as the tools promise.
#[cfg(feature = "tools")]
fn tool(name: &str, result: Result<(), weir::tools::ToolError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("weir {name}: {error}");
            ExitCode::FAILURE
        }
    }
}

fn serve(
    config: Option<PathBuf>,
    overrides: Vec<String>,
    smp: Option<usize>,
) -> Result<(), String> {
    let mut config = broker_config(config, overrides)?;
    config.bootstrap_records = weir::metadata::bootstrap::BootstrapRecords(
        weir::metadata::bootstrap::read(&config.log_dir).map_err(|e| e.to_string())?,
    );
    if !weir::alloc::keep_freed_buffers() {
        tracing::info!(
            "malloc thresholds not changed: the environment sets them, or this is not glibc"
        );
    }
    weir::shard::serve(config, smp).map_err(|e| e.to_string())
}

/// `weir storage format`: the format-time records written to `log.dirs`, before the node's
/// first start.
fn format_storage(
    config: Option<PathBuf>,
    overrides: Vec<String>,
    add_scram: &[String],
    ignore_formatted: bool,
) -> Result<String, String> {
    use weir::metadata::bootstrap;
    let config = broker_config(config, overrides)?;
    let dir = &config.log_dir;
    // As kafka-storage refuses a formatted directory: here any file means the node has
    // started (or was formatted) with it.
    let used = std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some());
    if used {
        return match ignore_formatted {
            true => Ok(format!(
                "{} is already formatted: left as it is",
                dir.display()
            )),
            false => Err(format!(
                "{} already holds a cluster's data or format (--ignore-formatted to leave it)",
                dir.display()
            )),
        };
    }
    let mut records = Vec::new();
    for argument in add_scram {
        let mut salt = [0u8; 16];
        getrandom::getrandom(&mut salt).map_err(|e| format!("no randomness for a salt: {e}"))?;
        records.push(bootstrap::scram_record(argument, salt).map_err(|e| e.to_string())?);
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join(bootstrap::BOOTSTRAP_FILE);
    std::fs::write(&path, bootstrap::encode(&records))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(format!(
        "formatted {} with {} SCRAM credentials",
        dir.display(),
        records.len()
    ))
}

/// The config `weir serve` runs with: the file, then the overrides.
fn broker_config(config: Option<PathBuf>, overrides: Vec<String>) -> Result<BrokerConfig, String> {
    let mut props = match &config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            parse_properties(&path.display().to_string(), &text).map_err(|e| e.to_string())?
        }
        None => Default::default(),
    };
    for pair in overrides {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| format!("--override {pair}: expected KEY=VALUE"))?;
        props.insert(key.trim().to_string(), value.trim().to_string());
    }
    BrokerConfig::from_properties(props).map_err(|e| e.to_string())
}

/// Prints one line per batch; stops with an error line at the first bytes that are not a valid
/// batch (a torn tail, corruption, or preallocated zeros of an active segment).
fn dump_log(path: &PathBuf) -> Result<(), String> {
    let bytes = Bytes::from(std::fs::read(path).map_err(|e| e.to_string())?);
    println!("Dumping {}", path.display());
    let mut position = 0usize;
    while position < bytes.len() {
        let rest = &bytes[position..];
        if rest.iter().take(12).all(|&b| b == 0) {
            println!("position: {position} zero-filled (preallocated, unwritten) to end of file");
            return Ok(());
        }
        let size = declared_batch_size(rest).map_err(|e| format!("at position {position}: {e}"))?;
        if size > rest.len() {
            return Err(format!(
                "at position {position}: torn batch, {size} bytes declared, {} present",
                rest.len()
            ));
        }
        let batch = RecordBatch::new(bytes.slice(position..position + size))
            .map_err(|e| format!("at position {position}: {e}"))?;
        let valid = batch.check_integrity();
        let attributes = batch.attributes();
        println!(
            "baseOffset: {} lastOffset: {} count: {} position: {position} size: {size} magic: {} \
             compresscodec: {:?} timestampType: {:?} maxTimestamp: {} producerId: {} \
             producerEpoch: {} baseSequence: {} isTransactional: {} isControl: {} crc: {:#010x} isValid: {}",
            batch.base_offset(),
            batch.last_offset(),
            batch.record_count(),
            batch.magic(),
            attributes.compression().map_err(|e| format!("at position {position}: {e}"))?,
            attributes.timestamp_type(),
            batch.max_timestamp(),
            batch.producer_id(),
            batch.producer_epoch(),
            batch.base_sequence(),
            attributes.is_transactional(),
            attributes.is_control(),
            batch.crc(),
            valid.is_ok(),
        );
        if let Err(e) = valid {
            return Err(format!("at position {position}: {e}"));
        }
        position += size;
    }
    Ok(())
}
