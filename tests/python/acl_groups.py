"""Group and transactional-id ACLs through kafka-python (issue 21): prints one `check=result`
line per step.

Usage: acl_groups.py BOOTSTRAP (a SASL_PLAINTEXT listener with PLAIN users admin and alice,
admin a super user). Every client call has a timeout."""
import sys
import time

from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import (ACL, ACLOperation, ACLPermissionType, ACLResourcePatternType,
                         KafkaAdminClient, NewTopic, ResourcePattern, ResourceType)

bootstrap = sys.argv[1]


def conf(user):
    return dict(bootstrap_servers=bootstrap, security_protocol="SASL_PLAINTEXT",
                sasl_mechanism="PLAIN", sasl_plain_username=user,
                sasl_plain_password=user + "-pw", request_timeout_ms=10000)


def allow(resource_type, name, operation):
    admin.create_acls([ACL("User:alice", "*", operation, ACLPermissionType.ALLOW,
                           ResourcePattern(resource_type, name, ACLResourcePatternType.LITERAL))])
    time.sleep(0.5)


def error_name(e):
    return type(e).__name__


def consume(group):
    settings = dict(conf("alice"), request_timeout_ms=30000)
    consumer = KafkaConsumer("events", group_id=group, auto_offset_reset="earliest",
                             consumer_timeout_ms=8000, **settings)
    try:
        return str(sum(1 for _ in consumer))
    except Exception as e:  # the error class is what the test checks
        return error_name(e)
    finally:
        consumer.close()


def transaction(transactional_id):
    try:
        producer = KafkaProducer(transactional_id=transactional_id, max_block_ms=8000,
                                 **conf("alice"))
    except Exception as e:
        return error_name(e)
    try:
        producer.init_transactions()
        producer.begin_transaction()
        producer.send("events", b"in a transaction")
        producer.commit_transaction()
        return "ok"
    except Exception as e:
        return error_name(e)
    finally:
        producer.close(timeout=5)


admin = KafkaAdminClient(**conf("admin"))
admin.create_topics([NewTopic("events", 1, 1)])
producer = KafkaProducer(**conf("admin"))
for i in range(3):
    producer.send("events", b"record %d" % i)
producer.flush(timeout=10)
producer.close()

allow(ResourceType.TOPIC, "events", ACLOperation.READ)
print("group_before=" + consume("readers"))
allow(ResourceType.GROUP, "readers", ACLOperation.READ)
print("group_after=" + consume("readers"))

allow(ResourceType.TOPIC, "events", ACLOperation.WRITE)
print("txn_before=" + transaction("alice-tx"))
allow(ResourceType.TRANSACTIONAL_ID, "alice-tx", ACLOperation.WRITE)
print("txn_after=" + transaction("alice-tx"))
