#!/bin/sh
# usage: with_grandchild.sh PID_FILE COMMAND [ARG...]
# Starts `sleep 300` in the background (its pid goes to PID_FILE), then becomes COMMAND: a stdio
# server whose own child (not holding its pipes) must not outlive the probe, however it ends.
sleep 300 </dev/null >/dev/null 2>&1 &
echo $! > "$1"
shift
exec "$@"
