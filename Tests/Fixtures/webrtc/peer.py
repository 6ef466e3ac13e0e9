"""A browser for the tests, with aiortc: it sends an offer as Pipecat's SmallWebRTC client does (to /api/offer, or
after POST /start to /sessions/{id}/api/offer), connects to the bot that answers, and counts the audio it hears.
It prints one JSON line: the answers' statuses and pc_ids, whether the connection reached `connected`, and the
audio frames heard (and how many were not silence).

Options: --url (the service), --signal-url (where the offers and candidates go, when not --url: another replica),
--token (a bearer token), --profile, --via-start, --trickle (the offer goes without its
candidates, which follow by PATCH), --renegotiate (a second offer on the same connection), --restart (an ICE
restart: restart_pc), --seconds (how long it listens), --pc-id (an offer naming this pc_id). Every ICE candidate is
127.0.0.1: the tests' traffic stays on loopback."""

import argparse
import asyncio
import json
import sys
import urllib.error
import urllib.request

import aioice.ice
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack

aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]


def call(options, method, path, body):
    base = options.signal_url if options.signal_url and path.endswith("/api/offer") else options.url
    request = urllib.request.Request(base + path, data=json.dumps(body).encode(), method=method)
    request.add_header("Content-Type", "application/json")
    if options.token:
        request.add_header("Authorization", f"Bearer {options.token}")
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def without_candidates(sdp):
    """The SDP without its candidate lines, and those candidates as Pipecat's client trickles them."""
    lines, candidates, mid, index = [], [], None, -1
    for line in sdp.splitlines():
        if line.startswith("m="):
            index += 1
        if line.startswith("a=mid:"):
            mid = line[len("a=mid:"):]
        if line.startswith("a=candidate:"):
            candidates.append({"candidate": line[2:], "sdp_mid": mid, "sdp_mline_index": index})
            continue
        if line.startswith("a=end-of-candidates"):
            continue
        lines.append(line)
    return "\r\n".join(lines) + "\r\n", candidates


async def run(options):
    result = {"statuses": [], "pc_ids": [], "connected": False, "audio_frames": 0, "tone_frames": 0}
    pc = RTCPeerConnection()
    pc.addTrack(AudioStreamTrack())
    connected = asyncio.Event()
    heard = []

    @pc.on("connectionstatechange")
    async def on_state():
        if pc.connectionState == "connected":
            connected.set()

    @pc.on("track")
    def on_track(track):
        async def listen():
            while True:
                try:
                    frame = await track.recv()
                except Exception:
                    return
                result["audio_frames"] += 1
                samples = bytes(frame.planes[0])
                if any(samples[i] or samples[i + 1] for i in range(0, min(len(samples), 64), 2)):
                    result["tone_frames"] += 1

        heard.append(asyncio.ensure_future(listen()))

    path = "/api/offer"
    data = {"profile": options.profile} if options.profile else None
    if options.via_start:
        status, started = call(options, "POST", "/start", {"transport": "webrtc", "body": data or {}})
        result["statuses"].append(status)
        result["start"] = started
        if status != 200:
            print(json.dumps(result), flush=True)
            return
        path = f"/sessions/{started['sessionId']}/api/offer"

    async def offer(pc_id=None, restart=False):
        await pc.setLocalDescription(await pc.createOffer())
        sdp, candidates = pc.localDescription.sdp, []
        if options.trickle:
            sdp, candidates = without_candidates(sdp)
        body = {"sdp": sdp, "type": "offer", "pc_id": pc_id, "restart_pc": restart}
        if data:
            body["request_data"] = data
        status, answer = call(options, "POST", path, body)
        result["statuses"].append(status)
        if status != 200:
            result["error"] = answer
            return None
        result["pc_ids"].append(answer["pc_id"])
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))
        if candidates:
            candidates.append({"candidate": "", "sdp_mid": candidates[0]["sdp_mid"], "sdp_mline_index": 0})
            status, _ = call(options, "PATCH", path, {"pc_id": answer["pc_id"], "candidates": candidates})
            result["statuses"].append(status)
        return answer["pc_id"]

    pc_id = await offer(pc_id=options.pc_id)
    if pc_id is None:
        print(json.dumps(result), flush=True)
        await pc.close()
        return
    try:
        await asyncio.wait_for(connected.wait(), timeout=20)
        result["connected"] = True
    except asyncio.TimeoutError:
        pass
    if options.renegotiate or options.restart:
        await offer(pc_id=pc_id, restart=options.restart)
    await asyncio.sleep(options.seconds)
    await pc.close()
    for task in heard:
        task.cancel()
    print(json.dumps(result), flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--signal-url")
    parser.add_argument("--token")
    parser.add_argument("--profile")
    parser.add_argument("--pc-id")
    parser.add_argument("--via-start", action="store_true")
    parser.add_argument("--trickle", action="store_true")
    parser.add_argument("--renegotiate", action="store_true")
    parser.add_argument("--restart", action="store_true")
    parser.add_argument("--seconds", type=float, default=1.0)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
