#!/usr/bin/env bash
# Private PostgreSQL, Redis and RabbitMQ servers for the production profile on this machine:
# loopback only, non-default ports, everything (data, logs, sockets, secrets) under PROD_RUN_DIR.
#
#   scripts/prod/servers.sh start [postgres|redis|rabbitmq ...]   start (all by default), wait until ready
#   scripts/prod/servers.sh stop  [...]                           stop cleanly
#   scripts/prod/servers.sh restart NAME                          stop, then start one server
#   scripts/prod/servers.sh status                                which are running
#   scripts/prod/servers.sh env                                   print the URLs (source it: eval "$(... env)")
#
# Settings: PROD_RUN_DIR (default var/prod), PROD_PG_PORT (25432), PROD_REDIS_PORT (26379),
# PROD_AMQP_PORT (25672); RabbitMQ's epmd listens on PROD_AMQP_PORT+1 and its Erlang
# distribution on PROD_AMQP_PORT+2. Keep them below the kernel's ephemeral range (32768-60999):
# a client connection could hold such a port when a server restarts. Passwords are generated once into PROD_RUN_DIR/secrets.env (mode 600).
# Each server gets PROD_START_SECONDS (60) to become ready. Needs the Debian packages
# (scripts/prod/install.sh) and root or the postgres user for PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/../.."

RUN=${PROD_RUN_DIR:-var/prod}
mkdir -p "$RUN"
RUN=$(cd "$RUN" && pwd)
PG_PORT=${PROD_PG_PORT:-25432}
REDIS_PORT=${PROD_REDIS_PORT:-26379}
AMQP_PORT=${PROD_AMQP_PORT:-25672}
START_SECONDS=${PROD_START_SECONDS:-60}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
RABBIT_BIN=${RABBIT_BIN:-/usr/lib/rabbitmq/bin}
NODE="shop-$AMQP_PORT@localhost"

log() { echo "==> $*" >&2; }
die() { echo "ERROR: $*" >&2; exit 1; }

secrets() {  # generate the servers' passwords once; never printed
  local file=$RUN/secrets.env
  if [ ! -f "$file" ]; then
    (
      umask 077
      echo "PG_PASSWORD=$(head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')"
      echo "REDIS_PASSWORD=$(head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')"
      echo "RABBITMQ_PASSWORD=$(head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')"
    ) >"$file.tmp"
    chmod 600 "$file.tmp" && mv "$file.tmp" "$file"
  fi
  # shellcheck disable=SC1090
  source "$file"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_until() {  # what command...: poll for START_SECONDS
  local what=$1 i
  shift
  for i in $(seq 1 $((START_SECONDS * 4))); do
    if "$@"; then return 0; fi
    sleep 0.25
  done
  die "$what not ready in ${START_SECONDS}s; see $RUN/log/"
}

as_postgres() {  # PostgreSQL refuses to run as root
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# --- PostgreSQL -------------------------------------------------------------------------
pg_running() { [ -f "$RUN/postgres/data/postmaster.pid" ] && as_postgres "$PG_BIN/pg_ctl" -D "$RUN/postgres/data" status >/dev/null 2>&1; }

start_postgres() {
  [ -x "$PG_BIN/initdb" ] || die "PostgreSQL binaries not in $PG_BIN (scripts/prod/install.sh)"
  pg_running && { log "postgres already running on $PG_PORT"; return 0; }
  local dir=$RUN/postgres
  mkdir -p "$dir/socket" "$RUN/log"
  [ "$(id -u)" -eq 0 ] && chown -R postgres: "$dir"
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    local pwfile=$dir/pwfile
    (umask 077; echo "$PG_PASSWORD" >"$pwfile")
    [ "$(id -u)" -eq 0 ] && chown postgres: "$pwfile"
    as_postgres "$PG_BIN/initdb" -D "$dir/data" -U shop --pwfile="$pwfile" --auth=scram-sha-256 \
      --encoding=UTF8 --locale=C.UTF-8 >"$RUN/log/initdb.log" 2>&1 || die "initdb failed: $RUN/log/initdb.log"
    rm -f "$pwfile"
  fi
  # The server writes its log itself, as postgres: inside its own directory.
  as_postgres "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t "$START_SECONDS" \
    -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $dir/socket -c max_connections=200 -c fsync=${PROD_PG_FSYNC:-on}" \
    start >/dev/null || die "postgres did not start; see $dir/postgres.log"
  local db
  for db in rasa handoff; do
    PGPASSWORD=$PG_PASSWORD "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U shop -d postgres -tAq \
      -c "SELECT 1 FROM pg_database WHERE datname='$db'" | grep -q 1 \
      || PGPASSWORD=$PG_PASSWORD "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U shop "$db"
  done
  log "postgres ready on 127.0.0.1:$PG_PORT"
}

stop_postgres() {
  pg_running || return 0
  as_postgres "$PG_BIN/pg_ctl" -D "$RUN/postgres/data" -m fast -w -t 30 stop >/dev/null
  log "postgres stopped"
}

# --- Redis --------------------------------------------------------------------------------
redis_pid() { cat "$RUN/redis/redis.pid" 2>/dev/null; }
redis_running() { local pid; pid=$(redis_pid) && kill -0 "$pid" 2>/dev/null; }

start_redis() {
  command -v redis-server >/dev/null || die "redis-server missing (scripts/prod/install.sh)"
  redis_running && { log "redis already running on $REDIS_PORT"; return 0; }
  mkdir -p "$RUN/redis" "$RUN/log"
  # The password goes through a config file, not the command line (ps shows arguments).
  (umask 077; cat >"$RUN/redis/redis.conf" <<CONF
bind 127.0.0.1
port $REDIS_PORT
dir $RUN/redis
pidfile $RUN/redis/redis.pid
logfile $RUN/log/redis.log
daemonize yes
appendonly yes
requirepass $REDIS_PASSWORD
CONF
  )
  redis-server "$RUN/redis/redis.conf"
  wait_until redis redis_ping
  log "redis ready on 127.0.0.1:$REDIS_PORT"
}

redis_ping() { REDISCLI_AUTH=$REDIS_PASSWORD redis-cli -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; }

stop_redis() {
  redis_running || return 0
  local pid
  pid=$(redis_pid)
  kill -TERM "$pid"
  wait_until "redis stop" bash -c "! kill -0 $pid 2>/dev/null"
  log "redis stopped"
}

# --- RabbitMQ -----------------------------------------------------------------------------
rabbit_env() {
  export RABBITMQ_NODENAME=$NODE RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT=$AMQP_PORT
  export RABBITMQ_DIST_PORT=$((AMQP_PORT + 2)) ERL_EPMD_PORT=$((AMQP_PORT + 1))
  export RABBITMQ_MNESIA_BASE=$RUN/rabbitmq/mnesia RABBITMQ_LOG_BASE=$RUN/log
  export RABBITMQ_PID_FILE=$RUN/rabbitmq/rabbitmq.pid RABBITMQ_CONFIG_FILE=$RUN/rabbitmq/rabbitmq
  export RABBITMQ_ENABLED_PLUGINS_FILE=$RUN/rabbitmq/enabled_plugins HOME=$RUN/rabbitmq
  export RABBITMQ_LOGS=$RUN/log/rabbitmq.log RABBITMQ_CONF_ENV_FILE=$RUN/rabbitmq/rabbitmq-env.conf
  export ERL_CRASH_DUMP=$RUN/log/erl_crash.dump
}

rabbit_up() {  # launcher pid: ready, or give up at once when it died
  port_open "$AMQP_PORT" && return 0
  kill -0 "$1" 2>/dev/null || die "rabbitmq exited while starting; see $RUN/log/rabbitmq.out"
  return 1
}

rabbit_running() { local pid; pid=$(cat "$RUN/rabbitmq/rabbitmq.pid" 2>/dev/null) && kill -0 "$pid" 2>/dev/null; }

start_rabbitmq() {
  [ -x "$RABBIT_BIN/rabbitmq-server" ] || die "rabbitmq-server missing (scripts/prod/install.sh)"
  rabbit_running && port_open "$AMQP_PORT" && { log "rabbitmq already running on $AMQP_PORT"; return 0; }
  mkdir -p "$RUN/rabbitmq" "$RUN/log"
  (umask 077; cat >"$RUN/rabbitmq/rabbitmq.conf" <<CONF
listeners.tcp.default = 127.0.0.1:$AMQP_PORT
loopback_users = none
default_user = shop
default_pass = $RABBITMQ_PASSWORD
log.console = false
CONF
  )
  echo "[]." >"$RUN/rabbitmq/enabled_plugins"
  : >"$RUN/rabbitmq/rabbitmq-env.conf"
  [ -f "$RUN/rabbitmq/.erlang.cookie" ] || (umask 077; head -c 20 /dev/urandom | base64 | tr -dc 'A-Z' | head -c 20 >"$RUN/rabbitmq/.erlang.cookie")
  local attempt launcher
  for attempt in 1 2 3; do  # a port still held for a moment after a restart: try again
    (rabbit_env; cd "$RUN/rabbitmq"; exec setsid "$RABBIT_BIN/rabbitmq-server" >>"$RUN/log/rabbitmq.out" 2>&1 </dev/null) &
    launcher=$!
    if (wait_until rabbitmq rabbit_up "$launcher"); then break; fi
    [ "$attempt" -lt 3 ] || die "rabbitmq did not start; see $RUN/log/rabbitmq.out"
    log "rabbitmq exited while starting; trying again"
    sleep 2
  done
  log "rabbitmq ready on 127.0.0.1:$AMQP_PORT (node $NODE)"
}

stop_rabbitmq() {
  if rabbit_running; then
    local pid
    pid=$(cat "$RUN/rabbitmq/rabbitmq.pid")
    kill -TERM "$pid" 2>/dev/null || true
    START_SECONDS=30 wait_until "rabbitmq stop" bash -c "! kill -0 $pid 2>/dev/null"
    log "rabbitmq stopped"
  fi
  # The node's own epmd (its port), also when the node failed to start.
  (rabbit_env; epmd -port "$ERL_EPMD_PORT" -kill >/dev/null 2>&1 || true)
}

print_env() {
  cat <<ENV
TRACKER_DB_URL=postgresql://shop:$PG_PASSWORD@127.0.0.1:$PG_PORT/rasa
HANDOFF_DB_URL=postgresql://shop:$PG_PASSWORD@127.0.0.1:$PG_PORT/handoff
PG_HOST=127.0.0.1
PG_PORT=$PG_PORT
PG_USER=shop
PG_PASSWORD=$PG_PASSWORD
REDIS_HOST=127.0.0.1
REDIS_PORT=$REDIS_PORT
REDIS_PASSWORD=$REDIS_PASSWORD
REDIS_URL=redis://:$REDIS_PASSWORD@127.0.0.1:$REDIS_PORT/0
RABBITMQ_HOST=127.0.0.1
RABBITMQ_PORT=$AMQP_PORT
RABBITMQ_USER=shop
RABBITMQ_PASSWORD=$RABBITMQ_PASSWORD
RABBITMQ_URL=amqp://shop:$RABBITMQ_PASSWORD@127.0.0.1:$AMQP_PORT/%2F
ENV
}

ALL=(postgres redis rabbitmq)
command=${1:-}
[ $# -gt 0 ] && shift
names=("$@")
[ ${#names[@]} -gt 0 ] || names=("${ALL[@]}")
secrets
case $command in
  start) for name in "${names[@]}"; do "start_$name"; done ;;
  stop) for name in "${names[@]}"; do "stop_$name"; done ;;
  restart) for name in "${names[@]}"; do "stop_$name"; "start_$name"; done ;;
  status)
    pg_running && echo "postgres: running on $PG_PORT" || echo "postgres: stopped"
    redis_running && echo "redis: running on $REDIS_PORT" || echo "redis: stopped"
    rabbit_running && echo "rabbitmq: running on $AMQP_PORT" || echo "rabbitmq: stopped" ;;
  env) print_env ;;
  *) sed -n '2,17p' "$0" >&2; exit 2 ;;
esac
