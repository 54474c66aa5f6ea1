// Configuration: documented defaults, PRUFED_CONFIG file <- environment <- overrides, clear errors.
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadServerConfig, settingsMarkdown } from './config';

const root = '/repo';

describe('loadServerConfig', () => {
  it('has the documented defaults and makes a token when none is set', () => {
    const { config, tokenGenerated } = loadServerConfig({}, root);
    expect(config).toMatchObject({
      port: 3000,
      dataDir: '/repo/data',
      modelDir: '/repo/public/models/prufed-tiny',
      tiers: ['a', 'b', 'c'],
      tierDepthA: 1,
      tierDepthB: 0.75,
      tierDepthC: 0.5,
      pruning: 'top',
      strategy: 'heteagg',
    });
    expect(tokenGenerated).toBe(true);
    expect(config.dashboardToken).toMatch(/^[0-9a-f]{32}$/);
    expect(settingsMarkdown(root)).toContain('| `dataDir` | `PRUFED_DATA_DIR` | `"data"` |');
  });

  it('layers the JSON file, the environment and overrides', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'prufed-config-'));
    const file = path.join(dir, 'prufed.json');
    await writeFile(file, JSON.stringify({ rounds: 7, fraction: 0.5, loraTargets: ['q_proj'] }));
    const env = { PRUFED_CONFIG: file, PRUFED_ROUNDS: '9', PRUFED_TIERS: 'c', PRUFED_STRATEGY: 'fedavg' };
    const { config } = loadServerConfig(env, root, { fraction: 0.25 });
    expect(config).toMatchObject({
      rounds: 9,
      fraction: 0.25,
      loraTargets: ['q_proj'],
      tiers: ['c'],
      strategy: 'fedavg',
    });
  });

  it('says what is wrong and where', () => {
    expect(() => loadServerConfig({ PORT: 'x' }, root)).toThrow(
      /environment variable PORT must be an integer/,
    );
    expect(() => loadServerConfig({ PRUFED_PRUNING: 'best' }, root)).toThrow(/one of top, alternate-even/);
    expect(() => loadServerConfig({ PRUFED_STRATEGY: 'fedavg' }, root)).toThrow(
      /fedavg needs every client at one depth/,
    );
    expect(() => loadServerConfig({}, root, { minClients: 5, maxClients: 2 })).toThrow(/maxClients/);
    expect(() => loadServerConfig({ PRUFED_DATA_TASK: 'poetry' }, root)).toThrow(
      /PRUFED_DATA_TASK must be one of define, category, hypernym, pos, antonym/,
    );
    expect(() => loadServerConfig({ PRUFED_DATA_PARTITION: 'random' }, root)).toThrow(
      /one of dirichlet, iid/,
    );
  });

  it('reads the data assignment and the resume grace', () => {
    const env = { PRUFED_DATA_TASK: 'pos', PRUFED_DATA_SHARDS: '0', PRUFED_DATA_PARTITION: 'iid' };
    const { config } = loadServerConfig({ ...env, PRUFED_RESUME_GRACE_MS: '0' }, root);
    expect(config).toMatchObject({ dataTask: 'pos', dataShards: 0, dataPartition: 'iid', resumeGraceMs: 0 });
    expect(loadServerConfig({}, root).config).toMatchObject({
      dataTask: 'define',
      dataShards: 10,
      dataPartition: 'dirichlet',
      dataAlpha: 0.5,
      resumeGraceMs: 30_000,
    });
  });
});

describe('README', () => {
  it('documents exactly the settings the server reads', async () => {
    const readme = await readFile(path.resolve(import.meta.dirname, '../../README.md'), 'utf8');
    const documented = /<!-- settings:start[^\n]*-->\n([\s\S]*?)\n<!-- settings:end -->/.exec(readme)?.[1];
    expect(documented, 'README.md lacks the settings block').toBeDefined();
    expect(documented?.trim()).toBe(settingsMarkdown().trim());
  });
});
