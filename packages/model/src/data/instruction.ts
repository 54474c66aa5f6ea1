// The instruction format used for fine-tuning and evaluation: a compact prompt (`Define`, a newline and
// `bank:`; a tiny model learns it fast and every prompt token costs compute in a browser), with labels
// that mask the prompt (Hugging Face's ignore index -100) so the loss covers only the response and
// the end-of-sequence token. Works with any tokenizer that maps text to ids.
//
// B batch, T tokens.
import { InputError } from '../errors';
import type { PrufedTokenizer } from '../tokenizer';
import type { TaskName, TaskRecord } from './task';

/** Label value ignored by the loss (Hugging Face / PyTorch cross-entropy convention). */
export const IGNORE_INDEX = -100;

/** What the format needs from a tokenizer. encode must not add special tokens; BOS is added here when given. */
export interface InstructionTokenizer {
  encode(text: string): number[];
  eosId: number;
  padId: number;
  bosId?: number;
}

/**
 * The instruction-format view of a loaded tokenizer (no special tokens from encode; padding falls back
 * to end-of-sequence). `model` names the model in the error when its tokenizer has no end-of-sequence
 * token, which the format and greedy decoding need.
 */
export function instructionTokenizer(
  tokenizer: PrufedTokenizer,
  model = 'the model',
): InstructionTokenizer & Pick<PrufedTokenizer, 'decode'> {
  const eosId = tokenizer.eosId;
  if (eosId === undefined) {
    throw new InputError(
      `${model}'s tokenizer.json has no end-of-sequence token, which the instruction format and greedy decoding need`,
    );
  }
  return {
    encode: (text) => tokenizer.encode(text, { addSpecialTokens: false }),
    eosId,
    padId: tokenizer.padId ?? eosId,
    bosId: tokenizer.bosId,
    decode: (ids, options) => tokenizer.decode(ids, options),
  };
}

/** The instruction of each task. */
export const TASK_INSTRUCTIONS: Record<TaskName, string> = {
  define: 'Define',
  category: 'Category',
  hypernym: 'Hypernym',
  pos: 'Part of speech',
  antonym: 'Antonym',
};

/**
 * The prompt text, everything before the response: the instruction on its own line, then the input and a
 * colon (`Define` newline `bank:`), as a line of the pretraining corpus starts (`bank: sloping land ...`);
 * with no input, the instruction and a newline.
 */
export function formatPrompt(instruction: string, input: string): string {
  return input.length > 0 ? `${instruction}\n${input}:` : `${instruction}\n`;
}

/**
 * The response as the format writes it after the prompt: a space, then the text. A byte-level BPE joins
 * the space to the first word as in running text, and the input word starts its line without one as in
 * the corpus, so a word and its affixed forms (`excited`, ` unexcited`) share their tokens more often.
 */
export function formatResponse(response: string): string {
  return response.length > 0 ? ` ${response}` : '';
}

/** The prompt of a task record. */
export function promptFor(record: TaskRecord): string {
  return formatPrompt(TASK_INSTRUCTIONS[record.task], record.input);
}

/** One tokenised example; labels[t] is inputIds[t] on response tokens and IGNORE_INDEX on the prompt (unshifted, as in HF). */
export interface InstructionExample {
  inputIds: number[]; // (T)
  labels: number[]; // (T)
}

function checkIds(ids: number[], what: string): number[] {
  if (!Array.isArray(ids) || ids.some((id) => !Number.isInteger(id) || id < 0)) {
    throw new InputError(`${what} must be non-negative integer token ids; check the tokenizer's encode().`);
  }
  return ids;
}

/**
 * Tokenises prompt and response separately (so the mask boundary is exact) and appends EOS.
 * With maxLength the example is cut at the end; a prompt that leaves no room for a response token
 * is an error (raise maxLength or shorten the input).
 */
export function encodeInstruction(
  tokenizer: InstructionTokenizer,
  prompt: string,
  response: string,
  maxLength = Number.POSITIVE_INFINITY,
): InstructionExample {
  const promptIds = [
    ...(tokenizer.bosId === undefined ? [] : [tokenizer.bosId]),
    ...checkIds(tokenizer.encode(prompt), 'encode(prompt)'),
  ];
  const responseIds = [
    ...checkIds(tokenizer.encode(formatResponse(response)), 'encode(response)'),
    tokenizer.eosId,
  ];
  if (promptIds.length >= maxLength) {
    throw new InputError(
      `The prompt has ${promptIds.length} tokens, leaving no room for the response within maxLength ${maxLength}; raise maxLength.`,
    );
  }
  const inputIds = [...promptIds, ...responseIds].slice(0, maxLength);
  const labels = [...promptIds.map(() => IGNORE_INDEX), ...responseIds].slice(0, maxLength);
  return { inputIds, labels };
}

/** Tokenises a task record: its prompt and its reference output. */
export function encodeRecord(
  tokenizer: InstructionTokenizer,
  record: TaskRecord,
  maxLength?: number,
): InstructionExample {
  return encodeInstruction(tokenizer, promptFor(record), record.output, maxLength);
}

/** A right-padded batch, row-major. */
export interface InstructionBatch {
  batch: number; // B
  tokens: number; // T
  inputIds: Int32Array; // (B, T), padId after each example
  labels: Int32Array; // (B, T), IGNORE_INDEX after each example
  attentionMask: Uint8Array; // (B, T), 1 on real tokens
}

/** Pads examples on the right to `tokens` (default: the longest example). */
export function padInstructionBatch(
  examples: readonly InstructionExample[],
  padId: number,
  tokens = Math.max(0, ...examples.map((e) => e.inputIds.length)),
): InstructionBatch {
  const B = examples.length;
  const T = tokens;
  const inputIds = new Int32Array(B * T).fill(padId); // (B, T)
  const labels = new Int32Array(B * T).fill(IGNORE_INDEX); // (B, T)
  const attentionMask = new Uint8Array(B * T); // (B, T)
  examples.forEach((example, b) => {
    if (example.inputIds.length > T) {
      throw new InputError(
        `Example ${b} has ${example.inputIds.length} tokens, more than the batch length ${T}; encode with maxLength ${T}.`,
      );
    }
    inputIds.set(example.inputIds, b * T);
    labels.set(example.labels, b * T);
    attentionMask.fill(1, b * T, b * T + example.inputIds.length);
  });
  return { batch: B, tokens: T, inputIds, labels, attentionMask };
}
