// Builds the WordNet instruction-tuning dataset (public/datasets/wordnet/) from the WordNet 3.0
// database texts: five tasks with lemma-disjoint splits, a pretraining corpus without the held-out
// answers, a manifest and a README. Pure and deterministic (hash splits, seeded shuffles, no
// timestamps), so scripts/build-wordnet.ts reproduces the shipped bytes and tests can check them.
import { FormatError } from '../errors';
import { Rng } from '../rng';
import { copyPromptBaseline, majorityClassBaseline } from './metrics';
import { shuffleInPlace } from './sampling';
import { SPLITS, type SplitName, serializeTaskJsonl, TASKS, type TaskName, type TaskRecord } from './task';
import {
  parseDataFile,
  parseIndexFile,
  parseSenseCounts,
  type SynsetType,
  senseCountKey,
  synsetKey,
  type WordnetPointer,
  type WordnetSynset,
} from './wordnet';

/** The WordNet file texts the build reads (from /usr/share/wordnet, Debian package wordnet-base). */
export interface WordnetSources {
  data: Record<WordnetFilePos, string>; // data.noun ... data.adv
  index: Record<WordnetFilePos, string>; // index.noun ... index.adv
  cntlist: string; // cntlist.rev: semantic-concordance sense counts
}

export const WORDNET_FILE_POS = ['noun', 'verb', 'adj', 'adv'] as const;
export type WordnetFilePos = (typeof WORDNET_FILE_POS)[number];

/** Collects the sources through `read`, which returns the text of a file of the WordNet dict directory. */
export function readWordnetSources(read: (fileName: string) => string): WordnetSources {
  const byPos = (prefix: string) =>
    Object.fromEntries(WORDNET_FILE_POS.map((pos) => [pos, read(`${prefix}.${pos}`)])) as Record<
      WordnetFilePos,
      string
    >;
  return { data: byPos('data'), index: byPos('index'), cntlist: read('cntlist.rev') };
}

/** Every knob of the build; the shipped files were built with WORDNET_BUILD_CONFIG. */
export interface WordnetBuildConfig {
  seed: number;
  /** Percent of lemma groups in validation and in test (the rest is train). */
  validationPercent: number;
  testPercent: number;
  /** Most records kept per task and split: the most frequent lemmas (semantic-concordance counts) win. */
  recordCaps: Record<SplitName, number>;
  /** Most bytes of corpus.txt and corpus-valid.txt: the most frequent synsets win. */
  corpusBytes: { train: number; validation: number };
}

export const WORDNET_BUILD_CONFIG: WordnetBuildConfig = {
  seed: 1234,
  validationPercent: 10,
  testPercent: 10,
  recordCaps: { train: 4000, validation: 500, test: 500 },
  corpusBytes: { train: 1_500_000, validation: 150_000 },
};

const FILE_POS_TYPE: Record<WordnetFilePos, 'n' | 'v' | 'a' | 'r'> = {
  noun: 'n',
  verb: 'v',
  adj: 'a',
  adv: 'r',
};
const POS_NAMES: Record<SynsetType, string> = {
  n: 'noun',
  v: 'verb',
  a: 'adjective',
  s: 'adjective',
  r: 'adverb',
};
/** Lemmas that become task inputs: single words of two or more lower-case letters. */
const TASK_LEMMA = /^[a-z]{2,}$/;

interface Sense {
  synset: WordnetSynset;
  word: number; // 0-based index of the lemma in synset.words
  count: number; // semantic-concordance tag count
}

/** Everything parsed from the sources, keyed for the task builders. */
interface Wordnet {
  synsets: Map<string, WordnetSynset>; // by synsetKey
  senses: Map<string, Sense[]>; // by lower-case lemma: POS order n v a r, then index (frequency) order
}

function loadWordnet(sources: WordnetSources): Wordnet {
  const synsets = new Map<string, WordnetSynset>();
  for (const pos of WORDNET_FILE_POS) {
    for (const synset of parseDataFile(sources.data[pos], `data.${pos}`)) {
      synsets.set(synsetKey(synset.type, synset.offset), synset);
    }
  }
  const counts = parseSenseCounts(sources.cntlist, 'cntlist.rev');
  const senses = new Map<string, Sense[]>();
  for (const pos of WORDNET_FILE_POS) {
    for (const entry of parseIndexFile(sources.index[pos], `index.${pos}`)) {
      const list = senses.get(entry.lemma) ?? [];
      for (const offset of entry.offsets) {
        const synset = synsets.get(synsetKey(FILE_POS_TYPE[pos], offset));
        const word = synset?.words.findIndex((w) => w.lemma.toLowerCase() === entry.lemma) ?? -1;
        if (!synset || word < 0) {
          throw new FormatError(
            `index.${pos}: '${entry.lemma}' points at synset ${offset}, which does not list it; use data and index files of one WordNet 3.0 install.`,
          );
        }
        const { lexFilenum, type } = synset;
        list.push({
          synset,
          word,
          count: counts.get(senseCountKey(entry.lemma, type, lexFilenum, synset.words[word].lexId)) ?? 0,
        });
      }
      senses.set(entry.lemma, list);
    }
  }
  return { synsets, senses };
}

/** The most frequent sense; ties go to the earlier sense (POS order n v a r, then WordNet's order). */
function primarySense(senses: readonly Sense[]): Sense {
  return senses.reduce((best, s) => (s.count > best.count ? s : best));
}

const display = (lemma: string) => lemma.replace(/_/g, ' ');

/** The synset a pointer of `from` leads to. */
function pointerTarget(wordnet: Wordnet, from: WordnetSynset, pointer: WordnetPointer): WordnetSynset {
  const target = wordnet.synsets.get(synsetKey(pointer.pos, pointer.offset));
  if (!target || pointer.targetWord > target.words.length) {
    throw new FormatError(
      `Synset ${from.offset} (${from.words[0].lemma}) has a '${pointer.symbol}' pointer to ${pointer.pos} ${pointer.offset} word ${pointer.targetWord}, which does not exist; use data files of one WordNet 3.0 install.`,
    );
  }
  return target;
}

/** The lemmas a synset's antonym pointers name for its word `word` (0-based). */
function antonymsOf(wordnet: Wordnet, synset: WordnetSynset, word: number): string[] {
  return synset.pointers
    .filter((p) => p.symbol === '!' && p.sourceWord === word + 1)
    .map((p) => pointerTarget(wordnet, synset, p).words[p.targetWord - 1].lemma.toLowerCase());
}

/** Tasks about words that corpus.txt defines: their splits come from a second hash (see buildWordnetDataset). */
export const CORPUS_WORD_TASKS: readonly TaskName[] = ['category', 'hypernym', 'pos', 'antonym'];

/** A lemma's split for the corpus and define, and its split for the CORPUS_WORD_TASKS. */
interface LemmaSplits {
  corpus: SplitName;
  task: SplitName;
}

/**
 * The splits of every lemma. Lemmas are grouped (union-find) when their primary senses share a
 * definition (one synset, or a gloss repeated across synsets), so no definition is both a train
 * output and a held-out answer, and when they are adjective antonyms, so no antonym pair crosses
 * splits. A group's splits come from two seeded hashes of its smallest lemma.
 */
function splitLemmas(wordnet: Wordnet, config: WordnetBuildConfig): Map<string, LemmaSplits> {
  const parent = new Map<string, string>();
  const find = (x: string): string => {
    let root = x;
    while (parent.get(root) !== root) root = parent.get(root)!;
    parent.set(x, root);
    return root;
  };
  const union = (a: string, b: string) => {
    const [low, high] = [find(a), find(b)].sort(); // the root is the smallest lemma
    if (low !== high) parent.set(high, low);
  };
  for (const lemma of wordnet.senses.keys()) parent.set(lemma, lemma);
  const byPrimary = new Map<string, string>(); // primary definition -> a lemma
  for (const [lemma, senses] of wordnet.senses) {
    const { synset } = primarySense(senses);
    const definition = synset.definition || synsetKey(synset.type, synset.offset);
    const other = byPrimary.get(definition);
    if (other === undefined) byPrimary.set(definition, lemma);
    else union(lemma, other);
    for (const sense of senses) {
      if (sense.synset.type === 'a' || sense.synset.type === 's') {
        for (const antonym of antonymsOf(wordnet, sense.synset, sense.word)) union(lemma, antonym);
      }
    }
  }
  const root = new Rng(config.seed);
  const splitOf = (label: string): SplitName => {
    const bucket = root.fork(label).nextUint32() % 100;
    return bucket < config.validationPercent
      ? 'validation'
      : bucket < config.validationPercent + config.testPercent
        ? 'test'
        : 'train';
  };
  const splits = new Map<string, LemmaSplits>();
  for (const lemma of wordnet.senses.keys()) {
    const group = find(lemma);
    splits.set(lemma, { corpus: splitOf(`split:${group}`), task: splitOf(`task-split:${group}`) });
  }
  return splits;
}

/** The record of `lemma` for `task`, or null when the task has no answer for it. */
function taskRecord(
  wordnet: Wordnet,
  task: TaskName,
  lemma: string,
  senses: readonly Sense[],
): TaskRecord | null {
  const primary = primarySense(senses);
  const base = { id: `${task}:${lemma}`, task, lemma, input: lemma, category: primary.synset.lexname };
  switch (task) {
    case 'define':
      return primary.synset.definition ? { ...base, output: primary.synset.definition } : null;
    case 'category':
      return { ...base, output: primary.synset.lexname };
    case 'hypernym': {
      const answers = new Set<string>();
      for (const p of primary.synset.pointers) {
        if (p.symbol !== '@' && p.symbol !== '@i') continue;
        for (const w of pointerTarget(wordnet, primary.synset, p).words) {
          if (w.lemma.toLowerCase() !== lemma) answers.add(display(w.lemma));
        }
      }
      return answers.size > 0 ? { ...base, output: [...answers][0], answers: [...answers] } : null;
    }
    case 'pos': {
      // A lemma with senses in several parts of speech keeps the POS of its strictly most frequent
      // sense; ties (including all-untagged lemmas) are ambiguous and dropped.
      const pos = POS_NAMES[primary.synset.type];
      const rival = senses.some((s) => POS_NAMES[s.synset.type] !== pos && s.count >= primary.count);
      return rival ? null : { ...base, output: pos };
    }
    case 'antonym': {
      const adjectives = senses.filter((s) => s.synset.type === 'a' || s.synset.type === 's');
      const answers = new Set<string>();
      let category = '';
      for (const sense of adjectives) {
        for (const antonym of antonymsOf(wordnet, sense.synset, sense.word)) {
          category ||= sense.synset.lexname;
          answers.add(display(antonym));
        }
      }
      return answers.size > 0 ? { ...base, output: [...answers][0], answers: [...answers], category } : null;
    }
  }
}

/** Sorts by frequency (descending), then by a seeded hash, and keeps the first `cap`. */
function mostFrequent<T>(
  items: T[],
  count: (item: T) => number,
  key: (item: T) => string,
  cap: number,
  rng: Rng,
) {
  return items
    .map((item) => ({ item, count: count(item), hash: rng.fork(key(item)).nextUint32() }))
    .sort((a, b) => b.count - a.count || a.hash - b.hash)
    .slice(0, cap)
    .map(({ item }) => item);
}

/** Held-out texts of at least this many words are also caught inside longer texts. */
const CONTAINED_MIN_WORDS = 5;

const wordsOf = (text: string) => text.split(/[^A-Za-z0-9']+/).filter(Boolean);

/** A test for texts that equal a held-out text or contain one of CONTAINED_MIN_WORDS words or more (as whole words). */
function heldOutMatcher(texts: ReadonlySet<string>): (text: string) => boolean {
  const byFirstWords = new Map<string, string[][]>(); // first CONTAINED_MIN_WORDS words -> held-out word lists
  for (const text of texts) {
    const words = wordsOf(text);
    if (words.length < CONTAINED_MIN_WORDS) continue;
    const key = words.slice(0, CONTAINED_MIN_WORDS).join(' ');
    byFirstWords.set(key, [...(byFirstWords.get(key) ?? []), words]);
  }
  return (text) => {
    if (texts.has(text)) return true;
    const words = wordsOf(text);
    for (let i = 0; i + CONTAINED_MIN_WORDS <= words.length; i++) {
      const candidates = byFirstWords.get(words.slice(i, i + CONTAINED_MIN_WORDS).join(' ')) ?? [];
      if (candidates.some((c) => words.slice(i, i + c.length).join(' ') === c.join(' '))) return true;
    }
    return false;
  };
}

/** The words a corpus line names before its definition: the synset's first three. */
const CORPUS_LINE_WORDS = 3;

/** A corpus.txt line taken apart: the words it names (as written) and its definition, examples dropped. */
export interface CorpusLineParts {
  names: string[];
  definition: string;
}

/** The inverse of corpusLine for its names and definition; null for a line without `: `. */
export function parseCorpusLine(line: string): CorpusLineParts | null {
  const colon = line.indexOf(': ');
  if (colon < 0) return null;
  return {
    names: line.slice(0, colon).split(', '),
    definition: line.slice(colon + 2).split(' example: ')[0],
  };
}

/** "bank, depository: definition. example: sentence." with sentence-final punctuation ensured. */
function corpusLine(synset: WordnetSynset): string {
  const sentence = (text: string) => (/[.!?]$/.test(text) ? text : `${text}.`);
  const words = synset.words.slice(0, CORPUS_LINE_WORDS).map((w) => display(w.lemma));
  const examples = synset.examples.map((e) => ` example: ${sentence(e)}`).join('');
  return `${words.join(', ')}: ${sentence(synset.definition)}${examples}\n`;
}

/** Record counts, baselines and corpus sizes of a build. */
export interface WordnetBuildStats {
  records: Record<TaskName, Record<SplitName, number>>;
  /** Test-split scores of the floor baselines; null when the train or test split is empty. */
  baselines: Record<TaskName, { majorityExactMatch: number; copyExactMatch: number; copyF1: number } | null>;
  corpusBytes: { train: number; validation: number };
  corpusLines: { train: number; validation: number };
}

/** The dataset: file contents by path relative to public/datasets/wordnet/, and their statistics. */
export interface WordnetDataset {
  files: Map<string, string>;
  stats: WordnetBuildStats;
}

/** WordNet's licence: the numbered header of every data file, without the line numbers. */
export function wordnetLicense(dataFile: string): string {
  const header = dataFile.split('\n').filter((line) => line.startsWith('  '));
  if (header.length === 0) {
    throw new FormatError(
      'The data file has no licence header; use the data.* files of an unmodified WordNet 3.0.',
    );
  }
  return `${header.map((line) => line.replace(/^ {2}\d+ ?/, '').trimEnd()).join('\n')}\n`;
}

/**
 * Builds every file of the dataset. define's splits also decide the corpora: a synset with a
 * define-test lemma is in neither corpus, one with a validation lemma only in corpus-valid.txt. The
 * CORPUS_WORD_TASKS ask about words whose most frequent sense corpus.txt defines, the knowledge a
 * base model pretrained on it can have; their splits come from a second hash, so their held-out
 * words were read in pretraining but never seen with an answer. A held-out hypernym or antonym
 * record whose word and answer share a corpus line is dropped, so no test answer is in the corpus.
 */
export function buildWordnetDataset(
  sources: WordnetSources,
  config: WordnetBuildConfig = WORDNET_BUILD_CONFIG,
): WordnetDataset {
  const wordnet = loadWordnet(sources);
  const splits = splitLemmas(wordnet, config);
  const files = new Map<string, string>();
  const root = new Rng(config.seed);
  const frequency = (lemma: string) => wordnet.senses.get(lemma)!.reduce((sum, s) => sum + s.count, 0);
  const taskLemmas = [...wordnet.senses.keys()].filter((lemma) => TASK_LEMMA.test(lemma)).sort();
  const stats = { records: {}, baselines: {} } as WordnetBuildStats;

  const recordsOf = (task: TaskName, splitOf: (lemma: string) => SplitName | null) => {
    const bySplit: Record<SplitName, TaskRecord[]> = { train: [], validation: [], test: [] };
    for (const lemma of taskLemmas) {
      const split = splitOf(lemma);
      const record = split && taskRecord(wordnet, task, lemma, wordnet.senses.get(lemma)!);
      if (split && record) bySplit[split].push(record);
    }
    return bySplit;
  };
  const records = new Map<TaskName, Record<SplitName, TaskRecord[]>>();
  records.set(
    'define',
    recordsOf('define', (lemma) => splits.get(lemma)!.corpus),
  );
  const define = records.get('define')!;
  const heldOutDefinitions = {
    validation: new Set(define.validation.map((r) => r.output)),
    test: new Set(define.test.map((r) => r.output)),
  };

  // The corpus: a held-out define answer never enters the corpus of an earlier split, even through
  // another synset whose gloss equals or contains it.
  const heldOut = {
    validation: heldOutMatcher(heldOutDefinitions.validation),
    test: heldOutMatcher(heldOutDefinitions.test),
  };
  const corpus: Record<'train' | 'validation', WordnetSynset[]> = { train: [], validation: [] };
  for (const synset of wordnet.synsets.values()) {
    const wordSplits = synset.words.map((w) => splits.get(w.lemma.toLowerCase())?.corpus);
    const texts = [synset.definition, ...synset.examples];
    if (wordSplits.includes('test') || texts.some(heldOut.test)) continue;
    if (wordSplits.includes('validation')) corpus.validation.push(synset);
    else if (!texts.some(heldOut.validation)) corpus.train.push(synset);
  }
  const utf8 = new TextEncoder();
  stats.corpusBytes = { train: 0, validation: 0 };
  stats.corpusLines = { train: 0, validation: 0 };
  const defined = new Set<string>(); // "lemma synsetKey" of each word corpus.txt defines
  let corpusLines: string[] = [];
  for (const split of ['train', 'validation'] as const) {
    const ranked = mostFrequent(
      corpus[split],
      (s) =>
        s.words.reduce(
          (sum, w) =>
            sum + (wordnet.senses.get(w.lemma.toLowerCase())?.find((x) => x.synset === s)?.count ?? 0),
          0,
        ),
      (s) => synsetKey(s.type, s.offset),
      corpus[split].length,
      root,
    );
    const lines: string[] = [];
    let bytes = 0;
    for (const synset of ranked) {
      const line = corpusLine(synset);
      const lineBytes = utf8.encode(line).length;
      if (bytes + lineBytes > config.corpusBytes[split]) break;
      lines.push(line);
      if (split === 'train') {
        for (const w of synset.words.slice(0, CORPUS_LINE_WORDS))
          defined.add(`${w.lemma.toLowerCase()} ${synsetKey(synset.type, synset.offset)}`);
      }
      bytes += lineBytes;
    }
    shuffleInPlace(lines, root.fork(`corpus:${split}`));
    files.set(split === 'train' ? 'corpus.txt' : 'corpus-valid.txt', lines.join(''));
    if (split === 'train') corpusLines = lines;
    stats.corpusBytes[split] = bytes;
    stats.corpusLines[split] = lines.length;
  }

  const pairedInCorpus = coOccurrence(corpusLines);
  for (const task of CORPUS_WORD_TASKS) {
    const bySplit = recordsOf(task, (lemma) => {
      const { synset } = primarySense(wordnet.senses.get(lemma)!);
      return defined.has(`${lemma} ${synsetKey(synset.type, synset.offset)}`)
        ? splits.get(lemma)!.task
        : null;
    });
    if (task === 'hypernym' || task === 'antonym') {
      for (const split of ['validation', 'test'] as const)
        bySplit[split] = bySplit[split].filter((r) => !r.answers!.some((a) => pairedInCorpus(r.input, a)));
    }
    records.set(task, bySplit);
  }

  for (const task of TASKS) {
    const bySplit = records.get(task)!;
    stats.records[task] = { train: 0, validation: 0, test: 0 };
    for (const split of SPLITS) {
      const kept = mostFrequent(
        bySplit[split],
        (r) => frequency(r.lemma),
        (r) => r.id,
        config.recordCaps[split],
        root,
      );
      bySplit[split] = shuffleInPlace(kept, root.fork(`${task}:${split}`));
      files.set(`${task}/${split}.jsonl`, serializeTaskJsonl(bySplit[split]));
      stats.records[task][split] = kept.length;
    }
    const copy = copyPromptBaseline(bySplit.test);
    const round = (x: number) => Math.round(x * 10_000) / 10_000;
    stats.baselines[task] =
      bySplit.train.length === 0 || bySplit.test.length === 0
        ? null
        : {
            majorityExactMatch: round(majorityClassBaseline(bySplit.train, bySplit.test).exactMatch),
            copyExactMatch: round(copy.exactMatch),
            copyF1: round(copy.f1),
          };
  }

  files.set('LICENSE', wordnetLicense(sources.data.noun));
  files.set('manifest.json', `${JSON.stringify({ source: 'WordNet 3.0', config, ...stats }, null, 2)}\n`);
  files.set('README.md', readme(config, stats));
  return { files, stats };
}

/**
 * A test of whether some corpus line holds both a word and an answer (whole words, any case;
 * an answer of several words as a phrase).
 */
function coOccurrence(lines: readonly string[]): (word: string, answer: string) => boolean {
  const normal = (text: string) =>
    ` ${text
      .toLowerCase()
      .split(/[^a-z0-9']+/)
      .filter(Boolean)
      .join(' ')} `;
  const texts = lines.map(normal);
  const byWord = new Map<string, number[]>();
  texts.forEach((text, i) => {
    for (const w of new Set(text.trim().split(' '))) {
      const list = byWord.get(w);
      if (list) list.push(i);
      else byWord.set(w, [i]);
    }
  });
  return (word, answer) => {
    const phrase = normal(answer);
    return (byWord.get(word.toLowerCase()) ?? []).some((i) => texts[i].includes(phrase));
  };
}

function readme(config: WordnetBuildConfig, stats: WordnetBuildStats): string {
  const rows = TASKS.map((task) => {
    const r = stats.records[task];
    const b = stats.baselines[task];
    const scores = b ? `${b.majorityExactMatch} | ${b.copyExactMatch} | ${b.copyF1}` : '- | - | -';
    return `| ${task} | ${r.train} | ${r.validation} | ${r.test} | ${scores} |`;
  });
  return `# WordNet 3.0 instruction-tuning data

Generated by \`npx tsx scripts/build-wordnet.ts\` from WordNet 3.0 (\`apt-get install wordnet-base\`);
do not edit by hand. WordNet's licence is in LICENSE. Format and builder:
packages/model/src/data/ (task.ts, wordnet-dataset.ts).

- \`<task>/<split>.jsonl\`: one record per line,
  \`{"id","task","lemma","input","output","answers"?,"category"}\`; \`answers\` lists every accepted
  answer. Tasks: define (word -> gloss definition; token F1), category (word -> lexicographer file;
  exact match), hypernym (word -> any lemma of any hypernym synset; exact match), pos (word -> noun,
  verb, adjective or adverb; exact match), antonym (adjective -> any direct antonym; exact match).
- Each lemma is described by its most frequent sense (SemCor counts in cntlist.rev; ties: noun, verb,
  adjective, adverb, then WordNet's order). pos drops lemmas whose most frequent sense ties with a
  sense of another part of speech.
- Splits share no lemma: lemmas whose most frequent senses share a definition, and adjective
  antonyms, form one group; a group's split is a seeded hash of its smallest lemma (${100 - config.validationPercent - config.testPercent}/${config.validationPercent}/${config.testPercent}).
  define and the corpora use one hash; category, hypernym, pos and antonym use a second one and ask
  only about words that corpus.txt defines (the word is named on its most frequent sense's line): a
  base model pretrained on the corpus has read about every held-out word, and fine-tuning shows
  whether it can answer for words it was never fine-tuned on. A held-out hypernym or antonym record
  whose word shares a corpus line with one of its answers is dropped.
- Inputs are single words of two or more lower-case letters. Caps per task: ${config.recordCaps.train} train,
  ${config.recordCaps.validation} validation, ${config.recordCaps.test} test records, the most frequent lemmas first; files are
  in seeded-shuffle order.
- Client shards are not stored: \`partition(records, { clients, scheme, alpha, seed })\` computes every
  client's record indices from the split file, deterministically.
- \`corpus.txt\` (${stats.corpusLines.train} lines, at most ${config.corpusBytes.train} bytes) and \`corpus-valid.txt\` (${stats.corpusLines.validation} lines, at most ${config.corpusBytes.validation} bytes):
  "words: definition. example: sentence." per synset. A synset with a define-test lemma is in
  neither; one with a define-validation lemma only in corpus-valid.txt; no definition or example of a
  corpus equals a held-out define answer or contains one of 5 words or more.

| task | train | validation | test | majority EM (test) | copy EM (test) | copy F1 (test) |
|---|---|---|---|---|---|---|
${rows.join('\n')}
`;
}
