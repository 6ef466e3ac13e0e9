"""Schemathesis hooks for autospawn: webhook requests that carry both signature headers are signed the way
Daily signs them, so that the fuzzer reaches the webhook's real path (not only its 401), while requests
without them still test the refusal. The secret comes from AUTOSPAWN_WEBHOOK_SECRET, as the service's does."""

import base64
import hashlib
import hmac
import json
import os
import time

import schemathesis

SECRET = base64.b64decode(os.environ["AUTOSPAWN_WEBHOOK_SECRET"])


@schemathesis.hook
def before_call(context, case, kwargs):
    if case.operation.path != "/daily/webhook" or not isinstance(case.body, dict):
        return
    headers = case.headers or {}
    if "X-Webhook-Signature" not in headers or "X-Webhook-Timestamp" not in headers:
        return
    # The bytes `requests` sends for `json=`: json.dumps with its default separators.
    body = json.dumps(case.body, allow_nan=False).encode()
    timestamp = str(int(time.time()))
    mac = hmac.new(SECRET, timestamp.encode() + b"." + body, hashlib.sha256).digest()
    headers["X-Webhook-Timestamp"] = timestamp
    headers["X-Webhook-Signature"] = base64.b64encode(mac).decode()
    case.headers = headers
