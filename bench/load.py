#!/usr/bin/env python3
"""End-to-end load, spawn latency and scale: autospawn's release build and the FastAPI peer, in one run.

For each implementation, on its own fresh database and loopback port:
  load      signed participant.joined/left events (Daily's shape) for many rooms, replayed by wrk at a fixed
            concurrency: events per second, p50/p99/p99.9 answer latency, the service's peak RSS; then the same
            load paced to half that rate, for latency at a realistic load.
  spawn     joins for new rooms, one at a time: time from sending the webhook to the bot process running (the
            bot, bench/clockbot.c, records its own start), p50 and p99.
  scale     the load again with 100,000 ended sessions and 1,000 active rooms (with live bots) in the database.
  warm      time to bot: joins one at a time, from the webhook sent to the bot's own code holding its room, with
            every bot started cold and with a warm pool (AUTOSPAWN_WARM_BOTS), for the example Pipecat bot and a
            synthetic bot that imports for 1 s; and the CPU and memory of the idle Pipecat bots.
  cluster   autospawn on PostgreSQL (--postgres, a server this script may create databases on): the load on one
            replica, then on two replicas at once (one wrk each, half the rooms each, started together), and the
            hand-off latency: joins sent to a replica at its own limit (AUTOSPAWN_MAX_LOCAL_BOTS=1), time until the
            bot runs on the other replica, p50 and p99.

Prints a Markdown report; --write FILE writes it (with the micro-benchmarks' table, if given) as BENCHMARKS.md.
Needs wrk, a C compiler, the release build (swift build -c release --product autospawn) and a Python environment
with bench/peer/requirements.txt (bench/run makes all of these).
"""

import argparse
import base64
import datetime
import hashlib
import hmac
import http.client
import json
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SECRET = base64.b64encode(b"benchmark webhook secret, not a real one").decode()
KEY = base64.b64decode(SECRET)


class BenchmarkFailure(Exception):
    """A run whose figures would be wrong (errors, a server that did not start): the report is not written."""


# MARK: the two implementations


class Implementation:
    """How to start one implementation and to seed its database with history."""

    def __init__(self, name, argv):
        self.name = name
        self.argv = argv

    def environment(self, workdir, port, bot_command, grace, extra=None):
        return dict(
            os.environ,
            AUTOSPAWN_HOST="127.0.0.1",
            AUTOSPAWN_PORT=str(port),
            AUTOSPAWN_DB=str(workdir / "state.sqlite"),
            AUTOSPAWN_WEBHOOK_SECRET=SECRET,
            AUTOSPAWN_REQUIRE_SIGNATURE="1",
            AUTOSPAWN_DAILY_DOMAIN="bench",
            AUTOSPAWN_MAX_CONCURRENCY="100000",
            AUTOSPAWN_BOT_COMMAND=bot_command,
            AUTOSPAWN_EMPTY_GRACE_S=str(grace),
            AUTOSPAWN_BOT_LOG_DIR=str(workdir / "bot-logs"),
            # A run ends with SIGTERM: its bots stop then (a drain would wait for calls that never end).
            AUTOSPAWN_SHUTDOWN="stop",
        ) | (extra or {})


def autospawn_seed(db, sessions, now):
    """History as the service leaves it: ended sessions, their rooms, their events and their departed humans."""
    db.executemany(
        "INSERT INTO session (id, room_name, room_url, state, launcher, created_at, updated_at, ended_at, end_reason, "
        "exit_code, owner_instance, body, bot_user_id) VALUES (?, ?, ?, 'ended', 'process', ?, ?, ?, 'room_empty', 0, "
        "'seeded-instance', '{}', ?)",
        ((sid, room, f"https://bench.daily.co/{room}", t, t + 60, t + 60, f"autospawn-{sid}") for sid, room, t in sessions))
    seed_common(db, sessions)


def peer_seed(db, sessions, now):
    db.executemany(
        "INSERT INTO session (id, room_name, room_url, state, created_at, updated_at, ended_at, end_reason) "
        "VALUES (?, ?, ?, 'ended', ?, ?, ?, 'bot_exited')",
        ((sid, room, f"https://bench.daily.co/{room}", t, t + 60, t + 60) for sid, room, t in sessions))
    seed_common(db, sessions)


def seed_common(db, sessions):
    db.executemany("INSERT INTO room (name, url, last_event_at) VALUES (?, ?, ?)",
                   ((room, f"https://bench.daily.co/{room}", t + 60) for _, room, t in sessions))
    db.executemany("INSERT INTO participant (room_name, key, present, updated_at) VALUES (?, ?, 0, ?)",
                   ((room, f"human-{sid}", t + 60) for sid, room, t in sessions))
    db.executemany("INSERT INTO seen_event (id, received_at) VALUES (?, ?)",
                   ((f"{kind}-{sid}", t) for sid, _, t in sessions for kind in ("join", "left")))


def implementations(binary, python):
    return {
        "autospawn": (Implementation("autospawn", [str(binary), "serve"]), autospawn_seed),
        "fastapi-peer": (
            Implementation("fastapi-peer", [str(python), "-m", "uvicorn", "--app-dir", str(ROOT / "bench/peer"),
                                            "--workers", "1", "--host", "127.0.0.1", "--port", "{port}", "app:app"]),
            peer_seed),
    }


# MARK: processes


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One implementation running on a loopback port with its own folder; `database` is a PostgreSQL URL, or None
    for SQLite's file in the folder."""

    def __init__(self, impl, workdir, bot_command, grace=2, database=None, extra=None):
        self.impl = impl
        self.workdir = workdir
        self.port = free_port()
        self.database = database
        settings = dict(extra or {})
        if database:
            settings["AUTOSPAWN_DB"] = database
        self.env = impl.environment(workdir, self.port, bot_command, grace, settings)
        self.process = None

    def start(self):
        argv = [a.replace("{port}", str(self.port)) for a in self.impl.argv]
        self.log = open(self.workdir / f"{self.impl.name}.log", "ab")
        self.process = subprocess.Popen(argv, env=self.env, stdout=self.log, stderr=subprocess.STDOUT, cwd=self.workdir)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise BenchmarkFailure(f"{self.impl.name} exited with {self.process.returncode}; see {self.log.name}")
            try:
                status, _ = get(self.port, "/health")
                if status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        raise BenchmarkFailure(f"{self.impl.name} did not answer /health within 60 s")

    def peak_rss_mib(self):
        """VmHWM: the most resident memory the process has had since it started."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise BenchmarkFailure("no VmHWM in /proc")

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=90)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()

    @property
    def db(self):
        return self.workdir / "state.sqlite"


def get(port, path):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


# MARK: events


def signed(body: bytes, timestamp: str):
    message = timestamp.encode() + b"." + body
    return base64.b64encode(hmac.new(KEY, message, hashlib.sha256).digest()).decode()


def participant_event(kind, room, human, sent_at):
    session = f"{room}-h{human}"
    payload = {
        "room": room, "session_id": session, "user_id": f"user-{human}", "user_name": f"Human {human}",
        "joined_at": sent_at, "will_eject_at": None, "owner": False,
        "permissions": {"hasPresence": True, "canSend": True, "canReceive": {"base": True}, "canAdmin": False},
    }
    if kind == "participant.left":
        payload["duration"] = 60
    event_id = f"ptcpt-{'join' if kind == 'participant.joined' else 'leave'}-{session}-{uuid.uuid4().hex[:8]}"
    body = {"version": "1.0.0", "type": kind, "id": event_id, "payload": payload, "event_ts": sent_at}
    return json.dumps(body, separators=(",", ":")).encode()


def call_events(prefix, rooms, humans, group=100):
    """Calls in waves of `group` rooms: every human joins, then every human leaves; rooms of a wave interleave,
    so consecutive events of one room are a wave apart and arrive in order at any concurrency below that."""
    now = time.time()
    for start in range(0, rooms, group):
        wave = [f"{prefix}-{r}" for r in range(start, min(start + group, rooms))]
        for human in range(humans):
            for room in wave:
                yield participant_event("participant.joined", room, human, now)
        for human in reversed(range(humans)):
            for room in wave:
                yield participant_event("participant.left", room, human, now)


def write_replay(path, bodies):
    """Signs each body now: the run must start within the 300 s signature tolerance."""
    timestamp = str(int(time.time()))
    count = 0
    with open(path, "w") as out:
        for body in bodies:
            out.write(f"{timestamp}\n{signed(body, timestamp)}\n{body.decode()}\n")
            count += 1
    return count


def run_wrk(port, replay, connections, seconds, rate=0):
    env = dict(os.environ, REPLAY_FILE=str(replay), REPLAY_RATE=str(rate))
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", str(ROOT / "bench/replay.lua"),
            f"http://127.0.0.1:{port}/daily/webhook"]
    output = subprocess.run(argv, env=env, capture_output=True, text=True, check=True).stdout
    result = json.loads(output.strip().splitlines()[-1])
    errors = {k: v for k, v in result["errors"].items() if v}
    if errors:
        raise BenchmarkFailure(f"errors under load: {errors}")
    result["rate"] = result["answered"] / (result["elapsed_us"] / 1e6)
    return result


def post_event(connection, body):
    timestamp = str(int(time.time()))
    connection.request("POST", "/daily/webhook", body=body, headers={
        "Content-Type": "application/json", "X-Webhook-Timestamp": timestamp,
        "X-Webhook-Signature": signed(body, timestamp)})
    response = connection.getresponse()
    answer = response.read()
    if response.status != 200:
        raise BenchmarkFailure(f"webhook answered {response.status}: {answer[:200]!r}")
    return json.loads(answer)


def count(server, sql, *parameters):
    """One number from the server's database: SQLite's file, or PostgreSQL through psql."""
    if server.database:
        for parameter in parameters:
            sql = sql.replace("?", "'" + parameter.replace("'", "''") + "'", 1)
        output = subprocess.run(["psql", "-XAtq", server.database, "-c", sql], capture_output=True, text=True, check=True)
        return int(output.stdout.strip())
    with sqlite3.connect(server.db, timeout=30) as db:
        return db.execute(sql, parameters).fetchone()[0]


def active_sessions(server):
    return count(server, "SELECT count(*) FROM session WHERE state IN ('starting','running','stopping')")


def rooms_with_bots(server, prefix):
    return count(server, "SELECT count(DISTINCT room_name) FROM session WHERE room_name LIKE ?", prefix + "-%")


def new_postgres_database(server_url):
    """A new, empty database on the PostgreSQL server `server_url` names; returns its URL."""
    name = "autospawn_bench_" + uuid.uuid4().hex[:12]
    subprocess.run(["psql", "-XAtq", server_url, "-c", f"CREATE DATABASE {name}"], check=True, capture_output=True)
    base, _, query = server_url.partition("?")
    return base.rsplit("/", 1)[0] + "/" + name + ("?" + query if query else "")


# MARK: scenarios


def load(impl, seed, workdir, args, large):
    """The load at full speed, then paced to half its rate, on one server; with history first when `large`."""
    server = Server(impl, workdir, "sleep 3600")
    if large:
        # The schema comes from the implementation itself: start it once, then write history beside it.
        server.start().stop()
        now = time.time() - 86400
        sessions = [(str(uuid.uuid4()), f"old-{i}", now + i * 0.5) for i in range(args.history)]
        with sqlite3.connect(server.db) as db:
            seed(db, sessions, now)
    server.start()
    try:
        if large:
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
            for i in range(args.active_rooms):
                post_event(connection, participant_event("participant.joined", f"live-{i}", 0, time.time()))
            connection.close()
            wait_for(lambda: active_sessions(server) >= args.active_rooms, 60, "the active rooms' bots")
        figures = {}
        full_file = workdir / "full.replay"
        events = write_replay(full_file, call_events("full", args.rooms, args.humans))
        full = run_wrk(server.port, full_file, args.connections, args.seconds)
        figures["full"] = full
        # Half the rate, paced by wrk on a fixed schedule: latency at a load the service carries with room to spare.
        half_file = workdir / "half.replay"
        write_replay(half_file, call_events("half", args.rooms, args.humans))
        # wrk always runs for its -d (its main thread sleeps that long): no longer than the replay needs.
        seconds = min(args.seconds, int(events / (full["rate"] / 2)) + 3)
        figures["half"] = run_wrk(server.port, half_file, args.connections, seconds, rate=full["rate"] / 2)
        figures["rss_mib"] = server.peak_rss_mib()
        figures["events"] = events
        figures["bots_ok"] = rooms_with_bots(server, "full") == rooms_in(full["answered"], args)
        if large:
            figures["active_before"] = args.active_rooms
        return figures
    finally:
        server.stop()


def run_wrk_together(runs, connections, seconds, rate=0):
    """Several wrk runs started at once (one per replica); their answers summed over the longest run."""
    processes = []
    for port, replay in runs:
        env = dict(os.environ, REPLAY_FILE=str(replay), REPLAY_RATE=str(rate))
        argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s",
                str(ROOT / "bench/replay.lua"), f"http://127.0.0.1:{port}/daily/webhook"]
        processes.append(subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, text=True))
    results = []
    for process in processes:
        output, _ = process.communicate()
        if process.returncode != 0:
            raise BenchmarkFailure(f"wrk exited with {process.returncode}")
        result = json.loads(output.strip().splitlines()[-1])
        errors = {k: v for k, v in result["errors"].items() if v}
        if errors:
            raise BenchmarkFailure(f"errors under load: {errors}")
        results.append(result)
    elapsed = max(r["elapsed_us"] for r in results)
    answered = sum(r["answered"] for r in results)
    # Percentiles of the union are not those of the parts: the worse replica's are reported.
    return {"answered": answered, "elapsed_us": elapsed, "rate": answered / (elapsed / 1e6),
            **{k: max(r[k] for r in results) for k in ("p50_us", "p99_us", "p999_us")}}


def cluster_load(impl, workdir, args, replicas):
    """The load over `replicas` replicas on one new PostgreSQL database, each replayed by its own wrk with half the
    connections; then paced to half the rate."""
    database = new_postgres_database(args.postgres)
    servers = []
    for index in range(replicas):
        folder = workdir / f"replica-{index}"
        folder.mkdir()
        servers.append(Server(impl, folder, "sleep 3600", database=database,
                              extra={"AUTOSPAWN_HOST_ID": f"bench-{index}"}).start())
    try:
        connections = max(1, args.connections // replicas)
        figures = {}
        for label, rate_of in (("full", None), ("half", 0.5)):
            runs = []
            for index, server in enumerate(servers):
                replay = workdir / f"{label}-{index}.replay"
                events = write_replay(replay, call_events(f"{label}{index}", args.rooms // replicas, args.humans))
                runs.append((server.port, replay))
            if rate_of is None:
                figures["full"] = run_wrk_together(runs, connections, args.seconds)
            else:
                rate = figures["full"]["rate"] * rate_of / replicas
                seconds = min(args.seconds, int(events / rate) + 3)
                figures["half"] = run_wrk_together(runs, connections, seconds, rate=rate)
        figures["rss_mib"] = max(server.peak_rss_mib() for server in servers)
        return figures
    finally:
        for server in servers:
            server.stop()


def handoff_latency(impl, workdir, args, clockbot):
    """Joins sent to a replica at its own limit; the bots start on the other replica: webhook sent -> bot running."""
    database = new_postgres_database(args.postgres)
    starts = workdir / "bot-starts.txt"
    full_folder, roomy_folder = workdir / "full", workdir / "roomy"
    full_folder.mkdir()
    roomy_folder.mkdir()
    bot = f"{clockbot} {{room_url}} {starts}"
    full = Server(impl, full_folder, bot, database=database,
                  extra={"AUTOSPAWN_HOST_ID": "bench-full", "AUTOSPAWN_MAX_LOCAL_BOTS": "1"}).start()
    roomy = Server(impl, roomy_folder, bot, database=database, extra={"AUTOSPAWN_HOST_ID": "bench-roomy"}).start()
    try:
        connection = http.client.HTTPConnection("127.0.0.1", full.port, timeout=30)
        post_event(connection, participant_event("participant.joined", "occupant", 0, time.time()))
        connection.close()
        wait_for(lambda: starts.exists() and len(starts.read_text().splitlines()) >= 1, 30, "the full replica's own bot")
        figures = start_latencies(full.port, "handoff", args.handoffs, args.spawn_gap, starts, before=1)
        on_roomy = count(roomy, "SELECT count(*) FROM session WHERE room_name LIKE 'handoff-%' AND owner_instance <> "
                                "(SELECT owner_instance FROM session WHERE room_name = 'occupant')")
        if on_roomy != args.handoffs:
            raise BenchmarkFailure(f"{args.handoffs - on_roomy} hand-offs ran on the full replica")
        return figures
    finally:
        full.stop()
        roomy.stop()


def rooms_in(delivered, args, group=100):
    """How many rooms of call_events got their first join within the first `delivered` events."""
    per_wave = group * args.humans * 2
    waves, rest = divmod(delivered, per_wave)
    return min(args.rooms, waves * group + min(group, rest))


def spawn_latency(impl, workdir, args, clockbot):
    starts = workdir / "bot-starts.txt"
    server = Server(impl, workdir, f"{clockbot} {{room_url}} {starts}").start()
    try:
        return start_latencies(server.port, "spawn", args.spawns, args.spawn_gap, starts)
    finally:
        server.stop()


def start_latencies(port, prefix, count, gap, starts, before=0):
    """Joins for `count` new rooms, `gap` s apart, sent to `port`; from each webhook sent to its bot's first
    instruction (the bots append to `starts`, after `before` lines already there): p50, p99, max."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    sent = {}
    for i in range(count):
        room = f"{prefix}-{i}"
        body = participant_event("participant.joined", room, 0, time.time())
        sent[f"https://bench.daily.co/{room}"] = time.time_ns()
        answer = post_event(connection, body)
        if answer.get("action") != "spawned":
            raise BenchmarkFailure(f"join of {room} was answered {answer}")
        time.sleep(gap)
    connection.close()
    wait_for(lambda: starts.exists() and len(starts.read_text().splitlines()) >= before + count, 60, "every bot's start")
    latencies = sorted(int(ns) - sent[url] for url, ns in (line.split() for line in starts.read_text().splitlines())
                       if url in sent)
    return {"p50_ms": percentile(latencies, 50) / 1e6, "p99_ms": percentile(latencies, 99) / 1e6,
            "max_ms": latencies[-1] / 1e6, "count": len(latencies)}


# MARK: time to bot, cold and warm


ROOM_RECEIVED = re.compile(r"room received at ([0-9.]+): ([^;\s]+)")


def time_to_bot(impl, workdir, args, command, warm):
    """Joins for new rooms, one at a time, with `warm` idle processes of `command` (0: every bot starts cold): from
    the webhook sent to the bot's own code holding its room (it prints "room received at <unix time>: <url>"), p50,
    p99 and max. With a pool, each join waits until the pool is full again and every idle process has loaded."""
    server = Server(impl, workdir, command, extra={"AUTOSPAWN_WARM_BOTS": str(warm), "AUTOSPAWN_STOP_GRACE_S": "5"}).start()
    logs, pool = workdir / "bot-logs", workdir / "bot-logs" / "warm"
    try:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        latencies, assigned = [], 0
        for i in range(args.bot_starts):
            if warm:
                wait_for(lambda: pool_loaded(pool, warm), 120, "a full pool of loaded warm bots")
            room = f"ttb-{i}"
            url = f"https://bench.daily.co/{room}"
            sent = time.time()
            answer = post_event(connection, participant_event("participant.joined", room, 0, sent))
            if answer.get("action") != "spawned":
                raise BenchmarkFailure(f"join of {room} was answered {answer}")
            log = logs / f"{answer['session_id']}.log"

            def received():
                found = log.exists() and ROOM_RECEIVED.search(log.read_text(errors="replace"))
                return found if found and found.group(2) == url else None

            wait_for(received, 120, f"the bot of {room} to hold its room")
            latencies.append(float(received().group(1)) - sent)
        connection.close()
        if warm:
            _, metrics = get(server.port, "/metrics")
            assigned = next((float(line.split()[-1]) for line in metrics.decode().splitlines()
                             if line.startswith("autospawn_warm_bots_assigned_total")), 0)
            if assigned != args.bot_starts:
                raise BenchmarkFailure(f"only {assigned:.0f} of {args.bot_starts} bots were warm")
        latencies.sort()
        return {"p50_ms": percentile(latencies, 50) * 1e3, "p99_ms": percentile(latencies, 99) * 1e3,
                "max_ms": latencies[-1] * 1e3, "count": len(latencies)}
    finally:
        server.stop()


def pool_loaded(pool, warm):
    """The pool folder holds `warm` idle processes' files, and each has said that it waits for its room."""
    idle = list(pool.glob("default.*.*.log")) if pool.exists() else []
    return len(idle) == warm and all("waiting for a room" in p.read_text(errors="replace") for p in idle)


def pool_at_rest(impl, workdir, command, warm, seconds=10):
    """N idle processes of `command`, loaded: their resident memory (with their children's) and the CPU they use
    while they wait, over `seconds`."""
    server = Server(impl, workdir, command, extra={"AUTOSPAWN_WARM_BOTS": str(warm)}).start()
    pool = workdir / "bot-logs" / "warm"
    try:
        wait_for(lambda: pool_loaded(pool, warm), 120, "a full pool of loaded warm bots")
        time.sleep(2)  # what loading left running settles
        groups = [int(p.name.split(".")[1]) for p in pool.glob("default.*.*.log")]
        members = lambda: [pid for pid in map(int, filter(str.isdigit, os.listdir("/proc")))
                           if _stat(pid) and int(_stat(pid)[2]) in groups]
        ticks = lambda: sum(int(_stat(pid)[11]) + int(_stat(pid)[12]) for pid in members() if _stat(pid))
        before, start = ticks(), time.time()
        time.sleep(seconds)
        cpu = (ticks() - before) / os.sysconf("SC_CLK_TCK") / (time.time() - start)
        rss = sum(_rss_kib(pid) for pid in members()) / 1024
        return {"idle": warm, "rss_mib": rss, "rss_mib_each": rss / warm, "cpu_percent": cpu * 100}
    finally:
        server.stop()


def _stat(pid):
    """Fields of /proc/PID/stat after the command's name (state first), or None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()


def _rss_kib(pid):
    try:
        return next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                    if line.startswith("VmRSS:"))
    except (OSError, StopIteration):
        return 0


def warm_bots(impl, workdir, args):
    """Time to bot with the example Pipecat bot (its venv; `--check` builds the pipeline and joins nothing) and with
    the synthetic bot that imports for 1 s, cold then warm; and the pool's cost at rest."""
    pipecat = f"{args.pipecat_python} {ROOT / 'examples/pipecat-bot/bot.py'} --check"
    slow = f"{sys.executable} {ROOT / 'bench/slowbot.py'}"
    results = {}
    for bot, command in (("pipecat", pipecat), ("slow", slow)):
        for mode, warm in (("cold", 0), ("warm", args.warm_bots)):
            folder = workdir / f"{bot}-{mode}"
            folder.mkdir()
            print(f"  time to bot: {bot}, {mode} ...", file=sys.stderr, flush=True)
            results[f"{bot}_{mode}"] = time_to_bot(impl, folder, args, command, warm)
    folder = workdir / "at-rest"
    folder.mkdir()
    results["at_rest"] = pool_at_rest(impl, folder, pipecat, args.warm_bots)
    return results


def phone_calls(impl, workdir, args):
    """Twilio calls through the relay, every bot the phone double's echo bot (release build): the webhook to the bot's
    first frame back, cold and with warm bots; then the round trip of every 20 ms frame with many calls at once."""
    phone = ROOT / ".build/release/phone-double"
    if not phone.exists():
        raise BenchmarkFailure(f"no release build of phone-double at {phone} (swift build -c release --product phone-double)")
    token = workdir / "twilio-token"
    token.write_text("bench-twilio-token\n")
    results = {}
    for mode, warm in (("cold", 0), ("warm", args.warm_bots)):
        folder = workdir / mode
        folder.mkdir()
        server = Server(impl, folder, f"{phone} echo-bot", extra={
            "AUTOSPAWN_PUBLIC_URL": "http://bench.invalid", "AUTOSPAWN_TWILIO_AUTH_TOKEN_FILE": str(token),
            "AUTOSPAWN_WARM_BOTS": str(warm), "AUTOSPAWN_MAX_LOCAL_BOTS": "100000", "AUTOSPAWN_STOP_GRACE_S": "2",
        }).start()
        try:
            if warm:
                time.sleep(3)  # the pool fills before the first call
            calls = args.call_counts if mode == "cold" else "0"
            command = [str(phone), "bench", "--public-url", "http://bench.invalid", "--service-url",
                       f"http://127.0.0.1:{server.port}", "--auth-token-file", str(token), "--first-frames",
                       str(args.bot_starts), "--calls", calls, "--seconds", str(args.call_seconds)]
            out = subprocess.run(command, capture_output=True, text=True, timeout=1800)
            if out.returncode != 0:
                raise BenchmarkFailure(f"phone-double bench failed: {out.stderr[-2000:]}")
            results[mode] = json.loads(out.stdout.strip().splitlines()[-1])
        finally:
            server.stop()
    return results


def calls_report(calls):
    """BENCHMARKS.md's phone-call tables."""
    if not calls:
        return ""
    first = "| bots | webhook -> first frame back p50 / p99 |\n|---|---|\n" + "\n".join(
        f"| {mode} | {calls[mode]['first_frame_ms']['p50']:.2f} / {calls[mode]['first_frame_ms']['p99']:.2f} ms |"
        for mode in ("cold", "warm") if mode in calls)
    trips = "| calls at once | frames | round trip p50 / p99 / max | later than 20 ms | lost |\n|---|---|---|---|---|\n" + "\n".join(
        f"| {run['calls']:.0f} | {run['frames']:,.0f} | {run['p50_ms']:.2f} / {run['p99_ms']:.2f} / {run['max_ms']:.2f} ms "
        f"| {run['late']:,.0f} | {run['lost']:.0f} |" for run in calls.get("cold", {}).get("round_trips", []))
    return first + "\n\n" + trips


def percentile(sorted_values, p):
    index = min(len(sorted_values) - 1, max(0, round(p / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[index]


def wait_for(condition, seconds, what):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise BenchmarkFailure(f"timed out waiting for {what}")


# MARK: report


def machine():
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    memory = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal"))
    return f"{os.cpu_count()} cores ({model}), {memory / 1024 / 1024:.0f} GiB, {platform.system()} {platform.release()}"


def report(results, args, command):
    names = list(results)
    rows = []

    def row(label, fmt, pick, unit=""):
        rows.append(f"| {label} | " + " | ".join(fmt.format(pick(results[n])) + unit for n in names) + " |")

    for scale, title in (("empty", "empty database"), ("large", f"{args.history:,} ended sessions, {args.active_rooms:,} active rooms")):
        if not all(scale in results[n] for n in names):
            continue
        row(f"events/s, full speed ({title})", "{:,.0f}", lambda r: r[scale]["full"]["rate"])
        row(f"answer p50 / p99 / p99.9 at full speed ({title})", "{}", lambda r: "{:.2f} / {:.2f} / {:.2f} ms".format(
            r[scale]["full"]["p50_us"] / 1e3, r[scale]["full"]["p99_us"] / 1e3, r[scale]["full"]["p999_us"] / 1e3))
        row(f"events/s at half speed ({title})", "{:,.0f}", lambda r: r[scale]["half"]["rate"])
        row(f"answer p50 / p99 / p99.9 at half speed ({title})", "{}", lambda r: "{:.2f} / {:.2f} / {:.2f} ms".format(
            r[scale]["half"]["p50_us"] / 1e3, r[scale]["half"]["p99_us"] / 1e3, r[scale]["half"]["p999_us"] / 1e3))
        row(f"peak RSS ({title})", "{:.1f}", lambda r: r[scale]["rss_mib"], " MiB")
    if all("spawn" in results[n] for n in names):
        row(f"spawn latency p50 / p99 ({args.spawns} spawns)", "{}",
            lambda r: "{:.2f} / {:.2f} ms".format(r["spawn"]["p50_ms"], r["spawn"]["p99_ms"]))
    header = "| | " + " | ".join(names) + " |\n|---|" + "---|" * len(names)
    lines = [header] + rows
    if len(names) == 2 and all("empty" in results[n] for n in names):
        a, b = (results[n]["empty"]["full"]["rate"] for n in names)
        lines.append("")
        lines.append(f"**{names[0]} handles {a / b:.1f} times the events per second of {names[1]}** "
                     f"(full speed, empty database).")
    conditions = (f"Load: {args.rooms:,} rooms in waves of 100, {args.humans} humans each joining then leaving "
                  f"({args.rooms * args.humans * 2:,} signed events in Daily's shape), wrk with {args.connections} "
                  f"connections for at most {args.seconds} s; half speed: the same with requests sent on a fixed "
                  f"schedule at half the full-speed rate. Bots: `sleep 3600`, stopped {2} s after their room "
                  f"empties. Spawn latency: webhook sent -> bot's first instruction (bench/clockbot.c), joins "
                  f"{args.spawn_gap * 1000:.0f} ms apart.")
    cluster = ""
    if "autospawn" in results and "pg1" in results["autospawn"]:
        columns = [("SQLite, 1 instance", results["autospawn"].get("empty")),
                   ("PostgreSQL, 1 replica", results["autospawn"].get("pg1")),
                   ("PostgreSQL, 2 replicas", results["autospawn"].get("pg2")),
                   ("fastapi-peer", results.get("fastapi-peer", {}).get("empty"))]
        columns = [(name, figures) for name, figures in columns if figures]
        table = ["| | " + " | ".join(name for name, _ in columns) + " |", "|---|" + "---|" * len(columns)]
        table.append("| events/s, full speed | " + " | ".join(f"{f['full']['rate']:,.0f}" for _, f in columns) + " |")
        table.append("| answer p50 / p99 at full speed | " + " | ".join(
            f"{f['full']['p50_us'] / 1e3:.2f} / {f['full']['p99_us'] / 1e3:.2f} ms" for _, f in columns) + " |")
        table.append("| events/s at half speed | " + " | ".join(f"{f['half']['rate']:,.0f}" for _, f in columns) + " |")
        table.append("| answer p50 / p99 at half speed | " + " | ".join(
            f"{f['half']['p50_us'] / 1e3:.2f} / {f['half']['p99_us'] / 1e3:.2f} ms" for _, f in columns) + " |")
        cluster = "\n".join(table)
        if "handoff" in results["autospawn"]:
            h = results["autospawn"]["handoff"]
            cluster += (f"\n\nHand-off latency ({h['count']} joins sent to a replica at its own limit, each bot started "
                        f"by the other replica; webhook sent -> bot's first instruction): "
                        f"**p50 {h['p50_ms']:.2f} ms, p99 {h['p99_ms']:.2f} ms** (max {h['max_ms']:.2f} ms).")
    warm = ""
    if "autospawn" in results and "warm" in results["autospawn"]:
        w = results["autospawn"]["warm"]
        table = ["| bot | cold p50 / p99 | warm p50 / p99 | cold p50 ÷ warm p50 |", "|---|---|---|---|"]
        for key, label in (("pipecat", "example Pipecat bot (Pipecat 1.14, Silero VAD)"), ("slow", "synthetic bot, imports for 1 s")):
            cold, hot = w[f"{key}_cold"], w[f"{key}_warm"]
            table.append(f"| {label} | {cold['p50_ms']:.1f} / {cold['p99_ms']:.1f} ms | {hot['p50_ms']:.2f} / "
                         f"{hot['p99_ms']:.2f} ms | **{cold['p50_ms'] / hot['p50_ms']:.0f}×** |")
        rest = w["at_rest"]
        warm = ("\n".join(table) + f"\n\nThe pool at rest: {rest['idle']} idle example Pipecat bots hold "
                f"**{rest['rss_mib']:.0f} MiB** resident ({rest['rss_mib_each']:.0f} MiB each, their children included) "
                f"and use **{rest['cpu_percent']:.1f} %** of one core while they wait (measured over 10 s).")
    return "\n".join(lines), conditions, cluster, warm


DOCUMENT = """# Benchmarks

Regenerated by `{command}`, never edited by hand. Machine: {machine}. Date: {date}.
Targets (issue 5): at least 10 times the peer's events per second, p99 answer latency under 10 ms at half the
maximum rate, spawn latency p50 under 10 ms, under 50 MB RSS with the large database.

## End to end: autospawn's release build against the FastAPI peer

{conditions}

{table}

The peer (`bench/peer/app.py`) is the same flow in Python: FastAPI {fastapi} on uvicorn {uvicorn} (one worker,
uvloop and httptools), the same signature check, both event shapes, bots screened by name, one SQLite
transaction per event deciding and claiming, subprocess bots and the empty-room grace.

## A cluster on PostgreSQL

The same load (the same events, wrk with the same {connections} connections in all) on autospawn with SQLite,
on PostgreSQL 15 (Debian's package, a throwaway server on loopback with its default durability: `fsync` and
`synchronous_commit` on) with one replica, and with two replicas on one database, each replayed by its own wrk
(half the rooms and half the connections each, started together; the worse replica's latency is shown). Every
process (PostgreSQL, the replicas, wrk) shares the machine's 2 cores.

{cluster}

## Warm bots: time to bot, cold and warm

From the webhook sent to the bot's own code holding its room (the bot prints the time: after its imports when
started cold, after reading its room on standard input when warm), {bot_starts} joins for new rooms one at a
time per bot and mode, with `AUTOSPAWN_WARM_BOTS={warm_bots}` for the warm runs (each join once the pool is full
and loaded again: the steady state of a pool sized for its traffic). The example Pipecat bot runs with `--check`
(it builds its pipeline and joins nothing: no call reaches Daily); `bench/slowbot.py` sleeps 1 s for its imports.

{warm}

## Phone calls over a WebSocket

Twilio calls from the phone double through the relay to the phone double's echo bot (release builds of both), on
the same machine: from the webhook sent to the bot's first frame back ({bot_starts} calls one after another, each
bot started cold, then taken from a pool of `AUTOSPAWN_WARM_BOTS={warm_bots}`), then the round trip of every 20 ms
media frame (carrier -> relay -> bot -> relay -> carrier: both of the relay's hops and the bot's echo) with many calls
sending in real time at once.

{calls}

## Micro-benchmarks: the webhook path's parts

`AUTOSPAWN_BENCHMARKS=1 swift package -c release benchmark --target WebhookPathBenchmarks` (ordo-one/benchmark 1.38.1), per
operation: wall clock and allocations (`Malloc (total)`), p50 of the samples unless said otherwise.

{micro}

{history}
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=str(ROOT / ".build/release/autospawn"))
    parser.add_argument("--python", default=sys.executable, help="the Python with bench/peer/requirements.txt")
    parser.add_argument("--only", choices=["autospawn", "fastapi-peer"], action="append")
    parser.add_argument("--rooms", type=int, default=3000)
    parser.add_argument("--humans", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=int, default=30, help="longest a wrk run may take")
    parser.add_argument("--spawns", type=int, default=300)
    parser.add_argument("--spawn-gap", type=float, default=0.02)
    parser.add_argument("--history", type=int, default=100_000)
    parser.add_argument("--active-rooms", type=int, default=1000)
    parser.add_argument("--handoffs", type=int, default=200)
    parser.add_argument("--postgres", help="a PostgreSQL server's URL, on which the cluster runs create databases")
    parser.add_argument("--bot-starts", type=int, default=100, help="joins per bot and mode in the time-to-bot run")
    parser.add_argument("--warm-bots", type=int, default=2, help="AUTOSPAWN_WARM_BOTS in the time-to-bot run")
    parser.add_argument("--pipecat-python", default=str(ROOT / ".build/pipecat-venv/bin/python"),
                        help="the Python with examples/pipecat-bot/requirements.txt (examples/pipecat-bot/check makes it)")
    parser.add_argument("--skip", choices=["load", "spawn", "scale", "cluster", "warm", "calls"], action="append", default=[])
    parser.add_argument("--call-counts", default="100,200,400", help="calls at once in the phone-call round-trip runs")
    parser.add_argument("--call-seconds", type=float, default=5, help="seconds of frames each call sends in those runs")
    parser.add_argument("--micro", help="the micro-benchmarks' Markdown output, for --write")
    parser.add_argument("--write", help="write the report as this Markdown document (BENCHMARKS.md)")
    parser.add_argument("--command", default="bench/run", help="the command named in the document")
    parser.add_argument("--json", help="also write the raw figures here")
    args = parser.parse_args()
    args.python = str(Path(args.python).absolute())  # the servers run in their own folders
    if shutil.which("wrk") is None:
        sys.exit("bench/load.py: wrk is missing (apt-get install wrk)")
    if not Path(args.binary).exists():
        sys.exit(f"bench/load.py: no release build at {args.binary} (swift build -c release --product autospawn)")

    scratch = Path(tempfile.mkdtemp(prefix="autospawn-bench-"))
    clockbot = scratch / "clockbot"
    subprocess.run(["cc", "-O2", "-o", str(clockbot), str(ROOT / "bench/clockbot.c")], check=True)
    results = {}
    try:
        for name, (impl, seed) in implementations(args.binary, args.python).items():
            if args.only and name not in args.only:
                continue
            results[name] = {}
            steps = [("empty", lambda d: load(impl, seed, d, args, large=False), "load"),
                     ("spawn", lambda d: spawn_latency(impl, d, args, clockbot), "spawn"),
                     ("large", lambda d: load(impl, seed, d, args, large=True), "scale")]
            if name == "autospawn":
                steps.append(("warm", lambda d: warm_bots(impl, d, args), "warm"))
                steps.append(("calls", lambda d: phone_calls(impl, d, args), "calls"))
            if name == "autospawn" and args.postgres:
                steps += [("pg1", lambda d: cluster_load(impl, d, args, 1), "cluster"),
                          ("pg2", lambda d: cluster_load(impl, d, args, 2), "cluster"),
                          ("handoff", lambda d: handoff_latency(impl, d, args, clockbot), "cluster")]
            for key, step, skip in steps:
                if skip in args.skip:
                    continue
                workdir = scratch / f"{name}-{key}"
                workdir.mkdir()
                print(f"{name}: {key} ...", file=sys.stderr, flush=True)
                results[name][key] = step(workdir)
                print(f"{name}: {key}: {json.dumps(results[name][key])}", file=sys.stderr, flush=True)
    except BenchmarkFailure as failure:
        sys.exit(f"bench/load.py: {failure} (logs in {scratch})")
    table, conditions, cluster, warm = report(results, args, args.command)
    calls = calls_report(results.get("autospawn", {}).get("calls"))
    print(conditions + "\n\n" + table + "\n\n" + cluster + "\n\n" + warm + "\n\n" + calls)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    if args.write:
        versions = dict(line.split("==") for line in (ROOT / "bench/peer/requirements.txt").read_text().split()
                        if "==" in line)
        micro = Path(args.micro).read_text().strip() if args.micro else "(not run: bench/run runs them)"
        Path(args.write).write_text(DOCUMENT.format(
            command=args.command, machine=machine(), date=datetime.date.today().isoformat(), conditions=conditions,
            table=table, micro=micro, connections=args.connections, cluster=cluster or "(not run: --postgres)",
            warm=warm or "(not run)", calls=calls or "(not run)", bot_starts=args.bot_starts, warm_bots=args.warm_bots, history=(ROOT / "bench/history.md").read_text().strip(), fastapi=versions.get("fastapi", "?"), uvicorn=versions.get("uvicorn[standard]", "?")))
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
