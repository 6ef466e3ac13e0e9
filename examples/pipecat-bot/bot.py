"""An example Pipecat bot for autospawn.

autospawn starts it (AUTOSPAWN_BOT_COMMAND) when a human joins a Daily room, with the room in
DAILY_ROOM_URL, the bot's meeting token in DAILY_ROOM_TOKEN (when autospawn has DAILY_API_KEY) and the
`body` of a `/start` request in AUTOSPAWN_BODY (a JSON object, `{}` for webhook-started bots). It joins
with Pipecat's Daily transport and plays back what it hears: a pipeline that needs no AI service and no
key, to put your own in place of (speech-to-text, an LLM, text-to-speech).

autospawn stops it with SIGTERM when the humans are gone; it leaves the room and exits 0.

    python bot.py            join DAILY_ROOM_URL and echo
    python bot.py --check    build everything but join nothing (CI runs this)
"""

import asyncio
import json
import os
import sys
from dataclasses import dataclass
from typing import Any

from loguru import logger
from pipecat.frames.frames import Frame, InputAudioRawFrame, OutputAudioRawFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.transports.daily.transport import DailyParams, DailyTransport
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


def build(settings: BotSettings) -> tuple[DailyTransport, PipelineWorker]:
    """The transport and the pipeline: Daily in, echo, Daily out."""
    transport = DailyTransport(
        settings.room_url,
        settings.token,
        settings.name,
        params=DailyParams(audio_in_enabled=True, audio_out_enabled=True, camera_out_enabled=False),
    )
    pipeline = Pipeline([transport.input(), Echo(), transport.output()])
    worker = PipelineWorker(pipeline, params=PipelineParams(allow_interruptions=False))

    @transport.event_handler("on_joined")
    async def on_joined(_transport, _data):
        logger.info(f"joined {settings.room_url} as {settings.name}")

    @transport.event_handler("on_participant_joined")
    async def on_participant_joined(_transport, participant):
        logger.info(f"participant joined: {participant.get('id')}")

    return transport, worker


async def main(check: bool) -> int:
    environ = dict(os.environ)
    if check:
        environ.setdefault("DAILY_ROOM_URL", "https://example.daily.co/check")
    try:
        settings = settings_from(environ)
    except SettingsError as error:
        logger.error(str(error))
        return 2
    # The body's keys only: its values may be anything the caller sent.
    logger.info(f"starting for {settings.room_url}; body keys: {sorted(settings.body)}")
    _, worker = build(settings)
    if check:
        logger.info("check: the pipeline builds")
        return 0
    # SIGTERM (autospawn's stop) ends the pipeline cleanly: the bot leaves the room, then exits.
    runner = WorkerRunner(handle_sigint=True, handle_sigterm=True)
    await runner.add_workers(worker)
    await runner.run()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(check="--check" in sys.argv[1:])))
