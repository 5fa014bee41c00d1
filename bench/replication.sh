#!/usr/bin/env bash
# Replication figures (issue 10), two ferrokv-server nodes on this machine:
# 1. full sync of a data set of SIZE_MB (default 1024) of incompressible 1 KiB values:
#    its throughput (MB/s), and the master's foreground p99 (redis-benchmark GET/SET on
#    other keys) idle and during the sync;
# 2. replication lag under redis-benchmark SET load: a probe writes a key on the master
#    every 20 ms and times until the replica has it (p50/p99/max in ms);
# 3. failover: time from the controller's topology push (SETNODES version+1 making the
#    replica master) to the promoted node acknowledging a write.
#
#   bench/replication.sh
#   SIZE_MB=200 bench/replication.sh
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE_MB=${SIZE_MB:-1024}
M_PORT=${M_PORT:-17401}
R_PORT=${R_PORT:-17402}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ferrokv-target}"
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
for port in "$M_PORT" "$R_PORT"; do
  "$BIN" --port "$port" --dir "$WORK/$port" --cluster-enabled yes --log-level warning &
  PIDS+=($!)
done
for port in "$M_PORT" "$R_PORT"; do
  for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
done

python3 - "$SIZE_MB" "$M_PORT" "$R_PORT" <<'PY'
import os, subprocess, sys, threading, time
import redis

size_mb, mport, rport = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
M = "e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e1"
R = "e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e2"
m, r = redis.Redis(port=mport), redis.Redis(port=rport)

def push(version, text, *nodes):
    for node in nodes:
        node.execute_command("CLUSTERX", "SETNODES", text, version)

def info(node, field):
    return str(node.info("replication").get(field))

def bench_p99(stop):
    """Runs redis-benchmark in a loop until `stop`; returns the worst p99 seen (ms)."""
    worst = []
    while not stop.is_set():
        out = subprocess.run(
            ["redis-benchmark", "-p", str(mport), "-t", "get", "-n", "20000", "-c", "8",
             "-d", "100", "--csv"], capture_output=True, text=True)
        for line in out.stdout.splitlines():
            fields = [f.strip('"') for f in line.split(",")]
            if fields[0] == "GET" and len(fields) >= 7:
                worst.append(float(fields[6]))
    return worst

# 1. The data set.
topology = f"{M} 127.0.0.1 {mport} master - 0-16383"
push(1, topology, m, r)
value_count = size_mb * 1024
t0 = time.time()
pipe = m.pipeline(transaction=False)
for i in range(value_count):
    pipe.set(f"d:{i}", os.urandom(512).hex())
    if i % 2000 == 1999:
        pipe.execute()
pipe.execute()
print(f"loaded {size_mb} MB ({value_count} values of 1 KiB) in {time.time() - t0:.1f}s")

stop = threading.Event()
idle = []
t = threading.Thread(target=lambda: idle.extend(bench_p99(stop)), daemon=True)
t.start(); time.sleep(3); stop.set(); t.join()
idle_p99 = max(idle) if idle else float("nan")

stop = threading.Event()
during = []
t = threading.Thread(target=lambda: during.extend(bench_p99(stop)), daemon=True)
t.start()
t0 = time.time()
push(2, topology + f"\n{R} 127.0.0.1 {rport} slave {M}", m, r)
while True:
    try:
        if info(r, "master_link_status") == "up":
            break
    except redis.ConnectionError:
        pass
    time.sleep(0.05)
took = time.time() - t0
stop.set(); t.join()
total = int(info(r, "master_sync_total_bytes"))
during_p99 = max(during) if during else float("nan")
print(f"full sync: {total / 1e6:.0f} MB on disk in {took:.1f}s = {total / 1e6 / took:.0f} MB/s "
      f"({size_mb / took:.0f} MB/s of user data)")
print(f"master GET p99: idle {idle_p99:.2f} ms, during the full sync {during_p99:.2f} ms "
      f"({during_p99 / idle_p99:.1f}x)")

# 2. Lag under SET load.
load = subprocess.Popen(["redis-benchmark", "-p", str(mport), "-t", "set", "-n", "2000000",
                         "-c", "50", "-d", "100", "-r", "1000000", "-q"],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
r.execute_command("READONLY")
lags = []
t_end = time.time() + 10
i = 0
while time.time() < t_end:
    i += 1
    key = "{probe}"
    m.set(key, i)
    sent = time.time()
    while r.get(key) != str(i).encode():
        time.sleep(0.0002)
    lags.append((time.time() - sent) * 1000)
    time.sleep(0.02)
load.terminate(); load.wait()
lags.sort()
pct = lambda q: lags[min(len(lags) - 1, int(q * len(lags)))]
print(f"replication lag under SET load ({len(lags)} probes): p50 {pct(0.5):.2f} ms, "
      f"p99 {pct(0.99):.2f} ms, max {lags[-1]:.2f} ms")

# 3. Failover: the replica is promoted by a topology push.
v3 = f"{R} 127.0.0.1 {rport} master - 0-16383\n{M} 127.0.0.1 {mport} slave {R}"
t0 = time.time()
push(3, v3, r)
while True:
    try:
        r.execute_command("SET", "after-failover", "1")
        break
    except redis.ResponseError:
        time.sleep(0.0005)
print(f"failover: topology push to first write acknowledged by the promoted node: "
      f"{(time.time() - t0) * 1000:.1f} ms")
PY
