// Fault tolerance against the real server: a volunteer killed mid-round, a silent one (deadline), one
// whose updates are all rejected, a server restarted mid-round on the same data dir (FedAdam's moments
// included), and a round that misses its quorum.
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type { Tensor } from '@prufed/model';
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

/** A fresh data dir for one test, removed after the file. */
async function freshDataDir(): Promise<string> {
  const dataDir = await tempDataDir();
  dirs.push(dataDir);
  return dataDir;
}

async function connectAll(url: string, tiers: ('a' | 'b' | 'c')[]): Promise<ProtocolClient[]> {
  const clients = await Promise.all(tiers.map(() => ProtocolClient.connect(url)));
  for (const [k, client] of clients.entries()) await client.hello(tiers[k]);
  for (const client of clients) client.ready();
  return clients;
}

interface State {
  round: number;
  rounds: { round: number; numResults: number; numFailures: number }[];
  failures: { round: number; clientId: string; reason: string }[];
  counters: { retriedRounds: number };
}

describe('faults', () => {
  it('completes a round with the others when one is killed and one stays silent until the deadline', async () => {
    const dataDir = await freshDataDir();
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
    const dataDir = await freshDataDir();
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

  it('lets a rejected client resend, and fails one that sent only rejected updates at the deadline', async () => {
    const dataDir = await freshDataDir();
    const server = await startTestServer(modelDir, dataDir, {
      minClients: 3,
      quorum: 1,
      roundTimeoutMs: 800,
    });
    const [a, b, c] = await connectAll(server.url, ['a', 'b', 'c']);
    try {
      const previous = await roundAdapter(server, 0);
      const [startA, startB, startC] = await Promise.all([
        a.nextRoundStart(),
        b.nextRoundStart(),
        c.nextRoundStart(),
      ]);
      const meta = { round: 1, numSamples: 2, metrics: {} };
      const updateA = { tensors: shiftedUpdate(startA.bytes, 1), numSamples: 2 };
      const updateB = { tensors: shiftedUpdate(startB.bytes, 2), numSamples: 2 };
      const withNaN = shiftedUpdate(startB.bytes, 2);
      withNaN.values().next().value!.data[0] = Number.NaN;
      expect(await a.update(meta, encode(updateA.tensors))).toEqual({ accepted: true });
      expect(await b.update(meta, encode(withNaN))).toMatchObject({ accepted: false, code: 'non-finite' });
      expect(await b.update(meta, encode(updateB.tensors))).toEqual({ accepted: true });
      const tooFar = encode(shiftedUpdate(startC.bytes, 3, 1000));
      expect(await c.update(meta, tooFar)).toMatchObject({ accepted: false, code: 'norm-too-large' });
      expect(await c.nextRoundEnd()).toEqual({ round: 1, included: false, aggregated: true });
      // c could have resent until the deadline, so the round waited for it.
      expect(Date.now()).toBeGreaterThanOrEqual(startC.info.deadline - 20);
      const outcomes = server.store.db
        .prepare('SELECT client_id, outcome, reason FROM round_clients WHERE round = 1')
        .all() as { client_id: string; outcome: string; reason: string }[];
      expect(outcomes.find((row) => row.client_id === c.clientId)).toMatchObject({
        outcome: 'failed',
        reason: expect.stringMatching(/^sent only rejected updates \(last: norm-too-large: /),
      });
      expect(
        outcomes
          .filter((row) => row.outcome === 'included')
          .map((row) => row.client_id)
          .sort(),
      ).toEqual([a.clientId, b.clientId].sort());
      const state = await apiJson<State & { counters: { rejected: Record<string, number> } }>(
        server,
        '/api/state',
      );
      expect(state.rounds).toMatchObject([{ round: 1, numResults: 2, numFailures: 1 }]);
      // The dashboard's state names the failed client and why.
      expect(state.failures).toEqual([
        {
          round: 1,
          clientId: c.clientId,
          reason: expect.stringMatching(/^sent only rejected updates \(last: norm-too-large: /),
        },
      ]);
      // The server's log says who failed and why, so a round short of clients can be explained.
      expect(server.logs.join('\n')).toMatch(
        new RegExp(
          `round 1 aggregated 2 updates \\(1 failure: tier c client ${c.clientId}: sent only rejected updates \\(last: norm-too-large: .*\\) \\d+\\.\\d s after its start`,
        ),
      );
      expect(state.counters.rejected).toEqual({ 'non-finite': 1, 'norm-too-large': 1 });
      expect(
        maxDifference(await roundAdapter(server, 1), expectedMean(previous, [updateA, updateB])),
      ).toBeLessThan(1e-6);
    } finally {
      for (const client of [a, b, c]) client.close();
      await server.close();
    }
  });

  it("resumes FedAdam's moments after a restart, as if the server had never stopped", async () => {
    const dataDir = await freshDataDir();
    const options = { strategy: 'fedadam' as const, minClients: 1, quorum: 1, rounds: 2 };
    const first = await startTestServer(modelDir, dataDir, options);
    let [client] = await connectAll(first.url, ['a']);
    const global0 = await roundAdapter(first, 0);
    const start1 = await client.nextRoundStart();
    const update1 = shiftedUpdate(start1.bytes, 1);
    await client.update({ round: 1, numSamples: 3, metrics: {} }, encode(update1));
    await client.nextRoundEnd();
    const global1 = await roundAdapter(first, 1);
    await first.close();
    client.close();

    const second = await startTestServer(modelDir, dataDir, options);
    try {
      [client] = await connectAll(second.url, ['a']);
      const start2 = await client.nextRoundStart();
      expect(start2.info.round).toBe(2);
      const update2 = shiftedUpdate(start2.bytes, 2);
      await client.update({ round: 2, numSamples: 3, metrics: {} }, encode(update2));
      await client.nextRoundEnd();
      const global2 = await roundAdapter(second, 2);
      // FedAdam by hand (lr 1e-2, beta1 0.9, beta2 0.99, tau 1e-3; one client, so the mean is its update).
      const remembered = adamByHand(global0, update1, global1, update2, true);
      const forgotten = adamByHand(global0, update1, global1, update2, false);
      expect(maxDifference(global1, remembered.round1)).toBeLessThan(1e-6);
      expect(maxDifference(global2, remembered.round2)).toBeLessThan(1e-6);
      expect(maxDifference(global2, forgotten.round2)).toBeGreaterThan(1e-4);
    } finally {
      client.close();
      await second.close();
    }
  });

  it("rolls FedAdam's moments back when a round cannot be stored", async () => {
    const dataDir = await freshDataDir();
    const server = await startTestServer(modelDir, dataDir, {
      strategy: 'fedadam',
      minClients: 1,
      quorum: 1,
      rounds: 1,
    });
    const [client] = await connectAll(server.url, ['a']);
    try {
      const global0 = await roundAdapter(server, 0);
      const commit = server.store.commitRound.bind(server.store);
      server.store.commitRound = () => {
        server.store.commitRound = commit;
        throw new Error('disk full');
      };
      const failed = await client.nextRoundStart();
      await client.update(
        { round: 1, numSamples: 1, metrics: {} },
        encode(shiftedUpdate(failed.bytes, 7, 0.05)),
      );
      expect(await client.nextRoundEnd()).toEqual({ round: 1, included: false, aggregated: false });
      client.ready();
      const retry = await client.nextRoundStart();
      const update = shiftedUpdate(retry.bytes, 1);
      await client.update({ round: 1, numSamples: 1, metrics: {} }, encode(update));
      expect(await client.nextRoundEnd()).toEqual({ round: 1, included: true, aggregated: true });
      // The first step from zero moments, as if the failed attempt had never happened.
      const expected = adamByHand(global0, update, global0, update, false).round1;
      expect(maxDifference(await roundAdapter(server, 1), expected)).toBeLessThan(1e-6);
    } finally {
      client.close();
      await server.close();
    }
  });

  it('retries a round whose quorum is not met and leaves the store unchanged', async () => {
    const dataDir = await freshDataDir();
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

/**
 * Two FedAdam rounds, elementwise in float64: x1 from x0 and u1, then x2 from the STORED x1 and u2,
 * with round 1's moments kept (remember) or lost (a restart that forgot them).
 */
function adamByHand(
  x0: Map<string, Tensor>,
  u1: Map<string, Tensor>,
  x1: Map<string, Tensor>,
  u2: Map<string, Tensor>,
  remember: boolean,
): { round1: Map<string, Float64Array>; round2: Map<string, Float64Array> } {
  const [lr, beta1, beta2, tau] = [1e-2, 0.9, 0.99, 1e-3];
  const round1 = new Map<string, Float64Array>();
  const round2 = new Map<string, Float64Array>();
  for (const [name, { data: previous }] of x0) {
    const n = previous.length;
    const [next1, next2] = [new Float64Array(n), new Float64Array(n)];
    for (let i = 0; i < n; i++) {
      const d1 = u1.get(name)!.data[i] - previous[i];
      const m1 = (1 - beta1) * d1;
      const v1 = (1 - beta2) * d1 * d1;
      next1[i] = previous[i] + (lr * m1) / (Math.sqrt(v1) + tau);
      const stored = x1.get(name)!.data[i];
      const d2 = u2.get(name)!.data[i] - stored;
      const m2 = (remember ? beta1 * m1 : 0) + (1 - beta1) * d2;
      const v2 = (remember ? beta2 * v1 : 0) + (1 - beta2) * d2 * d2;
      next2[i] = stored + (lr * m2) / (Math.sqrt(v2) + tau);
    }
    round1.set(name, next1);
    round2.set(name, next2);
  }
  return { round1, round2 };
}
