#!/usr/bin/env bash
# Migration speed and its cost to foreground traffic: two ferrokv-server nodes in
# cluster mode, KEYS keys of VALUE bytes in slots 0-1023 on the source, then
# `CLUSTERX MIGRATE 0-1023 <dst> sync` while redis-benchmark reads and writes other
# slots of the source. Prints the job's figures (keys, bytes, rate, fence) and the
# benchmark's throughput and p99 latency with and without the migration running.
#
#   bench/migration.sh
#   KEYS=500000 VALUE=200 bench/migration.sh
#   GAP=100 BATCH_KB=1024 bench/migration.sh   # migrate-sequence-gap, migrate-batch-size-kb
set -euo pipefail
cd "$(dirname "$0")/.."

KEYS=${KEYS:-200000}
VALUE=${VALUE:-100}
SRC_PORT=${SRC_PORT:-17301}
DST_PORT=${DST_PORT:-17302}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ferrokv-target}"
cargo build --quiet --bin ferrokv-server
BIN="$CARGO_TARGET_DIR/debug/ferrokv-server"
WORK=$(mktemp -d)
cleanup() {
  kill "${PIDS[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
PIDS=()
trap cleanup EXIT
for port in "$SRC_PORT" "$DST_PORT"; do
  "$BIN" --port "$port" --dir "$WORK/$port" --cluster-enabled yes --log-level warning \
    --migrate-sequence-gap "${GAP:-1000}" --migrate-batch-size-kb "${BATCH_KB:-256}" &
  PIDS+=($!)
done
for port in "$SRC_PORT" "$DST_PORT"; do
  for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
done
SRC=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1
DST=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa2
NODES="$SRC 127.0.0.1 $SRC_PORT master - 0-8191
$DST 127.0.0.1 $DST_PORT master - 8192-16383"
for port in "$SRC_PORT" "$DST_PORT"; do redis-cli -p "$port" CLUSTERX SETNODES "$NODES" 1 >/dev/null; done

# Keys of slots 0-1023: hash tags whose slot is in range, found once.
python3 - "$KEYS" "$VALUE" "$SRC_PORT" <<'PY'
import sys, redis
keys, size, port = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
r = redis.Redis(port=port)
tags = [t for t in (f"t{i}" for i in range(200000)) if r.execute_command("CLUSTER", "KEYSLOT", t) < 1024][:1024]
value = b"x" * size
pipe = r.pipeline(transaction=False)
for i in range(keys):
    pipe.set(f"{{{tags[i % len(tags)]}}}:{i}", value)
    if i % 5000 == 4999:
        pipe.execute()
pipe.execute()
PY
echo "source holds $(redis-cli -p "$SRC_PORT" dbsize) keys of $VALUE bytes in slots 0-1023"

# Foreground load on slot 5061 ("{bar}"), which stays on the source.
VAL=$(head -c 100 /dev/zero | tr '\0' v)
load() {
  for command in SET GET; do
    local args=("$command" "{bar}:__rand_int__")
    [ "$command" = SET ] && args+=("$VAL")
    redis-benchmark -p "$SRC_PORT" -c 20 -n "$1" -r 100000 -q --csv "${args[@]}" 2>/dev/null |
      awk -F'","' -v c="$command" 'NR > 1 { gsub(/"/, "", $2); gsub(/"/, "", $7); print c, $2, "rps, p99=" $7 "ms" }'
  done
}
echo "foreground (20 clients, SET/GET on another slot of the source) without a migration:"
load 200000 | sed 's/^/  /'
redis-cli -p "$SRC_PORT" CLUSTERX MIGRATE 0-1023 "$DST" >/dev/null
echo "the same while the migration runs:"
load 200000 | sed 's/^/  /'
while redis-cli -p "$SRC_PORT" CLUSTERX MIGRATION STATUS | grep -qx start; do sleep 0.2; done
echo "migration job:"
redis-cli -p "$SRC_PORT" CLUSTERX MIGRATION STATUS | paste - - |
  grep -E "^(state|keys_total|keys_sent|bytes_sent|rate_bytes_per_sec|elapsed_ms|fence_ms|error)\b" | sed 's/^/  /'
echo "destination holds $(redis-cli -p "$DST_PORT" dbsize) keys"
