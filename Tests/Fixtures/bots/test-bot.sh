#!/usr/bin/env bash
# A stand-in for a Pipecat bot, for the integration tests. It prints what it was started with, then:
#   test-bot.sh run ...           runs until SIGTERM, then exits 0
#   test-bot.sh ignore-term ...   ignores SIGTERM (must be SIGKILLed)
#   test-bot.sh exit CODE ...     exits with CODE after a moment
#   test-bot.sh flood MB ...      prints MB megabytes of output at once, then runs like `run`
#   test-bot.sh env ...           prints its whole environment, then runs like `run`
#   test-bot.sh stray ...         leaves a process that escapes its group (setsid) and an orphan that exits at
#                                 once (a zombie for whoever inherits it), then runs like `run`
#   test-bot.sh die-idle CODE ... as a warm bot, exits with CODE before it reads a room
#   test-bot.sh deaf ...          as a warm bot, never reads its input (only a signal ends it), then runs like `run`
# Started warm (AUTOSPAWN_WARM=1), it first reads its room from one JSON line on stdin (README, Warm bots) and
# sets the variables a cold bot is given; at end of input it exits 0.
mode=${1:-run}
if [ "${AUTOSPAWN_WARM-}" = 1 ]; then
  echo "warm: waiting for a room (pid $$)"
  if [ "$mode" = die-idle ]; then exit "${2:-3}"; fi
  if [ "$mode" = deaf ]; then trap 'echo "got SIGTERM"; exit 0' TERM; while true; do sleep 0.2 & wait $!; done; fi
  IFS= read -r line || { echo "warm: end of input"; exit 0; }
  echo "warm: room received"
  field() { [[ $line =~ \"$1\":\"([^\"]*)\" ]] && printf '%s' "${BASH_REMATCH[1]}"; }
  DAILY_ROOM_URL=$(field room_url)
  AUTOSPAWN_ROOM_NAME=$(field room_name)
  AUTOSPAWN_SESSION_ID=$(field session_id)
  AUTOSPAWN_BODY_FILE=$(field body_file)
  if [[ $line =~ \"token\": ]]; then DAILY_ROOM_TOKEN=$(field token); export DAILY_ROOM_TOKEN; fi
  [[ $line =~ \"body\":(.*),\"body_file\": ]] && AUTOSPAWN_BODY=${BASH_REMATCH[1]}
  export DAILY_ROOM_URL AUTOSPAWN_ROOM_NAME AUTOSPAWN_SESSION_ID AUTOSPAWN_BODY_FILE AUTOSPAWN_BODY
fi
echo "argv: $*"
echo "pid: $$"
for name in DAILY_ROOM_URL DAILY_ROOM_TOKEN AUTOSPAWN_SESSION_ID AUTOSPAWN_ROOM_NAME AUTOSPAWN_BOT_NAME AUTOSPAWN_BODY AUTOSPAWN_BODY_FILE; do
  echo "env $name=${!name-<unset>}"
done
if [ -n "${AUTOSPAWN_BODY_FILE-}" ] && [ -f "$AUTOSPAWN_BODY_FILE" ]; then
  echo "body file bytes: $(wc -c < "$AUTOSPAWN_BODY_FILE")"
fi
case "$mode" in
  env) env | sort | sed 's/^/environ /' ;;
  stray)
    # Started warm, a bot (like the example one) has no session id in its environment: nor has its stray.
    if [ "${AUTOSPAWN_WARM-}" = 1 ]; then export -n AUTOSPAWN_SESSION_ID; fi
    setsid sleep 300 < /dev/null > /dev/null 2>&1 &
    ( sleep 0.2 < /dev/null > /dev/null 2>&1 & ) ;;
esac
# "ready" comes once the bot's signal handling is in place: a test that waits for it knows how a SIGTERM
# will be taken.
case "$mode" in
  exit) echo "ready"; sleep 0.3; exit "${2:-0}" ;;
  flood)
    echo "ready"
    yes "flood flood flood flood flood flood flood flood flood flood flood flood flood flood flood flood" | head -c "$(( ${2:-1} * 1048576 ))"
    echo
    echo "flood done"
    trap 'echo "got SIGTERM"; exit 0' TERM ;;
  ignore-term) trap 'echo "ignoring SIGTERM"' TERM; echo "ready" ;;
  *) trap 'echo "got SIGTERM"; exit 0' TERM; echo "ready" ;;
esac
while true; do sleep 0.2 & wait $!; done
