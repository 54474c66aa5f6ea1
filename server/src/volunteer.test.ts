// The real headless volunteer (CPU engine, a few steps) against the real server for one round: it
// loads its layers over HTTP ranges, trains on the data shard the server assigns and its update
// becomes the global.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { runVolunteer } from '@prufed/cli/volunteer';
import { serializeTaskJsonl, type TaskRecord } from '@prufed/model';
import { describe, expect, it } from 'vitest';
import { removeDirs, roundAdapter, startTestServer, tempDataDir, tinyModelDir } from './test-helpers';

const records: TaskRecord[] = ['cat', 'dog', 'oak', 'run', 'blue', 'swift'].map((lemma, i) => ({
  id: `define:${lemma}`,
  task: 'define',
  lemma,
  input: lemma,
  output: `a word number ${i}`,
  category: i % 2 ? 'noun.animal' : 'noun.plant',
}));

describe('prufed volunteer', () => {
  it('trains one round on the CPU engine and its update is the new global', async () => {
    const modelDir = await tinyModelDir();
    const dataDir = await tempDataDir();
    // The server publishes the split; the volunteer fetches it and keeps shard 0 of 2 (3 records).
    const publicRoot = path.join(dataDir, 'public');
    await mkdir(path.join(publicRoot, 'datasets/wordnet/define'), { recursive: true });
    await writeFile(
      path.join(publicRoot, 'datasets/wordnet/define/train.jsonl'),
      serializeTaskJsonl(records),
    );
    const server = await startTestServer(modelDir, dataDir, {
      publicRoot,
      dataShards: 2,
      dataPartition: 'iid',
      rounds: 1,
      localSteps: 3,
      batchSize: 2,
      seqLen: 96,
      learningRate: 1e-2,
      roundTimeoutMs: 30_000,
    });
    try {
      const lines: string[] = [];
      const result = await runVolunteer({
        serverUrl: server.url,
        tier: 'b',
        engine: 'cpu',
        rounds: 1,
        log: (line) => lines.push(line),
      });
      expect(result).toMatchObject({ tier: 'b', keptLayers: [0, 1, 2], roundsTrained: 1 });
      expect(result.lastLoss).toBeGreaterThan(0);
      expect(lines.join('\n')).toMatch(
        /3 local examples from http:.*\/datasets\/wordnet\/define\/train\.jsonl, shard 0 of 2 \(iid, seed 0\) of the define train split/,
      );
      // It warmed the engine up before it said ready; the warm-up step is not a round's.
      expect(lines.join('\n')).toMatch(/warm-up step on the cpu engine in \d+\.\d s/);
      const before = await roundAdapter(server, 0);
      const after = await roundAdapter(server, 1);
      // Trained layers moved (B starts at zero, so any step changes it); layer 3 is not in tier b.
      const bName = (layer: number) =>
        `base_model.model.model.layers.${layer}.self_attn.q_proj.lora_B.weight`;
      expect(after.get(bName(0))!.data.some((value) => value !== 0)).toBe(true);
      expect(after.get(bName(3))).toEqual(before.get(bName(3)));
    } finally {
      await server.close();
      await removeDirs(modelDir, dataDir);
    }
  });
});
