// Integration: the real server on port 0 with real socket.io-client volunteers at three tiers submitting
// known synthetic updates; the stored global must equal a hand-computed HeteAgg (FedAvg with one tier).
// Also the researcher access rules: token on /dashboard and /api, and no control from volunteers.
import { readSafetensors } from '@prufed/model';
import { io } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProtocolClient } from './protocol-client';
import {
  api,
  apiJson,
  encode,
  expectedMean,
  maxDifference,
  removeDirs,
  roundAdapter,
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

/** Every client trains one round on a shifted copy of what it received; returns what was sent. */
async function playRound(clients: ProtocolClient[], round: number, numSamples: number[]) {
  const starts = await Promise.all(clients.map((client) => client.nextRoundStart()));
  const updates = starts.map((start, k) => {
    expect(start.info.round).toBe(round);
    return { tensors: shiftedUpdate(start.bytes, 10 * round + k), numSamples: numSamples[k] };
  });
  const acks = await Promise.all(
    clients.map((client, k) =>
      client.update(
        { round, numSamples: numSamples[k], metrics: { loss: k + 1 } },
        encode(updates[k].tensors),
      ),
    ),
  );
  expect(acks).toEqual(clients.map(() => ({ accepted: true })));
  const ends = await Promise.all(clients.map((client) => client.nextRoundEnd()));
  expect(ends).toEqual(clients.map(() => ({ round, included: true, aggregated: true })));
  return { starts, updates };
}

describe('coordinator with three tiers', () => {
  let server: TestServer;
  let clients: ProtocolClient[];

  beforeAll(async () => {
    const dataDir = await tempDataDir();
    dirs.push(dataDir);
    server = await startTestServer(modelDir, dataDir, { minClients: 3, maxClients: 3, quorum: 3, rounds: 2 });
    clients = await Promise.all([0, 1, 2].map(() => ProtocolClient.connect(server.url)));
  });

  afterAll(async () => {
    for (const client of clients) client.close();
    await server.close();
  });

  it('assigns tiers and kept layers, runs two rounds and stores HeteAgg of the updates', async () => {
    const acks = await Promise.all(clients.map((client, k) => client.hello((['a', 'b', 'c'] as const)[k])));
    expect(acks.map((ack) => [ack.tier, ack.keptLayers])).toEqual([
      ['a', [0, 1, 2, 3]],
      ['b', [0, 1, 2]],
      ['c', [0, 1]],
    ]);
    expect(acks[0].manifest).toMatchObject({ numLayers: 4, lora: { r: 2, alpha: 4 } });
    // The model is served with byte ranges at the manifest's URL.
    const range = await fetch(`${server.url}${acks[0].manifest.baseUrl}model.safetensors`, {
      headers: { Range: 'bytes=0-7' },
    });
    expect(range.status).toBe(206);

    const numSamples = [1, 2, 5];
    let previous = await roundAdapter(server, 0);
    for (const round of [1, 2]) {
      for (const client of clients) client.ready();
      const { starts, updates } = await playRound(clients, round, numSamples);
      // Each client received exactly the previous global's slice for its tier.
      for (const [k, tier] of ['a', 'b', 'c'].entries()) {
        expect(readSafetensors(starts[k].bytes)).toEqual(await roundAdapter(server, round - 1, tier));
      }
      const stored = await roundAdapter(server, round);
      expect(maxDifference(stored, expectedMean(previous, updates))).toBeLessThan(1e-6);
      previous = stored;
    }

    const state = await apiJson<{
      status: string;
      rounds: {
        round: number;
        numResults: number;
        totalSamples: number;
        clientMetrics: Record<string, number>;
      }[];
      tierMetrics: {
        round: number;
        tier: string;
        clients: number;
        samples: number;
        metrics: Record<string, number>;
      }[];
    }>(server, '/api/state');
    expect(state.status).toBe('finished');
    expect(state.rounds.map((r) => [r.round, r.numResults, r.totalSamples])).toEqual([
      [1, 3, 8],
      [2, 3, 8],
    ]);
    expect(state.rounds[0].clientMetrics.loss).toBeCloseTo((1 * 1 + 2 * 2 + 5 * 3) / 8, 10);
    expect(state.tierMetrics.filter((t) => t.round === 1)).toEqual([
      { round: 1, tier: 'a', clients: 1, samples: 1, metrics: { loss: 1 } },
      { round: 1, tier: 'b', clients: 1, samples: 2, metrics: { loss: 2 } },
      { round: 1, tier: 'c', clients: 1, samples: 5, metrics: { loss: 3 } },
    ]);
  });
});

describe('coordinator with one tier', () => {
  it('equals FedAvg of the updates; a client asking for another tier gets the enabled one', async () => {
    const dataDir = await tempDataDir();
    dirs.push(dataDir);
    const server = await startTestServer(modelDir, dataDir, {
      tiers: ['b'],
      strategy: 'fedavg',
      minClients: 2,
      quorum: 2,
      rounds: 1,
    });
    const clients = await Promise.all([0, 1].map(() => ProtocolClient.connect(server.url)));
    try {
      const acks = [await clients[0].hello('b'), await clients[1].hello('a')];
      expect(acks.map((ack) => [ack.tier, ack.keptLayers])).toEqual([
        ['b', [0, 1, 2]],
        ['b', [0, 1, 2]],
      ]);
      expect(acks[1].tierReason).toContain('assigned tier b');
      const previous = await roundAdapter(server, 0);
      for (const client of clients) client.ready();
      const { updates } = await playRound(clients, 1, [3, 1]);
      const stored = await roundAdapter(server, 1);
      // FedAvg: every trained tensor is (3 u0 + 1 u1) / 4; layer 3, which nobody holds, is unchanged.
      const expected = expectedMean(previous, updates);
      expect(maxDifference(stored, expected)).toBeLessThan(1e-6);
      const untouched = 'base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight';
      expect(stored.get(untouched)).toEqual(previous.get(untouched));
    } finally {
      for (const client of clients) client.close();
      await server.close();
    }
  });
});

describe('researcher access', () => {
  let server: TestServer;

  beforeAll(async () => {
    const dataDir = await tempDataDir();
    dirs.push(dataDir);
    server = await startTestServer(modelDir, dataDir, { autoStart: false });
  });

  afterAll(() => server.close());

  it('refuses the API and /dashboard without the token', async () => {
    expect((await api(server, '/api/state', 'wrong')).status).toBe(401);
    expect((await fetch(`${server.url}/api/rounds/0/adapter`)).status).toBe(401);
    const dashboard = io(`${server.url}/dashboard`, {
      transports: ['websocket'],
      reconnection: false,
      auth: { token: 'x' },
    });
    const error = await new Promise<Error>((resolve) => dashboard.once('connect_error', resolve));
    expect(error.message).toContain('token');
    dashboard.close();
  });

  it('gives the dashboard state and control; a volunteer cannot send control', async () => {
    const dashboard = io(`${server.url}/dashboard`, {
      transports: ['websocket'],
      reconnection: false,
      auth: { token: testToken },
    });
    const first = await new Promise<{ status: string }>((resolve) => dashboard.once('state', resolve));
    expect(first.status).toBe('idle');

    const volunteer = await ProtocolClient.connect(server.url);
    (volunteer.socket as unknown as { emit(...args: unknown[]): void }).emit(
      'control',
      { type: 'start' },
      () => {
        throw new Error('a volunteer got a control ack');
      },
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect((await apiJson<{ status: string }>(server, '/api/state')).status).toBe('idle');

    expect(await dashboard.timeout(5000).emitWithAck('control', { type: 'start' })).toEqual({ ok: true });
    expect((await apiJson<{ status: string }>(server, '/api/state')).status).toBe('running');
    expect(await dashboard.timeout(5000).emitWithAck('control', { type: 'bogus' })).toMatchObject({
      ok: false,
    });
    expect(
      await dashboard
        .timeout(5000)
        .emitWithAck('control', { type: 'configure', settings: { minResults: 1000 } }),
    ).toMatchObject({ ok: false, reason: expect.stringContaining('minResults') });
    expect(await dashboard.timeout(5000).emitWithAck('control', { type: 'pause' })).toEqual({ ok: true });
    expect((await apiJson<{ status: string }>(server, '/api/state')).status).toBe('paused');
    volunteer.close();
    dashboard.close();
  });
});
