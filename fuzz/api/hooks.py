"""Schemathesis hooks for autospawn: webhook and dial-in requests that carry both signature headers are signed the
way Daily signs them, so that the fuzzer reaches their real paths (not only their 401), while requests without
them still test the refusal. The secrets come from AUTOSPAWN_WEBHOOK_SECRET and AUTOSPAWN_DIALIN_SECRET, as the
service's do."""

import base64
import hashlib
import hmac
import json
import os
import time

import schemathesis

# The route, its headers' prefix, and its secret.
SIGNED = {
    "/daily/webhook": ("X-Webhook", base64.b64decode(os.environ["AUTOSPAWN_WEBHOOK_SECRET"])),
    "/daily/dialin": ("X-Pinless", base64.b64decode(os.environ["AUTOSPAWN_DIALIN_SECRET"])),
}


@schemathesis.hook
def before_call(context, case, kwargs):
    if case.operation.path not in SIGNED or not isinstance(case.body, dict):
        return
    prefix, secret = SIGNED[case.operation.path]
    headers = case.headers or {}
    if f"{prefix}-Signature" not in headers or f"{prefix}-Timestamp" not in headers:
        return
    # The bytes `requests` sends for `json=`: json.dumps with its default separators.
    body = json.dumps(case.body, allow_nan=False).encode()
    timestamp = str(int(time.time()))
    mac = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).digest()
    headers[f"{prefix}-Timestamp"] = timestamp
    headers[f"{prefix}-Signature"] = base64.b64encode(mac).decode()
    case.headers = headers
