"""Schemathesis hooks for autospawn: webhook and dial-in requests that carry both signature headers are signed the
way Daily signs them, and Twilio's call webhooks that carry X-Twilio-Signature the way Twilio signs them, so that
the fuzzer reaches their real paths (not only their 401 or 403), while requests without them still test the
refusal. The secrets come from AUTOSPAWN_WEBHOOK_SECRET, AUTOSPAWN_DIALIN_SECRET and AUTOSPAWN_TWILIO_AUTH_TOKEN
(with AUTOSPAWN_PUBLIC_URL), as the service's do."""

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


def sign_twilio(case):
    """Twilio's X-Twilio-Signature: HMAC-SHA1 of the public URL and the form's names and values, sorted by name."""
    token = os.environ.get("AUTOSPAWN_TWILIO_AUTH_TOKEN")
    headers = case.headers or {}
    if not token or (case.path_parameters or {}).get("carrier") != "twilio" or "X-Twilio-Signature" not in headers:
        return
    if not isinstance(case.body, dict) or not all(isinstance(v, str) for v in case.body.values()):
        return
    signed = os.environ["AUTOSPAWN_PUBLIC_URL"] + "/telephony/twilio/call"
    for name in sorted(case.body):
        signed += name + case.body[name]
    mac = hmac.new(token.encode(), signed.encode(), hashlib.sha1).digest()
    headers["X-Twilio-Signature"] = base64.b64encode(mac).decode()
    case.headers = headers


@schemathesis.hook
def before_call(context, case, kwargs):
    if case.operation.path == "/telephony/{carrier}/call":
        sign_twilio(case)
        return
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
