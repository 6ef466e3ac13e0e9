"""The peer: autospawn's webhook flow written the way a Python team would, with FastAPI on one uvicorn worker.

Same contract as the Swift service for what the load exercises: POST /daily/webhook with Daily's signature
(base64 HMAC-SHA256 of "timestamp.body" under the base64-decoded secret, 300 s tolerance), Daily's event shape and
the simplified shape, the probe, bots screened out by name, and one SQLite transaction per event (BEGIN IMMEDIATE:
event id, room, participant, decision, claim) deciding exactly one bot per room under a global cap. Bots are
subprocesses started after the answer; the last human leaving schedules a stop after a grace period.

Settings come from the same AUTOSPAWN_* variables. Run: uvicorn app:app --workers 1 (bench/load.py does).
"""

import asyncio
import base64
import hashlib
import hmac
import json
import os
import re
import shlex
import signal
import sqlite3
import time
import uuid

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

MAX_BODY = 64 * 1024
SECRETS = [base64.b64decode(s) for s in os.environ.get("AUTOSPAWN_WEBHOOK_SECRET", "").split(",") if s]
REQUIRE_SIGNATURE = os.environ.get("AUTOSPAWN_REQUIRE_SIGNATURE", "0") == "1"
TOLERANCE = float(os.environ.get("AUTOSPAWN_SIGNATURE_TOLERANCE_S", "300"))
MAX_CONCURRENCY = int(os.environ.get("AUTOSPAWN_MAX_CONCURRENCY", "5"))
BOT_NAME = os.environ.get("AUTOSPAWN_BOT_NAME", "Pipecat Bot").lower()
BOT_COMMAND = shlex.split(os.environ["AUTOSPAWN_BOT_COMMAND"])
DOMAIN = os.environ.get("AUTOSPAWN_DAILY_DOMAIN")
EMPTY_GRACE = float(os.environ.get("AUTOSPAWN_EMPTY_GRACE_S", "20"))
DB_PATH = os.environ.get("AUTOSPAWN_DB", "peer.sqlite")
ROOM_NAME = re.compile(r"[A-Za-z0-9_-]{1,128}")
DAILY_KINDS = {"participant.joined": "join", "participant.left": "leave", "meeting.ended": "ended",
               "meeting.started": "started"}
SIMPLIFIED_KINDS = {"participant-joined": "join", "participant-left": "leave", "room-ended": "ended"}
ACTIVE = "('starting','running','stopping')"

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS session (
    id TEXT PRIMARY KEY, room_name TEXT NOT NULL, room_url TEXT, state TEXT NOT NULL, created_at REAL NOT NULL,
    updated_at REAL NOT NULL, ended_at REAL, end_reason TEXT, pid INTEGER, stop_at REAL);
CREATE UNIQUE INDEX IF NOT EXISTS session_one_active_per_room ON session(room_name) WHERE state IN {ACTIVE};
CREATE INDEX IF NOT EXISTS session_by_state ON session(state, created_at);
CREATE TABLE IF NOT EXISTS participant (
    room_name TEXT NOT NULL, key TEXT NOT NULL, present INTEGER NOT NULL, updated_at REAL NOT NULL,
    PRIMARY KEY (room_name, key)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS seen_event (id TEXT PRIMARY KEY, received_at REAL NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS room (name TEXT PRIMARY KEY, url TEXT, last_event_at REAL NOT NULL) WITHOUT ROWID;
"""

db = sqlite3.connect(DB_PATH, isolation_level=None, check_same_thread=False)
db.execute("PRAGMA journal_mode=WAL")
db.execute("PRAGMA busy_timeout=30000")
db.executescript(SCHEMA)
bots: dict[str, asyncio.subprocess.Process] = {}
app = FastAPI()


def answer(status, **body):
    return JSONResponse(body, status_code=status)


def verify(body: bytes, signature, timestamp, now):
    if not SECRETS:
        return "unsigned"
    if signature is None or timestamp is None:
        return "unsigned" if signature is None and timestamp is None and not REQUIRE_SIGNATURE else "missing_signature"
    try:
        provided = base64.b64decode(signature.strip(), validate=True)
    except ValueError:
        return "invalid_signature"
    message = timestamp.encode() + b"." + body
    if not any(hmac.compare_digest(hmac.new(s, message, hashlib.sha256).digest(), provided) for s in SECRETS):
        return "invalid_signature"
    try:
        sent = float(timestamp)
    except ValueError:
        return "stale_timestamp"
    sent = sent / 1000 if sent > 1e12 else sent
    return "valid" if abs(now - sent) <= TOLERANCE else "stale_timestamp"


def normalise(body: bytes):
    """(kind, event id, room name, room url, participant dict) or an error code."""
    try:
        data = json.loads(body)
    except ValueError:
        return "malformed_json"
    if not isinstance(data, dict):
        return "malformed_json"
    if data == {"test": "test"}:
        return "probe"
    if isinstance(data.get("type"), str):
        kind = DAILY_KINDS.get(data["type"])
        if kind is None:
            return "unknown_type"
        payload = data.get("payload")
        room = payload.get("room") if isinstance(payload, dict) else None
        participant = payload
        url = None
    elif isinstance(data.get("event"), str):
        kind = SIMPLIFIED_KINDS.get(data["event"])
        if kind is None:
            return "unknown_type"
        room_value = data.get("room")
        room = room_value.get("name") if isinstance(room_value, dict) else room_value
        url = room_value.get("url") if isinstance(room_value, dict) else None
        if url is not None and (not isinstance(url, str) or not url.endswith("/" + str(room)) or "?" in url or "#" in url):
            return "invalid_room"
        participant = data.get("participant")
    else:
        return "missing_type"
    if not isinstance(room, str) or not ROOM_NAME.fullmatch(room):
        return "invalid_room"
    if url is None and DOMAIN:
        url = f"https://{DOMAIN}.daily.co/{room}"
    event_id = data.get("id") or "sha256:" + hashlib.sha256(body).hexdigest()
    return kind, event_id, room, url, participant if isinstance(participant, dict) else {}


def record(kind, event_id, room, url, participant, now):
    """One transaction: the decision and its claim cannot race another event."""
    db.execute("BEGIN IMMEDIATE")
    try:
        if db.execute("INSERT OR IGNORE INTO seen_event VALUES (?, ?)", (event_id, now)).rowcount == 0:
            db.execute("COMMIT")
            return "duplicate", "duplicate_event", None
        db.execute("INSERT INTO room VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET last_event_at = excluded.last_event_at",
                   (room, url, now))
        if kind == "ended":
            db.execute("DELETE FROM participant WHERE room_name = ?", (room,))
        elif kind in ("join", "leave"):
            key = participant.get("session_id") or participant.get("user_id") or participant.get("user_name") or ""
            db.execute("INSERT INTO participant VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET present = excluded.present, "
                       "updated_at = excluded.updated_at", (room, key, kind == "join", now))
        active = db.execute(f"SELECT id, stop_at FROM session WHERE room_name = ? AND state IN {ACTIVE}", (room,)).fetchone()
        humans = db.execute("SELECT count(*) FROM participant WHERE room_name = ? AND present = 1", (room,)).fetchone()[0]
        action, reason, session = "recorded", "event_recorded", active[0] if active else None
        if kind == "join" and active is None:
            if db.execute(f"SELECT count(*) FROM session WHERE state IN {ACTIVE}").fetchone()[0] >= MAX_CONCURRENCY:
                action, reason = "rejected", "at_capacity"
            else:
                session = str(uuid.uuid4())
                db.execute("INSERT INTO session (id, room_name, room_url, state, created_at, updated_at) "
                           "VALUES (?, ?, ?, 'starting', ?, ?)", (session, room, url, now, now))
                action, reason = "spawned", "first_human"
        elif kind == "join" and active[1] is not None:
            db.execute("UPDATE session SET stop_at = NULL WHERE id = ?", (session,))
            reason = "stop_cancelled"
        elif kind == "join":
            reason = "already_running"
        elif kind == "leave" and active is not None and humans == 0:
            db.execute("UPDATE session SET stop_at = ? WHERE id = ?", (now + EMPTY_GRACE, session))
            action, reason = "stopping", "room_empty_grace"
        elif kind == "ended" and active is not None:
            db.execute("UPDATE session SET state = 'stopping', updated_at = ? WHERE id = ?", (now, session))
            action, reason = "stopping", "meeting_ended"
        db.execute("COMMIT")
        return action, reason, session
    except BaseException:
        db.execute("ROLLBACK")
        raise


async def launch(session, room, url):
    argv = [a.replace("{room_url}", url or "").replace("{room_name}", room).replace("{session_id}", session)
            for a in BOT_COMMAND]
    env = dict(os.environ, DAILY_ROOM_URL=url or "", AUTOSPAWN_SESSION_ID=session)
    try:
        process = await asyncio.create_subprocess_exec(*argv, env=env, stdin=asyncio.subprocess.DEVNULL,
                                                       stdout=asyncio.subprocess.DEVNULL,
                                                       stderr=asyncio.subprocess.DEVNULL, start_new_session=True)
    except OSError:
        finish(session, "failed", "spawn_failed")
        return
    bots[session] = process
    db.execute("UPDATE session SET state = 'running', pid = ?, updated_at = ? WHERE id = ? AND state = 'starting'",
               (process.pid, time.time(), session))
    code = await process.wait()
    bots.pop(session, None)
    finish(session, "ended" if code == 0 or code == -signal.SIGTERM else "failed", "bot_exited")


def finish(session, state, reason):
    now = time.time()
    db.execute(f"UPDATE session SET state = ?, end_reason = ?, ended_at = ?, updated_at = ? WHERE id = ? AND state IN {ACTIVE}",
               (state, reason, now, now, session))


async def stop(session):
    process = bots.get(session)
    if process is not None and process.returncode is None:
        process.send_signal(signal.SIGTERM)


async def scheduled_stops():
    while True:
        await asyncio.sleep(0.25)
        now = time.time()
        due = db.execute(f"SELECT id FROM session WHERE state IN {ACTIVE} AND stop_at <= ?", (now,)).fetchall()
        for (session,) in due:
            db.execute("UPDATE session SET state = 'stopping', stop_at = NULL, updated_at = ? WHERE id = ?", (now, session))
            await stop(session)


@app.on_event("startup")
async def start_scheduler():
    app.state.scheduler = asyncio.create_task(scheduled_stops())


@app.on_event("shutdown")
async def stop_bots():
    for session in list(bots):
        await stop(session)
    await asyncio.gather(*(p.wait() for p in list(bots.values())), return_exceptions=True)


@app.get("/health")
async def health():
    return {"status": "ok"}


@app.post("/daily/webhook")
async def webhook(request: Request):
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > MAX_BODY:
        return answer(413, ok=False, error="body_too_large")
    body = await request.body()
    if len(body) > MAX_BODY:
        return answer(413, ok=False, error="body_too_large")
    now = time.time()
    verdict = verify(body, request.headers.get("x-webhook-signature"), request.headers.get("x-webhook-timestamp"), now)
    if verdict not in ("valid", "unsigned"):
        if len(body) <= 64 and normalise(body) == "probe":
            return answer(200, ok=True, action="ignored", reason="probe")
        return answer(401, ok=False, error=verdict)
    event = normalise(body)
    if event == "probe":
        return answer(200, ok=True, action="ignored", reason="probe")
    if event == "unknown_type":
        return answer(200, ok=True, action="ignored", reason="unknown_type")
    if isinstance(event, str):
        return answer(400, ok=False, error=event)
    kind, event_id, room, url, participant = event
    if kind in ("join", "leave") and BOT_NAME in str(participant.get("user_name") or "").lower():
        return answer(200, ok=True, action="ignored", reason="bot_participant")
    action, reason, session = record(kind, event_id, room, url, participant, now)
    if action == "spawned":
        asyncio.get_running_loop().create_task(launch(session, room, url))
    elif action == "stopping" and reason == "meeting_ended":
        await stop(session)
    return answer(200, ok=True, action=action, reason=reason, session_id=session)
