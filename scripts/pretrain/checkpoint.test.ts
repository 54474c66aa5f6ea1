import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadCheckpoint, type PretrainState, saveCheckpoint, sittingFlags } from './checkpoint';

describe('pretraining checkpoints', () => {
  const dir = mkdtempSync(join(os.tmpdir(), 'prufed-checkpoint-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("keeps a sitting's flags without the paths, in both spellings", () => {
    expect(
      sittingFlags(['--out', '/a/b', '--copy-rows', '0.2', '--model-out=/c', '--total-steps', '14000']),
    ).toBe('--copy-rows 0.2 --total-steps 14000');
    expect(sittingFlags(['--fresh', '--epochs', '8', '--corpus', 'x.txt', '--valid=y.txt'])).toBe(
      '--fresh --epochs 8',
    );
  });

  it('round-trips weights, moments and the state with its sittings', () => {
    const state = {
      format: 'prufed-pretrain-checkpoint',
      version: 1,
      step: 12,
      sittings: [
        { fromStep: 0, toStep: 8, flags: '--fresh --epochs 8' },
        { fromStep: 8, toStep: 12, flags: '--copy-rows 1' },
      ],
    } as unknown as PretrainState;
    const file = join(dir, 'checkpoint.safetensors');
    const arrays = [
      new Float32Array([1, 2, 3]),
      new Float32Array([0.5, 0, 0]),
      new Float32Array([0, 0, 0.25]),
    ];
    saveCheckpoint(file, { state, params: arrays[0], m: arrays[1], v: arrays[2] });
    const loaded = loadCheckpoint(file);
    expect(loaded.state).toEqual(state);
    expect([loaded.params, loaded.m, loaded.v]).toEqual(arrays);
  });
});
