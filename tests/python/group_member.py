"""A kafka-python consumer group member for the group tests.

Usage: group_member.py BOOTSTRAP TOPIC GROUP OUT_FILE STOP_FILE [MAX_MESSAGES]

Subscribes to TOPIC in GROUP, commits after processing each poll batch, and appends what it
sees to OUT_FILE: "assigned N" whenever its assignment changes, then one "partition offset key"
line per message. Runs until STOP_FILE exists, MAX_MESSAGES were consumed, or 120 s passed;
closes the consumer (LeaveGroup) on the way out.
"""

import os
import sys
import time

from kafka import KafkaConsumer


def main():
    bootstrap, topic, group, out_path, stop_path = sys.argv[1:6]
    max_messages = int(sys.argv[6]) if len(sys.argv) > 6 else None
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=6000,
        heartbeat_interval_ms=500,
    )
    consumed = 0
    assigned = None
    deadline = time.time() + 120
    with open(out_path, "a", buffering=1) as out:
        while time.time() < deadline and not os.path.exists(stop_path):
            batches = consumer.poll(timeout_ms=200, max_records=100)
            now_assigned = len(consumer.assignment())
            if now_assigned != assigned:
                assigned = now_assigned
                out.write(f"assigned {assigned}\n")
            if not batches:
                continue
            for records in batches.values():
                for record in records:
                    out.write(f"{record.partition} {record.offset} {record.key.decode()}\n")
                    consumed += 1
            consumer.commit()
            if max_messages is not None and consumed >= max_messages:
                break
    consumer.close()


if __name__ == "__main__":
    main()
