#!/usr/bin/env bash
# Install the production profile's servers from Debian's packages, only those missing:
# PostgreSQL, Redis, RabbitMQ and nginx. Needs root (or sudo); idempotent.
# The packages' own services are not used: scripts/prod/servers.sh starts private instances.
set -euo pipefail

missing=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "$2" ]; }
have initdb /usr/lib/postgresql/15/bin/initdb || missing+=(postgresql)
have redis-server /usr/bin/redis-server || missing+=(redis-server)
have rabbitmq-server /usr/sbin/rabbitmq-server || missing+=(rabbitmq-server)
have nginx /usr/sbin/nginx || missing+=(nginx)
[ ${#missing[@]} -eq 0 ] && { echo "==> servers present (postgresql, redis, rabbitmq, nginx)"; exit 0; }

SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "==> installing ${missing[*]} (apt-get)"
# Debian's maintainer scripts must not start the packaged services (they would take the
# default ports): policy-rc.d answers "not allowed" for the time of the install.
POLICY=/usr/sbin/policy-rc.d
created_policy=
if [ ! -e "$POLICY" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
  $SUDO chmod +x "$POLICY"
  created_policy=1
fi
cleanup() { [ -n "$created_policy" ] && $SUDO rm -f "$POLICY"; return 0; }
trap cleanup EXIT
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "==> installed ${missing[*]}"
