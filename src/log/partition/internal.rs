//! Appends of the group and transaction coordinators to their internal topics
//! (`__consumer_offsets`, `__transaction_state`): written as Kafka's coordinators write them,
//! with `acks=all` (`offsets.commit.required.acks`), and answered once every in-sync replica
//! has them, so that a coordinator moving to another broker finds them there.

use super::*;
use crate::error_code::ErrorCode;

impl PartitionLog {
    /// Appends `records` (no sequence checks: the coordinator is the writer) and waits until
    /// they are durable per the flush policy and below the high watermark, within `timeout`
    /// (Kafka's `offsets.commit.timeout.ms`). Errors: NOT_COORDINATOR when this broker lost the
    /// partition's leadership, REQUEST_TIMED_OUT when the ISR did not catch up in time,
    /// COORDINATOR_NOT_AVAILABLE for anything else (logged with `what`).
    pub async fn append_for_coordinator(
        &self,
        records: Bytes,
        timeout: Duration,
        what: &str,
    ) -> Result<AppendInfo, ErrorCode> {
        let info = self
            .append_from(records, AppendOrigin::Coordinator)
            .map_err(|e| {
                tracing::error!(topic = %self.topic, partition = self.partition, what, error = %e, "coordinator append refused");
                ErrorCode::CoordinatorNotAvailable
            })?;
        self.wait_for(info.last_offset + 1, self.ack_durability())
            .await
            .map_err(|e| {
                tracing::error!(topic = %self.topic, partition = self.partition, what, error = %e, "coordinator append not made durable");
                ErrorCode::CoordinatorNotAvailable
            })?;
        let replicated = glommio::timer::timeout(timeout, async {
            Ok(self.wait_for_high_watermark(info.last_offset + 1).await)
        })
        .await;
        match replicated {
            Ok(Ok(())) => Ok(info),
            Ok(Err(ErrorCode::NotLeaderOrFollower)) => Err(ErrorCode::NotCoordinator),
            Ok(Err(_)) => Err(ErrorCode::CoordinatorNotAvailable),
            Err(_) => {
                tracing::warn!(topic = %self.topic, partition = self.partition, what, "coordinator append not replicated in time");
                Err(ErrorCode::RequestTimedOut)
            }
        }
    }
}
