#!/usr/bin/env bash
# A hostile bot, for the tests of "Bots are untrusted": it tries to read what no bot may read (the service's /proc
# files, and each file or folder named in its arguments: the database, the logs, a secret file) and reports each try
# as "nosy <what>: denied" or "nosy <what>: read <what it got>"; then its own body, which it must be able to read;
# then it runs until SIGTERM.
set -o pipefail
report() {  # what, command...
  local what=$1 out
  shift
  if out=$("$@" 2>/dev/null | tr -d '\0') && [ -n "$out" ]; then
    out=${out//$'\n'/ }
    echo "nosy $what: read ${out:0:4000}"
  else
    echo "nosy $what: denied"
  fi
}
echo "nosy uid: $(id -u)"
report "service environ" cat "/proc/$PPID/environ"
report "service memory map" cat "/proc/$PPID/maps"
report "service descriptors" ls "/proc/$PPID/fd"
for path in "$@"; do
  if [ -d "$path" ]; then
    report "folder $path" ls -A "$path"
    for file in "$path"/*; do [ -e "$file" ] && report "file $file" cat "$file"; done
  else
    report "file $path" cat "$path"
  fi
done
report "own body" cat "$AUTOSPAWN_BODY_FILE"
trap 'echo "got SIGTERM"; exit 0' TERM
echo "ready"
while true; do sleep 0.2 & wait $!; done
