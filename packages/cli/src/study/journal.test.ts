import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Journal } from './journal';

const tempFile = () => path.join(mkdtempSync(path.join(os.tmpdir(), 'journal-')), 'sub', 'cells.jsonl');

describe('Journal', () => {
  it('keeps finished cells across reopening with the same configuration', () => {
    const file = tempFile();
    const first = Journal.open<{ loss: number }>(file, { steps: 3 });
    first.add('a', { loss: 1.5 });
    first.add('b', { loss: 2 });
    const again = Journal.open<{ loss: number }>(file, { steps: 3 });
    expect(again.size).toBe(2);
    expect(again.get('a')).toEqual({ loss: 1.5 });
    expect(again.has('c')).toBe(false);
    expect(readFileSync(file, 'utf8').split('\n')[0]).toBe('{"journal":1,"config":{"steps":3}}');
  });

  it('refuses another configuration and starts over with fresh', () => {
    const file = tempFile();
    Journal.open(file, { steps: 3 }).add('a', 1);
    expect(() => Journal.open(file, { steps: 4 })).toThrow(/different configuration.*--fresh/);
    expect(Journal.open(file, { steps: 4 }, true).size).toBe(0);
  });

  it('drops a last line cut short by a kill and rejects garbage elsewhere', () => {
    const file = tempFile();
    Journal.open(file, {}).add('a', 1);
    appendFileSync(file, '{"key":"b","val');
    expect(Journal.open(file, {}).values()).toEqual([1]);
    writeFileSync(file, 'not json\n');
    expect(() => Journal.open(file, {})).toThrow(/line 1 is not JSON/);
  });
});
