"""kafka-python (an independent, pure-Python Kafka client) against a running weir broker.

Usage: roundtrip.py BOOTSTRAP TOPIC

Creates TOPIC with 2 partitions (admin client), produces 500 keyed messages with acks=all,
reads them back from the beginning with exact checks, asks ListOffsets for earliest, latest and
by timestamp, alters and describes a topic config, deletes records, and prints one JSON line
with what it saw. Any mismatch raises (non-zero exit).
"""

import json
import sys
import time

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic
from kafka.errors import TopicAlreadyExistsError

MESSAGES = 500
PARTITIONS = 2


def main():
    bootstrap, topic = sys.argv[1], sys.argv[2]

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)])
    try:
        admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)])
        raise AssertionError("creating the topic twice must fail")
    except TopicAlreadyExistsError:
        pass
    listed = admin.list_topics()
    assert topic in listed, listed
    admin.close()

    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    sent = {}
    base_ms = int(time.time() * 1000) - 60_000
    futures = []
    for i in range(MESSAGES):
        key = f"key-{i}".encode()
        value = f"value-{i}".encode() * (1 + i % 7)
        # Timestamps one millisecond apart, so ListOffsets by time has a known answer.
        futures.append((i, producer.send(topic, key=key, value=value, timestamp_ms=base_ms + i)))
    for i, future in futures:
        meta = future.get(timeout=30)
        sent[(meta.partition, meta.offset)] = i
    producer.flush()
    producer.close()
    assert len(sent) == MESSAGES, len(sent)

    partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        consumer_timeout_ms=5000,
    )
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    received = 0
    deadline = time.time() + 60
    while received < MESSAGES and time.time() < deadline:
        batches = consumer.poll(timeout_ms=1000)
        for records in batches.values():
            for record in records:
                i = sent[(record.partition, record.offset)]
                assert record.key == f"key-{i}".encode(), record
                assert record.value == f"value-{i}".encode() * (1 + i % 7), record
                assert record.timestamp == base_ms + i, (record.timestamp, base_ms + i)
                received += 1
    assert received == MESSAGES, received

    earliest = consumer.beginning_offsets(partitions)
    latest = consumer.end_offsets(partitions)
    assert all(offset == 0 for offset in earliest.values()), earliest
    assert sum(latest.values()) == MESSAGES, latest
    # The first record at or after the timestamp of message 250.
    by_time = consumer.offsets_for_times({tp: base_ms + 250 for tp in partitions})
    for tp, found in by_time.items():
        expected = min(
            (offset for (p, offset), i in sent.items() if p == tp.partition and i >= 250),
            default=None,
        )
        got = None if found is None else found.offset
        assert got == expected, (tp, got, expected)
    consumer.close()

    # Admin: a topic config altered and described, records deleted from partition 0.
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic,
                                        configs={"retention.ms": "3600000"})])
    described = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    assert "3600000" in repr(described), described
    deleted = admin.delete_records({TopicPartition(topic, 0): 10})
    assert deleted[TopicPartition(topic, 0)]["low_watermark"] == 10, deleted
    admin.close()
    checker = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    assert checker.beginning_offsets([TopicPartition(topic, 0)])[TopicPartition(topic, 0)] == 10
    checker.close()

    print(json.dumps({
        "produced": len(sent),
        "consumed": received,
        "latest": {str(tp.partition): offset for tp, offset in latest.items()},
    }))


if __name__ == "__main__":
    main()
