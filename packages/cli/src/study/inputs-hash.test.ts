import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { studyInputsSha256 } from './inputs-hash';

describe('studyInputsSha256', () => {
  it('changes with the weights and with any split file of the tasks read, and only then', async () => {
    const root = mkdtempSync(path.join(tmpdir(), 'prufed-inputs-'));
    const model = path.join(root, 'model');
    const data = path.join(root, 'data');
    mkdirSync(model);
    for (const task of ['pos', 'define']) {
      mkdirSync(path.join(data, task), { recursive: true });
      for (const split of ['train', 'validation', 'test'])
        writeFileSync(path.join(data, task, `${split}.jsonl`), `${task} ${split}\n`);
    }
    writeFileSync(path.join(model, 'model.safetensors'), 'weights v1');
    const first = await studyInputsSha256(model, data, ['pos']);
    expect(await studyInputsSha256(model, data, ['pos'])).toEqual(first);
    writeFileSync(path.join(data, 'define', 'test.jsonl'), 'another define\n'); // a task not read
    expect(await studyInputsSha256(model, data, ['pos'])).toEqual(first);
    writeFileSync(path.join(data, 'pos', 'test.jsonl'), 'rebuilt\n');
    const rebuilt = await studyInputsSha256(model, data, ['pos']);
    expect(rebuilt.dataSha256).not.toBe(first.dataSha256);
    expect(rebuilt.weightsSha256).toBe(first.weightsSha256);
    writeFileSync(path.join(model, 'model.safetensors'), 'weights v2');
    expect((await studyInputsSha256(model, data, ['pos'])).weightsSha256).not.toBe(first.weightsSha256);
  });
});
