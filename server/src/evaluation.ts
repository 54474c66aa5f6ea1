// Server-side evaluation of each round's new globals, off the round loop: after a round is committed
// and round:end has gone out, every tier's global (base weights of its kept layers + its adapter
// slice, merged and exported to ONNX) runs on onnxruntime-node's CPU provider over the first N
// records of the data task's validation split: the loss on the response tokens (instruction format)
// and the task metric of greedy answers (exact match over the accepted answers; token F1 for define).
// Results are stored per round and tier and the dashboards get a fresh snapshot as each lands. One
// round is evaluated at a time; a round that finishes meanwhile waits in a single slot, and a newer
// one replaces it (the older is skipped and logged), so evaluation never holds up the rounds.
// Records go through the model a few at a time: onnxruntime-node runs each call on the main thread,
// so small calls keep the event loop (sockets, HTTP) responsive between them.
import type { Tier } from '@prufed/fl';
import {
  encodeRecord,
  InputError,
  instructionTokenizer,
  noRepeatNgram,
  type PrufedTokenizer,
  padInstructionBatch,
  primaryMetric,
  promptFor,
  scorePredictions,
  type TaskName,
  type TaskRecord,
} from '@prufed/model';
import { batchLoss, greedyDecodeBatch, type LogitsFunction } from '@prufed/onnx';
import { createNodeSession, onnxLogitsNode } from '@prufed/onnx/node';
import type { OnnxModels } from './onnx-models';
import type { Store, TierEvaluation } from './store';
import type { TierPlan } from './tiers';

/** Records per model call: small enough that one call holds the event loop only briefly. */
const evalBatchSize = 4;

export interface EvaluationData {
  task: TaskName;
  /** The validation records evaluated, the same every round. */
  records: TaskRecord[];
  tokenizer: PrufedTokenizer;
  /** Tokens per example after truncation, prompt and generated answer included (the training seqLen). */
  maxLength: number;
  maxNewTokens: number;
}

export interface EvaluatorOptions {
  models: OnnxModels;
  tierPlan: TierPlan;
  store: Store;
  data: EvaluationData;
  log: (line: string) => void;
  /** Called after each tier's result is stored (the coordinator sends the dashboards a snapshot). */
  onResult: (evaluation: TierEvaluation) => void;
  /** Awaited before each tier's evaluation; tests make evaluation slow with it. */
  beforeEvaluation?: (round: number, tier: Tier) => Promise<void>;
}

export interface EvaluatorStatus {
  /** The round being evaluated, or null. */
  running: number | null;
  /** The round waiting for the running one to finish, or null. */
  pending: number | null;
  /** Rounds a newer round replaced before their turn came. */
  skipped: number[];
}

/** The metric of a task (its primaryMetric): token F1 for glosses, exact match for the short answers. */
export function taskMetric(task: TaskName): TierEvaluation['metric'] {
  return primaryMetric[task] === 'f1' ? 'token_f1' : 'exact_match';
}

/** Loss and metric of one model (its logits function) on the evaluation data. */
export async function evaluateModel(
  logits: LogitsFunction,
  data: EvaluationData,
): Promise<Pick<TierEvaluation, 'samples' | 'loss' | 'metric' | 'value'>> {
  const tokenizer = instructionTokenizer(data.tokenizer);
  let sum = 0;
  let tokens = 0;
  const predictions: string[] = [];
  for (let start = 0; start < data.records.length; start += evalBatchSize) {
    const records = data.records.slice(start, start + evalBatchSize);
    const padded = padInstructionBatch(
      records.map((record) => encodeRecord(tokenizer, record, data.maxLength)),
      tokenizer.padId,
    );
    const result = await batchLoss(logits, {
      batchSize: padded.batch,
      seqLen: padded.tokens,
      inputIds: padded.inputIds,
      labels: padded.labels,
    });
    sum += result.loss * result.tokens;
    tokens += result.tokens;
    const bos = tokenizer.bosId === undefined ? [] : [tokenizer.bosId];
    const prompts = records.map((record) => [...bos, ...tokenizer.encode(promptFor(record))]);
    const answers = await greedyDecodeBatch(logits, prompts, {
      maxNewTokens: data.maxNewTokens,
      eosId: tokenizer.eosId,
      padId: tokenizer.padId,
      maxLength: data.maxLength,
      noRepeatNgram: noRepeatNgram[data.task],
    });
    for (const answer of answers) {
      predictions.push(data.tokenizer.decode(answer, { skipSpecialTokens: true }).trim());
    }
  }
  const scores = scorePredictions(data.records, predictions);
  const metric = taskMetric(data.task);
  return {
    samples: data.records.length,
    loss: sum / tokens,
    metric,
    value: metric === 'token_f1' ? scores.f1 : scores.exactMatch,
  };
}

export class Evaluator {
  private running: number | null = null;
  private pending: number | null = null;
  private readonly skipped: number[] = [];
  private loop: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(private readonly options: EvaluatorOptions) {}

  /** Evaluates `round` (just committed) once the round in progress, if any, is done. */
  schedule(round: number): void {
    if (this.stopped) return;
    if (this.running === null) {
      this.loop = this.drain(round);
      return;
    }
    if (this.pending !== null) {
      this.skipped.push(this.pending);
      this.options.log(
        `prufed: evaluation of round ${this.pending} skipped: round ${round} finished while round ${this.running} was still being evaluated`,
      );
    }
    this.pending = round;
  }

  status(): EvaluatorStatus {
    return { running: this.running, pending: this.pending, skipped: [...this.skipped] };
  }

  /** Resolves when no evaluation is running or waiting. */
  idle(): Promise<void> {
    return this.loop;
  }

  /** Drops the waiting round; resolves when the running tier's evaluation is done. */
  stop(): Promise<void> {
    this.stopped = true;
    this.pending = null;
    return this.loop;
  }

  private async drain(first: number): Promise<void> {
    this.running = first;
    // Let the round loop's pending I/O (round:end, the next round:start) go first.
    await new Promise((resolve) => setImmediate(resolve));
    let round: number | null = first;
    while (round !== null && !this.stopped) {
      this.running = round;
      await this.evaluateRound(round);
      round = this.pending;
      this.pending = null;
    }
    this.running = null;
  }

  private async evaluateRound(round: number): Promise<void> {
    for (const tier of this.options.tierPlan.enabled) {
      if (this.stopped) return;
      try {
        await this.options.beforeEvaluation?.(round, tier);
        const evaluation = await this.evaluateTier(round, tier);
        if (this.stopped) return;
        this.options.store.recordEvaluation(evaluation);
        this.options.log(
          `prufed: round ${round} tier ${tier} evaluated on ${evaluation.samples} validation records in ${evaluation.ms.toFixed(0)} ms: loss ${evaluation.loss.toFixed(4)}, ${evaluation.metric} ${evaluation.value.toFixed(3)}`,
        );
        this.options.onResult(evaluation);
      } catch (error) {
        this.options.log(
          `prufed: evaluation of round ${round} tier ${tier} failed: ${(error as Error).stack ?? String(error)}`,
        );
      }
    }
  }

  private async evaluateTier(round: number, tier: Tier): Promise<TierEvaluation> {
    const started = performance.now();
    const model = await this.options.models.model(round, tier);
    if (model === undefined) throw new InputError(`round ${round} is not in the store`);
    const session = await createNodeSession(model.bytes);
    try {
      const result = await evaluateModel(
        (inputIds, B, T) => onnxLogitsNode(session, inputIds, B, T),
        this.options.data,
      );
      if (!Number.isFinite(result.loss)) {
        throw new InputError(
          `the validation loss is ${result.loss}; the records leave no response token within seqLen ${this.options.data.maxLength}`,
        );
      }
      return { round, tier, ...result, ms: performance.now() - started };
    } finally {
      await session.release();
    }
  }
}
