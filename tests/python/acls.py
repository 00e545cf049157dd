"""ACLs through kafka-python's admin client (issue 21): prints one `check=result` line per step.

Usage: acls.py BOOTSTRAP (a SASL_PLAINTEXT listener with PLAIN users admin and alice, admin a
super user). Every client call has a timeout."""
import sys
import time

from kafka import KafkaProducer
from kafka.admin import (ACL, ACLFilter, ACLOperation, ACLPermissionType,
                         ACLResourcePatternType, KafkaAdminClient, NewTopic,
                         ResourcePattern, ResourcePatternFilter, ResourceType)

bootstrap = sys.argv[1]


def conf(user):
    return dict(bootstrap_servers=bootstrap, security_protocol="SASL_PLAINTEXT",
                sasl_mechanism="PLAIN", sasl_plain_username=user,
                sasl_plain_password=user + "-pw", request_timeout_ms=10000)


def send(topic):
    producer = KafkaProducer(**conf("alice"), max_block_ms=5000, retries=0)
    try:
        producer.send(topic, b"v").get(timeout=10)
        return "ok"
    except Exception as e:  # the error class is what the test checks
        return type(e).__name__
    finally:
        producer.close(timeout=5)


def acl(permission, name, pattern, operation=ACLOperation.WRITE):
    return ACL("User:alice", "*", operation, permission,
               ResourcePattern(ResourceType.TOPIC, name, pattern))


admin = KafkaAdminClient(**conf("admin"))
admin.create_topics([NewTopic("orders", 1, 1), NewTopic("orders-eu", 1, 1), NewTopic("secret", 1, 1)])
print("before=" + send("orders"))
created = admin.create_acls([acl(ACLPermissionType.ALLOW, "orders", ACLResourcePatternType.PREFIXED)])
print("created=%d" % len(created["succeeded"]))
time.sleep(0.5)
print("prefixed=" + send("orders-eu"))
print("other=" + send("secret"))
alice = KafkaAdminClient(**conf("alice"))
print("visible=" + ",".join(sorted(t for t in alice.list_topics() if not t.startswith("__"))))
refused = alice.create_acls([acl(ACLPermissionType.ALLOW, "*", ACLResourcePatternType.LITERAL, ACLOperation.ALL)])
print("alice_create=" + ",".join(getattr(e, "__name__", type(e).__name__) for _, e in refused["failed"]))
admin.create_acls([acl(ACLPermissionType.DENY, "orders-eu", ACLResourcePatternType.LITERAL)])
time.sleep(0.5)
print("denied=" + send("orders-eu"))
print("still=" + send("orders"))
everything = ACLFilter(None, None, ACLOperation.ANY, ACLPermissionType.ANY,
                       ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY))
listed, _ = admin.describe_acls(everything)
print("described=%d" % len(listed))
deleted = admin.delete_acls([everything])
print("deleted=%d" % len(deleted[0][1]))
time.sleep(0.5)
print("after=" + send("orders"))
