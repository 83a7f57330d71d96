#!/usr/bin/env bash
# Runs one runner and ties its life to the worker: when the worker dies (even by SIGKILL) its end of
# our stdin closes, and the runner is stopped, so no orphan keeps a GPU or a port.
# The trap is set before the runner starts: a stop that arrives while it is being started (a launch
# cancelled at once) is remembered and delivered as soon as the runner's pid is known.
child=
stopping=
trap 'stopping=1; [ -n "$child" ] && kill -TERM "$child" 2>/dev/null' TERM INT
exec 3<&0
"$@" </dev/null 3<&- &
child=$!
[ -n "$stopping" ] && kill -TERM "$child" 2>/dev/null
echo "pagoda-runner-pid $child" >&2
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
