#!/usr/bin/env bash
# The production profile on this machine: PostgreSQL, Redis and RabbitMQ (scripts/prod/servers.sh),
# then under supervisord PROD_REPLICAS Rasa replicas, the action server, the demo shop API, the
# handoff service, the widget server and nginx in front (deploy/nginx/nginx.conf.template).
# Everything on 127.0.0.1; Ctrl-C (or SIGTERM) stops the processes, `scripts/prod/servers.sh stop`
# the servers (PROD_STOP_SERVERS=1 stops them too).
#
# Usage: scripts/prod/run.sh MODEL_PATH   (make run-prod)
# Secrets come from the environment only and development defaults are refused:
# RASA_AUTH_TOKEN, ACTION_SERVER_TOKEN, SHOP_API_TOKEN, HANDOFF_API_TOKEN, WIDGET_SESSION_SECRET,
# WIDGET_UPLOADS_TOKEN.
# The server URLs (TRACKER_DB_URL, REDIS_*, RABBITMQ_*) are those of servers.sh unless set.
# Ports: PROD_PORT (15000) public nginx, +1 internal Rasa API, +2 agent console,
# +10.. Rasa replicas, +20 actions, +21 shop API, +22 handoff, +23 widget.
set -euo pipefail
cd "$(dirname "$0")/../.."
MODEL=${1:?usage: scripts/prod/run.sh MODEL_PATH}
BIN=$PWD/.venv/bin
export PROD_RUN_DIR=${PROD_RUN_DIR:-var/prod}
mkdir -p "$PROD_RUN_DIR/log" "$PROD_RUN_DIR/nginx" "$PROD_RUN_DIR/data"
RUN=$(cd "$PROD_RUN_DIR" && pwd)
LOG=$RUN/log
BASE=${PROD_PORT:-15000}
REPLICAS=${PROD_REPLICAS:-2}
HOST=127.0.0.1

export APP_PROFILE=production PYTHONPATH=$PWD RASA_TELEMETRY_ENABLED=false
export SQLALCHEMY_SILENCE_UBER_WARNING=1
# One compute thread per process, as in .env.example (docs/performance.md): replicas, not
# threads, use the cores.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
export MKL_NUM_THREADS=${MKL_NUM_THREADS:-1}

# --- servers ----------------------------------------------------------------------------------
if [ "${PROD_SKIP_SERVERS:-0}" != 1 ]; then
  scripts/prod/install.sh
  scripts/prod/servers.sh start
fi
while IFS='=' read -r key value; do  # servers.sh's URLs, unless the environment names others
  [ -n "${!key+set}" ] || export "$key=$value"
done < <(scripts/prod/servers.sh env)

# --- settings of the services (non-secret; secrets only from the environment) -----------------
export ACTION_PORT=$((BASE + 20)) SHOP_API_PORT=$((BASE + 21)) HANDOFF_PORT=$((BASE + 22))
export WIDGET_PORT=$((BASE + 23))
export ACTION_SERVER_URL=${ACTION_SERVER_URL:-http://$HOST:$ACTION_PORT/webhook}
export SHOP_API_URL=${SHOP_API_URL:-http://$HOST:$SHOP_API_PORT}
export HANDOFF_URL=${HANDOFF_URL:-http://$HOST:$HANDOFF_PORT}
export RASA_URL=http://$HOST:$((BASE + 1))   # Rasa's HTTP API through nginx: any replica
export HANDOFF_BROKER_URL=${HANDOFF_BROKER_URL:-$RABBITMQ_URL} HANDOFF_EVENTS_URL=
export HANDOFF_HOST=$HOST HANDOFF_PROXIES_COUNT=1
export HANDOFF_OUTBOX=${HANDOFF_OUTBOX:-$RUN/data/outbox.db}
export SHOP_DB=${SHOP_DB:-$RUN/data/shop.db} WIDGET_DB=${WIDGET_DB:-$RUN/data/widget.db}
export WIDGET_SOCKET_URL=${WIDGET_SOCKET_URL:-http://localhost:$BASE}
# A replica that dies holding a conversation's lock blocks that conversation this long.
export TICKET_LOCK_LIFETIME=${TICKET_LOCK_LIFETIME:-20}
"$BIN/python" -m contracts.profile check

CREDENTIALS=$RUN/credentials.yml
"$BIN/python" -m bot.channels.credentials --base credentials.yml --out "$CREDENTIALS"

# --- nginx ------------------------------------------------------------------------------------
servers=""
for i in $(seq 1 "$REPLICAS"); do
  servers+="        server $HOST:$((BASE + 9 + i)) max_fails=3 fail_timeout=3s;"$'\n'
done
mkdir -p "$RUN/nginx"/{body,proxy,fastcgi,uwsgi,scgi}
"$BIN/python" - "$RUN" "$BASE" "$servers" <<'PY'
import sys
from pathlib import Path
run, base, servers = sys.argv[1], int(sys.argv[2]), sys.argv[3].rstrip("\n")
text = Path("deploy/nginx/nginx.conf.template").read_text()
for name, value in {"RUN_DIR": run, "PUBLIC_PORT": base, "INTERNAL_PORT": base + 1,
                    "CONSOLE_PORT": base + 2, "HANDOFF_PORT": base + 22,
                    "RASA_SERVERS": servers}.items():
    text = text.replace(f"@{name}@", str(value))
Path(run, "nginx", "nginx.conf").write_text(text)
PY
nginx -t -q -p "$RUN/nginx" -c "$RUN/nginx/nginx.conf" 2>"$LOG/nginx-test.log" \
  || { cat "$LOG/nginx-test.log" >&2; exit 1; }

# --- supervisord ------------------------------------------------------------------------------
# The configuration's common parts, start, wait and stop: scripts/lib/supervisor.sh.
RUN_DIR=$RUN SUPERVISOR_LOG_BACKUPS=2 SUPERVISOR_READY_SECONDS=${PROD_READY_SECONDS:-300}
# shellcheck source=../lib/supervisor.sh
source scripts/lib/supervisor.sh

CONF=$RUN/supervisord.conf
{
  supervisor_header scripts/prod/run.sh
  program actions "$BIN/python" -m bot.action_server --host $HOST --port "$ACTION_PORT"
  # Rasa's HTTP client keeps idle connections 15 s; Sanic closed them after 5 s, and under
  # load Rasa wrote to connections being closed ("Cannot write to closing transport").
  echo 'environment=SANIC_KEEP_ALIVE_TIMEOUT="75"'

  for i in $(seq 1 "$REPLICAS"); do
    program "rasa$i" "$BIN/rasa" run --model "$MODEL" --enable-api --auth-token "%(ENV_RASA_AUTH_TOKEN)s" \
      --interface $HOST --port $((BASE + 9 + i)) --endpoints endpoints.production.yml \
      --credentials "$CREDENTIALS"
    # Behind nginx: the customer's address (rate limits) is the one nginx saw.
    echo 'environment=SANIC_PROXIES_COUNT="1"'
  done
  program shop_api "$BIN/python" -m shop_api --host $HOST --port "$SHOP_API_PORT" --db "$SHOP_DB"
  program handoff "$BIN/python" -m handoff serve --port "$HANDOFF_PORT" --no-access-log
  [ "${PROD_WIDGET:-1}" = 1 ] && program widget "$BIN/python" -m widget --host $HOST \
    --port "$WIDGET_PORT" --db "$WIDGET_DB" --no-access-log
  program nginx "$(command -v nginx)" -p "$RUN/nginx" -c "$RUN/nginx/nginx.conf"
} >"$CONF"

after_stop() {
  if [ "${PROD_STOP_SERVERS:-0}" = 1 ]; then scripts/prod/servers.sh stop; fi
}
start_supervisor "$CONF"

echo "==> starting $REPLICAS Rasa replicas and the services under supervisord ($RUN)"
wait_for actions "http://$HOST:$ACTION_PORT/health"
wait_for shop_api "$SHOP_API_URL/health"
wait_for handoff "$HANDOFF_URL/health"
for i in $(seq 1 "$REPLICAS"); do
  wait_for "rasa$i" "http://$HOST:$((BASE + 9 + i))/status?token=$RASA_AUTH_TOKEN"
done
wait_for nginx "http://$HOST:$BASE/webhooks/rest/"

cat <<MSG

  Ready (production profile). Everything listens on $HOST.
  Customer channels (nginx):  http://localhost:$BASE/webhooks/rest/webhook, /socket.io/
  Rasa HTTP API (nginx):      http://localhost:$((BASE + 1))  (token RASA_AUTH_TOKEN)
  Agent console (nginx):      http://localhost:$((BASE + 2))/console/
  Servers:                    PostgreSQL $PG_PORT, Redis $REDIS_PORT, RabbitMQ $RABBITMQ_PORT (scripts/prod/servers.sh status)
  Processes:                  $BIN/supervisorctl -c $CONF status
  Logs:                       $LOG/
  READY

MSG

wait "$SUPERVISOR"
