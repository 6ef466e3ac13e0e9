"""An example Pipecat bot for autospawn.

autospawn starts it (AUTOSPAWN_BOT_COMMAND) when a human joins a Daily room, with the room in
DAILY_ROOM_URL, the bot's meeting token in DAILY_ROOM_TOKEN (when autospawn has DAILY_API_KEY) and the
`body` of a `/start` request in AUTOSPAWN_BODY (a JSON object, `{}` for webhook-started bots). It joins
with Pipecat's Daily transport and plays back what it hears: a pipeline that needs no AI service and no
key, to put your own in place of (speech-to-text, an LLM, text-to-speech).

Warm (AUTOSPAWN_WARM_BOTS, which starts it with AUTOSPAWN_WARM=1) it loads everything that does not depend on
the room first (Pipecat, the VAD model), then reads its room from one JSON line on standard input; at end of
input (autospawn is gone) it exits 0. Both ways run the same code once the room is known.

A phone call (autospawn's dial-in, AUTOSPAWN_DIALIN_SECRET) puts `dialin_settings`, `daily_api_url` and
`daily_api_key` in its body: the bot gives them to its transport (DailyDialinSettings), which forwards the held
call to the room once Daily says the room is ready. The key is good for that call only; the service's own Daily
key never reaches the bot.

autospawn stops it with SIGTERM when the humans are gone; it leaves the room and exits 0.

    python bot.py            join DAILY_ROOM_URL and echo
    python bot.py --check    build everything but join nothing (CI runs this, cold and warm)
"""

import asyncio
import json
import os
import sys
import time
from dataclasses import dataclass
from typing import Any

from loguru import logger
from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADAnalyzer
from pipecat.frames.frames import Frame, InputAudioRawFrame, OutputAudioRawFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.audio.vad_processor import VADProcessor
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.transports.daily.transport import DailyDialinSettings, DailyParams, DailyTransport
from pipecat.workers.runner import WorkerRunner


@dataclass
class BotSettings:
    """What autospawn hands the bot."""

    room_url: str
    token: str | None
    body: dict[str, Any]
    name: str


class SettingsError(Exception):
    """A variable autospawn should have set is missing or malformed."""


def settings_from(environ: dict[str, str]) -> BotSettings:
    """Reads DAILY_ROOM_URL, DAILY_ROOM_TOKEN and the body: AUTOSPAWN_BODY_FILE (any size), else AUTOSPAWN_BODY."""
    room_url = environ.get("DAILY_ROOM_URL", "").strip()
    if not room_url.startswith(("https://", "http://")):
        raise SettingsError(f"DAILY_ROOM_URL: '{room_url}' is not a room URL")
    source = "AUTOSPAWN_BODY"
    text = environ.get("AUTOSPAWN_BODY") or "{}"
    if environ.get("AUTOSPAWN_BODY_FILE"):
        source = "AUTOSPAWN_BODY_FILE"
        try:
            with open(environ["AUTOSPAWN_BODY_FILE"], encoding="utf-8") as file:
                text = file.read()
        except OSError as error:
            raise SettingsError(f"AUTOSPAWN_BODY_FILE: cannot read it ({error})") from error
    try:
        body = json.loads(text)
    except json.JSONDecodeError as error:
        raise SettingsError(f"{source}: not JSON ({error})") from error
    if not isinstance(body, dict):
        raise SettingsError(f"{source}: not a JSON object")
    # autospawn tells bots from humans by this name, and gives it to the bot (AUTOSPAWN_BOT_NAME).
    name = environ.get("AUTOSPAWN_BOT_NAME") or "Pipecat Bot"
    return BotSettings(room_url=room_url, token=environ.get("DAILY_ROOM_TOKEN") or None, body=body, name=name)


def variables_from_line(line: str, environ: dict[str, str]) -> dict[str, str]:
    """A warm bot's room (one JSON line: room_url, room_name, token?, session_id, body, body_file) as the
    variables a bot started with its room is given, so that both take the same path from here."""
    try:
        room = json.loads(line)
    except json.JSONDecodeError as error:
        raise SettingsError(f"standard input: not JSON ({error})") from error
    if not isinstance(room, dict):
        raise SettingsError("standard input: not a JSON object")
    variables = {key: value for key, value in environ.items() if key not in ("AUTOSPAWN_BODY", "AUTOSPAWN_BODY_FILE")}
    variables["DAILY_ROOM_URL"] = str(room.get("room_url") or "")
    variables["AUTOSPAWN_BODY"] = json.dumps(room.get("body", {}))
    if room.get("token"):
        variables["DAILY_ROOM_TOKEN"] = str(room["token"])
    for key, name in (("session_id", "AUTOSPAWN_SESSION_ID"), ("room_name", "AUTOSPAWN_ROOM_NAME")):
        if room.get(key):
            variables[name] = str(room[key])
    return variables


class Echo(FrameProcessor):
    """Turns the audio the bot hears into audio it says."""

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        if isinstance(frame, InputAudioRawFrame):
            await self.push_frame(
                OutputAudioRawFrame(audio=frame.audio, sample_rate=frame.sample_rate, num_channels=frame.num_channels)
            )
        else:
            await self.push_frame(frame, direction)


def transport_params(body: dict[str, Any]) -> DailyParams:
    """Audio in and out; for a phone call, the call to forward and where to forward it (the body's
    `dialin_settings`, `daily_api_url`, `daily_api_key`: the shape of Pipecat's DailyDialinRequest)."""
    params = DailyParams(audio_in_enabled=True, audio_out_enabled=True, camera_out_enabled=False)
    call = body.get("dialin_settings")
    if call is None:
        return params
    if not isinstance(call, dict) or not all(isinstance(call.get(key), str) for key in ("call_id", "call_domain")):
        raise SettingsError("body: dialin_settings needs call_id and call_domain")
    if not isinstance(body.get("daily_api_url"), str) or not isinstance(body.get("daily_api_key"), str):
        raise SettingsError("body: a call needs daily_api_url and daily_api_key to be forwarded")
    params.dialin_settings = DailyDialinSettings(call_id=call["call_id"], call_domain=call["call_domain"])
    params.api_url = body["daily_api_url"]
    params.api_key = body["daily_api_key"]
    logger.info(f"a call to forward: {call['call_id']}")
    return params


def build(settings: BotSettings, vad: VADAnalyzer) -> tuple[DailyTransport, PipelineWorker]:
    """The transport and the pipeline: Daily in, voice activity, echo, Daily out."""
    transport = DailyTransport(settings.room_url, settings.token, settings.name, params=transport_params(settings.body))
    pipeline = Pipeline([transport.input(), VADProcessor(vad_analyzer=vad), Echo(), transport.output()])
    worker = PipelineWorker(pipeline, params=PipelineParams(allow_interruptions=False))

    @transport.event_handler("on_joined")
    async def on_joined(_transport, _data):
        logger.info(f"joined {settings.room_url} as {settings.name}")

    @transport.event_handler("on_participant_joined")
    async def on_participant_joined(_transport, participant):
        logger.info(f"participant joined: {participant.get('id')}")

    @transport.event_handler("on_dialin_connected")
    async def on_dialin_connected(_transport, _data):
        logger.info("the call is connected")

    return transport, worker


def main(check: bool) -> int:
    # What does not depend on the room: a warm bot has it loaded before its room exists.
    vad = SileroVADAnalyzer()
    environ = dict(os.environ)
    if environ.get("AUTOSPAWN_WARM") == "1":
        logger.info("warm: loaded; waiting for a room on standard input")
        line = sys.stdin.readline()
        if not line:
            logger.info("warm: end of input (autospawn is gone): exiting")
            return 0
        try:
            environ = variables_from_line(line, environ)
        except SettingsError as error:
            logger.error(str(error))
            return 2
    elif check:
        environ.setdefault("DAILY_ROOM_URL", "https://example.daily.co/check")
    # The moment this code holds its room (autospawn's bench/run measures time to bot up to this line).
    received = time.time()
    try:
        settings = settings_from(environ)
    except SettingsError as error:
        logger.error(str(error))
        return 2
    # The body's keys only: its values may be anything the caller sent.
    logger.info(f"room received at {received:.6f}: {settings.room_url}; body keys: {sorted(settings.body)}")
    if check:
        try:
            build(settings, vad)
        except SettingsError as error:
            logger.error(str(error))
            return 2
        logger.info("check: the pipeline builds")
        return 0
    return asyncio.run(run(settings, vad))


async def run(settings: BotSettings, vad: VADAnalyzer) -> int:
    try:
        _, worker = build(settings, vad)
    except SettingsError as error:
        logger.error(str(error))
        return 2
    # SIGTERM (autospawn's stop) ends the pipeline cleanly: the bot leaves the room, then exits.
    runner = WorkerRunner(handle_sigint=True, handle_sigterm=True)
    await runner.add_workers(worker)
    await runner.run()
    return 0


if __name__ == "__main__":
    sys.exit(main(check="--check" in sys.argv[1:]))
