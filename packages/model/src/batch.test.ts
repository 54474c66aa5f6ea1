import { describe, expect, it } from 'vitest';
import { makeBatch, parseBatchJson } from './batch';
import { InputError } from './errors';

describe('parseBatchJson', () => {
  it('reads input_ids and labels row-major', () => {
    const batch = parseBatchJson(
      {
        input_ids: [
          [1, 2, 3],
          [4, 5, 6],
        ],
        labels: [
          [-100, 2, 3],
          [4, -100, 6],
        ],
      },
      10,
    );
    expect(batch.batchSize).toBe(2);
    expect(batch.seqLen).toBe(3);
    expect(Array.from(batch.inputIds)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(Array.from(batch.labels)).toEqual([-100, 2, 3, 4, -100, 6]);
  });

  it('copies input_ids into labels when labels are absent', () => {
    const batch = parseBatchJson({ input_ids: [[7, 0, 9]] }, 10);
    expect(Array.from(batch.labels)).toEqual([7, 0, 9]);
  });

  it('masks labels where attention_mask is 0', () => {
    const batch = parseBatchJson(
      {
        input_ids: [
          [1, 2, 0],
          [3, 0, 0],
        ],
        attention_mask: [
          [1, 1, 0],
          [1, 0, 0],
        ],
      },
      5,
    );
    expect(Array.from(batch.inputIds)).toEqual([1, 2, 0, 3, 0, 0]);
    expect(Array.from(batch.labels)).toEqual([1, 2, -100, 3, -100, -100]);
  });

  const errors: [string, unknown, RegExp][] = [
    ['not an object', [[1, 2]], /must be a JSON object/],
    ['null', null, /must be a JSON object/],
    ['missing input_ids', { labels: [[1]] }, /"input_ids" must be a non-empty list/],
    ['empty batch', { input_ids: [] }, /"input_ids" must be a non-empty list/],
    ['flat row', { input_ids: [1, 2] }, /row 0 is not a list/],
    ['empty row', { input_ids: [[]] }, /row 0 is empty/],
    ['ragged rows', { input_ids: [[1, 2], [3, 4], [5]] }, /row 0 has 2 tokens, row 2 has 1/],
    [
      'labels with fewer rows',
      { input_ids: [[1], [2]], labels: [[1]] },
      /"labels" has shape \[1, 1\].*\[2, 1\]/,
    ],
    ['labels of other length', { input_ids: [[1, 2]], labels: [[1, 2, 3]] }, /"labels" has shape \[1, 3\]/],
    ['non-integer id', { input_ids: [[1, 2.5]] }, /row 0 column 1 is 2.5, not an integer/],
    ['string id', { input_ids: [[1, '2']] }, /row 0 column 1 is "2", not an integer/],
    [
      'negative id',
      { input_ids: [[1], [-1]] },
      /"input_ids" row 1 column 0 is -1, outside the vocabulary \[0, 10\)/,
    ],
    ['id equal to vocab', { input_ids: [[1, 10]] }, /row 0 column 1 is 10, outside the vocabulary \[0, 10\)/],
    ['label out of range', { input_ids: [[1, 2]], labels: [[1, 12]] }, /"labels" row 0 column 1 is 12/],
    [
      'negative label other than -100',
      { input_ids: [[1, 2]], labels: [[-1, 2]] },
      /"labels" row 0 column 0 is -1/,
    ],
    ['mask of wrong shape', { input_ids: [[1, 2]], attention_mask: [[1]] }, /"attention_mask" has shape/],
    [
      'mask value 2',
      { input_ids: [[1, 2]], attention_mask: [[1, 2]] },
      /"attention_mask" row 0 column 1 is 2/,
    ],
  ];
  for (const [name, json, message] of errors) {
    it(`rejects ${name}`, () => {
      expect(() => parseBatchJson(json, 10)).toThrow(InputError);
      expect(() => parseBatchJson(json, 10)).toThrow(message);
    });
  }
});

describe('makeBatch', () => {
  it('right-pads ragged rows with padId and label -100', () => {
    const batch = makeBatch([[5, 6], [7, 8, 9], [4]], [[-100, 6], [7, 8, 9], [4]], 0);
    expect(batch.batchSize).toBe(3);
    expect(batch.seqLen).toBe(3);
    expect(Array.from(batch.inputIds)).toEqual([5, 6, 0, 7, 8, 9, 4, 0, 0]);
    expect(Array.from(batch.labels)).toEqual([-100, 6, -100, 7, 8, 9, 4, -100, -100]);
  });

  it('rejects bad arguments', () => {
    expect(() => makeBatch([], [], 0)).toThrow(/at least one row/);
    expect(() => makeBatch([[1]], [], 0)).toThrow(/1 rows but 0 label rows/);
    expect(() => makeBatch([[1, 2]], [[1]], 0)).toThrow(/row 0 has 2 tokens but 1 labels/);
    expect(() => makeBatch([[1]], [[1]], -1)).toThrow(/pad id -1/);
    expect(() => makeBatch([[]], [[]], 0)).toThrow(/only empty rows/);
    expect(() => makeBatch([[1.5]], [[1]], 0)).toThrow(/row 0 column 0 holds a non-integer/);
  });
});
