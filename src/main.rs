//! The `weir` binary. The broker (`weir serve`) and the Kafka client tools arrive with their own
//! issues; today it offers the storage inspector that `kafka-dump-log.sh` is for Kafka.

use std::path::PathBuf;
use std::process::ExitCode;

use bytes::Bytes;
use clap::{Parser, Subcommand};
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
    /// Print the record batches of segment files, as kafka-dump-log.sh --files does.
    ///
    /// Example: weir dump-log data/events-0/00000000000000000000.log
    DumpLog {
        /// Segment files (`<base offset>.log`).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
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
