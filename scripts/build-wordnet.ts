// Regenerates public/datasets/wordnet/ from the WordNet 3.0 database installed by Debian's
// wordnet-base package (apt-get install wordnet-base). Deterministic: re-running it reproduces the
// shipped bytes. Usage: npx tsx scripts/build-wordnet.ts [--wordnet DIR] [--out DIR]
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { buildWordnetDataset, readWordnetSources } from '@prufed/model';

const { values } = parseArgs({
  options: {
    wordnet: { type: 'string', default: '/usr/share/wordnet' },
    out: { type: 'string', default: resolve(import.meta.dirname, '../public/datasets/wordnet') },
  },
});
const wordnetDir = values.wordnet!;
const outDir = values.out!;

const read = (name: string): string => {
  const path = join(wordnetDir, name);
  if (!existsSync(path)) {
    console.error(
      `Missing ${path}. Install WordNet 3.0 with 'sudo apt-get install wordnet-base' or pass --wordnet DIR (a WordNet dict directory).`,
    );
    process.exit(1);
  }
  return readFileSync(path, 'utf8');
};

const { files, stats } = buildWordnetDataset(readWordnetSources(read));
for (const [name, text] of files) {
  const path = join(outDir, name);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
}
console.log(`Wrote ${files.size} files to ${outDir}`);
console.log(JSON.stringify(stats, null, 2));
