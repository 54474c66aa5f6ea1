// The shipped default model, public/models/prufed-tiny, read through readModelDir: the code path any
// Hugging Face LLaMA checkpoint takes (config.json parsing, safetensors F16 decoding, HF tensor names,
// tokenizer.json). It must be a real pretrained model: on held-out gloss text its loss is far below
// the unigram entropy, which a random or mis-loaded model cannot reach.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createCpuEngine } from '../cpu';
import { hfGlobalTensorNames, hfLayerTensorNames } from '../hf-names';
import { packedLoss, packLines, unigramEntropy } from '../lm-eval';
import { loadTokenizer } from '../tokenizer';
import { readModelDir } from './model-dir';

const root = (relative: string) => fileURLToPath(new URL(`../../../../${relative}`, import.meta.url));
const modelDir = root('public/models/prufed-tiny');

describe('the shipped prufed-tiny model', () => {
  it('loads as a Hugging Face checkpoint: 12 layers, grouped-query attention, every tensor named as in HF', async () => {
    const config = JSON.parse(readFileSync(`${modelDir}/config.json`, 'utf8'));
    expect(config.architectures).toEqual(['LlamaForCausalLM']);
    const { config: parsed, weights, tokenizerJson } = await readModelDir(modelDir);
    expect(parsed.numHiddenLayers).toBeGreaterThanOrEqual(12);
    expect(parsed.numKeyValueHeads).toBeLessThan(parsed.numAttentionHeads);
    const names = [...hfGlobalTensorNames(parsed), ...weights.layers.flatMap(hfLayerTensorNames)];
    expect([...weights.tensors.keys()].sort()).toEqual(names.sort());
    expect(loadTokenizer(tokenizerJson).vocabSize).toBe(parsed.vocabSize);
  });

  it('predicts held-out gloss text far better than unigram statistics (loss < 0.8 x entropy)', async () => {
    const { weights, tokenizerJson } = await readModelDir(modelDir);
    const tokenizer = loadTokenizer(tokenizerJson);
    const lines = readFileSync(root('public/datasets/wordnet/corpus-valid.txt'), 'utf8')
      .split('\n')
      .filter((line) => line.length > 0)
      .slice(0, 120)
      .map((line) => tokenizer.encode(line, { addSpecialTokens: false }));
    const T = 128;
    const stream = packLines(lines, tokenizer.bosId!, tokenizer.eosId!, T);
    const engine = createCpuEngine();
    await engine.loadVariant(weights, { keptLayers: weights.layers });
    const { loss } = await packedLoss(engine, stream, T, tokenizer.bosId!, 4);
    const entropy = unigramEntropy(stream, T, tokenizer.bosId!);
    expect(loss / entropy).toBeLessThan(0.8);
  }, 60_000);
});
