#!/usr/bin/env bash
# Run a command against a local DynamoDB (dynalite) whose data persists in .data/dynalite:
#   scripts/run_dynamodb_local.sh scripts/sls offline start
#   scripts/run_dynamodb_local.sh .venv/bin/flask --app app run --host 127.0.0.1 --port 5000
#
# Starts dynalite on 127.0.0.1:${DYNALITE_PORT:-8000}, creates the users table if missing
# (key schema read from serverless.yml by scripts/create_local_table.py), exports
# USERS_TABLE, AWS_ENDPOINT_URL_DYNAMODB (boto3 honours it) and dummy credentials, runs the
# command, and stops dynalite when the command ends (or on Ctrl-C / SIGTERM).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

if [[ $# -eq 0 ]]; then
  echo "usage: $0 COMMAND [ARGS...]" >&2
  exit 2
fi
cli="$root/node_modules/dynalite/cli.js"
if [[ ! -f "$cli" ]]; then
  echo "error: $cli not found; run 'npm ci' first" >&2
  exit 1
fi
python="$root/.venv/bin/python"
if [[ ! -x "$python" ]]; then
  echo "error: $python not found; run 'make venv' first" >&2
  exit 1
fi

port="${DYNALITE_PORT:-8000}"
data="${DYNALITE_PATH:-$root/.data/dynalite}"
if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  echo "error: 127.0.0.1:$port is already in use; set DYNALITE_PORT to a free port" >&2
  exit 1
fi
mkdir -p "$data"

# Dummy credentials unless the caller has some: dynalite accepts any, and no real AWS
# account is ever reachable through this endpoint.
if [[ -z "${AWS_ACCESS_KEY_ID:-}" && -z "${AWS_PROFILE:-}" ]]; then
  export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
fi
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
export AWS_EC2_METADATA_DISABLED=true
export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$port"
export USERS_TABLE="${USERS_TABLE:-users}"

node "$cli" --host 127.0.0.1 --port "$port" --path "$data" --createTableMs 0 &
dynalite_pid=$!
child_pid=""

stop() {
  if [[ -n "$child_pid" ]]; then kill -TERM "$child_pid" 2>/dev/null || true; fi
  kill -TERM "$dynalite_pid" 2>/dev/null || true
  wait "$dynalite_pid" 2>/dev/null || true
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

for _ in $(seq 100); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
  if ! kill -0 "$dynalite_pid" 2>/dev/null; then
    echo "error: dynalite exited (is $data locked by another dynalite?)" >&2
    exit 1
  fi
  sleep 0.1
done
"$python" scripts/create_local_table.py
echo "dynalite: $AWS_ENDPOINT_URL_DYNAMODB, data in $data, USERS_TABLE=$USERS_TABLE" >&2

# Not exec: this shell stays to stop dynalite afterwards. The command runs in the
# background so that a signal reaches the traps at once; stop() forwards it.
"$@" &
child_pid=$!
status=0
wait "$child_pid" || status=$?
child_pid=""
exit "$status"
