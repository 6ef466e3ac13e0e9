"use strict";
// The browser's side of a bot call (README "Talk to a bot from your browser"): the microphone to a bot through the
// service's /api/offer (Pipecat's SmallWebRTC signalling), the bot's audio played back. Nothing but this page, this
// file and the service's API.

const $ = (id) => document.getElementById(id);
const call = { pc: null, microphone: null, stats: null, iceServers: [] };

function show(status) {
  $("status").textContent = status;
  $("status").dataset.state = status.split(":")[0];
}

async function loadChoices() {
  const answer = await fetch("/client/config", { headers: { Accept: "application/json" } });
  if (!answer.ok) {
    show(`failed: the service answered ${answer.status}`);
    return;
  }
  const config = await answer.json();
  call.iceServers = config.ice_servers;
  for (const name of config.profiles) {
    const option = document.createElement("option");
    option.value = name;
    option.textContent = name;
    $("profile").append(option);
  }
  $("connect").disabled = config.profiles.length === 0;
}

// The offer carries every candidate (no trickling): the wait ends when gathering does, or after 2 s.
function gathered(pc) {
  return new Promise((resolve) => {
    if (pc.iceGatheringState === "complete") return resolve();
    const check = () => {
      if (pc.iceGatheringState === "complete") resolve();
    };
    pc.addEventListener("icegatheringstatechange", check);
    setTimeout(resolve, 2000);
  });
}

// What arrives from the bot, from the connection's own statistics.
async function watch(pc) {
  const stats = await pc.getStats();
  stats.forEach((report) => {
    if (report.type === "inbound-rtp" && report.kind === "audio") {
      $("packets").textContent = String(report.packetsReceived || 0);
      $("packets").dataset.count = String(report.packetsReceived || 0);
      const level = Math.min(1, (report.audioLevel || 0) * 4);
      $("level").style.width = `${Math.round(level * 100)}%`;
    }
  });
}

async function connect() {
  $("connect").disabled = true;
  $("hang-up").disabled = false;
  show("connecting");
  try {
    call.microphone = await navigator.mediaDevices.getUserMedia({ audio: true });
    const pc = new RTCPeerConnection({ iceServers: call.iceServers });
    call.pc = pc;
    for (const track of call.microphone.getTracks()) pc.addTrack(track, call.microphone);
    pc.ontrack = (event) => {
      $("bot-audio").srcObject = event.streams[0] || new MediaStream([event.track]);
    };
    pc.onconnectionstatechange = () => {
      if (call.pc !== pc) return;
      if (pc.connectionState === "failed" || pc.connectionState === "closed") {
        hangUp();
        show(`failed: the connection ${pc.connectionState === "failed" ? "failed" : "closed"}`);
        return;
      }
      show(pc.connectionState);
    };
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    const profile = $("profile").value;
    const answer = await fetch("/api/offer", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ sdp: pc.localDescription.sdp, type: "offer", request_data: profile ? { profile } : {} }),
    });
    const reply = await answer.json();
    if (!answer.ok) throw new Error(reply.error || String(answer.status));
    $("pc-id").textContent = ` (connection ${reply.pc_id})`;
    await pc.setRemoteDescription({ type: "answer", sdp: reply.sdp });
    call.stats = setInterval(() => watch(pc), 250);
  } catch (error) {
    hangUp();
    show(`failed: ${error.message}`);
  }
}

// Closing the connection is the hang-up: the bot notices, exits, and its session ends.
function hangUp() {
  clearInterval(call.stats);
  if (call.pc) call.pc.close();
  if (call.microphone) for (const track of call.microphone.getTracks()) track.stop();
  call.pc = null;
  call.microphone = null;
  show("idle");
  $("connect").disabled = false;
  $("hang-up").disabled = true;
}

$("connect").addEventListener("click", connect);
$("hang-up").addEventListener("click", hangUp);
$("connect").disabled = true;
loadChoices();
