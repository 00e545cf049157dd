"""kafka-python over SASL_PLAINTEXT (tests/security.rs).

sasl_client.py BOOTSTRAP MECHANISM USER PASSWORD TOPIC COUNT
  Produces COUNT records with acks=all, then reads them back in a consumer group; prints
  "produced N consumed M". A refused login is logged on stderr (SaslAuthenticationFailedError),
  and kafka-python keeps retrying it: run it under a timeout.
"""
import logging
import sys

from kafka import KafkaConsumer, KafkaProducer

# kafka-python logs a refused login (SaslAuthenticationFailedError) and then retries.
logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
bootstrap, mechanism, user, password, topic, count = sys.argv[1:7]
count = int(count)
security = dict(
    bootstrap_servers=bootstrap,
    security_protocol="SASL_PLAINTEXT",
    sasl_mechanism=mechanism,
    sasl_plain_username=user,
    sasl_plain_password=password,
    api_version_auto_timeout_ms=10000,
)
producer = KafkaProducer(acks="all", request_timeout_ms=10000, **security)
for i in range(count):
    producer.send(topic, key=b"k%d" % i, value=b"%s-%d" % (user.encode(), i))
producer.flush(timeout=20)
producer.close()

consumer = KafkaConsumer(
    topic,
    group_id="sasl-" + user,
    auto_offset_reset="earliest",
    consumer_timeout_ms=10000,
    **security,
)
seen = 0
for message in consumer:
    if message.value.startswith(user.encode() + b"-"):
        seen += 1
    if seen >= count:
        break
consumer.close()
print("produced %d consumed %d" % (count, seen))
