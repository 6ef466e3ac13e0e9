#!/usr/bin/env python3
"""Writes vectors.json: Daily webhook signatures computed with Python's hmac, outside Swift.

Run from this folder: python3 make-vectors.py
The recipe (daily-reference.md): base64(HMAC-SHA256(base64decode(secret), timestamp + "." + raw body)).
"""
import base64, hashlib, hmac, json

secret = base64.b64encode(b"autospawn-test-secret-0123456789").decode()
other = base64.b64encode(b"a-different-secret-9876543210xyz").decode()

def sign(secret_b64, timestamp, body):
    mac = hmac.new(base64.b64decode(secret_b64), timestamp.encode() + b"." + body, hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()

bodies = {
    "daily/participant-joined.json": open("../daily/participant-joined.json", "rb").read(),
    "daily/participant-joined-unicode.json": open("../daily/participant-joined-unicode.json", "rb").read(),
    "literal": b'{"hello":"world"}',
}
vectors = []
for name, body in bodies.items():
    for timestamp in ["1708972279", "1708972279961"]:
        vectors.append({"body_file": name if name != "literal" else None,
                        "body": body.decode() if name == "literal" else None,
                        "secret": secret, "timestamp": timestamp, "signature": sign(secret, timestamp, body)})
json.dump({"secret": secret, "other_secret": other, "vectors": vectors}, open("vectors.json", "w"), indent=2)
