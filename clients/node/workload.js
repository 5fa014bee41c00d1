#!/usr/bin/env node
// A cluster client workload, as an application would run it: several concurrent loops
// that SET a unique key, GET it back and INCR one of a set of counters spread over all
// slots, through one cluster client (node-redis v4 or v5 `createCluster`, or ioredis
// `Cluster`), with the client's default options.
//
// Usage:
//   node workload.js --client redis4|redis5|ioredis --seeds 127.0.0.1:7001[,host:port...]
//                    [--prefix P] [--stop-file F] [--duration-ms N] [--concurrency N]
//                    [--counters N] [--max-ms N]
//
// Runs until the stop file exists (or --duration-ms passes), then prints one JSON line
// on stdout:
//   {"client", "ops", "errors", "error_messages": [first 20], "mismatches",
//    "mismatch_messages", "hung", "writes": {key: value}, "counters": {key: {"acked", "uncertain"}},
//    "elapsed_ms"}
// `errors` counts every rejected promise the application saw; `writes` holds every SET
// the server acknowledged (the value it must hold afterwards); a counter's `acked` is the
// number of acknowledged INCRs (its value afterwards), `uncertain` the number of INCRs
// that failed (each may or may not have been applied). When "<stop-file>.ready" appears,
// every loop has finished its first round. Exit code 0 even with errors (the caller
// judges); `hung` counts commands still pending (neither answered nor failed) 5 s after
// the stop. 2 on bad arguments or when the client cannot start.
'use strict';

const fs = require('fs');
const path = require('path');

function parseArgs(argv) {
  const args = {
    client: null,
    seeds: null,
    prefix: `node${process.pid}`,
    stopFile: null,
    durationMs: 0,
    concurrency: 8,
    counters: 64,
    maxMs: 120000,
  };
  for (let i = 0; i < argv.length; i += 2) {
    const [name, value] = [argv[i], argv[i + 1]];
    if (value === undefined) usage(`missing value for ${name}`);
    switch (name) {
      case '--client': args.client = value; break;
      case '--seeds': args.seeds = value.split(',').map(parseAddr); break;
      case '--prefix': args.prefix = value; break;
      case '--stop-file': args.stopFile = value; break;
      case '--duration-ms': args.durationMs = Number(value); break;
      case '--concurrency': args.concurrency = Number(value); break;
      case '--counters': args.counters = Number(value); break;
      case '--max-ms': args.maxMs = Number(value); break;
      default: usage(`unknown option ${name}`);
    }
  }
  if (!args.client || !args.seeds) usage('--client and --seeds are required');
  if (!args.stopFile && !args.durationMs) usage('--stop-file or --duration-ms is required');
  return args;
}

function parseAddr(s) {
  const at = s.lastIndexOf(':');
  if (at < 0) usage(`bad address ${s}`);
  return { host: s.slice(0, at), port: Number(s.slice(at + 1)) };
}

function usage(msg) {
  process.stderr.write(`workload.js: ${msg}\n`);
  process.exit(2);
}

// One interface over the three clients.
async function connect(kind, seeds, onEvent) {
  const modulesDir = path.join(__dirname, '..', 'node_modules');
  const load = (name) => require(path.join(modulesDir, name));
  if (kind === 'redis4' || kind === 'redis5') {
    const { createCluster } = load(kind);
    const cluster = createCluster({
      rootNodes: seeds.map(({ host, port }) => ({ url: `redis://${host}:${port}` })),
    });
    cluster.on('error', (e) => onEvent(`error event: ${e && e.message}`));
    await cluster.connect();
    return {
      set: (k, v) => cluster.set(k, v),
      get: (k) => cluster.get(k),
      incr: (k) => cluster.incr(k),
      close: async () => {
        if (typeof cluster.close === 'function') await cluster.close();
        else await cluster.quit();
      },
    };
  }
  if (kind === 'ioredis') {
    const Redis = load('ioredis');
    const cluster = new Redis.Cluster(seeds.map(({ host, port }) => ({ host, port })));
    cluster.on('error', (e) => onEvent(`error event: ${e && e.message}`));
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('ioredis cluster not ready in 10 s')), 10000);
      cluster.once('ready', () => {
        clearTimeout(timer);
        resolve();
      });
      cluster.once('end', () => reject(new Error('ioredis cluster ended before ready')));
    });
    return {
      set: (k, v) => cluster.set(k, v),
      get: (k) => cluster.get(k),
      incr: (k) => cluster.incr(k),
      close: () => cluster.quit(),
    };
  }
  usage(`unknown client ${kind}`);
  return null;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const started = Date.now();
  const summary = {
    client: args.client,
    ops: 0,
    errors: 0,
    error_messages: [],
    error_events: 0,
    event_messages: [],
    mismatches: 0,
    mismatch_messages: [],
    hung: 0,
    writes: {},
    counters: {},
    elapsed_ms: 0,
  };
  const counterKeys = [];
  for (let j = 0; j < args.counters; j++) {
    const key = `${args.prefix}:ctr:${j}`;
    counterKeys.push(key);
    summary.counters[key] = { acked: 0, uncertain: 0 };
  }
  const note = (list, msg) => {
    if (list.length < 20) list.push(msg);
  };
  const failed = (op, key, e) => {
    summary.errors += 1;
    const msg = `${op} ${key}: ${e && e.message ? e.message : String(e)}`;
    note(summary.error_messages, msg);
    if (summary.errors <= 5) process.stderr.write(`[${args.client}] ${msg}\n`);
  };

  let client;
  try {
    client = await connect(args.client, args.seeds, (msg) => {
      summary.error_events += 1;
      note(summary.event_messages, msg);
    });
  } catch (e) {
    process.stderr.write(`[${args.client}] cannot connect: ${e && e.stack}\n`);
    process.exit(2);
  }

  let stopping = false;
  const shouldStop = () => {
    if (stopping) return true;
    const elapsed = Date.now() - started;
    if (elapsed > args.maxMs) stopping = true;
    else if (args.durationMs && elapsed > args.durationMs) stopping = true;
    else if (args.stopFile && fs.existsSync(args.stopFile)) stopping = true;
    return stopping;
  };
  const stopTimer = setInterval(shouldStop, 20);

  let next = 0;
  let firstRounds = 0;
  let inFlight = 0;
  let stoppedAt = 0;
  const track = async (promise) => {
    inFlight += 1;
    try {
      return await promise;
    } finally {
      inFlight -= 1;
    }
  };
  const nonce = `${process.pid}.${started}`;
  async function loop() {
    let first = true;
    while (!shouldStop()) {
      const i = next++;
      const key = `${args.prefix}:k:${i}`;
      const value = `${i}:${nonce}`;
      let written = false;
      try {
        summary.ops += 1;
        const reply = await track(client.set(key, value));
        if (reply !== 'OK') throw new Error(`SET replied ${JSON.stringify(reply)}`);
        summary.writes[key] = value;
        written = true;
      } catch (e) {
        failed('SET', key, e);
      }
      if (written) {
        try {
          summary.ops += 1;
          const got = await track(client.get(key));
          if (got !== value) {
            summary.mismatches += 1;
            note(summary.mismatch_messages, `GET ${key}: ${JSON.stringify(got)}, expected ${value}`);
          }
        } catch (e) {
          failed('GET', key, e);
        }
      }
      const counter = counterKeys[i % counterKeys.length];
      try {
        summary.ops += 1;
        const n = await track(client.incr(counter));
        if (typeof n !== 'number') throw new Error(`INCR replied ${JSON.stringify(n)}`);
        summary.counters[counter].acked += 1;
      } catch (e) {
        summary.counters[counter].uncertain += 1;
        failed('INCR', counter, e);
      }
      if (first) {
        first = false;
        firstRounds += 1;
        if (firstRounds === args.concurrency && args.stopFile) {
          fs.writeFileSync(`${args.stopFile}.ready`, '');
        }
      }
    }
  }
  // A client may leave a command pending forever (no reply, no error): once stopping,
  // give the loops 5 s, then report what is still in flight as `hung`.
  const loops = Promise.all(Array.from({ length: args.concurrency }, loop));
  let finished = false;
  loops.then(() => {
    finished = true;
  });
  await new Promise((resolve) => {
    const check = setInterval(() => {
      if (finished) {
        clearInterval(check);
        resolve();
      } else if (stopping && stoppedAt === 0) {
        stoppedAt = Date.now();
      } else if (stopping && Date.now() - stoppedAt > 5000) {
        clearInterval(check);
        summary.hung = inFlight;
        note(summary.event_messages, `${inFlight} commands still pending 5 s after stop`);
        resolve();
      }
    }, 20);
  });
  clearInterval(stopTimer);
  summary.elapsed_ms = Date.now() - started;
  if (!summary.hung) {
    try {
      await client.close();
    } catch (e) {
      note(summary.event_messages, `close: ${e && e.message}`);
    }
  }
  // Clients may keep timers alive after close: leave once the summary is written out
  // (a pipe is written asynchronously, so not before).
  process.stdout.write(`${JSON.stringify(summary)}\n`, () => process.exit(0));
}

main().catch((e) => {
  process.stderr.write(`workload.js crashed: ${e && e.stack}\n`);
  process.exit(3);
});
