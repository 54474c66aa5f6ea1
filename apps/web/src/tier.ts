// The device's tier and engine: the best engine this browser can run, and the variant depth it
// asks the server for. `?tier=a|b|c` overrides the choice (tests, demos); the server may re-balance.
import { type Tier, tiers } from '@prufed/fl';
import type { Capabilities, EngineKind } from './worker/api';

export interface TierChoice {
  tier: Tier;
  engine: EngineKind;
  /** Shown to the volunteer and sent in hello. */
  reason: string;
}

/** `override` is the page's ?tier= value (null when absent). */
export function chooseTier(capabilities: Capabilities, override: string | null): TierChoice {
  const engine = capabilities.engines[0] ?? 'cpu';
  const overridden = tiers.find((tier) => tier === override);
  if (overridden !== undefined) return { tier: overridden, engine, reason: `?tier=${overridden} override` };
  const ignored = override === null ? '' : ` (?tier=${override} ignored: use a, b or c)`;
  if (engine === 'cpu') {
    const why = capabilities.gpu === null ? 'no WebGPU' : 'the WebGPU engine is not in this build';
    return { tier: 'c', engine, reason: `${why}: the CPU engine trains the smallest variant${ignored}` };
  }
  if (capabilities.gpu?.isFallbackAdapter) {
    return {
      tier: 'c',
      engine,
      reason: `software WebGPU adapter (${capabilities.gpu.architecture || 'fallback'}): the smallest variant${ignored}`,
    };
  }
  return { tier: 'a', engine, reason: `WebGPU engine: the full-depth variant${ignored}` };
}
