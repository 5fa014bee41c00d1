#!/usr/bin/env python3
"""redis-py's RedisCluster against a Ferrokv cluster, unmodified.

Usage: redis_py_cluster.py <port> [<port> ...]   (nodes on 127.0.0.1, topology already set)

Writes and reads 10,000 keys spread over all slots, checks each node holds its share,
then, if given --move-slot <slot> <node-id> <version>, moves one slot with
CLUSTERX SETSLOT on every node and checks that the client follows the MOVED.
Exits non-zero on any mismatch.
"""
import sys

import redis
from redis.cluster import ClusterNode, RedisCluster


def main() -> int:
    args = sys.argv[1:]
    move = None
    if "--move-slot" in args:
        at = args.index("--move-slot")
        move = args[at + 1 : at + 4]
        args = args[:at]
    ports = [int(p) for p in args]
    rc = RedisCluster(startup_nodes=[ClusterNode("127.0.0.1", p) for p in ports])
    for i in range(10_000):
        rc.set(f"py:{i}", i)
    for i in range(10_000):
        value = rc.get(f"py:{i}")
        if value != str(i).encode():
            print(f"py:{i} read back {value!r}", file=sys.stderr)
            return 1
    counts = [node.redis_connection.dbsize() for node in rc.get_primaries()]
    if sum(counts) < 10_000 or min(counts) == 0:
        print(f"keys not spread over the nodes: {counts}", file=sys.stderr)
        return 1
    pipe = rc.pipeline()
    for i in range(100):
        pipe.incr(f"py:{i}")
    results = pipe.execute()
    if results != [i + 1 for i in range(100)]:
        print(f"pipeline results {results[:5]}...", file=sys.stderr)
        return 1
    if move:
        slot, node_id, version = move
        for p in ports:
            redis.Redis(host="127.0.0.1", port=p).execute_command("CLUSTERX", "SETSLOT", slot, "NODE", node_id, version)
        key = next(f"m{i}" for i in range(100000) if rc.keyslot(f"m{i}") == int(slot))
        rc.set(key, "moved")
        if rc.get(key) != b"moved":
            print("did not follow MOVED", file=sys.stderr)
            return 1
    print(f"ok: 10000 keys over {len(counts)} nodes {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
