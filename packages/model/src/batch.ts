// Tokenised batches: parse the batch JSON a researcher or tool supplies
// ({"input_ids": [[...]], "labels": [[...]], "attention_mask": [[...]]}) and build right-padded
// batches for data pipelines. Dimension letters: B batch, T tokens.
import type { Batch } from './engine';
import { InputError } from './errors';

/** HF convention: a label that takes no part in the loss. */
const ignoredLabel = -100;

/** Checks that `value` is a non-empty list of non-empty integer rows of one length; returns it typed. */
function integerMatrix(value: unknown, field: string): number[][] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new InputError(`"${field}" must be a non-empty list of rows of token ids, e.g. [[1, 2, 3]]`);
  }
  for (let b = 0; b < value.length; b++) {
    const row: unknown = value[b];
    if (!Array.isArray(row)) {
      throw new InputError(
        `"${field}" row ${b} is not a list; "${field}" must be a list of rows, e.g. [[1, 2, 3]] for one sequence`,
      );
    }
    if (row.length === 0)
      throw new InputError(`"${field}" row ${b} is empty; every row needs at least one token`);
    if (row.length !== value[0].length) {
      throw new InputError(
        `"${field}" rows differ in length: row 0 has ${value[0].length} tokens, row ${b} has ${row.length}; ` +
          'pad every row to one length (with "attention_mask" 0 on the padding)',
      );
    }
    for (let t = 0; t < row.length; t++) {
      if (!Number.isInteger(row[t])) {
        throw new InputError(
          `"${field}" row ${b} column ${t} is ${JSON.stringify(row[t])}, not an integer; token ids must be integers`,
        );
      }
    }
  }
  return value as number[][];
}

function checkSameShape(rows: number[][], other: number[][], field: string): void {
  if (other.length !== rows.length || other[0].length !== rows[0].length) {
    throw new InputError(
      `"${field}" has shape [${other.length}, ${other[0].length}] but "input_ids" has shape ` +
        `[${rows.length}, ${rows[0].length}]; they must match position for position`,
    );
  }
}

/** Parses and validates a batch JSON object against a vocabulary of `vocabSize` tokens. */
export function parseBatchJson(json: unknown, vocabSize: number): Batch {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new InputError('a batch must be a JSON object {"input_ids": [[...]], "labels": [[...]]}');
  }
  const fields = json as Record<string, unknown>;
  const inputIds = integerMatrix(fields.input_ids, 'input_ids');
  const labels = fields.labels === undefined ? inputIds : integerMatrix(fields.labels, 'labels');
  checkSameShape(inputIds, labels, 'labels');
  const mask =
    fields.attention_mask === undefined ? null : integerMatrix(fields.attention_mask, 'attention_mask');
  if (mask) checkSameShape(inputIds, mask, 'attention_mask');

  const B = inputIds.length;
  const T = inputIds[0].length;
  const batch: Batch = {
    batchSize: B,
    seqLen: T,
    inputIds: new Int32Array(B * T), // (B, T)
    labels: new Int32Array(B * T), // (B, T)
  };
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const id = inputIds[b][t];
      if (id < 0 || id >= vocabSize) {
        throw new InputError(
          `"input_ids" row ${b} column ${t} is ${id}, outside the vocabulary [0, ${vocabSize}); ` +
            "tokenise with this model's tokenizer",
        );
      }
      const label = labels[b][t];
      if (label !== ignoredLabel && (label < 0 || label >= vocabSize)) {
        throw new InputError(
          `"labels" row ${b} column ${t} is ${label}; a label is ${ignoredLabel} (ignored) or a token id in [0, ${vocabSize})`,
        );
      }
      const keep = mask ? mask[b][t] : 1;
      if (keep !== 0 && keep !== 1) {
        throw new InputError(
          `"attention_mask" row ${b} column ${t} is ${keep}; use 1 for tokens and 0 for padding`,
        );
      }
      batch.inputIds[b * T + t] = id;
      batch.labels[b * T + t] = keep === 1 ? label : ignoredLabel;
    }
  }
  return batch;
}

/**
 * Builds a batch from sequences of different lengths: right-pads each row with `padId` to the
 * longest row; padded positions get label -100. `labels[b]` must be as long as `rows[b]`.
 */
export function makeBatch(rows: number[][], labels: number[][], padId: number): Batch {
  if (rows.length === 0) throw new InputError('makeBatch needs at least one row');
  if (labels.length !== rows.length) {
    throw new InputError(
      `makeBatch got ${rows.length} rows but ${labels.length} label rows; give one label row per row`,
    );
  }
  if (!Number.isInteger(padId) || padId < 0) {
    throw new InputError(`pad id ${padId} is not a token id; use the tokenizer's pad (or eos) token id`);
  }
  const B = rows.length;
  const T = Math.max(...rows.map((row) => row.length));
  if (T === 0) throw new InputError('makeBatch got only empty rows; every batch needs at least one token');
  const batch: Batch = {
    batchSize: B,
    seqLen: T,
    inputIds: new Int32Array(B * T).fill(padId), // (B, T)
    labels: new Int32Array(B * T).fill(ignoredLabel), // (B, T)
  };
  for (let b = 0; b < B; b++) {
    if (labels[b].length !== rows[b].length) {
      throw new InputError(
        `row ${b} has ${rows[b].length} tokens but ${labels[b].length} labels; give one label per token`,
      );
    }
    for (let t = 0; t < rows[b].length; t++) {
      if (!Number.isInteger(rows[b][t]) || !Number.isInteger(labels[b][t])) {
        throw new InputError(
          `row ${b} column ${t} holds a non-integer token id or label; tokenise the text first`,
        );
      }
      batch.inputIds[b * T + t] = rows[b][t];
      batch.labels[b * T + t] = labels[b][t];
    }
  }
  return batch;
}
