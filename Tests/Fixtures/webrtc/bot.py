"""A browser connection's bot for the tests, without Pipecat: it connects to its socket (AUTOSPAWN_CALL_WS_URL, or
`ws_url` on standard input when warm), answers each offer with aiortc as Pipecat's SmallWebRTCConnection does (a
renegotiation on the same peer connection, `restart_pc` on a new one), adds trickled candidates, and sends a 440 Hz
tone. It exits when the peer connection closes or fails, or when its socket closes.

Options: --no-answer (reads offers and answers none: the start timeout), --record FILE (appends each message it gets,
a line each). Every ICE candidate is 127.0.0.1: the tests' traffic stays on loopback."""

import argparse
import asyncio
import json
import math
import os
import sys

import aioice.ice
from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack
from aiortc.sdp import candidate_from_sdp
import websockets

aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]


class Tone(AudioStreamTrack):
    """440 Hz at 8 kHz, paced as aiortc paces its silence."""

    def __init__(self):
        super().__init__()
        self.sample = 0

    async def recv(self):
        frame = await super().recv()
        samples = bytearray()
        for _ in range(frame.samples):
            value = int(8000 * math.sin(2 * math.pi * 440 * self.sample / 8000))
            samples += value.to_bytes(2, "little", signed=True)
            self.sample += 1
        frame.planes[0].update(bytes(samples))
        return frame


def ice_servers(servers):
    return [RTCIceServer(urls=s["urls"], username=s.get("username"), credential=s.get("credential")) for s in servers]


async def run(url, options):
    done = asyncio.Event()
    pc = None
    record = open(options.record, "a") if options.record else None
    generation = 0

    def new_connection(servers):
        nonlocal generation
        generation += 1
        connection = RTCPeerConnection(RTCConfiguration(iceServers=ice_servers(servers)))
        connection.addTrack(Tone())

        @connection.on("track")
        def on_track(track):
            print(f"webrtc-bot: the browser's {track.kind} track", flush=True)

        @connection.on("connectionstatechange")
        async def on_state():
            print(f"webrtc-bot: connection {connection.connectionState}", flush=True)
            # A closed connection that was replaced (restart_pc) is not the end.
            if connection is pc and connection.connectionState in ("closed", "failed"):
                done.set()

        return connection

    async with websockets.connect(url, max_size=2**20) as socket:
        print("webrtc-bot: connected to the service", flush=True)

        async def read():
            nonlocal pc
            async for text in socket:
                message = json.loads(text)
                if record:
                    record.write(text + "\n")
                    record.flush()
                if message.get("type") == "offer":
                    if options.no_answer:
                        continue
                    if pc is None or message.get("restart_pc"):
                        old, pc = pc, new_connection(message.get("ice_servers") or [])
                        if old:
                            await old.close()
                    await pc.setRemoteDescription(RTCSessionDescription(sdp=message["sdp"], type="offer"))
                    await pc.setLocalDescription(await pc.createAnswer())
                    answer = {"type": "answer", "sdp": pc.localDescription.sdp, "pc_id": f"bot-{generation}"}
                    await socket.send(json.dumps(answer))
                elif message.get("type") == "candidates" and pc is not None:
                    for candidate in message.get("candidates", []):
                        text = candidate.get("candidate") or ""
                        if not text:
                            await pc.addIceCandidate(None)
                            continue
                        parsed = candidate_from_sdp(text.split(":", 1)[1] if text.startswith("candidate:") else text)
                        parsed.sdpMid = candidate.get("sdp_mid")
                        parsed.sdpMLineIndex = candidate.get("sdp_mline_index")
                        await pc.addIceCandidate(parsed)
            done.set()

        reader = asyncio.create_task(read())
        await done.wait()
        reader.cancel()
        if pc:
            await pc.close()
    print("webrtc-bot: the connection is over", flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--no-answer", action="store_true")
    parser.add_argument("--record")
    options = parser.parse_args()
    url = os.environ.get("AUTOSPAWN_CALL_WS_URL")
    if os.environ.get("AUTOSPAWN_WARM") == "1":
        print("webrtc-bot: warm, waiting for a connection", flush=True)
        line = sys.stdin.readline()
        if not line:
            return
        url = json.loads(line).get("ws_url")
    if not url:
        print("webrtc-bot: no ws_url", file=sys.stderr)
        sys.exit(2)
    try:
        asyncio.run(run(url, options))
    except websockets.exceptions.ConnectionClosed:
        pass


if __name__ == "__main__":
    main()
