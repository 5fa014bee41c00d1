#!/usr/bin/env python3
"""A cluster client workload, as an application would run it.

Clients (all with their default options):
  sync     redis-py `redis.cluster.RedisCluster`, one thread
  async    redis-py `redis.asyncio.cluster.RedisCluster`, --concurrency tasks (one
           client each; --shared-client for one client shared by all, see run_async)
  cli      one long-lived `redis-cli -c --no-raw` process fed commands on its stdin

Each loop SETs a unique key, GETs it back and INCRs one of --counters counters spread
over all slots, until the stop file exists (or --duration-ms passes), then one JSON line
is printed on stdout:
  {"client", "ops", "errors", "error_messages": [first 20], "mismatches",
   "mismatch_messages", "writes": {key: value}, "counters": {key: {"acked", "uncertain"}},
   "elapsed_ms"}
`errors` counts every exception (or, for redis-cli, every `(error)` reply) the
application saw; `writes` holds every acknowledged SET; a counter's `acked` is its number
of acknowledged INCRs, `uncertain` the INCRs that failed. "<stop-file>.ready" appears
once every loop has finished its first round. Exit code 0 even with errors (the caller
judges); 2 on bad arguments or when the client cannot start.

Usage: workload.py --client sync|async|cli --seeds 127.0.0.1:7001[,host:port...]
                   [--prefix P] [--stop-file F] [--duration-ms N] [--concurrency N]
                   [--counters N] [--max-ms N] [--shared-client]
"""
import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import time


class Summary:
    def __init__(self, client, prefix, counters):
        self.client = client
        self.prefix = prefix
        self.ops = 0
        self.errors = 0
        self.error_messages = []
        self.mismatches = 0
        self.mismatch_messages = []
        self.writes = {}
        self.counter_keys = [f"{prefix}:ctr:{j}" for j in range(counters)]
        self.counters = {k: {"acked": 0, "uncertain": 0} for k in self.counter_keys}
        self.started = time.monotonic()

    def failed(self, op, key, exc):
        self.errors += 1
        msg = f"{op} {key}: {type(exc).__name__}: {exc}"
        if len(self.error_messages) < 20:
            self.error_messages.append(msg)
        if self.errors <= 5:
            print(f"[{self.client}] {msg}", file=sys.stderr, flush=True)

    def mismatch(self, key, got, expected):
        self.mismatches += 1
        if len(self.mismatch_messages) < 20:
            self.mismatch_messages.append(f"GET {key}: {got!r}, expected {expected!r}")

    def to_json(self):
        return json.dumps(
            {
                "client": self.client,
                "ops": self.ops,
                "errors": self.errors,
                "error_messages": self.error_messages,
                "mismatches": self.mismatches,
                "mismatch_messages": self.mismatch_messages,
                "writes": self.writes,
                "counters": self.counters,
                "elapsed_ms": int((time.monotonic() - self.started) * 1000),
            }
        )


class Stopper:
    def __init__(self, args):
        self.args = args
        self.started = time.monotonic()
        self.stopped = False

    def __call__(self):
        if not self.stopped:
            elapsed_ms = (time.monotonic() - self.started) * 1000
            if elapsed_ms > self.args.max_ms:
                self.stopped = True
            elif self.args.duration_ms and elapsed_ms > self.args.duration_ms:
                self.stopped = True
            elif self.args.stop_file and os.path.exists(self.args.stop_file):
                self.stopped = True
        return self.stopped


def ready(args):
    if args.stop_file:
        with open(args.stop_file + ".ready", "w"):
            pass


def one_round(i, summary, nonce, set_, get, incr):
    """SET a unique key, GET it back, INCR a counter; every failure is counted."""
    key = f"{summary.prefix}:k:{i}"
    value = f"{i}:{nonce}"
    written = False
    try:
        summary.ops += 1
        reply = set_(key, value)
        if reply is not True and reply != "OK" and reply != b"OK":
            raise RuntimeError(f"SET replied {reply!r}")
        summary.writes[key] = value
        written = True
    except Exception as e:  # noqa: BLE001 - every exception is what the application sees
        summary.failed("SET", key, e)
    if written:
        try:
            summary.ops += 1
            got = get(key)
            if isinstance(got, bytes):
                got = got.decode()
            if got != value:
                summary.mismatch(key, got, value)
        except Exception as e:  # noqa: BLE001
            summary.failed("GET", key, e)
    counter = summary.counter_keys[i % len(summary.counter_keys)]
    try:
        summary.ops += 1
        n = incr(counter)
        if not isinstance(n, int):
            raise RuntimeError(f"INCR replied {n!r}")
        summary.counters[counter]["acked"] += 1
    except Exception as e:  # noqa: BLE001
        summary.counters[counter]["uncertain"] += 1
        summary.failed("INCR", counter, e)


def run_sync(args, summary, stop):
    from redis.cluster import ClusterNode, RedisCluster

    rc = RedisCluster(startup_nodes=[ClusterNode(h, p) for h, p in args.seeds])
    nonce = f"{os.getpid()}.{int(time.time() * 1000)}"
    i = 0
    while not stop():
        one_round(i, summary, nonce, rc.set, rc.get, rc.incr)
        if i == 0:
            ready(args)
        i += 1
    rc.close()


async def run_async(args, summary, stop):
    """--concurrency tasks, each with its own client (one with --shared-client).

    One client per task by default: redis-py's asyncio RedisCluster (8.1.0) closes all
    its connections on every `reinitialize_steps`-th (5th) MOVED while other tasks'
    commands are in flight on them; those fail (AttributeError: 'NoneType' object has
    no attribute 'writelines') or are retried after they were applied (an INCR counted
    twice). That is the client's own race: a Redis 7.0 cluster resharded by
    `redis-cli --cluster reshard` shows it the same (6 errors and 26 counters
    incremented twice in 41k operations, 8 tasks on one client). With one client per
    task, what is counted is what the server did.
    """
    from redis.asyncio.cluster import ClusterNode, RedisCluster

    def new_client():
        return RedisCluster(startup_nodes=[ClusterNode(h, p) for h, p in args.seeds])

    shared = new_client() if args.shared_client else None
    clients = []
    nonce = f"{os.getpid()}.{int(time.time() * 1000)}"
    counter = {"next": 0, "first_rounds": 0}

    async def loop():
        rc = shared or new_client()
        clients.append(rc)
        await rc.initialize()
        first = True
        while not stop():
            i = counter["next"]
            counter["next"] += 1
            key = f"{summary.prefix}:k:{i}"
            value = f"{i}:{nonce}"
            written = False
            try:
                summary.ops += 1
                reply = await rc.set(key, value)
                if reply is not True:
                    raise RuntimeError(f"SET replied {reply!r}")
                summary.writes[key] = value
                written = True
            except Exception as e:  # noqa: BLE001
                summary.failed("SET", key, e)
            if written:
                try:
                    summary.ops += 1
                    got = await rc.get(key)
                    if isinstance(got, bytes):
                        got = got.decode()
                    if got != value:
                        summary.mismatch(key, got, value)
                except Exception as e:  # noqa: BLE001
                    summary.failed("GET", key, e)
            ctr = summary.counter_keys[i % len(summary.counter_keys)]
            try:
                summary.ops += 1
                n = await rc.incr(ctr)
                if not isinstance(n, int):
                    raise RuntimeError(f"INCR replied {n!r}")
                summary.counters[ctr]["acked"] += 1
            except Exception as e:  # noqa: BLE001
                summary.counters[ctr]["uncertain"] += 1
                summary.failed("INCR", ctr, e)
            if first:
                first = False
                counter["first_rounds"] += 1
                if counter["first_rounds"] == args.concurrency:
                    ready(args)

    await asyncio.gather(*(loop() for _ in range(args.concurrency)))
    for rc in {id(c): c for c in clients}.values():
        await rc.aclose()


class RedisCli:
    """One `redis-cli -c --no-raw` process; one command per stdin line, one reply per
    command on stdout (after any `-> Redirected ...` lines)."""

    def __init__(self, host, port):
        exe = shutil.which("redis-cli")
        if exe is None:
            print("redis-cli is not installed (./dev deps installs it)", file=sys.stderr)
            sys.exit(2)
        self.proc = subprocess.Popen(
            [exe, "-c", "--no-raw", "-h", host, "-p", str(port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )

    def cmd(self, *args):
        for a in args:
            if " " in a or '"' in a:
                raise ValueError(f"argument needs quoting: {a!r}")
        self.proc.stdin.write(" ".join(args) + "\n")
        self.proc.stdin.flush()
        while True:
            line = self.proc.stdout.readline()
            if line == "":
                raise RuntimeError(f"redis-cli exited ({self.proc.poll()})")
            line = line.rstrip("\n")
            if line.startswith("-> Redirected"):
                continue
            if line.startswith("(error) "):
                raise RuntimeError(line[len("(error) ") :])
            return line

    def close(self):
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def run_cli(args, summary, stop):
    host, port = args.seeds[0]
    cli = RedisCli(host, port)
    nonce = f"{os.getpid()}.{int(time.time() * 1000)}"

    def set_(k, v):
        return cli.cmd("SET", k, v)

    def get(k):
        reply = cli.cmd("GET", k)
        if reply == "(nil)":
            return None
        if len(reply) >= 2 and reply[0] == '"' and reply[-1] == '"':
            return reply[1:-1]
        raise RuntimeError(f"GET replied {reply!r}")

    def incr(k):
        reply = cli.cmd("INCR", k)
        if reply.startswith("(integer) "):
            return int(reply[len("(integer) ") :])
        raise RuntimeError(f"INCR replied {reply!r}")

    i = 0
    while not stop():
        one_round(i, summary, nonce, set_, get, incr)
        if i == 0:
            ready(args)
        i += 1
    cli.close()


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--client", required=True, choices=["sync", "async", "cli"])
    p.add_argument("--seeds", required=True)
    p.add_argument("--prefix", default=f"py{os.getpid()}")
    p.add_argument("--stop-file")
    p.add_argument("--duration-ms", type=int, default=0)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--counters", type=int, default=64)
    p.add_argument("--max-ms", type=int, default=120_000)
    p.add_argument(
        "--shared-client",
        action="store_true",
        help="async: all tasks share one client (shows redis-py's own reinitialisation race)",
    )
    args = p.parse_args()
    if not args.stop_file and not args.duration_ms:
        p.error("--stop-file or --duration-ms is required")
    seeds = []
    for s in args.seeds.split(","):
        host, _, port = s.rpartition(":")
        seeds.append((host, int(port)))
    args.seeds = seeds
    return args


def main():
    args = parse_args()
    summary = Summary(args.client, args.prefix, args.counters)
    stop = Stopper(args)
    try:
        if args.client == "sync":
            run_sync(args, summary, stop)
        elif args.client == "async":
            asyncio.run(run_async(args, summary, stop))
        else:
            run_cli(args, summary, stop)
    except Exception as e:  # noqa: BLE001 - the client could not even start
        print(f"[{args.client}] cannot run: {type(e).__name__}: {e}", file=sys.stderr)
        if summary.ops == 0:
            sys.exit(2)
        raise
    print(summary.to_json(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
