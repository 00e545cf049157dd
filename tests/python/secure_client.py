"""kafka-python over SSL, SASL_PLAINTEXT or SASL_SSL (tests/security.rs, tests/tls.rs).

secure_client.py --bootstrap B --protocol P [--mechanism M --user U --password W]
                 [--cafile CA] [--certfile C --keyfile K] TOPIC COUNT
  Produces COUNT records with acks=all, then reads them back in a consumer group; prints
  "produced N consumed M". A refused login or handshake is logged on stderr (kafka-python
  then retries on its own: run it under a timeout).
"""
import argparse
import logging
import sys

from kafka import KafkaConsumer, KafkaProducer

logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
parser = argparse.ArgumentParser()
parser.add_argument("--bootstrap", required=True)
parser.add_argument("--protocol", required=True)
parser.add_argument("--mechanism")
parser.add_argument("--user", default="anonymous")
parser.add_argument("--password")
parser.add_argument("--cafile")
parser.add_argument("--certfile")
parser.add_argument("--keyfile")
parser.add_argument("topic")
parser.add_argument("count", type=int)
args = parser.parse_args()

security = dict(
    bootstrap_servers=args.bootstrap,
    security_protocol=args.protocol,
    api_version_auto_timeout_ms=10000,
)
if args.mechanism:
    security.update(
        sasl_mechanism=args.mechanism,
        sasl_plain_username=args.user,
        sasl_plain_password=args.password,
    )
if args.cafile:
    security.update(ssl_cafile=args.cafile)
if args.certfile:
    security.update(ssl_certfile=args.certfile, ssl_keyfile=args.keyfile)

producer = KafkaProducer(acks="all", request_timeout_ms=10000, **security)
tag = args.user.encode() + b"-"
for i in range(args.count):
    producer.send(args.topic, key=b"k%d" % i, value=tag + b"%d" % i)
producer.flush(timeout=20)
producer.close()

consumer = KafkaConsumer(
    args.topic,
    group_id="secure-" + args.user + "-" + args.protocol,
    auto_offset_reset="earliest",
    consumer_timeout_ms=10000,
    **security,
)
seen = 0
for message in consumer:
    if message.value.startswith(tag):
        seen += 1
    if seen >= args.count:
        break
consumer.close()
print("produced %d consumed %d" % (args.count, seen))
