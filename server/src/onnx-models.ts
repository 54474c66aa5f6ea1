// The merged ONNX model of a round's global for a tier: the base weights of the tier's kept layers
// with that tier's slice of the round's global adapter folded in, exported by @prufed/onnx. Server-side
// evaluation and the download routes share one cache of exported bytes per (round, tier), bounded
// by a byte budget (oldest out first); concurrent requests for one model share one export.
import type { Tier } from '@prufed/fl';
import { adapterFromPeft, type LlamaWeights, type LoraAdapter } from '@prufed/model';
import { readModelDir } from '@prufed/model/node';
import { exportOnnx } from '@prufed/onnx';
import type { Store } from './store';
import { sliceAdapter, type TierPlan } from './tiers';

export interface OnnxModelsOptions {
  modelDir: string;
  store: Store;
  tierPlan: TierPlan;
  /** The global of a round when the caller holds it (the coordinator's latest), else read from the store. */
  globalOf?: (round: number) => LoraAdapter | undefined;
  /** Exported bytes kept in memory at most; default 256 MiB (always at least the last model). */
  cacheBytes?: number;
}

export interface ExportedModel {
  bytes: Uint8Array;
  /** Milliseconds the export took (0 when it came from the cache). */
  exportMs: number;
  cached: boolean;
}

export class OnnxModels {
  private weights: Promise<LlamaWeights> | null = null;
  private readonly cache = new Map<string, Promise<Uint8Array>>();
  private readonly sizes = new Map<string, number>();

  constructor(private readonly options: OnnxModelsOptions) {}

  /** The base weights, read from the model directory once, on first use. */
  private baseWeights(): Promise<LlamaWeights> {
    this.weights ??= readModelDir(this.options.modelDir).then((model) => model.weights);
    return this.weights;
  }

  /** The model of `round` (a completed round of the current run) for `tier`; undefined when the round is not stored. */
  async model(round: number, tier: Tier): Promise<ExportedModel | undefined> {
    const key = `${round}:${tier}`;
    const hit = this.cache.get(key);
    if (hit) return { bytes: await hit, exportMs: 0, cached: true };
    const { store } = this.options;
    const stored = () => {
      const peft = store.adapterBytes(round);
      return peft && adapterFromPeft(peft, store.runPeftConfig);
    };
    const global = this.options.globalOf?.(round) ?? stored();
    const layers = this.options.tierPlan.layers[tier];
    if (global === undefined || layers === undefined) return undefined;
    const started = performance.now();
    const exported = this.baseWeights().then((weights) =>
      exportOnnx(weights, layers, sliceAdapter(global, layers)),
    );
    this.cache.set(key, exported);
    try {
      const bytes = await exported;
      this.sizes.set(key, bytes.byteLength);
      this.evict();
      return { bytes, exportMs: performance.now() - started, cached: false };
    } catch (error) {
      this.cache.delete(key);
      throw error;
    }
  }

  /** Drops the oldest exports until the finished ones fit the budget (the newest always stays). */
  private evict(): void {
    const budget = this.options.cacheBytes ?? 256 * 2 ** 20;
    let total = [...this.sizes.values()].reduce((sum, size) => sum + size, 0);
    for (const key of this.sizes.keys()) {
      if (total <= budget || this.sizes.size === 1) break;
      total -= this.sizes.get(key)!;
      this.sizes.delete(key);
      this.cache.delete(key);
    }
  }
}
