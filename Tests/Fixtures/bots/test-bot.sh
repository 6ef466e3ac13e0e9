#!/usr/bin/env bash
# A stand-in for a Pipecat bot, for the integration tests. It prints what it was started with, then:
#   test-bot.sh run ...           runs until SIGTERM, then exits 0
#   test-bot.sh ignore-term ...   ignores SIGTERM (must be SIGKILLed)
#   test-bot.sh exit CODE ...     exits with CODE after a moment
#   test-bot.sh flood MB ...      prints MB megabytes of output at once, then runs like `run`
#   test-bot.sh env ...           prints its whole environment, then runs like `run`
#   test-bot.sh stray ...         leaves a process that escapes its group (setsid) and an orphan that exits at
#                                 once (a zombie for whoever inherits it), then runs like `run`
mode=${1:-run}
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
