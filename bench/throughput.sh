#!/usr/bin/env bash
# Throughput of ferrokv-server against redis-server (Debian package), side by side in
# one run, with redis-benchmark: 50 clients, 100-byte values, with and without a
# pipeline of 16. Prints each figure and the ratio ferrokv/redis.
#
#   bench/throughput.sh                 # default: 200k requests per test
#   REQUESTS=1000000 bench/throughput.sh
#   TESTS=set,get,hset bench/throughput.sh
#   KEYSPACE=100000 bench/throughput.sh # random keys among 100,000 (default: a million,
#                                       # as issue 12 measures); KEYSPACE= for
#                                       # redis-benchmark's one key per test
#   RUNS=3 bench/throughput.sh          # repeat (fresh servers each time), then print
#                                       # each ratio's spread
#   BIN=path/to/ferrokv-server ...      # another build (default: `./dev release`)
#   FERROKV_ARGS="--rocksdb.write_buffer_size 64" bench/throughput.sh   # server options
# Each ratio is printed with issue 12's goal for it.
set -euo pipefail
cd "$(dirname "$0")/.."

REQUESTS=${REQUESTS:-200000}
TESTS=${TESTS:-set,get,hset,lpush,lrange_100,sadd,zadd}
KEYSPACE=${KEYSPACE-1000000}
RUNS=${RUNS:-1}
FERROKV_PORT=${FERROKV_PORT:-16666}
REDIS_PORT=${REDIS_PORT:-16379}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ferrokv-target}"

for tool in redis-server redis-benchmark redis-cli; do
  command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install -y redis-server redis-tools" >&2; exit 1; }
done

# The deployable build (`./dev release`), unless BIN names another binary.
BIN=${BIN:-$(./dev release)/ferrokv-server}
WORK=$(mktemp -d)
cleanup() {
  [ -n "${FPID:-}" ] && kill "$FPID" 2>/dev/null || true
  [ -n "${RPID:-}" ] && kill "$RPID" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# Fresh servers for each run: data left by an earlier run would make the next one
# measure a bigger data set (RocksDB slows down as its files pile up, Redis does not).
start_servers() {
  [ -n "${FPID:-}" ] && kill "$FPID" 2>/dev/null && wait "$FPID" 2>/dev/null || true
  [ -n "${RPID:-}" ] && kill "$RPID" 2>/dev/null && wait "$RPID" 2>/dev/null || true
  rm -rf "$WORK/ferrokv" "$WORK/dump.rdb"
  # shellcheck disable=SC2086 # FERROKV_ARGS is a list of options
  "$BIN" --port "$FERROKV_PORT" --dir "$WORK/ferrokv" --log-level warning ${FERROKV_ARGS:-} &
  FPID=$!
  # Redis as packaged, minus RDB snapshots so that a background save does not land in
  # the middle of a measurement.
  redis-server --port "$REDIS_PORT" --save "" --dir "$WORK" --daemonize no --logfile "$WORK/redis.log" &
  RPID=$!
  for port in "$FERROKV_PORT" "$REDIS_PORT"; do
    for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  done
}

# Runs redis-benchmark and prints "TEST rps" lines.
measure() {
  local port=$1; shift
  local random=()
  [ -n "$KEYSPACE" ] && random=(-r "$KEYSPACE")
  redis-benchmark -p "$port" -c 50 -d 100 -n "$REQUESTS" "${random[@]}" -t "$TESTS" --csv "$@" 2>/dev/null |
    awk -F'","' 'NR > 1 { gsub(/"/, "", $1); gsub(/"/, "", $2); sub(/ \(.*\)$/, "", $1); print $1, $2 }'
}

# Issue 12's goals: ratio ferrokv/redis per test and pipeline.
goal() {
  case "$1:$2" in
    *:1) echo 0.90 ;;
    GET:16) echo 0.80 ;;
    SET:16) echo 0.70 ;;
    LRANGE_100*:16) echo 0.60 ;;
    *:16) echo 0.50 ;;
  esac
}

echo "redis-benchmark -c 50 -d 100 -n $REQUESTS ${KEYSPACE:+-r $KEYSPACE} ($(redis-server --version | cut -d' ' -f3)), $BIN"
declare -A SPREAD=()
for run in $(seq "$RUNS"); do
  [ "$RUNS" -gt 1 ] && echo "run $run of $RUNS"
  start_servers
  printf '%-22s %14s %14s %8s %6s\n' "test" "ferrokv rps" "redis rps" "ratio" "goal"
  for pipeline in 1 16; do
    declare -A F=() R=()
    while read -r name rps; do F[$name]=$rps; done < <(measure "$FERROKV_PORT" -P "$pipeline")
    while read -r name rps; do R[$name]=$rps; done < <(measure "$REDIS_PORT" -P "$pipeline")
    for name in "${!F[@]}"; do
      ratio=$(awk -v f="${F[$name]}" -v r="${R[$name]:-0}" 'BEGIN { if (r > 0) printf "%.2f", f / r; else print "n/a" }')
      printf '%-22s %14s %14s %8s %6s\n' "$name (P=$pipeline)" "${F[$name]}" "${R[$name]:-n/a}" "$ratio" "$(goal "$name" "$pipeline")"
    done | sort
    # The subshell of the pipe above cannot fill SPREAD; record the ratios here.
    for name in "${!F[@]}"; do
      SPREAD["$name (P=$pipeline)"]+=" $(awk -v f="${F[$name]}" -v r="${R[$name]:-0}" 'BEGIN { if (r > 0) printf "%.2f", f / r; else print "n/a" }')"
    done
    unset F R
  done
done
if [ "$RUNS" -gt 1 ]; then
  echo "ratios over $RUNS runs (min-max)"
  for name in "${!SPREAD[@]}"; do
    echo "$name|${SPREAD[$name]}"
  done | sort | awk -F'|' '{ n = split($2, v, " "); min = v[1]; max = v[1]
    for (i = 2; i <= n; i++) { if (v[i] + 0 < min + 0) min = v[i]; if (v[i] + 0 > max + 0) max = v[i] }
    printf "%-22s %s-%s\n", $1, min, max }'
fi
