#!/usr/bin/env bash
# Start every service of the default profile under supervisord; Ctrl-C stops them all.
# A service that dies is restarted by supervisord; the others stay up (var/log/<name>.log).
# Usage: scripts/run.sh MODEL_PATH  (the Makefile passes it; settings from scripts/with-env.sh)
# RUN_DIR (default var) holds the logs, the supervisor socket and the generated config.
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=$1
BIN=.venv/bin
RUN_DIR=${RUN_DIR:-var}
HOST=${BIND_HOST:-127.0.0.1}
mkdir -p "$RUN_DIR/log" "$(dirname "$TRACKER_DB")"
RUN_DIR=$(cd "$RUN_DIR" && pwd)
LOG=$RUN_DIR/log
CONF=$RUN_DIR/supervisord.conf
# shellcheck source=lib/supervisor.sh
source scripts/lib/supervisor.sh

# credentials.yml plus the messaging channels whose variables are set (docs/channels.md).
CREDENTIALS=$RUN_DIR/credentials.yml
"$BIN/python" -m bot.channels.credentials --base credentials.yml --out "$CREDENTIALS"

{
  supervisor_header scripts/run.sh
  program actions "$PWD/$BIN/python" -m bot.action_server --host "$HOST" --port "$ACTION_PORT"
  # Above the keep-alive of Rasa's HTTP client (15 s): with Sanic's 5 s, Rasa wrote to
  # connections being closed and under load turns failed (docs/production.md#known-limits).
  echo 'environment=SANIC_KEEP_ALIVE_TIMEOUT="75"'

  program rasa "$PWD/$BIN/rasa" run --model "$MODEL" --enable-api --auth-token "$RASA_AUTH_TOKEN" \
    --interface "$HOST" --port "$RASA_PORT" --endpoints endpoints.yml --credentials "$CREDENTIALS"
  # The demo shop API runs only when the bot is pointed at it (a real shop sets SHOP_API_URL).
  if [ "$SHOP_API_URL" = "http://127.0.0.1:$SHOP_API_PORT" ]; then
    program shop_api "$PWD/$BIN/python" -m shop_api --host "$HOST" --port "$SHOP_API_PORT" \
      --db "$SHOP_DB"
  fi
  # The handoff service runs here unless HANDOFF_URL points to another one.
  if [ "$HANDOFF_URL" = "http://127.0.0.1:$HANDOFF_PORT" ]; then
    program handoff "$PWD/$BIN/python" -m handoff serve --port "$HANDOFF_PORT" --no-access-log
  fi
  program widget "$PWD/$BIN/python" -m widget --host "$HOST" --port "$WIDGET_PORT" \
    --db "$WIDGET_DB" --no-access-log
  # Retention (PIPL): every RETENTION_EVERY_SECONDS, each service deletes what is older than
  # RETENTION_DAYS in its own store (docs/data.md).
  if [ -n "${RETENTION_DAYS:-}" ]; then
    program retention "$PWD/$BIN/python" -m ops.retention --every "${RETENTION_EVERY_SECONDS:-3600}"
  fi
} >"$CONF"

export RASA_URL="${RASA_URL:-http://127.0.0.1:$RASA_PORT}" HANDOFF_HOST="${HANDOFF_HOST:-$HOST}"
start_supervisor "$CONF"

echo "==> starting the services under supervisord (Rasa loads its model in about 40 s)"
wait_for actions "http://127.0.0.1:$ACTION_PORT/health"
wait_for rasa "http://127.0.0.1:$RASA_PORT/status?token=$RASA_AUTH_TOKEN"
grep -q '^\[program:shop_api\]' "$CONF" && wait_for shop_api "$SHOP_API_URL/health"
grep -q '^\[program:handoff\]' "$CONF" && wait_for handoff "$HANDOFF_URL/health"
wait_for widget "http://127.0.0.1:$WIDGET_PORT/health"

cat <<MSG

  Ready. Every service listens on $HOST (BIND_HOST); supervisord restarts any that dies.
  Demo shop with chat widget: http://localhost:$WIDGET_PORT
  Chat over REST:   curl -s localhost:$RASA_PORT/webhooks/rest/webhook -H 'Content-Type: application/json' \\
                      -d '{"sender": "demo-1", "message": "你好"}'
  Rasa HTTP API:    http://localhost:$RASA_PORT  (token in RASA_AUTH_TOKEN)
  Action server:    http://localhost:$ACTION_PORT/health  (calls need ACTION_SERVER_TOKEN)
  Shop API (demo):  $SHOP_API_URL  (scenarios: shop_api/README.md)
  Agent console:    http://localhost:$HANDOFF_PORT/console/  (an account: make agent NAME=xiaowang)
  Handoff API:      $HANDOFF_URL/openapi.yaml  (token in HANDOFF_API_TOKEN)
  Conversations:    $TRACKER_DB (SQLite)
  Services:         $BIN/supervisorctl -c $CONF status
  Logs:             $LOG/
  Press Ctrl-C to stop everything.

MSG

wait "$SUPERVISOR"
