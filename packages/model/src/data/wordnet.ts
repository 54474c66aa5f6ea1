// Parsers for the WordNet 3.0 database files (wndb(5WN), senseidx(5WN)): data.* synset lines,
// index.* lemma lines and cntlist.rev sense frequencies. Pure string functions, isomorphic: the
// build script reads the files from disk, tests feed hand-written lines.
import { FormatError } from '../errors';

/** Synset type as written in data.* files: noun, verb, adjective, adjective satellite, adverb. */
export type SynsetType = 'n' | 'v' | 'a' | 's' | 'r';

/** The 45 lexicographer files of lexnames(5WN), indexed by lex_filenum (WordNet ships no lexnames file). */
// biome-ignore format: one table, wrapped by hand
export const LEXNAMES: readonly string[] = [
  'adj.all', 'adj.pert', 'adv.all', 'noun.Tops', 'noun.act', 'noun.animal', 'noun.artifact',
  'noun.attribute', 'noun.body', 'noun.cognition', 'noun.communication', 'noun.event', 'noun.feeling',
  'noun.food', 'noun.group', 'noun.location', 'noun.motive', 'noun.object', 'noun.person',
  'noun.phenomenon', 'noun.plant', 'noun.possession', 'noun.process', 'noun.quantity', 'noun.relation',
  'noun.shape', 'noun.state', 'noun.substance', 'noun.time', 'verb.body', 'verb.change',
  'verb.cognition', 'verb.communication', 'verb.competition', 'verb.consumption', 'verb.contact',
  'verb.creation', 'verb.emotion', 'verb.motion', 'verb.perception', 'verb.possession', 'verb.social',
  'verb.stative', 'verb.weather', 'adj.ppl',
];

/** A pointer of a synset. `sourceWord`/`targetWord` are 1-based word numbers; 0 and 0 mean semantic. */
export interface WordnetPointer {
  symbol: string; // '@' hypernym, '@i' instance hypernym, '!' antonym, '&' similar to, ...
  offset: number; // target synset's byte offset in the data file of `pos`
  pos: SynsetType;
  sourceWord: number;
  targetWord: number;
}

/** One word of a synset: the lemma as written (underscores for spaces, case kept, adjective marker removed). */
export interface WordnetWord {
  lemma: string;
  lexId: number;
}

/** One synset line of a data.* file. */
export interface WordnetSynset {
  offset: number;
  lexFilenum: number;
  lexname: string;
  type: SynsetType;
  words: WordnetWord[];
  pointers: WordnetPointer[];
  /** Verb frames: frame number and the 1-based word it applies to (0: every word). */
  frames: { frame: number; word: number }[];
  /** The gloss's definition: the text before the first quoted example. */
  definition: string;
  /** The gloss's example sentences, without their quotes. */
  examples: string[];
}

/** One line of an index.* file: a lemma's synsets of one POS, most frequent sense first. */
export interface WordnetIndexEntry {
  lemma: string; // lower case, underscores for spaces
  pos: 'n' | 'v' | 'a' | 'r';
  offsets: number[];
  tagsenseCount: number;
}

const SYNSET_TYPES = new Set(['n', 'v', 'a', 's', 'r']);
const ADJECTIVE_MARKER = /\((a|p|ip)\)$/;

/** The key of a synset across files: data.adj holds both 'a' and 's' synsets. */
export function synsetKey(type: SynsetType, offset: number): string {
  return `${type === 's' ? 'a' : type}${offset}`;
}

/** A cursor over a line's space-separated fields, throwing FormatError that names the line. */
function fieldReader(line: string, where: string) {
  const fields = line.trim().split(/ +/);
  let next = 0;
  const fail = (what: string): never => {
    throw new FormatError(
      `${where}: ${what} (field ${next + 1}). Expected the wndb(5WN) format; regenerate the file from WordNet 3.0.`,
    );
  };
  const take = (what: string): string => (next < fields.length ? fields[next++] : fail(`missing ${what}`));
  const int = (what: string, radix: number, pattern: RegExp): number => {
    const field = take(what);
    return pattern.test(field) ? Number.parseInt(field, radix) : fail(`${what} '${field}' is not a number`);
  };
  return {
    take,
    decimal: (what: string) => int(what, 10, /^\d+$/),
    hex: (what: string) => int(what, 16, /^[0-9a-fA-F]+$/),
    fail,
  };
}

/** Splits a gloss into its definition and its quoted example sentences. */
export function parseGloss(gloss: string): { definition: string; examples: string[] } {
  const text = gloss.trim();
  const firstExample = text.search(/(^|;\s*)"/);
  if (firstExample < 0) return { definition: text, examples: [] };
  const definition = text.slice(0, firstExample).trim();
  const examples = [...text.slice(firstExample).matchAll(/"([^"]*)"/g)].map((m) => m[1].trim());
  return { definition, examples: examples.filter((e) => e.length > 0) };
}

/** Parses one synset line of a data.* file (`where` names the line in errors). */
export function parseDataLine(line: string, where = 'data line'): WordnetSynset {
  const bar = line.indexOf(' | ');
  const head = bar < 0 ? line : line.slice(0, bar);
  const r = fieldReader(head, where);
  const offset = r.decimal('synset_offset');
  const lexFilenum = r.decimal('lex_filenum');
  if (lexFilenum >= LEXNAMES.length)
    r.fail(`lex_filenum ${lexFilenum} is not one of the 45 lexicographer files`);
  const type = r.take('ss_type');
  if (!SYNSET_TYPES.has(type)) r.fail(`ss_type '${type}' is not one of n v a s r`);
  const wordCount = r.hex('w_cnt');
  const words: WordnetWord[] = [];
  for (let i = 0; i < wordCount; i++) {
    const lemma = r.take('word').replace(ADJECTIVE_MARKER, '');
    words.push({ lemma, lexId: r.hex('lex_id') });
  }
  const pointerCount = r.decimal('p_cnt');
  const pointers: WordnetPointer[] = [];
  for (let i = 0; i < pointerCount; i++) {
    const symbol = r.take('pointer_symbol');
    const target = r.decimal('pointer offset');
    const pos = r.take('pointer pos');
    if (!SYNSET_TYPES.has(pos)) r.fail(`pointer pos '${pos}' is not one of n v a s r`);
    const sourceTarget = r.take('source/target');
    if (!/^[0-9a-fA-F]{4}$/.test(sourceTarget)) r.fail(`source/target '${sourceTarget}' is not 4 hex digits`);
    pointers.push({
      symbol,
      offset: target,
      pos: pos as SynsetType,
      sourceWord: Number.parseInt(sourceTarget.slice(0, 2), 16),
      targetWord: Number.parseInt(sourceTarget.slice(2), 16),
    });
  }
  const frames: { frame: number; word: number }[] = [];
  if (type === 'v') {
    const frameCount = r.decimal('f_cnt');
    for (let i = 0; i < frameCount; i++) {
      if (r.take('frame marker') !== '+') r.fail("frame entries must start with '+'");
      frames.push({ frame: r.decimal('f_num'), word: r.hex('w_num') });
    }
  }
  if (bar < 0) r.fail("missing ' | ' before the gloss");
  return {
    offset,
    lexFilenum,
    lexname: LEXNAMES[lexFilenum],
    type: type as SynsetType,
    words,
    pointers,
    frames,
    ...parseGloss(line.slice(bar + 3)),
  };
}

/** Lines of a WordNet file that carry data: the licence header lines start with two spaces. */
function dataLines(text: string): { line: string; number: number }[] {
  return text
    .split('\n')
    .map((line, i) => ({ line, number: i + 1 }))
    .filter(({ line }) => line.length > 0 && !line.startsWith('  '));
}

/** Parses every synset of a data.* file. */
export function parseDataFile(text: string, fileName: string): WordnetSynset[] {
  return dataLines(text).map(({ line, number }) => parseDataLine(line, `${fileName} line ${number}`));
}

/** Parses one line of an index.* file. */
export function parseIndexLine(line: string, where = 'index line'): WordnetIndexEntry {
  const r = fieldReader(line, where);
  const lemma = r.take('lemma');
  const pos = r.take('pos');
  if (!['n', 'v', 'a', 'r'].includes(pos)) r.fail(`pos '${pos}' is not one of n v a r`);
  const synsetCount = r.decimal('synset_cnt');
  const pointerCount = r.decimal('p_cnt');
  for (let i = 0; i < pointerCount; i++) r.take('ptr_symbol');
  r.decimal('sense_cnt');
  const tagsenseCount = r.decimal('tagsense_cnt');
  const offsets = Array.from({ length: synsetCount }, () => r.decimal('synset_offset'));
  return { lemma, pos: pos as WordnetIndexEntry['pos'], offsets, tagsenseCount };
}

/** Parses every lemma of an index.* file. */
export function parseIndexFile(text: string, fileName: string): WordnetIndexEntry[] {
  return dataLines(text).map(({ line, number }) => parseIndexLine(line, `${fileName} line ${number}`));
}

const SENSE_KEY_TYPES: Record<string, SynsetType> = { '1': 'n', '2': 'v', '3': 'a', '4': 'r', '5': 's' };

/** The sense-count key of a word in a synset: lemma, synset type, lex file and lex id (no head word). */
export function senseCountKey(lemma: string, type: SynsetType, lexFilenum: number, lexId: number): string {
  return `${lemma.toLowerCase()}%${type}:${lexFilenum}:${lexId}`;
}

/**
 * Parses cntlist.rev ("sense_key sense_number tag_cnt" per line) into semantic-concordance tag counts,
 * keyed by senseCountKey. Satellite head words are dropped from the key: lemma, lex file and lex id
 * already identify the sense.
 */
export function parseSenseCounts(text: string, fileName: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const { line, number } of dataLines(text)) {
    const where = `${fileName} line ${number}`;
    const match = /^(\S+)%([1-5]):(\d\d):(\d\d):\S* \d+ (\d+)$/.exec(line.trim());
    if (!match) {
      throw new FormatError(
        `${where}: expected 'lemma%t:ff:ii:head:hh sense_number tag_cnt' (senseidx(5WN)).`,
      );
    }
    const key = senseCountKey(match[1], SENSE_KEY_TYPES[match[2]], Number(match[3]), Number(match[4]));
    counts.set(key, (counts.get(key) ?? 0) + Number(match[5]));
  }
  return counts;
}
