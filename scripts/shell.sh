#!/usr/bin/env bash
# Chat with the bot in the terminal: starts the action server in the background, then `rasa shell`.
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=$1
ACTIONS_ARGS=$2
mkdir -p var/log "$(dirname "$TRACKER_DB")"
# shellcheck disable=SC2086
.venv/bin/rasa run actions $ACTIONS_ARGS --port "$ACTION_PORT" >var/log/actions.log 2>&1 &
actions_pid=$!
trap 'kill $actions_pid 2>/dev/null || true' EXIT
.venv/bin/rasa shell --model "$MODEL" --endpoints endpoints.yml
