// The instruction-tuning task records of the WordNet dataset (public/datasets/wordnet/<task>/<split>.jsonl):
// their type, the task and split names, and an isomorphic JSONL reader and writer.
import { FormatError } from '../errors';

/** The tasks; each has train / validation / test splits that share no lemma. */
export const TASKS = ['define', 'category', 'hypernym', 'pos', 'antonym'] as const;
export type TaskName = (typeof TASKS)[number];

export const SPLITS = ['train', 'validation', 'test'] as const;
export type SplitName = (typeof SPLITS)[number];

/** One example. `answers` (when present) lists every accepted answer, `output` first. */
export interface TaskRecord {
  id: string; // `${task}:${lemma}`: one record per lemma and task
  task: TaskName;
  lemma: string;
  input: string; // the text that fills the prompt's input slot
  output: string; // the reference response
  answers?: string[];
  category: string; // WordNet lexicographer file of the sense the record is about, e.g. noun.animal
}

/** Writes records as compact JSONL with a fixed key order (one record per line, trailing newline). */
export function serializeTaskJsonl(records: readonly TaskRecord[]): string {
  return records
    .map((r) => {
      const { id, task, lemma, input, output, answers, category } = r;
      return `${JSON.stringify(answers ? { id, task, lemma, input, output, answers, category } : { id, task, lemma, input, output, category })}\n`;
    })
    .join('');
}

const STRING_FIELDS = ['id', 'task', 'lemma', 'input', 'output', 'category'] as const;

/** Parses and validates a task JSONL file; errors name the line and the field. Blank lines are skipped. */
export function parseTaskJsonl(text: string, source = 'task JSONL'): TaskRecord[] {
  const records: TaskRecord[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    const where = `${source} line ${i + 1}`;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      throw new FormatError(
        `${where}: not valid JSON (${(error as Error).message}); each line must be one record.`,
      );
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new FormatError(`${where}: expected a JSON object with ${STRING_FIELDS.join(', ')}.`);
    }
    const record = value as Record<string, unknown>;
    for (const field of STRING_FIELDS) {
      if (typeof record[field] !== 'string' || record[field] === '') {
        throw new FormatError(`${where}: field '${field}' must be a non-empty string.`);
      }
    }
    if (!(TASKS as readonly string[]).includes(record.task as string)) {
      throw new FormatError(`${where}: task '${record.task}' is not one of ${TASKS.join(', ')}.`);
    }
    const answers = record.answers;
    if (
      answers !== undefined &&
      (!Array.isArray(answers) || answers.length === 0 || answers.some((a) => typeof a !== 'string'))
    ) {
      throw new FormatError(`${where}: field 'answers' must be a non-empty array of strings when present.`);
    }
    const { id, task, lemma, input, output, category } = record as unknown as TaskRecord;
    records.push(
      answers
        ? { id, task, lemma, input, output, answers: answers as string[], category }
        : { id, task, lemma, input, output, category },
    );
  });
  return records;
}

/** The accepted answers of a record: `answers` when present, else just `output`. */
export function acceptedAnswers(record: TaskRecord): string[] {
  return record.answers ?? [record.output];
}
