#!/usr/bin/env bash
# The README's example bot: it stands in for a Pipecat bot (see "The bot's contract" in README.md).
# It prints what autospawn hands every bot, then stays "in the room" until it is told to leave (SIGTERM).
echo "demo bot joining ${DAILY_ROOM_URL} (session ${AUTOSPAWN_SESSION_ID}, room ${AUTOSPAWN_ROOM_NAME})"
echo "arguments: $*"
if [ -n "${AUTOSPAWN_BODY_FILE-}" ]; then echo "body: $(cat "$AUTOSPAWN_BODY_FILE")"; else echo "body: ${AUTOSPAWN_BODY-}"; fi
trap 'echo "demo bot leaving ${AUTOSPAWN_ROOM_NAME}"; exit 0' TERM INT
while true; do sleep 1 & wait $!; done
