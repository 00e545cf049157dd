//! Appends from producers: the batches of a produce request are validated as a client's
//! (`max.message.bytes`, CRC, keys on compacted topics, recompression, idempotent sequences),
//! then given offsets and queued in the tail cache. No I/O: the writer makes them durable.

use super::*;

/// Who sends an append (Kafka's `AppendOrigin`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendOrigin {
    /// A producer's Produce request.
    Client,
    /// A group or transaction coordinator writing to its internal topic.
    Coordinator,
}

impl PartitionLog {
    /// Appends a produce request's records for this partition (one or more batches from a
    /// client): all are validated first and either all or none are appended. Does no I/O; await
    /// [`PartitionLog::wait_for`] for durability.
    pub fn append(&self, records: Bytes) -> Result<AppendInfo, LogError> {
        self.append_from(records, AppendOrigin::Client)
    }

    /// Appends records as `origin` sends them: a client's are checked against their
    /// producers' sequences; a coordinator's (Kafka's `AppendOrigin.COORDINATOR`: offset
    /// commits inside a transaction, the coordinators' own records) are not.
    pub fn append_from(
        &self,
        records: Bytes,
        origin: AppendOrigin,
    ) -> Result<AppendInfo, LogError> {
        let config = self.config.borrow();
        let batches = validated_from_client(records, &config)?;
        // Idempotent producers: a retried batch already in the log gets its original offsets.
        let mut duplicates = Vec::new();
        if origin == AppendOrigin::Client {
            let producers = self.producers.borrow();
            for batch in batches.iter().filter(|b| b.producer_id() >= 0) {
                if let SequenceCheck::Duplicate(original) = producers.check(
                    batch.producer_id(),
                    batch.producer_epoch(),
                    batch.base_sequence(),
                    last_sequence(batch),
                )? {
                    duplicates.push((batch.producer_id(), original));
                }
            }
        }
        if !duplicates.is_empty() {
            if duplicates.len() != batches.len() {
                return Err(LogError::MixedDuplicate {
                    producer_id: duplicates[0].0,
                });
            }
            let state = self.state.borrow();
            tracing::debug!(
                partition = self.partition,
                "duplicate batch from an idempotent producer"
            );
            return Ok(AppendInfo {
                base_offset: duplicates[0].1.base_offset,
                last_offset: duplicates[duplicates.len() - 1].1.last_offset,
                log_append_time_ms: -1,
                log_start_offset: state.log_start_offset,
            });
        }
        let now_ms = self.clock.now_ms();
        let mut state = self.state.borrow_mut();
        if state.closed {
            return Err(LogError::Closed {
                path: self.dir.clone(),
            });
        }
        let mut first_offset = None;
        let mut last_offset = 0;
        let mut producers = self.producers.borrow_mut();
        for batch in batches {
            let (base, last) =
                state.append_batch(&self.dir, batch, now_ms, &config, &mut producers);
            first_offset.get_or_insert(base);
            last_offset = last;
        }
        drop(producers);
        let log_append_time_ms = match config.message_timestamp_type {
            TimestampType::LogAppendTime => now_ms,
            TimestampType::CreateTime => -1,
        };
        let info = AppendInfo {
            base_offset: first_offset.expect("at least one batch"),
            last_offset,
            log_append_time_ms,
            log_start_offset: state.log_start_offset,
        };
        drop(state);
        // The flusher writes the batch soon; its write moves the high watermark and wakes
        // the long polls.
        self.flusher_wake.notify();
        Ok(info)
    }
}

/// The batches of one partition's produce data, checked as a client's batches are and
/// recompressed when the topic's `compression.type` asks: whole, CRC-valid, magic 2 with base
/// offset 0, within `max.message.bytes`, keyed on a compacted topic. Offsets are assigned
/// later, by the append; a follower's append (replication) will skip this step.
fn validated_from_client(records: Bytes, config: &LogConfig) -> Result<Vec<RecordBatch>, LogError> {
    let mut batches = Vec::new();
    for batch in split_batches(records) {
        let batch = batch?;
        if batch.size_bytes() > config.max_message_bytes {
            return Err(RecordError::TooLarge {
                size: batch.size_bytes(),
                max: config.max_message_bytes,
            }
            .into());
        }
        batch.validate_from_client()?;
        if config.cleanup.compact {
            let batch_indexes = filter::keyless_records(&batch, config.max_message_bytes)?;
            if !batch_indexes.is_empty() {
                return Err(RecordError::KeylessRecordOnCompactedTopic { batch_indexes }.into());
            }
        }
        batches.push(match config.compression {
            // compression.type differs from the producer's codec: recompress (bounded by
            // max.message.bytes, so a "zip bomb" is refused, not inflated).
            Some(target) if batch.attributes().compression()? != target => {
                codec::recompress(&batch, target, config.max_message_bytes)?
            }
            _ => batch,
        });
    }
    if batches.is_empty() {
        return Err(RecordError::Empty.into());
    }
    Ok(batches)
}

impl PartitionLog {
    /// Writes a transaction's commit or abort marker (WriteTxnMarkers, on the leader): a
    /// control batch with the producer's id and the coordinator's epoch for it. The producer's
    /// transaction here ends; an abort adds the segment's `.txnindex` entry. A marker with an
    /// epoch older than the producer's is refused (INVALID_PRODUCER_EPOCH). Does no I/O.
    pub fn append_marker(&self, marker: TxnMarker) -> Result<AppendInfo, LogError> {
        let config = self.config.borrow();
        self.producers
            .borrow()
            .check_marker_epoch(marker.producer_id, marker.producer_epoch)?;
        let now_ms = self.clock.now_ms();
        let batch = RecordBatch::new(marker.to_batch(now_ms))?;
        let mut state = self.state.borrow_mut();
        if state.closed {
            return Err(LogError::Closed {
                path: self.dir.clone(),
            });
        }
        let (base, last) = state.append_batch(
            &self.dir,
            batch,
            now_ms,
            &config,
            &mut self.producers.borrow_mut(),
        );
        let info = AppendInfo {
            base_offset: base,
            last_offset: last,
            log_append_time_ms: -1,
            log_start_offset: state.log_start_offset,
        };
        drop(state);
        self.flusher_wake.notify();
        Ok(info)
    }
}
