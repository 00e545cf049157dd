"""kafka-python side of the codec round trips.

Usage:
  codec_roundtrip.py produce BOOTSTRAP TOPIC CODEC COUNT   # compression_type=CODEC, acks=all
  codec_roundtrip.py consume BOOTSTRAP TOPIC COUNT         # prints one JSON line: keys and values seen
"""

import json
import sys
import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition


def produce(bootstrap, topic, codec, count):
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", compression_type=codec,
                             linger_ms=20)
    for i in range(count):
        producer.send(topic, key=f"k-{i}".encode(), value=f"v-{i}".encode() * 10)
    producer.flush()
    producer.close()


def consume(bootstrap, topic, count):
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    tp = TopicPartition(topic, 0)
    consumer.assign([tp])
    consumer.seek_to_beginning(tp)
    seen = {}
    deadline = time.time() + 60
    while len(seen) < count and time.time() < deadline:
        for records in consumer.poll(timeout_ms=500).values():
            for record in records:
                seen[record.key.decode()] = record.value.decode()
    consumer.close()
    print(json.dumps({"count": len(seen), "ok": all(v == k.replace("k-", "v-") * 10 for k, v in seen.items())}))


if __name__ == "__main__":
    if sys.argv[1] == "produce":
        produce(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
    else:
        consume(sys.argv[2], sys.argv[3], int(sys.argv[4]))
