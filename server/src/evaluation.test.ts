// Server-side evaluation and the ONNX routes, against a real server on port 0 with a tiny model and
// the first records of the real define validation split. Evaluation is held back by a gate, so the
// test can see that rounds end and the next rounds start while an evaluation is still running, that
// a round finishing meanwhile waits and a newer one replaces it, and, once the gate opens, that each
// evaluated round has a result per tier whose loss equals the CPU reference engine's on the same
// records with the same merged global. The ONNX routes need the token (except the public latest
// model), cache exports, answer 404 for rounds not stored, and serve the round's merged model.
import { copyFile, mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import {
  CpuEngine,
  encodeRecord,
  instructionTokenizer,
  loadTokenizer,
  padInstructionBatch,
  parseTaskJsonl,
} from '@prufed/model';
import { readModelDir } from '@prufed/model/node';
import { createNodeSession, onnxLogitsNode } from '@prufed/onnx/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProtocolClient } from './protocol-client';
import type { TierEvaluation } from './store';
import {
  api,
  apiJson,
  encode,
  removeDirs,
  shiftedUpdate,
  startTestServer,
  type TestServer,
  tempDataDir,
  tinyModelDir,
} from './test-helpers';
import { sliceAdapter } from './tiers';

const samples = 5;
const tierNames = ['a', 'b', 'c'] as const;
const repoSplit = path.resolve(import.meta.dirname, '../../public/datasets/wordnet/define/validation.jsonl');

let modelDir: string;
let dataDir: string;
let server: TestServer;
let clients: ProtocolClient[];
let openGate: () => void;
const gate = new Promise<void>((resolve) => {
  openGate = resolve;
});
const evaluationCalls: { round: number; tier: string }[] = [];

interface EvaluationState {
  tierMetrics: { round: number; tier: string; metrics: Record<string, number> }[];
  evaluation: {
    enabled: boolean;
    samples: number;
    running: number | null;
    pending: number | null;
    skipped: number[];
    results: TierEvaluation[];
  };
}

beforeAll(async () => {
  modelDir = await tinyModelDir();
  dataDir = await tempDataDir();
  const publicRoot = path.join(dataDir, 'public');
  await mkdir(path.join(publicRoot, 'datasets/wordnet/define'), { recursive: true });
  await copyFile(repoSplit, path.join(publicRoot, 'datasets/wordnet/define/validation.jsonl'));
  server = await startTestServer(
    modelDir,
    dataDir,
    { publicRoot, rounds: 3, minClients: 3, quorum: 3, evalSamples: samples, evalMaxNewTokens: 3 },
    {
      beforeEvaluation: async (round, tier) => {
        evaluationCalls.push({ round, tier });
        await gate;
      },
    },
  );
  clients = await Promise.all(tierNames.map(() => ProtocolClient.connect(server.url)));
  await Promise.all(clients.map((client, k) => client.hello(tierNames[k])));
});

afterAll(async () => {
  for (const client of clients) client.close();
  await server.close();
  await removeDirs(modelDir, dataDir);
});

/** Every client trains `round` on a shifted copy of its slice; resolves at round:end. */
async function playRound(round: number): Promise<void> {
  for (const client of clients) client.ready();
  const starts = await Promise.all(clients.map((client) => client.nextRoundStart()));
  await Promise.all(
    clients.map((client, k) =>
      client.update(
        { round, numSamples: 3, metrics: { loss: 2 } },
        encode(shiftedUpdate(starts[k].bytes, 10 * round + k, 0.05)),
      ),
    ),
  );
  const ends = await Promise.all(clients.map((client) => client.nextRoundEnd()));
  expect(ends.map((end) => end.aggregated)).toEqual([true, true, true]);
}

/** The CPU engine's loss on the evaluated records with `round`'s global for `tier`. */
async function referenceLoss(tier: 'a' | 'b' | 'c', round: number): Promise<number> {
  const layers = { a: [0, 1, 2, 3], b: [0, 1, 2], c: [0, 1] }[tier];
  const model = await readModelDir(modelDir, layers);
  const engine = new CpuEngine();
  await engine.loadVariant(model.weights, { keptLayers: layers });
  await engine.setAdapter(sliceAdapter(server.store.readAdapter(round), layers));
  const tokenizer = instructionTokenizer(loadTokenizer(model.tokenizerJson));
  const records = parseTaskJsonl(await readFile(repoSplit, 'utf8')).slice(0, samples);
  const padded = padInstructionBatch(
    records.map((record) => encodeRecord(tokenizer, record, server.config.seqLen)),
    tokenizer.padId,
  );
  const result = await engine.evaluateLoss({
    batchSize: padded.batch,
    seqLen: padded.tokens,
    inputIds: padded.inputIds,
    labels: padded.labels,
  });
  return result.loss;
}

describe('server-side evaluation', () => {
  it('never holds up the rounds: they end and go on while evaluation waits, and a newer round replaces a waiting one', async () => {
    await playRound(1);
    // round:end is out while round 1's evaluation has not finished (it waits at the gate).
    let state = await apiJson<EvaluationState>(server, '/api/state');
    expect(state.evaluation).toMatchObject({ enabled: true, samples, running: 1, results: [] });
    await playRound(2);
    await playRound(3);
    state = await apiJson<EvaluationState>(server, '/api/state');
    expect(state.evaluation).toMatchObject({ running: 1, pending: 3, skipped: [2], results: [] });
    expect(server.logs.join('\n')).toMatch(/evaluation of round 2 skipped: round 3 finished/);
    expect(evaluationCalls).toEqual([{ round: 1, tier: 'a' }]);
  });

  it('stores a result per tier for each evaluated round, with the reference loss and a metric in [0, 1]', async () => {
    openGate();
    await server.evaluator!.idle();
    const state = await apiJson<EvaluationState>(server, '/api/state');
    expect(state.evaluation.results.map((result) => [result.round, result.tier])).toEqual([
      [1, 'a'],
      [1, 'b'],
      [1, 'c'],
      [3, 'a'],
      [3, 'b'],
      [3, 'c'],
    ]);
    for (const result of state.evaluation.results) {
      expect(result).toMatchObject({ samples, metric: 'token_f1' });
      expect(result.value).toBeGreaterThanOrEqual(0);
      expect(result.value).toBeLessThanOrEqual(1);
      expect(result.ms).toBeGreaterThan(0);
      const expected = await referenceLoss(result.tier, result.round);
      expect(Math.abs(result.loss - expected), `round ${result.round} tier ${result.tier}`).toBeLessThan(
        1e-4 * expected,
      );
      // The dashboard snapshot charts them as per-tier metrics of the round.
      const row = state.tierMetrics.find((r) => r.round === result.round && r.tier === result.tier);
      expect(row?.metrics).toMatchObject({ loss: 2, eval_loss: result.loss, eval_token_f1: result.value });
    }
    expect(server.logs.join('\n')).toMatch(
      /round 3 tier c evaluated on 5 validation records in \d+ ms: loss \d+\.\d+, token_f1 \d\.\d+/,
    );
  });
});

describe('ONNX model routes', () => {
  it('need the token and a tier, and answer 404 for a round that is not stored', async () => {
    expect((await fetch(`${server.url}/api/rounds/1/model.onnx?tier=c`)).status).toBe(401);
    expect((await api(server, '/api/rounds/1/model.onnx', 'wrong')).status).toBe(401);
    expect((await api(server, '/api/rounds/1/model.onnx')).status).toBe(400);
    const badTier = await api(server, '/api/rounds/1/model.onnx?tier=z');
    expect(badTier.status).toBe(400);
    expect(await badTier.json()).toEqual({ error: 'tier must be one of a, b, c, got "z"' });
    const unknown = await api(server, '/api/rounds/99/model.onnx?tier=c');
    expect(unknown.status).toBe(404);
    expect((await unknown.json()).error).toMatch(/last completed round is 3/);
    expect((await fetch(`${server.url}/models/latest/z.onnx`)).status).toBe(404);
  });

  it("serve a round's merged model, exported once per round and tier", async () => {
    // Round 2 was never evaluated, so its export happens now; round 1's came from evaluation.
    const first = await api(server, '/api/rounds/2/model.onnx?tier=c');
    expect(first.status).toBe(200);
    expect(first.headers.get('x-prufed-cache')).toBe('miss');
    expect(first.headers.get('content-disposition')).toMatch(/-round-2-tier-c\.onnx"$/);
    const bytes = new Uint8Array(await first.arrayBuffer());
    const again = await api(server, '/api/rounds/2/model.onnx?tier=c');
    expect(again.headers.get('x-prufed-cache')).toBe('hit');
    expect(new Uint8Array(await again.arrayBuffer())).toEqual(bytes);
    expect((await api(server, '/api/rounds/1/model.onnx?tier=c')).headers.get('x-prufed-cache')).toBe('hit');

    // The bytes are round 2's tier-c global: the CPU engine with that adapter gives the same logits.
    const [B, T] = [2, 6];
    const ids = Int32Array.from({ length: B * T }, (_, i) => (37 * i + 5) % 259);
    const logits = await onnxLogitsNode(await createNodeSession(bytes), ids, B, T);
    const engine = new CpuEngine();
    const model = await readModelDir(modelDir, [0, 1]);
    await engine.loadVariant(model.weights, { keptLayers: [0, 1] });
    await engine.setAdapter(sliceAdapter(server.store.readAdapter(2), [0, 1]));
    const expected = await engine.logits({ batchSize: B, seqLen: T, inputIds: ids, labels: ids });
    let maxDiff = 0;
    for (let i = 0; i < expected.data.length; i++) {
      maxDiff = Math.max(maxDiff, Math.abs(logits.data[i] - expected.data[i]));
    }
    expect(maxDiff).toBeLessThan(1e-4);
  });

  it('serve the latest global publicly, with an ETag that changes with the round', async () => {
    const latest = await fetch(`${server.url}/models/latest/b.onnx`);
    expect(latest.status).toBe(200);
    expect(latest.headers.get('x-prufed-round')).toBe('3');
    expect(latest.headers.get('cross-origin-resource-policy')).toBe('same-origin');
    const round3 = await api(server, '/api/rounds/3/model.onnx?tier=b');
    expect(new Uint8Array(await latest.arrayBuffer())).toEqual(new Uint8Array(await round3.arrayBuffer()));
    const etag = latest.headers.get('etag')!;
    expect(etag).toMatch(/-3-b"$/);
    const revalidated = await fetch(`${server.url}/models/latest/b.onnx`, {
      headers: { 'If-None-Match': etag },
    });
    expect(revalidated.status).toBe(304);
  });
});

describe('evaluation data', () => {
  it('is off with a log line saying why when the validation split is missing', async () => {
    const otherDir = await tempDataDir();
    const other = await startTestServer(modelDir, otherDir, { evalSamples: 4 });
    try {
      expect(other.evaluator).toBeUndefined();
      expect(other.logs.join('\n')).toMatch(/evaluation is off: .*validation\.jsonl missing/);
    } finally {
      await other.close();
      await removeDirs(otherDir);
    }
  });
});
