// End to end: `npm run study:pruning -- --quick` on the shipped model (read only) into a temp dir,
// checking the pipeline (every strategy tabled, numbers in the JSON, a well-formed figure), not the
// findings.
import { readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pruningStrategies } from '@prufed/model';
import { afterAll, describe, expect, it } from 'vitest';
import { runRepoScript } from './run-script';
import { countClass, parseXml } from './xml-check';

const work = path.join(os.tmpdir(), `prufed-study-pruning-quick-${process.pid}`);

describe('study:pruning --quick', () => {
  afterAll(() => rm(work, { recursive: true, force: true }));

  it('runs end to end on the shipped model and writes the table, figure and JSON', {
    timeout: 240_000,
  }, async () => {
    const out = path.join(work, 'results');
    const run = await runRepoScript('scripts/study-pruning.ts', ['--quick', '--out', out, '--work', work]);
    expect(run.stderr.slice(-2000)).toMatch(/wrote .*pruning\.md/);
    expect(run.code).toBe(0);

    const md = await readFile(path.join(out, 'pruning.md'), 'utf8');
    for (const strategy of pruningStrategies) {
      expect(md.match(new RegExp(`^\\| ${strategy}( \\(= [a-z, -]+\\))? \\| (9|6) \\|`, 'gm'))).toHaveLength(
        3 * 2, // a row per depth in each of the three tables: metric, loss, per-strategy average
      );
    }
    expect(md).toContain('| **full** (12) | 12 | 0-11 |');

    const json = JSON.parse(await readFile(path.join(out, 'pruning.json'), 'utf8'));
    expect(json.config.tasks).toEqual(['pos', 'category']);
    expect(json.rows).toHaveLength(1 + 2 * pruningStrategies.length);
    for (const row of json.rows) {
      for (const task of ['pos', 'category']) {
        expect(Number.isFinite(row.tasks[task].before.loss)).toBe(true);
        expect(Number.isFinite(row.tasks[task].after.loss.mean)).toBe(true);
        expect(row.tasks[task].after.metric.values).toHaveLength(1);
      }
    }

    const svg = parseXml(await readFile(path.join(out, 'pruning.svg'), 'utf8'));
    expect(countClass(svg, 'bar')).toBe((1 + 2) * pruningStrategies.length * 2 * 2);

    // Rerunning the same command resumes: every cell comes from the journal.
    const again = await runRepoScript('scripts/study-pruning.ts', ['--quick', '--out', out, '--work', work]);
    expect(again.code).toBe(0);
    expect(again.stderr).toMatch(/(\d+) cells, \1 already in/);
  });
});
