#!/usr/bin/env bash
# Runs one runner and ties its life to the worker: when the worker dies (even by SIGKILL) its end of
# our stdin closes, and the runner is stopped, so no orphan keeps a GPU or a port.
exec 3<&0
"$@" </dev/null 3<&- &
child=$!
echo "pagoda-runner-pid $child" >&2
trap 'kill -TERM "$child" 2>/dev/null' TERM INT
( while read -r _; do :; done; kill -TERM "$child" 2>/dev/null; sleep 10; kill -KILL "$child" 2>/dev/null ) <&3 &
watcher=$!
while true; do
  wait "$child"
  code=$?
  # wait returns early (>128) when a trapped signal arrives; loop until the runner really exited.
  kill -0 "$child" 2>/dev/null || break
done
kill "$watcher" 2>/dev/null
exit "$code"
