import { describe, expect, it } from 'vitest';
import { FormatError } from '../errors';
import {
  LEXNAMES,
  parseDataFile,
  parseDataLine,
  parseGloss,
  parseIndexLine,
  parseSenseCounts,
} from './wordnet';

// Lines in the wndb(5WN) format, written by hand after WordNet 3.0's data.adj / data.verb / data.noun.
const ABLE =
  '00001740 00 a 01 able 0 005 = 05200169 n 0000 = 05616246 n 0000 + 05616246 n 0101 + 05200169 n 0101 ! 00002098 a 0101 | (usually followed by `to\') having the necessary means or skill; "able to swim"; "she was able to program her computer"  ';
const RESPIRE =
  '00002325 29 v 01 respire 1 005 $ 00001740 v 0000 @ 02108395 v 0000 + 03110323 a 0101 + 00831191 n 0103 + 00830811 n 0101 01 + 02 00 | undergo the biomedical and metabolic processes of respiration  ';
const TWO_WORDS =
  '00002312 00 a 02 abaxial 0 dorsal(p) 4 002 ;c 06037666 n 0000 ! 00002527 a 0201 | facing away from the axis of an organ  ';

describe('parseDataLine', () => {
  it('reads words, lexname, pointers with lexical source/target and the gloss', () => {
    const synset = parseDataLine(ABLE);
    expect(synset.offset).toBe(1740);
    expect(synset.lexname).toBe('adj.all');
    expect(synset.type).toBe('a');
    expect(synset.words).toEqual([{ lemma: 'able', lexId: 0 }]);
    expect(synset.pointers).toHaveLength(5);
    expect(synset.pointers[0]).toEqual({
      symbol: '=',
      offset: 5200169,
      pos: 'n',
      sourceWord: 0,
      targetWord: 0,
    });
    expect(synset.pointers[4]).toEqual({ symbol: '!', offset: 2098, pos: 'a', sourceWord: 1, targetWord: 1 });
    expect(synset.definition).toBe("(usually followed by `to') having the necessary means or skill");
    expect(synset.examples).toEqual(['able to swim', 'she was able to program her computer']);
  });

  it('reads hex word numbers, adjective markers and hex lex ids', () => {
    const synset = parseDataLine(TWO_WORDS);
    expect(synset.words).toEqual([
      { lemma: 'abaxial', lexId: 0 },
      { lemma: 'dorsal', lexId: 4 },
    ]);
    expect(synset.pointers[1]).toMatchObject({ symbol: '!', sourceWord: 2, targetWord: 1 });
    expect(synset.examples).toEqual([]);
  });

  it('reads verb hypernyms and frames', () => {
    const synset = parseDataLine(RESPIRE);
    expect(synset.lexname).toBe('verb.body');
    expect(synset.words).toEqual([{ lemma: 'respire', lexId: 1 }]);
    expect(synset.pointers[1]).toEqual({
      symbol: '@',
      offset: 2108395,
      pos: 'v',
      sourceWord: 0,
      targetWord: 0,
    });
    expect(synset.pointers[3]).toMatchObject({ symbol: '+', sourceWord: 1, targetWord: 3 });
    expect(synset.frames).toEqual([{ frame: 2, word: 0 }]);
    expect(synset.definition).toBe('undergo the biomedical and metabolic processes of respiration');
  });

  it('names the line and the field on bad input', () => {
    expect(() => parseDataLine('00001740 00 a 01 able 0 00x | gloss', 'data.adj line 30')).toThrow(
      /data\.adj line 30: p_cnt '00x' is not a number/,
    );
    expect(() => parseDataLine('00001740 99 a 01 able 0 000 | gloss')).toThrow(FormatError);
    expect(() => parseDataLine('00001740 00 a 01 able 0 000 no gloss')).toThrow(/missing ' \| '/);
    expect(() => parseDataLine('00001740 00 a 01 able 0 001 ! 00002098 a 01 | g')).toThrow(/4 hex digits/);
  });
});

describe('parseDataFile', () => {
  it('skips the licence header and reports line numbers', () => {
    const text = `  1 This software and database is being provided\n  2 \n${ABLE}\n${TWO_WORDS}\n`;
    expect(parseDataFile(text, 'data.adj').map((s) => s.offset)).toEqual([1740, 2312]);
    expect(() => parseDataFile(`  1 licence\nbroken line\n`, 'data.adj')).toThrow(/data\.adj line 2/);
  });
});

describe('parseGloss', () => {
  it('splits at the first quoted example, even with no definition', () => {
    expect(parseGloss('a tree; "a tall tree"; "the trees" - Shakespeare ')).toEqual({
      definition: 'a tree',
      examples: ['a tall tree', 'the trees'],
    });
    expect(parseGloss('"only an example"')).toEqual({ definition: '', examples: ['only an example'] });
  });
});

describe('index and sense counts', () => {
  it('parses an index line, offsets in frequency order', () => {
    expect(parseIndexLine('bank n 3 4 @ ~ #m %p 3 2 09213565 08420278 09213434  ')).toEqual({
      lemma: 'bank',
      pos: 'n',
      offsets: [9213565, 8420278, 9213434],
      tagsenseCount: 2,
    });
    expect(() => parseIndexLine('bank x 1 0 1 0 00000001', 'index.noun line 9')).toThrow(
      /index\.noun line 9/,
    );
  });

  it('keys cntlist.rev by lemma, type, lex file and lex id, dropping satellite heads', () => {
    const counts = parseSenseCounts('able%3:00:00:: 1 20\ndorsal%5:00:04:abaxial:00 2 3\n', 'cntlist.rev');
    expect(counts.get('able%a:0:0')).toBe(20);
    expect(counts.get('dorsal%s:0:4')).toBe(3);
    expect(() => parseSenseCounts('able 1 20\n', 'cntlist.rev')).toThrow(/cntlist\.rev line 1/);
  });

  it('has the 45 standard lexicographer files', () => {
    expect(LEXNAMES).toHaveLength(45);
    expect([LEXNAMES[0], LEXNAMES[3], LEXNAMES[5], LEXNAMES[29], LEXNAMES[44]]).toEqual([
      'adj.all',
      'noun.Tops',
      'noun.animal',
      'verb.body',
      'adj.ppl',
    ]);
  });
});
