// Evaluation metrics for the WordNet tasks, SQuAD style: answer normalisation, exact match against
// every accepted answer, token-level F1, and the two floor baselines a trained model must beat
// (majority class from the train split, copy the prompt's input).
import { InputError } from '../errors';
import { acceptedAnswers, type TaskRecord } from './task';

/** Lower case, drop punctuation and symbols, drop the articles a/an/the, collapse and trim whitespace. */
export function normalizeAnswer(text: string): string {
  return text
    .toLowerCase()
    .replace(/[\p{P}\p{S}]/gu, '')
    .replace(/\b(a|an|the)\b/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

/** 1 when the normalised prediction equals one of the normalised answers, else 0. */
export function exactMatch(prediction: string, answers: readonly string[]): number {
  const normalized = normalizeAnswer(prediction);
  return answers.some((answer) => normalizeAnswer(answer) === normalized) ? 1 : 0;
}

function tokenF1Single(prediction: string, reference: string): number {
  const predicted = normalizeAnswer(prediction).split(' ').filter(Boolean);
  const expected = normalizeAnswer(reference).split(' ').filter(Boolean);
  if (predicted.length === 0 || expected.length === 0) return predicted.length === expected.length ? 1 : 0;
  const remaining = new Map<string, number>();
  for (const token of expected) remaining.set(token, (remaining.get(token) ?? 0) + 1);
  let common = 0;
  for (const token of predicted) {
    const left = remaining.get(token) ?? 0;
    if (left > 0) {
      common++;
      remaining.set(token, left - 1);
    }
  }
  if (common === 0) return 0;
  const precision = common / predicted.length;
  const recall = common / expected.length;
  return (2 * precision * recall) / (precision + recall);
}

/** Token F1 of the bags of normalised tokens, the best over the accepted answers. */
export function tokenF1(prediction: string, answers: readonly string[]): number {
  return Math.max(0, ...answers.map((answer) => tokenF1Single(prediction, answer)));
}

/** Mean scores of a set of predictions. */
export interface TaskScores {
  count: number;
  exactMatch: number;
  f1: number;
}

/** Scores predictions[i] against records[i]'s accepted answers. */
export function scorePredictions(records: readonly TaskRecord[], predictions: readonly string[]): TaskScores {
  if (records.length !== predictions.length) {
    throw new InputError(
      `scorePredictions: ${predictions.length} predictions for ${records.length} records; pass one prediction per record, in order.`,
    );
  }
  let em = 0;
  let f1 = 0;
  records.forEach((record, i) => {
    const answers = acceptedAnswers(record);
    em += exactMatch(predictions[i], answers);
    f1 += tokenF1(predictions[i], answers);
  });
  const n = Math.max(records.length, 1);
  return { count: records.length, exactMatch: em / n, f1: f1 / n };
}

/** The most frequent of the values (ties: the alphabetically first); values must not be empty. */
export function mostFrequentValue(values: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const value of values) counts.set(value, (counts.get(value) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0][0];
}

/** The most frequent train output (normalised; ties: the smallest string), predicted for every record. */
export function majorityClassBaseline(
  train: readonly TaskRecord[],
  evaluated: readonly TaskRecord[],
): TaskScores {
  if (train.length === 0)
    throw new InputError('majorityClassBaseline: the train split is empty; pass its records.');
  const majority = mostFrequentValue(train.map((record) => normalizeAnswer(record.output)));
  return scorePredictions(
    evaluated,
    evaluated.map(() => majority),
  );
}

/** Predicts the prompt's input (the word itself) for every record. */
export function copyPromptBaseline(evaluated: readonly TaskRecord[]): TaskScores {
  return scorePredictions(
    evaluated,
    evaluated.map((r) => r.input),
  );
}
