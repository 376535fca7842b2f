#!/usr/bin/env bash
# Run a command with the project's settings: the environment wins, then .env, then .env.example.
set -euo pipefail
cd "$(dirname "$0")/.."

load_env_file() {
  local key value
  [ -f "$1" ] || return 0
  while IFS='=' read -r key value || [ -n "$key" ]; do
    [[ "$key" =~ ^[A-Z_][A-Z0-9_]*$ ]] || continue
    [ -n "${!key+set}" ] || export "$key=$value"
  done < "$1"
}

load_env_file .env
load_env_file .env.example
exec "$@"
