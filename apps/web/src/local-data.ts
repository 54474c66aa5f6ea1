// The volunteer's local training data and the batches of one local step. The data is either the
// shard of a public WordNet train split that the server assigns in the hello ack (cut out with
// @prufed/model's clientShard, as the headless volunteer does) or the volunteer's own JSONL file of
// instruction/response pairs, which stays in this browser and is used whole. A step draws batchSize
// examples with the round's seeded Rng, as `prufed volunteer` does.
//
// B batch, T tokens.
import { type DataAssignment, describeData, shardPartition, type TrainConfig } from '@prufed/fl';
import {
  type Batch,
  clientShard,
  encodeInstruction,
  FormatError,
  formatPrompt,
  type InstructionTokenizer,
  makeBatch,
  parseTaskJsonl,
  promptFor,
  type Rng,
} from '@prufed/model';

/** One training example: the prompt (everything before the response) and the response. */
export interface InstructionPair {
  prompt: string;
  response: string;
}

export interface LocalData {
  /** Shown to the volunteer: where the examples come from. */
  source: string;
  /** True for the volunteer's own file (kept in IndexedDB, never uploaded). */
  own: boolean;
  examples: InstructionPair[];
}

/** The assigned shard of the public split whose JSONL text is `jsonl`. */
export function assignedData(jsonl: string, assignment: DataAssignment): LocalData {
  const records = parseTaskJsonl(jsonl, assignment.url);
  const { shard } = assignment;
  const mine = shard ? clientShard(records, shard.index, shardPartition(shard)) : records;
  return {
    source: `public WordNet data, ${describeData(assignment)}`,
    own: false,
    examples: mine.map((record) => ({ prompt: promptFor(record), response: record.output })),
  };
}

function nonEmptyString(value: unknown): value is string {
  return typeof value === 'string' && value.trim() !== '';
}

/**
 * Parses the volunteer's own JSONL: one object per line with `instruction` and `response`
 * (optionally `input`), or a PruFed task record (`task`, `input`, `output`). Blank lines are skipped;
 * an error names the line and says what a line must hold.
 */
export function parseOwnJsonl(text: string, fileName: string): LocalData {
  const examples: InstructionPair[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    const where = `${fileName} line ${i + 1}`;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      throw new FormatError(`${where} is not JSON (${(error as Error).message}); write one object per line`);
    }
    const row = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
    if (nonEmptyString(row.instruction) && nonEmptyString(row.response)) {
      const input = typeof row.input === 'string' ? row.input : '';
      examples.push({ prompt: formatPrompt(row.instruction, input), response: row.response });
    } else if (nonEmptyString(row.task) && nonEmptyString(row.output)) {
      const [record] = parseTaskJsonl(line, where);
      examples.push({ prompt: promptFor(record), response: record.output });
    } else {
      throw new FormatError(
        `${where} needs non-empty "instruction" and "response" strings (and optionally "input"), e.g. ` +
          '{"instruction": "Define the word.", "input": "lively", "response": "full of life"}',
      );
    }
  });
  if (examples.length === 0) {
    throw new FormatError(`${fileName} holds no examples; give at least one line of JSON`);
  }
  return { source: `your file ${fileName} (stays in this browser)`, own: true, examples };
}

/** The batch of one local step: batchSize examples drawn uniformly with `rng`, cut to seqLen tokens. */
export function stepBatch(
  data: LocalData,
  tokenizer: InstructionTokenizer,
  train: TrainConfig,
  rng: Rng,
): Batch {
  const { examples } = data;
  const encoded = Array.from({ length: train.batchSize }, () => {
    const { prompt, response } = examples[Math.floor(rng.uniform() * examples.length)];
    return encodeInstruction(tokenizer, prompt, response, train.seqLen);
  });
  return makeBatch(
    encoded.map((example) => example.inputIds), // (B, T)
    encoded.map((example) => example.labels), // (B, T)
    tokenizer.padId,
  );
}
