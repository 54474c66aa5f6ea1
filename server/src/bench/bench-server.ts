// `npm run bench:server` (npx tsx server/src/bench/bench-server.ts [--clients 200] [--rounds 3]):
// the real server in this process and N protocol clients in a child process, each sending back a
// realistic adapter (~1 MB, tiers a/b/c mixed) every round. Prints
//   - update path: MB of accepted update payload per second of SERVER time spent on them (layout
//     check from the header, one value pass for finiteness and delta norm, accumulation into the
//     sums), as wall time and as the event-loop thread's CPU time (on a busy machine the wall time
//     includes waiting for a core); Socket.IO framing and the clients are not in it;
//   - round finish: server time per round for the means, the server optimizer and persisting;
//   - round wall time: round:start sent -> last round:end received, and update MB per second of it
//     (end to end: includes the clients' process and the transport, which share this machine);
//   - round overhead: last update received -> last round:end delivered;
//   - the server process's RSS before and at its peak, and the load average around the run.
import { fork } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { makeTempTinyModel } from '@prufed/model/node';
import { loadServerConfig } from '../config';
import { ProtocolClient } from '../protocol-client';
import { startServer } from '../server';
import { removeDirs, tempDataDir } from '../test-helpers';
import { threadCpuIsPerThread } from '../thread-cpu';

const now = () => performance.timeOrigin + performance.now();
const tierOf = (k: number) => (['a', 'b', 'c'] as const)[k % 3];

type ClientMessage = { type: 'joined' } | { type: 'round-end'; round: number; at: number };

/** Child process: N clients that return the received slice as their update each round. */
async function runClients(url: string, count: number): Promise<void> {
  const send = (message: ClientMessage) => process.send!(message);
  const clients: ProtocolClient[] = [];
  for (let k = 0; k < count; k++) {
    const client = await ProtocolClient.connect(url);
    await client.hello(tierOf(k));
    clients.push(client);
  }
  for (const client of clients) {
    client.socket.on('round:start', (info, bytes) => {
      void client.update({ round: info.round, numSamples: 8, metrics: { loss: 1 } }, bytes as Uint8Array);
    });
    client.socket.on('round:end', (info) => {
      send({ type: 'round-end', round: info.round, at: now() });
      client.ready();
    });
  }
  send({ type: 'joined' });
  for (const client of clients) client.ready();
  process.on('disconnect', () => process.exit(0));
}

async function runBench(count: number, rounds: number): Promise<void> {
  // L=8, C=256, F=768, r=8 on all seven projections: 160 KiB of adapter per layer, 1.25 MiB at tier a.
  const { dir: modelDir } = await makeTempTinyModel({
    layers: 8,
    hidden: 256,
    heads: 4,
    kvHeads: 4,
    seed: 1,
  });
  const dataDir = await tempDataDir();
  const { config } = loadServerConfig({}, process.cwd(), {
    port: 0,
    modelDir,
    dataDir,
    dashboardToken: 'bench',
    rounds,
    minClients: count,
    maxClients: count,
    quorum: count,
    gatherMs: 100,
    roundTimeoutMs: 600_000,
  });
  const starts = new Map<number, number>();
  const log = (line: string) => {
    const started = /round (\d+) started/.exec(line);
    if (started) starts.set(Number(started[1]), now());
  };
  const loadBefore = os.loadavg()[0];
  const server = await startServer(config, { log });
  let peakRss = 0;
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }, 10);
  const child = fork(fileURLToPath(import.meta.url), ['--child', server.url, '--clients', String(count)], {
    execArgv: ['--import', 'tsx'],
  });
  const ends = new Map<number, number[]>();
  let baselineRss = 0;
  await new Promise<void>((resolve) => {
    child.on('message', (message: ClientMessage) => {
      if (message.type === 'joined') {
        baselineRss = process.memoryUsage().rss;
        peakRss = baselineRss;
        return;
      }
      const arrivals = ends.get(message.round) ?? [];
      arrivals.push(message.at);
      ends.set(message.round, arrivals);
      if (arrivals.length === count && message.round === rounds) resolve();
    });
  });
  clearInterval(sampler);
  const { counters } = server.coordinator;
  const mb = counters.updateBytes / 1e6;
  const cores = os.cpus().length;
  console.log(
    `bench:server  ${count} clients, ${rounds} rounds, node ${process.version}, ${process.platform}, ${cores} cores, load average ${loadBefore.toFixed(1)} -> ${os.loadavg()[0].toFixed(1)}`,
  );
  console.log(
    `  update bytes      ${mb.toFixed(1)} MB in ${counters.acceptedUpdates} updates (${(mb / counters.acceptedUpdates).toFixed(2)} MB each)`,
  );
  console.log(
    `  update path       ${(mb / (counters.updateMs / 1000)).toFixed(0)} MB/s of server wall time, ${(mb / (counters.updateCpuMs / 1000)).toFixed(0)} MB/s of ${threadCpuIsPerThread ? 'event-loop thread' : 'server process'} CPU time (layout + value pass + accumulate: ${(counters.updateMs / counters.acceptedUpdates).toFixed(2)} ms wall, ${(counters.updateCpuMs / counters.acceptedUpdates).toFixed(2)} ms CPU per update)`,
  );
  console.log(
    `  round finish      ${(counters.finishMs / rounds).toFixed(1)} ms per round (means, optimizer, persist)`,
  );
  for (let round = 1; round <= rounds; round++) {
    const wallMs = Math.max(...ends.get(round)!) - starts.get(round)!;
    console.log(
      `  round ${round} wall      ${wallMs.toFixed(0)} ms round:start -> last round:end, ${(mb / rounds / (wallMs / 1000)).toFixed(0)} MB/s end to end (clients and transport included)`,
    );
  }
  const lastEnd = Math.max(...ends.get(rounds)!);
  console.log(
    `  round overhead    ${(lastEnd - counters.lastUpdateAt).toFixed(1)} ms (last update received -> last round:end delivered, round ${rounds})`,
  );
  console.log(
    `  server RSS        ${(baselineRss / 2 ** 20).toFixed(0)} MiB after joins, peak ${(peakRss / 2 ** 20).toFixed(0)} MiB (+${((peakRss - baselineRss) / 2 ** 20).toFixed(0)} MiB)`,
  );
  child.disconnect();
  await server.close();
  await removeDirs(modelDir, dataDir);
}

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '200' },
    rounds: { type: 'string', default: '3' },
    child: { type: 'string' },
  },
});
const count = Number(values.clients);
if (values.child) await runClients(values.child, count);
else await runBench(count, Number(values.rounds));
