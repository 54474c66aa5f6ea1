// Rebuilds the dataset from the local WordNet install and compares it byte for byte with the shipped
// public/datasets/wordnet/. Skipped (with the reason logged) where WordNet is not installed.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { buildWordnetDataset, readWordnetSources } from './wordnet-dataset';

const WORDNET_DIR = '/usr/share/wordnet';
const shippedDir = fileURLToPath(new URL('../../../../public/datasets/wordnet/', import.meta.url));
const installed = existsSync(join(WORDNET_DIR, 'data.noun'));
if (!installed)
  console.log(`Skipping the WordNet rebuild: ${WORDNET_DIR} is missing (apt-get install wordnet-base).`);

const sha256 = (text: string | Buffer) => createHash('sha256').update(text).digest('hex');

describe('scripts/build-wordnet.ts output', () => {
  it.runIf(installed)('reproduces the shipped files byte for byte', () => {
    const { files } = buildWordnetDataset(
      readWordnetSources((name) => readFileSync(join(WORDNET_DIR, name), 'utf8')),
    );
    const shipped = readdirSync(shippedDir, { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isFile())
      .map((entry) => join(entry.parentPath, entry.name).slice(shippedDir.length))
      .sort();
    expect(shipped).toEqual([...files.keys()].sort());
    for (const [name, text] of files) {
      expect(
        sha256(readFileSync(join(shippedDir, name))),
        `${name}: run npx tsx scripts/build-wordnet.ts`,
      ).toBe(sha256(text));
    }
  });
});
