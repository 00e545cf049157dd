"""Probes a controller listener the way a stranger would: connects over TLS (trusting CA, with
an optional client certificate) and sends one controller frame, then reports what happened on
one line: `handshake-failed <reason>`, `closed` (the node hung up without answering) or
`answered <n> bytes`. Every wait has a timeout.

usage: controller_probe.py HOST PORT CA_PEM [CERT_PEM KEY_PEM]
"""

import socket
import ssl
import sys

host, port, ca = sys.argv[1], int(sys.argv[2]), sys.argv[3]
context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca)
if len(sys.argv) > 5:
    context.load_cert_chain(sys.argv[4], sys.argv[5])
raw = socket.create_connection((host, port), timeout=10)
try:
    tls = context.wrap_socket(raw, server_hostname=host)
    # A TLS 1.3 server refuses a client certificate after the handshake: the first read
    # sees the alert.
    # A Raft frame (kind 1) with an empty message: [size 1][kind].
    tls.sendall(b"\x00\x00\x00\x01\x01")
    data = tls.recv(4096)
except (ssl.SSLError, ConnectionResetError, BrokenPipeError) as e:
    print(f"handshake-failed {e}")
    sys.exit(0)
except socket.timeout:
    print("timeout")
    sys.exit(0)
print("closed" if not data else f"answered {len(data)} bytes")
