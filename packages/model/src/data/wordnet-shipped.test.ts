// Checks the shipped dataset in public/datasets/wordnet/: lemma-disjoint splits, consistent answers,
// a pretraining corpus without held-out answers, and corpus-word tasks about words it defines. Reads the files only (no WordNet install needed).
import { readFileSync, statSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseTaskJsonl, SPLITS, type SplitName, TASKS, type TaskRecord } from './task';
import { CORPUS_WORD_TASKS } from './wordnet-dataset';

const dir = new URL('../../../../public/datasets/wordnet/', import.meta.url);
const read = (name: string) => readFileSync(new URL(name, dir), 'utf8');
const manifest = JSON.parse(read('manifest.json'));
const data = Object.fromEntries(
  TASKS.map((task) => [
    task,
    Object.fromEntries(
      SPLITS.map((split) => [split, parseTaskJsonl(read(`${task}/${split}.jsonl`), `${task}/${split}`)]),
    ),
  ]),
) as Record<string, Record<SplitName, TaskRecord[]>>;
const all = TASKS.flatMap((task) => SPLITS.flatMap((split) => data[task][split].map((r) => ({ split, r }))));

/** Each corpus line: its head words and its definition (without the final period). */
function corpusEntries(text: string) {
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const colon = line.indexOf(': ');
      const example = line.indexOf(' example: ');
      const definition = line.slice(colon + 2, example < 0 ? undefined : example);
      return { line, words: line.slice(0, colon).split(', '), definition: definition.replace(/\.$/, '') };
    });
}

describe('shipped WordNet dataset', () => {
  it('has the record counts of the manifest, unique ids and the output among the answers', () => {
    for (const task of TASKS) {
      for (const split of SPLITS) {
        const records = data[task][split];
        expect(records.length, `${task}/${split}`).toBe(manifest.records[task][split]);
        // antonym keeps only adjectives corpus.txt defines: a few hundred pairs.
        const least = task === 'antonym' ? { train: 500, held: 50 } : { train: 2000, held: 250 };
        expect(records.length).toBeGreaterThan(split === 'train' ? least.train : least.held);
        expect(new Set(records.map((r) => r.id)).size).toBe(records.length);
        for (const r of records) {
          expect(r.task).toBe(task);
          expect(r.input).toBe(r.lemma);
          if (r.answers) expect(r.answers[0]).toBe(r.output);
        }
      }
    }
  });

  it('puts each lemma in one split across define and in one split across the corpus-word tasks', () => {
    for (const tasks of [['define'], CORPUS_WORD_TASKS]) {
      const splitOf = new Map<string, SplitName>();
      for (const { split, r } of all.filter(({ r }) => tasks.includes(r.task))) {
        expect(splitOf.get(r.lemma) ?? split, `${r.id} in ${split}`).toBe(split);
        splitOf.set(r.lemma, split);
      }
    }
    for (const task of TASKS) {
      const [train, validation, test] = SPLITS.map((split) => data[task][split].map((r) => r.lemma));
      const shared = (a: string[], b: string[]) => a.filter((lemma) => b.includes(lemma));
      expect([shared(train, validation), shared(train, test), shared(validation, test)]).toEqual([
        [],
        [],
        [],
      ]);
    }
    // No antonym pair and no define answer crosses splits.
    for (const split of SPLITS) {
      const lemmas = new Set(data.antonym[split].map((r) => r.lemma));
      const otherSplits = SPLITS.filter((s) => s !== split).flatMap((s) =>
        data.antonym[s].map((r) => r.lemma),
      );
      for (const r of data.antonym[split]) {
        for (const answer of r.answers!)
          expect(otherSplits.includes(answer), `${r.id} -> ${answer}`).toBe(false);
      }
      expect(lemmas.size).toBe(data.antonym[split].length);
    }
    const trainDefinitions = new Set(data.define.train.map((r) => r.output));
    for (const r of [...data.define.validation, ...data.define.test])
      expect(trainDefinitions.has(r.output)).toBe(false);
  });

  it('asks the corpus-word tasks about words corpus.txt defines, never beside a held-out answer', () => {
    const entries = corpusEntries(read('corpus.txt'));
    const definedWords = new Set(entries.flatMap((e) => e.words.map((w) => w.toLowerCase())));
    for (const task of CORPUS_WORD_TASKS) {
      for (const split of SPLITS) {
        for (const r of data[task][split]) expect(definedWords.has(r.lemma), r.id).toBe(true);
      }
    }
    const normal = (text: string) =>
      ` ${text
        .toLowerCase()
        .split(/[^a-z0-9']+/)
        .filter(Boolean)
        .join(' ')} `;
    const lines = entries.map((e) => normal(e.line));
    for (const task of ['hypernym', 'antonym']) {
      for (const r of [...data[task].validation, ...data[task].test]) {
        for (const answer of r.answers!) {
          const paired = lines.some((line) => line.includes(` ${r.lemma} `) && line.includes(normal(answer)));
          expect(paired, `${r.id} -> ${answer}`).toBe(false);
        }
      }
    }
  });

  it("keeps define's held-out lemmas and definitions out of the corpora", () => {
    const train = corpusEntries(read('corpus.txt'));
    const valid = corpusEntries(read('corpus-valid.txt'));
    const lemmasOf = (splits: SplitName[]) =>
      new Set(splits.flatMap((split) => data.define[split].map((r) => r.lemma)));
    const definitionsOf = (splits: SplitName[]) =>
      new Set(splits.flatMap((split) => data.define[split].map((r) => r.output)));
    const checks = [
      { entries: train, held: ['validation', 'test'] as SplitName[] },
      { entries: valid, held: ['test'] as SplitName[] },
    ];
    for (const { entries, held } of checks) {
      const lemmas = lemmasOf(held);
      const definitions = definitionsOf(held);
      for (const { line, words, definition } of entries) {
        expect(
          words.some((w) => lemmas.has(w.toLowerCase())),
          line,
        ).toBe(false);
        expect(definitions.has(definition), line).toBe(false);
      }
      // A held-out definition of 5 words or more does not occur anywhere, not even inside another line.
      const words = (text: string) =>
        ` ${text
          .split(/[^A-Za-z0-9']+/)
          .filter(Boolean)
          .join(' ')} `;
      const text = words(entries.map((e) => e.line).join(' '));
      for (const definition of definitions) {
        if (words(definition).trim().split(' ').length >= 5)
          expect(text.includes(words(definition)), definition).toBe(false);
      }
    }
    const trainLines = new Set(train.map((e) => e.line));
    expect(valid.some((e) => trainLines.has(e.line))).toBe(false);
    expect(valid.length).toBeGreaterThan(500);
    expect(train.length).toBeGreaterThan(5000);
  });

  it('stays small', () => {
    const files = [
      'corpus.txt',
      'corpus-valid.txt',
      ...TASKS.flatMap((t) => SPLITS.map((s) => `${t}/${s}.jsonl`)),
    ];
    const bytes = files.reduce((sum, f) => sum + statSync(new URL(f, dir)).size, 0);
    expect(bytes).toBeLessThan(6_000_000);
  });
});
