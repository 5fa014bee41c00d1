#!/usr/bin/env bash
# Migration speed, side by side with Redis, and its cost to foreground traffic.
#
# Default mode (MODE=keys): KEYS keys of VALUE bytes in slots 0-8191 on node A
# (A serves 0-12287, B 12288-16383), then
#   1. `CLUSTERX MIGRATE 0-8191 <B> sync`, timed, nothing else running: seconds and MB/s
#      of user data (keys + values);
#   2. the same KEYS×VALUE on two redis-server cluster nodes moved with
#      `redis-cli --cluster reshard` (8192 slots), timed; the ratio of the two;
#   3. foreground p99 (redis-benchmark SET/GET, 20 clients, a slot of B that does not
#      move) idle, then while B migrates slots 0-8191 back to A.
# MODE=hash: one hash of FIELDS fields of FIELD_VALUE bytes moves from A to B; prints
# the largest VmRSS growth of either node over its level before the move (sampled every
# 20 ms from /proc/<pid>/status) and the slowest PING of either node (one every 10 ms).
#
#   bench/migration.sh
#   BIN=path/to/ferrokv-server bench/migration.sh   # default: ./dev release
#   MODE=hash FIELDS=10000000 bench/migration.sh
#   SST_MB=0 bench/migration.sh     # migrate-sst-file-mb 0: the snapshot as batches
#   IDLE_CLASS=no bench/migration.sh  # migrate-idle-class no: the copy at migrate-nice
#   NICE=0 IDLE_CLASS=no bench/migration.sh  # the copy at the clients' priority
#   PERF=/tmp/mig.data bench/migration.sh   # perf record -g of both nodes during step 1
#   FERROKV_ARGS="--workers 1" bench/migration.sh   # more server options
set -euo pipefail
cd "$(dirname "$0")/.."

MODE=${MODE:-keys}
KEYS=${KEYS:-200000}
VALUE=${VALUE:-1024}
FIELDS=${FIELDS:-10000000}
FIELD_VALUE=${FIELD_VALUE:-100}
A_PORT=${A_PORT:-17301}
B_PORT=${B_PORT:-17302}
R1_PORT=${R1_PORT:-17311}
R2_PORT=${R2_PORT:-17312}
# The deployable build (`./dev release`), unless BIN names another binary.
BIN=${BIN:-$(./dev release)/ferrokv-server}
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  kill "${PIDS[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

wait_ping() { for _ in $(seq 200); do redis-cli -p "$1" ping >/dev/null 2>&1 && return; sleep 0.05; done; echo "port $1 never answered" >&2; exit 1; }
now() { date +%s.%N; }
A=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1
B=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa2
for port in "$A_PORT" "$B_PORT"; do
  "$BIN" --port "$port" --dir "$WORK/$port" --cluster-enabled yes --log-level warning \
    --migrate-sst-file-mb "${SST_MB:-64}" --migrate-nice "${NICE:-10}" \
    --migrate-idle-class "${IDLE_CLASS:-yes}" ${FERROKV_ARGS:-} &
  PIDS+=($!)
done
A_PID=${PIDS[0]}
B_PID=${PIDS[1]}
for port in "$A_PORT" "$B_PORT"; do wait_ping "$port"; done
NODES="$A 127.0.0.1 $A_PORT master - 0-12287
$B 127.0.0.1 $B_PORT master - 12288-16383"
for port in "$A_PORT" "$B_PORT"; do redis-cli -p "$port" CLUSTERX SETNODES "$NODES" 1 >/dev/null; done

# The load as RESP, written once and piped to each server (`redis-cli --pipe`).
gen_keys() {
  python3 - "$KEYS" "$VALUE" "$WORK/keys.resp" <<'PY'
import sys
from redis.crc import key_slot
keys, size, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
value = b"x" * size
n = i = user = 0
with open(path, "wb") as out:
    while n < keys:
        key = f"key:{i}".encode()
        i += 1
        if key_slot(key) >= 8192:
            continue
        out.write(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(key), key, size, value))
        n += 1
        user += len(key) + size
open(path + ".bytes", "w").write(str(user))
PY
}
gen_hash() {
  python3 - "$FIELDS" "$FIELD_VALUE" "$WORK/hash.resp" <<'PY'
import sys
fields, size, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
value = b"v" * size
per = 1000
with open(path, "wb") as out:
    for start in range(0, fields, per):
        n = min(per, fields - start)
        parts = [b"HSET", b"hash0"]
        for i in range(start, start + n):
            parts += [b"f%d" % i, value]
        out.write(b"*%d\r\n" % len(parts))
        for p in parts:
            out.write(b"$%d\r\n%s\r\n" % (len(p), p))
PY
}

migrate_sync() { # <from port> <slots> <to id>: prints seconds
  local t0 t1 reply
  t0=$(now)
  reply=$(redis-cli -p "$1" CLUSTERX MIGRATE "$2" "$3" sync)
  t1=$(now)
  [ "$reply" = OK ] || { echo "migration failed: $reply" >&2; redis-cli -p "$1" CLUSTERX MIGRATION STATUS >&2; exit 1; }
  echo "$t1 - $t0" | bc -l
}

if [ "$MODE" = hash ]; then
  gen_hash
  redis-cli -p "$A_PORT" --pipe < "$WORK/hash.resp" >/dev/null
  SLOT=$(redis-cli -p "$A_PORT" CLUSTER KEYSLOT hash0)
  echo "A holds a hash of $(redis-cli -p "$A_PORT" HLEN hash0) fields of $FIELD_VALUE bytes (slot $SLOT)"
  python3 - "$A_PID" "$B_PID" "$A_PORT" "$B_PORT" "$WORK/stop" > "$WORK/sampled" <<'PY' &
import multiprocessing, os, socket, sys, time
pids, ports, stop = sys.argv[1:3], sys.argv[3:5], sys.argv[5]
def rss(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
def pinger(port, out):
    # A process of its own per node: no other Python thread delays its timing.
    s = socket.create_connection(("127.0.0.1", int(port)))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    slowest = 0.0
    while not os.path.exists(stop):
        t = time.perf_counter()
        s.sendall(b"PING\r\n")
        buf = b""
        while not buf.endswith(b"\r\n"):
            buf += s.recv(64)
        slowest = max(slowest, time.perf_counter() - t)
        time.sleep(0.01)
    out.value = slowest
base = [rss(p) for p in pids]
peak = list(base)
slowest = [multiprocessing.Value("d", 0.0) for _ in ports]
procs = [multiprocessing.Process(target=pinger, args=(port, v)) for port, v in zip(ports, slowest)]
for p in procs: p.start()
while not os.path.exists(stop):
    for i, p in enumerate(pids):
        peak[i] = max(peak[i], rss(p))
    time.sleep(0.02)
for p in procs: p.join()
for name, b, p, s in zip("AB", base, peak, slowest):
    print(f"  node {name}: VmRSS {b / 2**20:.0f} MiB before, peak {p / 2**20:.0f} MiB, growth {(p - b) / 2**20:.0f} MiB; slowest PING {s.value * 1000:.1f} ms")
PY
  SAMPLER=$!
  sleep 0.5
  SECS=$(migrate_sync "$A_PORT" "$SLOT" "$B")
  touch "$WORK/stop"
  wait "$SAMPLER"
  MB=$(echo "$FIELDS * ($FIELD_VALUE + 8) / 1000000" | bc -l)
  printf "moved the hash (%s fields, ~%.0f MB of user data) in %.2f s: %.0f MB/s\n" "$FIELDS" "$MB" "$SECS" "$(echo "$MB / $SECS" | bc -l)"
  echo "B: HLEN $(redis-cli -p "$B_PORT" -c HLEN hash0)"
  cat "$WORK/sampled"
  exit 0
fi

gen_keys
redis-cli -p "$A_PORT" --pipe < "$WORK/keys.resp" >/dev/null
echo "A holds $(redis-cli -p "$A_PORT" dbsize) keys of $VALUE bytes in slots 0-8191"
# The load's flushes and compactions finish first: step 1 measures the migration alone
# (they took a core for up to a second after the load, 0.6-1.9 s for the same move).
settled() {
  redis-cli -p "$1" INFO rocksdb | tr -d '\r' | awk -F: '
    /^(num_running_flushes|memtable_flush_pending|compaction_pending|num_running_compactions):/ { busy += $2 }
    END { exit busy > 0 }'
}
for port in "$A_PORT" "$B_PORT"; do
  for _ in $(seq 600); do settled "$port" && break; sleep 0.1; done
done
USER_MB=$(echo "$(cat "$WORK/keys.resp.bytes") / 1000000" | bc -l)

# 1. Ferrokv, timed (PERF=<file>: under `perf record -g` of both nodes).
if [ -n "${PERF:-}" ]; then
  perf record -g -o "$PERF" -p "$A_PID,$B_PID" 2>/dev/null &
  PERF_PID=$!
  sleep 1
fi
FK=$(migrate_sync "$A_PORT" 0-8191 "$B")
if [ -n "${PERF:-}" ]; then kill -INT "$PERF_PID"; wait "$PERF_PID" || true; fi
for port in "$A_PORT" "$B_PORT"; do redis-cli -p "$port" CLUSTERX SETSLOT 0-8191 NODE "$B" 2 >/dev/null; done
echo "B holds $(redis-cli -p "$B_PORT" dbsize) keys"

# 2. Redis: two cluster nodes, slots assigned by hand (redis-cli --cluster create wants
#    three masters), then reshard of the 8192 slots.
for port in "$R1_PORT" "$R2_PORT"; do
  mkdir -p "$WORK/r$port"
  redis-server --port "$port" --cluster-enabled yes --cluster-config-file "$WORK/r$port/nodes.conf" \
    --dir "$WORK/r$port" --save "" --appendonly no --loglevel warning >/dev/null &
  PIDS+=($!)
done
for port in "$R1_PORT" "$R2_PORT"; do wait_ping "$port"; done
redis-cli -p "$R1_PORT" CLUSTER ADDSLOTSRANGE 0 12287 >/dev/null
redis-cli -p "$R2_PORT" CLUSTER ADDSLOTSRANGE 12288 16383 >/dev/null
redis-cli -p "$R1_PORT" CLUSTER MEET 127.0.0.1 "$R2_PORT" >/dev/null
for port in "$R1_PORT" "$R2_PORT"; do
  for _ in $(seq 200); do redis-cli -p "$port" CLUSTER INFO | grep -q "cluster_state:ok" && break; sleep 0.1; done
done
sleep 1
redis-cli -p "$R1_PORT" --pipe < "$WORK/keys.resp" >/dev/null
R1_ID=$(redis-cli -p "$R1_PORT" CLUSTER MYID)
R2_ID=$(redis-cli -p "$R2_PORT" CLUSTER MYID)
t0=$(now)
redis-cli --cluster reshard "127.0.0.1:$R1_PORT" --cluster-from "$R1_ID" --cluster-to "$R2_ID" \
  --cluster-slots 8192 --cluster-yes >/dev/null
t1=$(now)
RS=$(echo "$t1 - $t0" | bc -l)
echo "redis node 2 holds $(redis-cli -p "$R2_PORT" dbsize) keys"

printf "migration of %d keys x %d bytes (%.0f MB of user data), slots 0-8191:\n" "$KEYS" "$VALUE" "$USER_MB"
printf "  ferrokv CLUSTERX MIGRATE sync: %.3f s, %.0f MB/s\n" "$FK" "$(echo "$USER_MB / $FK" | bc -l)"
printf "  redis-cli --cluster reshard:   %.3f s, %.0f MB/s\n" "$RS" "$(echo "$USER_MB / $RS" | bc -l)"
printf "  ratio (redis time / ferrokv time): %.1fx\n" "$(echo "$RS / $FK" | bc -l)"

# 3. Foreground on a slot of B that stays (tag "{a}", slot 15495), idle and while B
#    migrates 0-8191 back to A.
VAL=$(head -c 100 /dev/zero | tr '\0' v)
load() { # <requests>
  for command in SET GET; do
    local args=("$command" "{a}:__rand_int__")
    [ "$command" = SET ] && args+=("$VAL")
    redis-benchmark -p "$B_PORT" -c 20 -n "$1" -r 100000 -q --csv "${args[@]}" 2>/dev/null |
      awk -F'","' -v c="$command" 'NR > 1 { gsub(/"/, "", $2); gsub(/"/, "", $7); print c, $2, "rps, p99=" $7 "ms" }'
  done
}
IDLE=$(load 100000)
RPS=$(echo "$IDLE" | awk '{ s += $2 } END { printf "%d", s / NR }')
# As many requests as take about as long as the migration did, so that most of the
# measurement overlaps it.
N=$(echo "$RPS * $FK / 2" | bc -l | awk '{ n = int($1); print (n < 20000 ? 20000 : n) }')
load "$N" > "$WORK/during" &
LOADER=$!
BACK=$(migrate_sync "$B_PORT" 0-8191 "$A")
wait "$LOADER"
echo "foreground (20 clients, SET/GET on another slot of the migrating node):"
echo "$IDLE" | sed 's/^/  idle:   /'
sed 's/^/  during: /' "$WORK/during"
printf "  (the migration back took %.3f s under this load)\n" "$BACK"
