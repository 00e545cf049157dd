//! The leader's side of the ISR (Kafka's `Partition.maybeShrinkIsr` / `maybeExpandIsr` and
//! `AlterPartitionManager`): every half second each shard looks at the partitions it leads; a
//! follower in the ISR that has not caught up for `replica.lag.time.max.ms` is dropped, a
//! replica whose log reached the high watermark is added. The change is asked of the
//! controller (AlterPartition), the ISR's only writer; the leader acts on it only when the
//! committed metadata comes back. A request is not repeated for the same partition epoch
//! within `RESEND_AFTER`.

use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::error_code::ErrorCode;
use crate::metadata::alter_partition::IsrChange;
use crate::shard::controller::{ControllerOp, ControllerReply};
use crate::shard::ops::{ShardOp, ShardReply, TopicPartition};
use crate::shard::Shard;

const CHECK_INTERVAL: Duration = Duration::from_millis(500);
const RESEND_AFTER: Duration = Duration::from_secs(5);

pub async fn run_isr_manager(shard: Rc<Shard>) {
    let lag_max_ms = shard.config.cluster.replica_lag_time_max_ms as i64;
    // (partition, partition epoch) → when its change was asked for.
    let mut asked: HashMap<(TopicPartition, i32), Instant> = HashMap::new();
    loop {
        glommio::timer::sleep(CHECK_INTERVAL).await;
        if crate::shard::shutting_down() {
            return;
        }
        asked.retain(|_, at| at.elapsed() < RESEND_AFTER);
        let mut changes = Vec::new();
        // Whether each change drops a follower (the shrink and expand counters).
        let mut shrinks: HashMap<(uuid::Uuid, i32), bool> = HashMap::new();
        let me = shard.config.broker_id;
        for led in shard
            .local_replicas()
            .into_iter()
            .filter(|r| r.state.leader == me)
        {
            let Some(new_isr) =
                led.log
                    .isr_proposal(&led.state.isr, &led.state.replicas, me, lag_max_ms)
            else {
                continue;
            };
            let key = (led.tp.clone(), led.state.partition_epoch);
            if asked.contains_key(&key) {
                continue;
            }
            tracing::info!(partition = %led.tp, isr = ?led.state.isr, proposed = ?new_isr, "asking the controller to change the ISR");
            asked.insert(key, Instant::now());
            shrinks.insert(
                (led.topic_id, led.tp.partition),
                new_isr.len() < led.state.isr.len(),
            );
            changes.push(IsrChange {
                topic_id: led.topic_id,
                partition: led.tp.partition,
                leader_epoch: led.state.leader_epoch,
                partition_epoch: led.state.partition_epoch,
                new_isr,
            });
        }
        if changes.is_empty() {
            continue;
        }
        let reply = shard
            .call(
                0,
                ShardOp::Controller(ControllerOp::AlterPartition { changes }),
            )
            .await;
        match reply {
            Ok(ShardReply::Controller(ControllerReply::IsrChanges(Ok(outcomes)))) => {
                for (topic_id, partition, error) in outcomes {
                    if error == ErrorCode::None {
                        let shrunk = shrinks.get(&(topic_id, partition)).copied();
                        shard.metrics.isr_changed(shrunk.unwrap_or(false));
                    } else {
                        tracing::info!(%topic_id, partition, %error, "ISR change refused; asking again with the next metadata");
                    }
                }
            }
            Ok(ShardReply::Controller(ControllerReply::IsrChanges(Err(error)))) => {
                tracing::info!(%error, "AlterPartition not taken; asking again later");
                asked.clear();
            }
            _ => asked.clear(),
        }
    }
}
