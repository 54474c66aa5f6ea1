// End to end: `npm run study:fl -- --quick` on the shipped model (read only) into a temp dir,
// checking the pipeline (every run tabled, numbers in the JSON, a well-formed figure), not the
// findings.
import { readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { FlStudyResult } from './fl';
import { runRepoScript } from './run-script';
import { countClass, parseXml } from './xml-check';

const work = path.join(os.tmpdir(), `prufed-study-fl-quick-${process.pid}`);

describe('study:fl --quick', () => {
  afterAll(() => rm(work, { recursive: true, force: true }));

  it('runs every run end to end on the shipped model and writes the tables, figure and JSON', {
    timeout: 300_000,
  }, async () => {
    const out = path.join(work, 'results');
    const run = await runRepoScript('scripts/study-fl.ts', [
      '--quick',
      '--out',
      out,
      '--work',
      path.join(work, 'work'),
    ]);
    expect(run.stderr.slice(-2000)).toMatch(/wrote .*fl\.md/);
    expect(run.code).toBe(0);

    const md = await readFile(path.join(out, 'fl.md'), 'utf8');
    for (const depth of [12, 9, 6]) expect(md).toMatch(new RegExp(`^\\| ${depth} \\| \\[0,`, 'm'));
    for (const run of ['hetero-heteagg', 'hetero-fedadam', 'hetero-product', 'homo-12', 'homo-9', 'homo-6']) {
      expect(md).toMatch(new RegExp(`^\\| ${run} \\| \\d`, 'm'));
    }

    const json: FlStudyResult = JSON.parse(await readFile(path.join(out, 'fl.json'), 'utf8'));
    expect(json.rounds).toHaveLength(6 * 2);
    expect(json.finals).toHaveLength(6);
    for (const cell of json.rounds) {
      expect(cell.bytesDown).toBeGreaterThan(0);
      for (const losses of Object.values(cell.valLoss)) expect(Number.isFinite(losses.mean)).toBe(true);
    }
    const svg = parseXml(await readFile(path.join(out, 'fl.svg'), 'utf8'));
    expect(countClass(svg, 'line')).toBe(3 * (3 + 1)); // per depth: the hetero runs and its homo run
  });
});
