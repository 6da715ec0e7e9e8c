#!/bin/sh
# usage: with_grandchild.sh PID_FILE COMMAND [ARG...]
# Starts `sleep 300` in the background (its pid goes to PID_FILE), then becomes COMMAND: a stdio
# server whose own child must not outlive the probe, however the probe ends.
sleep 300 &
echo $! > "$1"
shift
exec "$@"
