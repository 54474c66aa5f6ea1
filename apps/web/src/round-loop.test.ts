import type { RoundStartInfo, UpdateMeta } from '@prufed/fl';
import type { Batch, InstructionTokenizer } from '@prufed/model';
import { describe, expect, it } from 'vitest';
import type { Checkpoint, CheckpointStore } from './checkpoint';
import type { LocalData } from './local-data';
import { initialStats, RoundLoop, type RoundTrainer, type VolunteerStats } from './round-loop';

const tokenizer: InstructionTokenizer = {
  encode: (text) => [...text].map((char) => char.charCodeAt(0) % 250),
  eosId: 251,
  padId: 252,
};
const data: LocalData = { source: 'test', own: true, examples: [{ prompt: 'ab', response: 'cd' }] };
const train = { localSteps: 3, batchSize: 2, learningRate: 0.01, seqLen: 8 };
const start = (round: number, localSteps = 3): RoundStartInfo => ({
  round,
  train: { ...train, localSteps },
  seed: 1,
  keptLayers: [0],
  deadline: Date.now() + 60_000,
});

function memoryStore(): CheckpointStore & { value?: Checkpoint } {
  const store: CheckpointStore & { value?: Checkpoint } = {
    load: async () => store.value,
    save: async (checkpoint) => {
      store.value = structuredClone(checkpoint);
    },
    clear: async () => {
      store.value = undefined;
    },
  };
  return store;
}

/** A trainer whose adapter is one byte counting the steps trained since the last setAdapter value. */
interface FakeTrainer extends RoundTrainer {
  adapter: number;
  setTo: number[];
  batches: Batch[];
}

function fakeTrainer(onStep?: (step: number) => void): FakeTrainer {
  const trainer: FakeTrainer = {
    adapter: 0,
    setTo: [] as number[],
    batches: [] as Batch[],
    setAdapter: async (bytes: Uint8Array) => {
      trainer.adapter = bytes[0];
      trainer.setTo.push(bytes[0]);
    },
    trainStep: async (batch: Batch) => {
      trainer.batches.push(batch);
      trainer.adapter++;
      onStep?.(trainer.adapter);
      return { loss: 5 - trainer.adapter, tokens: 4, gradNorm: 1 };
    },
    readAdapter: async () => new Uint8Array([trainer.adapter]),
  };
  return trainer;
}

function harness(trainer: RoundTrainer, checkpoints = memoryStore()) {
  const sent: { event: string; payload?: unknown }[] = [];
  let stats: VolunteerStats | null = null;
  const loop = new RoundLoop({
    channel: {
      ready: () => sent.push({ event: 'ready' }),
      progress: (progress) => sent.push({ event: 'progress', payload: progress }),
      update: async (meta: UpdateMeta, adapter) => {
        sent.push({ event: 'update', payload: { meta, adapter: [...adapter] } });
        return { accepted: true };
      },
    },
    trainer,
    lora: { r: 1, alpha: 1, targetModules: ['q_proj'] },
    data,
    tokenizer,
    checkpoints,
    onStats: (next) => (stats = next),
  });
  return { loop, sent, checkpoints, stats: () => stats! };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 20));

describe('RoundLoop', () => {
  it('trains the configured steps from the global, reports each, sends the update, then is ready again', async () => {
    const trainer = fakeTrainer();
    const { loop, sent, stats } = harness(trainer);
    const done = loop.run();
    loop.push({ type: 'start', info: start(1), adapter: new Uint8Array([10]) });
    await settle();
    loop.push({ type: 'end', info: { round: 1, included: true, aggregated: true } });
    loop.push({ type: 'stop', reason: 'left' });
    expect(await done).toBe('left');
    expect(sent.map((message) => message.event)).toEqual([
      'ready',
      'progress',
      'progress',
      'progress',
      'update',
      'ready',
    ]);
    expect(sent[1].payload).toEqual({ round: 1, step: 1, loss: 5 - 11 });
    // 3 steps of 2 examples from the global 10: the adapter byte is 13; the mean loss is -7.
    expect(sent[4].payload).toEqual({
      meta: { round: 1, numSamples: 6, metrics: { loss: -7 } },
      adapter: [13],
    });
    // 'ab' + ' cd' (formatResponse) + EOS: 6 tokens, within seqLen 8.
    expect(trainer.batches[0]).toMatchObject({ batchSize: 2, seqLen: 6 });
    expect(stats()).toMatchObject({ phase: 'left', roundsContributed: 1, bytesDown: 1, bytesUp: 1, step: 3 });
  });

  it('stops local training on a cancel and resumes the same round from the checkpoint', async () => {
    let loop: RoundLoop | null = null;
    const trainer = fakeTrainer((step) => {
      if (step === 12) loop!.push({ type: 'cancel', info: { round: 1, reason: 'paused' } });
    });
    const h = harness(trainer);
    loop = h.loop;
    const done = loop.run();
    loop.push({ type: 'start', info: start(1), adapter: new Uint8Array([10]) });
    await settle();
    expect(h.sent.filter((message) => message.event === 'update')).toEqual([]);
    expect(h.checkpoints.value?.training).toMatchObject({ round: 1, step: 2, adapter: new Uint8Array([12]) });

    loop.push({ type: 'start', info: start(1), adapter: new Uint8Array([10]) });
    await settle();
    loop.push({ type: 'stop', reason: 'left' });
    await done;
    expect(trainer.setTo).toEqual([10, 12]);
    const update = h.sent.find((message) => message.event === 'update');
    expect(update?.payload).toMatchObject({ meta: { round: 1, numSamples: 6 }, adapter: [13] });
  });

  it('starts over when the round starts from a different global', async () => {
    const trainer = fakeTrainer();
    const checkpoints = memoryStore();
    checkpoints.value = {
      stats: { ...initialStats(), roundsContributed: 4 },
      training: { round: 2, step: 2, globalDigest: 'another global', adapter: new Uint8Array([99]) },
    };
    const { loop, sent } = harness(trainer, checkpoints);
    const done = loop.run();
    loop.push({ type: 'start', info: start(2), adapter: new Uint8Array([20]) });
    await settle();
    loop.push({ type: 'stop', reason: 'left' });
    await done;
    expect(trainer.setTo).toEqual([20]);
    expect(sent.filter((message) => message.event === 'progress')).toHaveLength(3);
  });

  it('restores the statistics of a reloaded tab', async () => {
    const checkpoints = memoryStore();
    const first = harness(fakeTrainer(), checkpoints);
    const done = first.loop.run();
    first.loop.push({ type: 'start', info: start(1), adapter: new Uint8Array([10]) });
    await settle();
    first.loop.push({ type: 'end', info: { round: 1, included: true, aggregated: true } });
    first.loop.push({ type: 'stop', reason: 'reload' });
    await done;
    expect(checkpoints.value?.training).toBeNull();

    let restored: VolunteerStats | null = null;
    const second = new RoundLoop(
      {
        channel: { ready: () => {}, progress: () => {}, update: async () => ({ accepted: true }) },
        trainer: fakeTrainer(),
        lora: { r: 1, alpha: 1, targetModules: ['q_proj'] },
        data,
        tokenizer,
        checkpoints,
        onStats: (stats) => (restored = stats),
      },
      checkpoints.value,
    );
    const again = second.run();
    second.push({ type: 'stop', reason: 'left' });
    await again;
    expect(restored).toMatchObject({ roundsContributed: 1, round: 1, phase: 'left' });
    expect(restored!.losses.map((point) => point.step)).toEqual([1, 2, 3]);
  });
});
