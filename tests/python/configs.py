"""kafka-python against a running weir broker: topic configs Kafka 3 accepts (deprecated keys
included), DescribeConfigs with synonyms, AlterConfigs, and a keyless record on a compacted
topic refused with INVALID_RECORD while the producer's keyed records go through.

Usage: configs.py BOOTSTRAP

Prints "configs: ok" at the end; any mismatch raises (non-zero exit).
"""

import sys

from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic
from kafka.errors import InvalidConfigurationError, InvalidRecordError


def entries(described, name):
    """The config entries of the one resource in a DescribeConfigs v1/v2 response, by name."""
    (resource,) = [r for response in described for r in response.resources]
    error_code, _message, _type, resource_name, configs = resource
    assert error_code == 0 and resource_name == name, resource
    return {entry[0]: entry for entry in configs}


def main():
    bootstrap = sys.argv[1]
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)

    # Kafka 3 tools still send these; Kafka accepts them.
    admin.create_topics([NewTopic("py-legacy", 1, 1, topic_configs={
        "message.format.version": "2.8-IV1",
        "message.downconversion.enable": "false",
        "message.timestamp.difference.max.ms": "3600000",
        "segment.bytes": "1048576",
    })])
    try:
        admin.create_topics([NewTopic("py-unknown", 1, 1, topic_configs={"retention.mz": "1"})])
        raise AssertionError("an unknown topic config must be refused")
    except InvalidConfigurationError:
        pass

    described = admin.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, "py-legacy")], include_synonyms=True)
    configs = entries(described, "py-legacy")
    # (name, value, read_only, source, is_sensitive, synonyms)
    name, value, read_only, source, sensitive, synonyms = configs["message.format.version"]
    assert (value, read_only, source, sensitive) == ("2.8-IV1", False, 1, False), configs[name]
    assert synonyms[0][0] == "message.format.version" and synonyms[0][2] == 1, synonyms
    segment = configs["segment.bytes"]
    assert segment[1] == "1048576" and segment[3] == 1, segment
    assert [s[0] for s in segment[5]] == ["segment.bytes", "log.segment.bytes"], segment
    retention = configs["retention.ms"]
    assert retention[1] == "604800000" and retention[3] == 5, retention

    admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, "py-legacy", configs={
        "message.timestamp.difference.max.ms": "1000",
        "cleanup.policy": "compact",
    })])
    configs = entries(admin.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, "py-legacy")]), "py-legacy")
    assert configs["cleanup.policy"][1] == "compact", configs["cleanup.policy"]
    # AlterConfigs replaces every override: the ones not given are back to their defaults.
    assert configs["segment.bytes"][1] == "1073741824", configs["segment.bytes"]

    # The topic is compacted now: a keyless record is refused with INVALID_RECORD, keyed ones
    # before and after it are stored.
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", retries=0, linger_ms=0)
    first = producer.send("py-legacy", key=b"k1", value=b"v1").get(timeout=10)
    try:
        producer.send("py-legacy", value=b"no key").get(timeout=10)
        raise AssertionError("a keyless record on a compacted topic must be refused")
    except InvalidRecordError:
        pass
    second = producer.send("py-legacy", key=b"k2", value=b"v2").get(timeout=10)
    assert (first.offset, second.offset) == (0, 1), (first, second)
    producer.close()
    admin.close()
    print("configs: ok")


if __name__ == "__main__":
    main()
