// Integration: data shards in the hello ack, a client whose connection drops mid-round resuming its
// round on a new connection (and only with its own token), a dropped client that never comes back
// failing when its grace ends, and the dashboard's snapshots (device summaries, per-tier metrics,
// rejected counts, per-layer delta norms) arriving without polling the API.
import type { DashboardState } from '@prufed/fl';
import { readSafetensors, type Tensor } from '@prufed/model';
import { io, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { helloReport, ProtocolClient } from './protocol-client';
import {
  apiJson,
  encode,
  removeDirs,
  shiftedUpdate,
  startTestServer,
  type TestServer,
  tempDataDir,
  testToken,
  tinyModelDir,
} from './test-helpers';

let modelDir: string;
const dirs: string[] = [];

beforeAll(async () => {
  modelDir = await tinyModelDir();
  dirs.push(modelDir);
});

afterAll(() => removeDirs(...dirs));

async function serverWith(overrides: Parameters<typeof startTestServer>[2]): Promise<TestServer> {
  const dataDir = await tempDataDir();
  dirs.push(dataDir);
  return startTestServer(modelDir, dataDir, overrides);
}

async function joined(server: TestServer, tiers: ('a' | 'b' | 'c')[]): Promise<ProtocolClient[]> {
  const clients = await Promise.all(tiers.map(() => ProtocolClient.connect(server.url)));
  await Promise.all(clients.map((client, i) => client.hello(tiers[i])));
  for (const client of clients) client.ready();
  return clients;
}

/** The dashboard's snapshots, newest last; `until` waits for one that satisfies a condition. */
async function dashboard(server: TestServer) {
  const socket: Socket = io(`${server.url}/dashboard`, {
    auth: { token: testToken },
    transports: ['websocket'],
    forceNew: true,
    reconnection: false,
  });
  const snapshots: DashboardState[] = [];
  const waiters: { test: (state: DashboardState) => boolean; resolve: (state: DashboardState) => void }[] =
    [];
  socket.on('state', (state: DashboardState) => {
    snapshots.push(state);
    for (const waiter of waiters.filter((candidate) => candidate.test(state))) {
      waiters.splice(waiters.indexOf(waiter), 1);
      waiter.resolve(state);
    }
  });
  const until = (test: (state: DashboardState) => boolean, what: string) => {
    const seen = snapshots.find(test);
    if (seen) return Promise.resolve(seen);
    return new Promise<DashboardState>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no snapshot with ${what} within 5 s`)), 5000);
      waiters.push({
        test,
        resolve: (state) => {
          clearTimeout(timer);
          resolve(state);
        },
      });
    });
  };
  return { socket, snapshots, until };
}

interface State extends DashboardState {
  counters: { rejected: Record<string, number> };
}

describe('data assignment', () => {
  it('hands out the shards of the configured split in turn, or the whole split', async () => {
    const server = await serverWith({
      dataTask: 'antonym',
      dataShards: 2,
      dataPartition: 'iid',
      dataSeed: 5,
    });
    const clients = await Promise.all([0, 1, 2].map(() => ProtocolClient.connect(server.url)));
    try {
      const acks = [];
      for (const client of clients) acks.push(await client.hello('c'));
      expect(acks.map((ack) => ack.data)).toEqual(
        [0, 1, 0].map((index) => ({
          task: 'antonym',
          url: '/datasets/wordnet/antonym/train.jsonl',
          shard: { index, count: 2, scheme: 'iid', alpha: null, seed: 5 },
        })),
      );
      expect(new Set(acks.map((ack) => ack.resumeToken)).size).toBe(3);
      expect(acks[0].resumeToken).toMatch(/^[\w-]{32}$/);
      const state = await apiJson<State>(server, '/api/state');
      expect(state.clients.map((client) => client.dataShard).sort()).toEqual([0, 0, 1]);
    } finally {
      for (const client of clients) client.close();
      await server.close();
    }
    const whole = await serverWith({ dataShards: 0 });
    const client = await ProtocolClient.connect(whole.url);
    try {
      expect((await client.hello('a')).data).toEqual({
        task: 'define',
        url: '/datasets/wordnet/define/train.jsonl',
        shard: null,
      });
    } finally {
      client.close();
      await whole.close();
    }
  });
});

/** Per original layer, the mean over the updates holding it of the L2 norm of (update - received). */
function expectedLayerNorms(
  pairs: { received: Uint8Array; sent: Map<string, Tensor> }[],
): Map<number, number> {
  const sums = new Map<number, number[]>();
  for (const { received, sent } of pairs) {
    const squared = new Map<number, number>();
    for (const [name, tensor] of readSafetensors(received)) {
      const layer = Number(/layers\.(\d+)\./.exec(name)![1]);
      const update = sent.get(name)!.data;
      const sum = tensor.data.reduce((total, value, i) => total + (update[i] - value) ** 2, 0);
      squared.set(layer, (squared.get(layer) ?? 0) + sum);
    }
    for (const [layer, value] of squared) sums.set(layer, [...(sums.get(layer) ?? []), Math.sqrt(value)]);
  }
  return new Map([...sums].map(([layer, norms]) => [layer, norms.reduce((x, y) => x + y) / norms.length]));
}

describe('resuming a round', () => {
  it('re-binds a dropped client to its new connection and the round completes with its update', async () => {
    const server = await serverWith({ minClients: 2, roundTimeoutMs: 10_000, resumeGraceMs: 5000 });
    const board = await dashboard(server);
    const [a, b] = await joined(server, ['a', 'c']);
    const resumed = await ProtocolClient.connect(server.url);
    try {
      const [startA, startB] = await Promise.all([a.nextRoundStart(), b.nextRoundStart()]);
      b.dropConnection();
      await board.until(
        (state) =>
          state.clients.some((client) => client.id === b.clientId && client.activity === 'disconnected'),
        'b disconnected',
      );
      const ack = await resumed.hello('a', { clientId: b.clientId, round: 1, token: b.resumeToken });
      // The same client with its tier c and layers, whatever the new hello prefers.
      expect(ack).toMatchObject({ clientId: b.clientId, tier: 'c', keptLayers: [0, 1], resumedRound: 1 });
      resumed.ready();
      const again = await resumed.nextRoundStart();
      expect(again.info).toEqual(startB.info);
      expect(again.bytes).toEqual(startB.bytes);
      const sentA = shiftedUpdate(startA.bytes, 1);
      const sentB = shiftedUpdate(again.bytes, 2, 0.03);
      expect(await a.update({ round: 1, numSamples: 4, metrics: { loss: 2 } }, encode(sentA))).toEqual({
        accepted: true,
      });
      expect(await resumed.update({ round: 1, numSamples: 4, metrics: { loss: 1 } }, encode(sentB))).toEqual({
        accepted: true,
      });
      expect(await resumed.nextRoundEnd()).toEqual({ round: 1, included: true, aggregated: true });
      const state = await board.until((snapshot) => snapshot.rounds.length === 1, 'round 1');
      expect(state.rounds[0]).toMatchObject({ numResults: 2, numFailures: 0 });
      // The snapshot carries the per-tier metrics and the per-layer delta norms (no API call).
      expect(state.tierMetrics.map((row) => [row.round, row.tier, row.metrics.loss])).toEqual([
        [1, 'a', 2],
        [1, 'c', 1],
      ]);
      const expected = expectedLayerNorms([
        { received: startA.bytes, sent: sentA },
        { received: startB.bytes, sent: sentB },
      ]);
      expect(state.rounds[0].coverage.map((entry) => entry.meanDeltaNorm)).toEqual(
        [0, 1, 2, 3].map((layer) => expect.closeTo(expected.get(layer)!, 5)),
      );
      expect(expected.get(0)).not.toBeCloseTo(expected.get(3)!, 3);
    } finally {
      board.socket.disconnect();
      for (const client of [a, b, resumed]) client.close();
      await server.close();
    }
  });

  it('refuses a claim with a wrong token or round, and fails a client that never resumes', async () => {
    const server = await serverWith({ minClients: 2, roundTimeoutMs: 8000, resumeGraceMs: 600 });
    const [a, b] = await joined(server, ['a', 'c']);
    const intruders = await Promise.all([0, 1].map(() => ProtocolClient.connect(server.url)));
    try {
      const [startA] = await Promise.all([a.nextRoundStart(), b.nextRoundStart()]);
      b.dropConnection();
      const claims = [
        { clientId: b.clientId, round: 1, token: a.resumeToken },
        { clientId: b.clientId, round: 2, token: b.resumeToken },
      ];
      for (const [i, intruder] of intruders.entries()) {
        const ack = await intruder.hello('c', claims[i]);
        expect(ack.clientId).not.toBe(b.clientId);
        expect(ack.resumedRound).toBeNull();
      }
      const update = encode(shiftedUpdate(startA.bytes, 1));
      expect(await a.update({ round: 1, numSamples: 4, metrics: {} }, update)).toEqual({ accepted: true });
      // b's grace (600 ms) ends long before the deadline: the round ends without it then.
      expect(await a.nextRoundEnd()).toEqual({ round: 1, included: true, aggregated: true });
      expect(Date.now()).toBeLessThan(startA.info.deadline - 3000);
      const state = await apiJson<State>(server, '/api/state');
      expect(state.rounds[0]).toMatchObject({ numResults: 1, numFailures: 1 });
      expect(state.clients.map((client) => client.id)).not.toContain(b.clientId);
      expect(server.logs.join('\n')).toContain('cannot resume it; joining it as a new client');
    } finally {
      for (const client of [a, b, ...intruders]) client.close();
      await server.close();
    }
  });

  it('fails a client that closes its connection itself at once', async () => {
    const server = await serverWith({ minClients: 2, roundTimeoutMs: 8000, resumeGraceMs: 8000 });
    const [a, b] = await joined(server, ['a', 'c']);
    try {
      const [startA] = await Promise.all([a.nextRoundStart(), b.nextRoundStart()]);
      b.close();
      expect(
        await a.update({ round: 1, numSamples: 4, metrics: {} }, encode(shiftedUpdate(startA.bytes, 1))),
      ).toEqual({
        accepted: true,
      });
      expect(await a.nextRoundEnd(3000)).toEqual({ round: 1, included: true, aggregated: true });
    } finally {
      a.close();
      await server.close();
    }
  });
});

describe('dashboard snapshots', () => {
  it('arrive on join and on rejections, with the device summary and the rejected counts', async () => {
    const server = await serverWith({ minClients: 1 });
    const board = await dashboard(server);
    const client = await ProtocolClient.connect(server.url);
    try {
      await board.until((state) => state.clients.length === 0, 'the first snapshot');
      const ack = await client.socket.timeout(5000).emitWithAck('hello', {
        ...helloReport('b', 'webgpu'),
        tierReason: 'fits 3L/4',
        gpu: {
          vendor: 'acme',
          architecture: 'rdna9',
          description: '',
          features: [],
          maxStorageBufferBindingSize: 1 << 27,
          maxBufferSize: 1 << 28,
        },
        deviceMemoryGb: 8,
      });
      expect(ack.ok).toBe(true);
      const joinedState = await board.until((state) => state.clients.length === 1, 'the joined client');
      expect(joinedState.clients[0]).toMatchObject({
        tier: 'b',
        engine: 'webgpu',
        device: { gpu: 'acme rdna9', deviceMemoryGb: 8, tierReason: 'fits 3L/4' },
        dataShard: 0,
      });
      expect(joinedState).toMatchObject({
        modelId: expect.any(String),
        tiers: { a: [0, 1, 2, 3], c: [0, 1] },
      });
      client.ready();
      const start = await client.nextRoundStart();
      await board.until((state) => state.clients[0]?.activity === 'training', 'a training client');
      const nan = readSafetensors(start.bytes);
      nan.values().next().value!.data[0] = Number.NaN;
      expect(await client.update({ round: 1, numSamples: 4, metrics: {} }, encode(nan))).toMatchObject({
        code: 'non-finite',
      });
      const rejected = await board.until((state) => state.rejected['non-finite'] === 1, 'the rejection');
      expect(rejected.retriedRounds).toBe(0);
    } finally {
      board.socket.disconnect();
      client.close();
      await server.close();
    }
  });
});
