// The slice of a global adapter that a client of a pruned variant trains: the server sends it at
// round:start, and the studies send the same slice to their simulated clients.
import { ConfigError, type LoraAdapter, type LoraPair, loraKey } from '@prufed/model';

/** The adapter restricted to `layers` (shares the tensors, copies nothing). */
export function sliceAdapter(adapter: LoraAdapter, layers: readonly number[]): LoraAdapter {
  const weights = new Map<string, LoraPair>();
  for (const layer of layers) {
    for (const module of adapter.config.targetModules) {
      const key = loraKey(layer, module);
      const pair = adapter.weights.get(key);
      if (!pair) throw new ConfigError(`the global adapter lacks ${key}; it does not match the model`);
      weights.set(key, pair);
    }
  }
  return { config: adapter.config, layers: [...layers], weights };
}
