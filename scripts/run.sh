#!/usr/bin/env bash
# Start every service of the default profile in the foreground; Ctrl-C stops them all.
# Usage: scripts/run.sh MODEL_PATH "--actions PACKAGE"  (the Makefile passes both)
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=$1
ACTIONS_ARGS=$2
BIN=.venv/bin
mkdir -p var/log "$(dirname "$TRACKER_DB")"

# credentials.yml plus the messaging channels whose variables are set (docs/channels.md).
CREDENTIALS=var/credentials.yml
"$BIN/python" -m bot.channels.credentials --base credentials.yml --out "$CREDENTIALS"

pids=()
stop_all() {
  trap - INT TERM EXIT
  echo
  echo "==> stopping..."
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "==> stopped"
}
trap 'stop_all; exit 0' INT TERM
trap stop_all EXIT

wait_for() {  # name url pid
  local i
  for i in $(seq 1 180); do
    if curl -fs -o /dev/null "$2"; then return 0; fi
    if ! kill -0 "$3" 2>/dev/null; then echo "ERROR: $1 exited; see var/log/$1.log" >&2; return 1; fi
    sleep 1
  done
  echo "ERROR: $1 did not become ready in 180 s; see var/log/$1.log" >&2
  return 1
}

echo "==> starting the action server on port $ACTION_PORT"
# shellcheck disable=SC2086  # ACTIONS_ARGS holds two words on purpose
"$BIN/rasa" run actions $ACTIONS_ARGS --port "$ACTION_PORT" >var/log/actions.log 2>&1 &
pids+=($!)

echo "==> starting the Rasa server on port $RASA_PORT with $MODEL (loading takes about 40 s)"
"$BIN/rasa" run --model "$MODEL" --enable-api --auth-token "$RASA_AUTH_TOKEN" \
  --port "$RASA_PORT" --endpoints endpoints.yml --credentials "$CREDENTIALS" \
  >var/log/rasa.log 2>&1 &
pids+=($!)

wait_for actions "http://127.0.0.1:$ACTION_PORT/health" "${pids[0]}"
wait_for rasa "http://127.0.0.1:$RASA_PORT/status?token=$RASA_AUTH_TOKEN" "${pids[1]}"

# The demo shop API runs only when the bot is pointed at it (a real shop sets SHOP_API_URL).
if [ "$SHOP_API_URL" = "http://127.0.0.1:$SHOP_API_PORT" ]; then
  echo "==> starting the demo shop API on port $SHOP_API_PORT ($SHOP_DB)"
  "$BIN/python" -m shop_api --port "$SHOP_API_PORT" --db "$SHOP_DB" >var/log/shop_api.log 2>&1 &
  pids+=($!)
  wait_for shop_api "$SHOP_API_URL/health" "$!"
fi

# The handoff service runs here unless HANDOFF_URL points to another one.
if [ "$HANDOFF_URL" = "http://127.0.0.1:$HANDOFF_PORT" ]; then
  echo "==> starting the handoff service on port $HANDOFF_PORT (${HANDOFF_DB_URL:-$HANDOFF_DB})"
  RASA_URL="${RASA_URL:-http://127.0.0.1:$RASA_PORT}" \
    "$BIN/python" -m handoff serve --port "$HANDOFF_PORT" --no-access-log >var/log/handoff.log 2>&1 &
  pids+=($!)
  wait_for handoff "$HANDOFF_URL/health" "$!"
fi

# The website chat widget on a demo shop page (widget/); it reads conversation history
# through Rasa's HTTP API with the server-side token, which never reaches the browser.
echo "==> starting the widget server on port $WIDGET_PORT"
RASA_URL="${RASA_URL:-http://127.0.0.1:$RASA_PORT}" \
  "$BIN/python" -m widget --port "$WIDGET_PORT" --db "$WIDGET_DB" --no-access-log \
  >var/log/widget.log 2>&1 &
pids+=($!)
wait_for widget "http://127.0.0.1:$WIDGET_PORT/health" "$!"

cat <<MSG

  Ready.
  Demo shop with chat widget: http://localhost:$WIDGET_PORT
  Chat over REST:   curl -s localhost:$RASA_PORT/webhooks/rest/webhook -H 'Content-Type: application/json' \\
                      -d '{"sender": "demo-1", "message": "你好"}'
  Rasa HTTP API:    http://localhost:$RASA_PORT  (token in RASA_AUTH_TOKEN)
  Action server:    http://localhost:$ACTION_PORT/health
  Shop API (demo):  $SHOP_API_URL  (scenarios: shop_api/README.md)
  Agent console:    http://localhost:$HANDOFF_PORT/console/  (an account: make agent NAME=xiaowang)
  Handoff API:      $HANDOFF_URL/openapi.yaml  (token in HANDOFF_API_TOKEN)
  Conversations:    $TRACKER_DB (SQLite)
  Logs:             var/log/rasa.log, var/log/actions.log, var/log/handoff.log
  Press Ctrl-C to stop everything.

MSG

# Stop everything as soon as one service dies, so nothing half-works silently.
wait -n "${pids[@]}" || true
echo "ERROR: a service exited unexpectedly; see var/log/" >&2
exit 1
