"""An exactly-once consume-transform-produce loop with kafka-python's transactional producer,
for the transaction tests (the test kills it with SIGKILL at random points and starts it again).

Usage: transformer.py BOOTSTRAP INPUT OUTPUT GROUP TRANSACTIONAL_ID TOTAL

Reads INPUT (one partition) as a member of GROUP (read_committed, from the group's committed
offset; subscribed, since kafka-python's assign() path spins without metadata), and for each poll
batch, in one transaction: sends "out:<value>" to partition 0 of OUTPUT and the batch's next
offset to GROUP (send_offsets_to_transaction), then commits. Prints "committed N" after each
commit and "done" once GROUP's position reaches TOTAL. Gives up after 120 s.
"""

import sys
import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata


def main():
    bootstrap, input_topic, output_topic, group, transactional_id, total = sys.argv[1:7]
    total = int(total)
    partition = TopicPartition(input_topic, 0)
    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        transactional_id=transactional_id,
        transaction_timeout_ms=10000,
    )
    # First: a predecessor's open transaction is aborted (or its commit completed) before
    # this one reads the group's offset, so that offset is the last committed one.
    producer.init_transactions()
    consumer = KafkaConsumer(
        input_topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        isolation_level="read_committed",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=25,
        session_timeout_ms=6000,
        heartbeat_interval_ms=500,
    )
    deadline = time.time() + 120
    while time.time() < deadline:
        batch = consumer.poll(timeout_ms=500).get(partition, [])
        if not batch:
            if partition in consumer.assignment() and consumer.position(partition) >= total:
                print("done", flush=True)
                return 0
            continue
        producer.begin_transaction()
        for record in batch:
            producer.send(output_topic, value=b"out:" + record.value, partition=0)
        next_offset = batch[-1].offset + 1
        producer.send_offsets_to_transaction(
            {partition: OffsetAndMetadata(next_offset, "", -1)}, group
        )
        producer.commit_transaction()
        print(f"committed {next_offset}", flush=True)
    print("timed out", flush=True)
    return 1


if __name__ == "__main__":
    sys.exit(main())
