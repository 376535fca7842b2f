#!/usr/bin/env bash
# Chat with the bot in the terminal: starts the action server (and the demo shop API unless
# SHOP_API_URL points elsewhere) in the background, then `rasa shell`.
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=$1
mkdir -p var/log "$(dirname "$TRACKER_DB")"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
.venv/bin/python -m bot.action_server --port "$ACTION_PORT" >var/log/actions.log 2>&1 &
pids+=($!)
if [ "$SHOP_API_URL" = "http://127.0.0.1:$SHOP_API_PORT" ]; then
  .venv/bin/python -m shop_api --port "$SHOP_API_PORT" --db "$SHOP_DB" >var/log/shop_api.log 2>&1 &
  pids+=($!)
fi
.venv/bin/rasa shell --model "$MODEL" --endpoints endpoints.yml
