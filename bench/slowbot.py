"""The synthetic bot of the time-to-bot benchmark: it "imports" for 1 s (a sleep stands for Pipecat, its models and
its clients), then takes its room the way the example Pipecat bot does: from its environment, or warm
(AUTOSPAWN_WARM=1) from one JSON line on standard input. It prints the moment it holds its room and exits."""

import json
import os
import sys
import time

time.sleep(float(os.environ.get("SLOWBOT_IMPORT_S", "1")))
if os.environ.get("AUTOSPAWN_WARM") == "1":
    print("warm: loaded; waiting for a room on standard input", flush=True)
    line = sys.stdin.readline()
    if not line:
        sys.exit(0)
    room_url = json.loads(line)["room_url"]
else:
    room_url = os.environ["DAILY_ROOM_URL"]
print(f"room received at {time.time():.6f}: {room_url}", flush=True)
