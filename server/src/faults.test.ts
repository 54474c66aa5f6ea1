// Fault tolerance against the real server: a volunteer killed mid-round, a silent one (deadline), a
// server restarted mid-round on the same data dir, and a round that misses its quorum.
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProtocolClient } from './protocol-client';
import {
  apiJson,
  encode,
  expectedMean,
  maxDifference,
  removeDirs,
  roundAdapter,
  shiftedUpdate,
  startTestServer,
  tempDataDir,
  tinyModelDir,
} from './test-helpers';

let modelDir: string;
const dirs: string[] = [];

beforeAll(async () => {
  modelDir = await tinyModelDir();
  dirs.push(modelDir);
});

afterAll(() => removeDirs(...dirs));

async function connectAll(url: string, tiers: ('a' | 'b' | 'c')[]): Promise<ProtocolClient[]> {
  const clients = await Promise.all(tiers.map(() => ProtocolClient.connect(url)));
  for (const [k, client] of clients.entries()) await client.hello(tiers[k]);
  for (const client of clients) client.ready();
  return clients;
}

interface State {
  round: number;
  rounds: { round: number; numResults: number; numFailures: number }[];
  counters: { retriedRounds: number };
}

describe('faults', () => {
  it('completes a round with the others when one is killed and one stays silent until the deadline', async () => {
    const dataDir = await tempDataDir();
    dirs.push(dataDir);
    const server = await startTestServer(modelDir, dataDir, {
      minClients: 3,
      quorum: 1,
      roundTimeoutMs: 800,
    });
    const [a, b, c] = await connectAll(server.url, ['a', 'b', 'c']);
    try {
      const previous = await roundAdapter(server, 0);
      const [start] = await Promise.all([a.nextRoundStart(), b.nextRoundStart(), c.nextRoundStart()]);
      c.close();
      const update = { tensors: shiftedUpdate(start.bytes, 1), numSamples: 4 };
      expect(await a.update({ round: 1, numSamples: 4, metrics: {} }, encode(update.tensors))).toEqual({
        accepted: true,
      });
      expect(await a.nextRoundEnd()).toEqual({ round: 1, included: true, aggregated: true });
      expect(await b.nextRoundEnd()).toEqual({ round: 1, included: false, aggregated: true });
      // b never answered, so the round ended at its deadline.
      expect(Date.now()).toBeGreaterThanOrEqual(start.info.deadline - 20);
      const state = await apiJson<State>(server, '/api/state');
      expect(state.rounds).toMatchObject([{ round: 1, numResults: 1, numFailures: 2 }]);
      expect(maxDifference(await roundAdapter(server, 1), expectedMean(previous, [update]))).toBeLessThan(
        1e-6,
      );
    } finally {
      a.close();
      b.close();
      await server.close();
    }
  });

  it('resumes at the last completed round after a restart mid-round, nothing completed lost', async () => {
    const dataDir = await tempDataDir();
    dirs.push(dataDir);
    const options = { minClients: 2, quorum: 2, rounds: 3 };
    const first = await startTestServer(modelDir, dataDir, options);
    let clients = await connectAll(first.url, ['a', 'c']);
    const round1 = await Promise.all(clients.map((client) => client.nextRoundStart()));
    await Promise.all(
      clients.map((client, k) =>
        client.update({ round: 1, numSamples: 1, metrics: {} }, encode(shiftedUpdate(round1[k].bytes, k))),
      ),
    );
    await Promise.all(clients.map((client) => client.nextRoundEnd()));
    for (const client of clients) client.ready();
    await Promise.all(clients.map((client) => client.nextRoundStart()));
    const global1 = await roundAdapter(first, 1);
    // Killed in the middle of round 2: nothing of round 2 was stored.
    await first.close();
    for (const client of clients) client.close();
    const files = readdirSync(path.join(dataDir, 'runs', '1')).sort();
    expect(files).toEqual(['round-00000.safetensors', 'round-00001.safetensors']);

    const second = await startTestServer(modelDir, dataDir, options);
    try {
      expect(second.logs[0]).toContain('resuming run 1 after round 1');
      const state = await apiJson<State>(second, '/api/state');
      expect(state.round).toBe(1);
      expect(state.rounds.map((r) => r.round)).toEqual([1]);
      expect(await roundAdapter(second, 1)).toEqual(global1);
      clients = await connectAll(second.url, ['a', 'c']);
      const round2 = await Promise.all(clients.map((client) => client.nextRoundStart()));
      expect(round2.map((start) => start.info.round)).toEqual([2, 2]);
      expect(new Set(readSafetensorsNames(round2[0].bytes))).toEqual(new Set(global1.keys()));
      const updates = round2.map((start, k) => ({
        tensors: shiftedUpdate(start.bytes, 5 + k),
        numSamples: 1,
      }));
      await Promise.all(
        clients.map((client, k) =>
          client.update({ round: 2, numSamples: 1, metrics: {} }, encode(updates[k].tensors)),
        ),
      );
      await Promise.all(clients.map((client) => client.nextRoundEnd()));
      expect(maxDifference(await roundAdapter(second, 2), expectedMean(global1, updates))).toBeLessThan(1e-6);
      expect(existsSync(path.join(dataDir, 'runs', '1', 'round-00002.safetensors'))).toBe(true);
    } finally {
      for (const client of clients) client.close();
      await second.close();
    }
  });

  it('retries a round whose quorum is not met and leaves the store unchanged', async () => {
    const dataDir = await tempDataDir();
    dirs.push(dataDir);
    const server = await startTestServer(modelDir, dataDir, {
      minClients: 2,
      quorum: 2,
      roundTimeoutMs: 500,
    });
    const [a, b] = await connectAll(server.url, ['a', 'b']);
    try {
      const global0 = await roundAdapter(server, 0);
      const [start] = await Promise.all([a.nextRoundStart(), b.nextRoundStart()]);
      await a.update({ round: 1, numSamples: 1, metrics: {} }, encode(shiftedUpdate(start.bytes, 1)));
      expect(await a.nextRoundEnd()).toEqual({ round: 1, included: false, aggregated: false });
      expect(await b.nextRoundEnd()).toEqual({ round: 1, included: false, aggregated: false });
      const state = await apiJson<State>(server, '/api/state');
      expect(state.rounds).toEqual([]);
      expect(state.counters.retriedRounds).toBe(1);
      expect(await roundAdapter(server, 0)).toEqual(global0);
      expect(readdirSync(path.join(dataDir, 'runs', '1'))).toEqual(['round-00000.safetensors']);
      // The retry is round 1 again, and this time both deliver.
      a.ready();
      b.ready();
      const retry = await Promise.all([a.nextRoundStart(), b.nextRoundStart()]);
      expect(retry.map((s) => s.info.round)).toEqual([1, 1]);
      await Promise.all(
        [a, b].map((client, k) =>
          client.update({ round: 1, numSamples: 1, metrics: {} }, encode(shiftedUpdate(retry[k].bytes, k))),
        ),
      );
      expect(await a.nextRoundEnd()).toEqual({ round: 1, included: true, aggregated: true });
    } finally {
      a.close();
      b.close();
      await server.close();
    }
  });
});

function readSafetensorsNames(bytes: Uint8Array): string[] {
  const length = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length))) as Record<
    string,
    unknown
  >;
  return Object.keys(header).filter((key) => key !== '__metadata__');
}
