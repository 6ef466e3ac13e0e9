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

A phone call over a WebSocket (a carrier's stream, AUTOSPAWN_TWILIO_AUTH_TOKEN and the others) gives it
AUTOSPAWN_CALL_WS_URL (a warm bot: `ws_url` on its input line) and `call: {"carrier", ...}` in its body: it
connects there with Pipecat's WebSocket client transport and the carrier's serializer, and hears the carrier's
frames as the carrier sent them (`connected` and `start` first). It hangs up by closing its socket; the service
closing it means the caller hung up, and the bot exits 0.

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
from pipecat.serializers.base_serializer import FrameSerializer
from pipecat.serializers.exotel import ExotelFrameSerializer
from pipecat.serializers.plivo import PlivoFrameSerializer
from pipecat.serializers.telnyx import TelnyxFrameSerializer
from pipecat.serializers.twilio import TwilioFrameSerializer
from pipecat.transports.base_transport import BaseTransport
from pipecat.transports.daily.transport import DailyDialinSettings, DailyParams, DailyTransport
from pipecat.transports.websocket.client import WebsocketClientParams, WebsocketClientTransport
from pipecat.workers.runner import WorkerRunner


@dataclass
class BotSettings:
    """What autospawn hands the bot."""

    room_url: str
    token: str | None
    body: dict[str, Any]
    name: str
    # A phone call's stream (AUTOSPAWN_CALL_WS_URL): the bot connects there instead of joining a room.
    ws_url: str | None = None


class SettingsError(Exception):
    """A variable autospawn should have set is missing or malformed."""


def settings_from(environ: dict[str, str]) -> BotSettings:
    """Reads DAILY_ROOM_URL (or a call's AUTOSPAWN_CALL_WS_URL), DAILY_ROOM_TOKEN and the body: AUTOSPAWN_BODY_FILE
    (any size), else AUTOSPAWN_BODY."""
    room_url = environ.get("DAILY_ROOM_URL", "").strip()
    ws_url = environ.get("AUTOSPAWN_CALL_WS_URL", "").strip() or None
    if ws_url is not None and not ws_url.startswith(("ws://", "wss://")):
        raise SettingsError(f"AUTOSPAWN_CALL_WS_URL: '{ws_url}' is not a WebSocket URL")
    if ws_url is None and not room_url.startswith(("https://", "http://")):
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
    if ws_url is not None:
        call = body.get("call")
        if not isinstance(call, dict) or call.get("carrier") not in SERIALIZERS:
            raise SettingsError("body: a phone call's stream needs call.carrier (twilio, telnyx, plivo or exotel)")
    return BotSettings(room_url=room_url, token=environ.get("DAILY_ROOM_TOKEN") or None, body=body, name=name, ws_url=ws_url)


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
    if room.get("ws_url"):
        variables["AUTOSPAWN_CALL_WS_URL"] = str(room["ws_url"])
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


# Each carrier's serializer, with no hang-up of its own: the bot holds no carrier credential; it hangs up by closing
# its socket. The ids it writes into what it sends come in the carrier's `start` frame (`learning_start`).
SERIALIZERS = {
    "twilio": lambda: TwilioFrameSerializer("", params=TwilioFrameSerializer.InputParams(auto_hang_up=False)),
    "telnyx": lambda: TelnyxFrameSerializer("", "PCMU", "PCMU", params=TelnyxFrameSerializer.InputParams(auto_hang_up=False)),
    "plivo": lambda: PlivoFrameSerializer("", params=PlivoFrameSerializer.InputParams(auto_hang_up=False)),
    "exotel": lambda: ExotelFrameSerializer(""),
}


def learning_start(serializer: FrameSerializer) -> FrameSerializer:
    """The serializer, taking its stream id from the carrier's `start` frame (the first frames of the stream, as
    Pipecat's parse_telephony_websocket reads them) before it decodes anything else."""
    decode = serializer.deserialize

    async def deserialize(data: str | bytes) -> Frame | None:
        try:
            message = json.loads(data)
        except (ValueError, TypeError):
            return await decode(data)
        if isinstance(message, dict) and message.get("event") == "start":
            start = message.get("start") or {}
            stream = message.get("streamSid") or message.get("stream_id") or start.get("streamId") or start.get("stream_sid")
            for name in ("_stream_sid", "_stream_id"):
                if hasattr(serializer, name) and stream:
                    setattr(serializer, name, stream)
            logger.info(f"the call's stream started: {stream}")
            return None
        return await decode(data)

    serializer.deserialize = deserialize
    return serializer


def call_transport(settings: BotSettings) -> WebsocketClientTransport:
    """A phone call: Pipecat's WebSocket client on the call's stream, with the carrier's serializer."""
    serializer = learning_start(SERIALIZERS[settings.body["call"]["carrier"]]())
    params = WebsocketClientParams(serializer=serializer, add_wav_header=False, audio_in_enabled=True, audio_out_enabled=True)
    logger.info(f"a {settings.body['call']['carrier']} call: {settings.body['call'].get('call_id')}")
    return WebsocketClientTransport(settings.ws_url, params)


def build(settings: BotSettings, vad: VADAnalyzer) -> tuple[BaseTransport, PipelineWorker]:
    """The transport and the pipeline: Daily (or a phone call's stream) in, voice activity, echo, out."""
    if settings.ws_url is not None:
        call = call_transport(settings)
        pipeline = Pipeline([call.input(), VADProcessor(vad_analyzer=vad), Echo(), call.output()])
        worker = PipelineWorker(pipeline, params=PipelineParams(allow_interruptions=False))

        @call.event_handler("on_connected")
        async def on_connected(_transport, _websocket):
            logger.info("connected to the call")

        @call.event_handler("on_disconnected")
        async def on_disconnected(_transport, _websocket):
            # The service closed the socket: the caller hung up.
            logger.info("the call is over")
            await worker.cancel()

        return call, worker
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
    # A call's ws_url is not logged: it carries the key of the bot's socket.
    where = "a phone call's stream" if settings.ws_url else settings.room_url
    logger.info(f"room received at {received:.6f}: {where}; body keys: {sorted(settings.body)}")
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
