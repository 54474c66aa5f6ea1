// A corpus-only answer to `hypernym`: for each word, the corpus line (other than the word's own) whose
// definition is most like the word's own definition (TF-IDF cosine over definition words, stopwords
// dropped), among the lines that name an answer seen in the train split; that name is the guess. It
// measures how much of the task the pretraining text holds in a form a model could retrieve.
import { parseCorpusLine, type TaskRecord } from '@prufed/model';

const STOPWORDS = new Set(
  'a an the of or and to in on by for with as from that which who is are be being been its it this at into than any especially usually etc something someone'.split(
    ' ',
  ),
);

interface CorpusLine {
  /** The synset's first words as the line names them, lowercased. */
  names: string[];
  vector: Map<string, number>;
}

/** A corpus line's names (lowercased) and its definition's words less the stopwords; null if it is none. */
function parseLine(line: string): { names: string[]; words: string[] } | null {
  const parts = parseCorpusLine(line);
  if (parts === null) return null;
  const words = parts.definition
    .toLowerCase()
    .split(/[^a-z']+/)
    .filter((w) => w.length > 0 && !STOPWORDS.has(w));
  return { names: parts.names.map((name) => name.toLowerCase()), words };
}

function tfidfLines(corpus: string): CorpusLine[] {
  const parsed = corpus.split('\n').flatMap((line) => parseLine(line) ?? []);
  const documents = new Map<string, number>();
  for (const { words } of parsed)
    for (const w of new Set(words)) documents.set(w, (documents.get(w) ?? 0) + 1);
  return parsed.map(({ names, words }) => {
    const vector = new Map<string, number>();
    for (const w of words) vector.set(w, (vector.get(w) ?? 0) + Math.log(parsed.length / documents.get(w)!));
    const norm = Math.sqrt([...vector.values()].reduce((sum, x) => sum + x * x, 0)) || 1;
    for (const [w, x] of vector) vector.set(w, x / norm);
    return { names, vector };
  });
}

function cosine(a: Map<string, number>, b: Map<string, number>): number {
  let sum = 0;
  for (const [w, x] of a) sum += x * (b.get(w) ?? 0);
  return sum;
}

/** One guess per test record ('' where the corpus does not define its word). */
export function glossRetrievalGuesses(corpus: string, train: TaskRecord[], test: TaskRecord[]): string[] {
  const lines = tfidfLines(corpus);
  const known = new Set(train.flatMap((r) => (r.answers ?? [r.output]).map((a) => a.toLowerCase())));
  const candidates = lines.filter((line) => line.names.some((name) => known.has(name)));
  return test.map((record) => {
    const own = lines.find((line) => line.names.includes(record.input.toLowerCase()));
    if (own === undefined) return '';
    let best: CorpusLine | undefined;
    let bestScore = -1;
    for (const line of candidates) {
      if (line === own) continue;
      const score = cosine(own.vector, line.vector);
      if (score > bestScore) [best, bestScore] = [line, score];
    }
    return best?.names.find((name) => known.has(name)) ?? '';
  });
}
