// The dashboard: everything it shows comes from GET /sessions/stream (Server-Sent Events).
"use strict";

const sessions = new Map();
const maxEnded = 20;
const maxWebhooks = 50;

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function stateBadge(state) {
  const td = document.createElement("td");
  const badge = document.createElement("span");
  badge.className = "state " + state;
  badge.textContent = state;
  td.appendChild(badge);
  return td;
}

function clock(iso) {
  return iso ? new Date(iso).toLocaleTimeString() : "";
}

function isActive(session) {
  return ["starting", "running", "stopping"].includes(session.state);
}

function stopButton(session) {
  const td = document.createElement("td");
  if (session.state === "stopping") return td;
  const button = document.createElement("button");
  button.textContent = "Stop";
  button.addEventListener("click", async () => {
    button.disabled = true;
    const response = await fetch("/sessions/" + encodeURIComponent(session.id), { method: "DELETE" });
    if (!response.ok) button.disabled = false;
  });
  td.appendChild(button);
  return td;
}

// Knockers are not in the room yet: shown beside its humans, never added to them.
function humans(session) {
  return String(session.participants) + (session.knocking ? " · " + session.knocking + " at the door" : "");
}

function sessionRow(session) {
  const row = document.createElement("tr");
  row.dataset.sessionId = session.id;
  row.dataset.state = session.state;
  row.dataset.room = session.room_name;
  row.dataset.profile = session.profile;
  row.dataset.transport = session.transport;
  // A phone call's row says whose call it is (its carrier); a Daily room's says nothing more.
  const via = session.transport && session.transport !== "daily" ? session.transport + " call · " : "";
  if (isActive(session)) {
    row.append(cell(session.room_name), stateBadge(session.state), cell(humans(session)),
      cell(clock(session.created_at), "muted"),
      cell(via + session.profile + " · " + (session.pid ? "pid " + session.pid : session.launcher), "muted"),
      stopButton(session));
  } else {
    const how = (session.end_reason || session.state) + (session.exit_code != null ? " (exit " + session.exit_code + ")" : "");
    row.append(cell(session.room_name), cell(clock(session.ended_at), "muted"), stateBadge(session.state));
    row.lastChild.firstChild.textContent = how;
  }
  return row;
}

function render() {
  const all = [...sessions.values()];
  const active = all.filter(isActive).sort((a, b) => a.created_at.localeCompare(b.created_at));
  const ended = all.filter((s) => !isActive(s)).sort((a, b) => (b.ended_at || "").localeCompare(a.ended_at || ""));
  for (const old of ended.slice(maxEnded)) sessions.delete(old.id);
  document.getElementById("active-sessions").replaceChildren(...active.map(sessionRow));
  document.getElementById("ended-sessions").replaceChildren(...ended.slice(0, maxEnded).map(sessionRow));
  document.getElementById("no-active").hidden = active.length > 0;
}

function showSummary(summary) {
  document.getElementById("active").textContent = summary.active;
  document.getElementById("capacity").textContent = summary.max_concurrency;
  const fill = document.getElementById("meter-fill");
  const share = summary.max_concurrency > 0 ? summary.active / summary.max_concurrency : 0;
  fill.style.width = Math.min(100, share * 100) + "%";
  fill.classList.toggle("full", share >= 1);
  // Idle processes of AUTOSPAWN_WARM_BOTS: not sessions, so not in the meter.
  document.getElementById("warm").hidden = !(summary.warm_bots > 0);
  document.getElementById("warm-idle").textContent = summary.warm_idle;
  document.getElementById("warm-bots").textContent = summary.warm_bots;
}

function showWebhook(entry) {
  const row = document.createElement("tr");
  row.dataset.action = entry.action;
  row.append(cell(clock(entry.at), "muted"), cell(entry.type), cell(entry.room || ""),
    cell(entry.action + (entry.reason ? " · " + entry.reason : "")));
  const body = document.getElementById("webhooks");
  body.prepend(row);
  while (body.children.length > maxWebhooks) body.lastChild.remove();
}

function connect() {
  const status = document.getElementById("connection");
  const stream = new EventSource("/sessions/stream");
  stream.addEventListener("open", () => {
    // A new connection starts with the last webhooks again.
    document.getElementById("webhooks").replaceChildren();
    status.dataset.state = "live";
    status.textContent = "live";
  });
  stream.addEventListener("error", () => {
    status.dataset.state = "reconnecting";
    status.textContent = "reconnecting…";
  });
  stream.addEventListener("summary", (event) => showSummary(JSON.parse(event.data)));
  stream.addEventListener("session", (event) => {
    const session = JSON.parse(event.data);
    sessions.set(session.id, session);
    render();
  });
  stream.addEventListener("webhook", (event) => showWebhook(JSON.parse(event.data)));
}

render();
connect();
