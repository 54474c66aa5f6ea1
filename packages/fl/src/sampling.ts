// Client sampling for a round: a seeded, deterministic draw of a fraction of the ready clients.
import { ConfigError } from '@prufed/model';
import { type ClientInfo, type Random, type Tier, tiers } from './types';

export interface SamplingOptions {
  /** Fraction of ready clients to sample, in (0, 1]; the count rounds up. */
  fraction: number;
  /** Fewer ready clients than this: no round. */
  minClients: number;
  maxClients: number;
}

export function checkSamplingOptions(options: SamplingOptions): void {
  const { fraction, minClients, maxClients } = options;
  if (!(fraction > 0 && fraction <= 1)) {
    throw new ConfigError(
      `sampling fraction must be in (0, 1], got ${fraction}; e.g. 0.5 samples half the clients`,
    );
  }
  if (!Number.isSafeInteger(minClients) || minClients < 1) {
    throw new ConfigError(`minClients must be an integer >= 1, got ${minClients}`);
  }
  if (!Number.isSafeInteger(maxClients) || maxClients < minClients) {
    throw new ConfigError(`maxClients must be an integer >= minClients (${minClients}), got ${maxClients}`);
  }
}

/**
 * Number of clients to sample out of `ready`: ceil(fraction * ready) clamped to [min, max].
 * The product is nudged down by 1e-9 so that 0.1 * 30 = 3.0000000000000004 gives 3, not 4.
 */
export function sampleCount(ready: number, options: SamplingOptions): number {
  const wanted = Math.ceil(options.fraction * ready - 1e-9);
  return Math.min(options.maxClients, Math.max(options.minClients, wanted));
}

/**
 * Samples clients without replacement; null when fewer than minClients are ready.
 * The draw depends only on the set of ready ids and the rng, not on the order of `ready`.
 * Returns the sampled clients ordered by id.
 */
export function sampleClients(
  ready: readonly ClientInfo[],
  options: SamplingOptions,
  rng: Random,
): ClientInfo[] | null {
  checkSamplingOptions(options);
  if (ready.length < options.minClients) return null;
  const pool = [...ready].sort((x, y) => compareIds(x.id, y.id));
  const count = sampleCount(pool.length, options);
  // Partial Fisher-Yates: the first `count` slots end up a uniform sample.
  for (let i = 0; i < count; i++) {
    const j = i + Math.floor(rng.uniform() * (pool.length - i));
    [pool[i], pool[j]] = [pool[j], pool[i]];
  }
  return pool.slice(0, count).sort((x, y) => compareIds(x.id, y.id));
}

/** Client ids grouped by tier, each list ascending; every tier is present. */
export function groupByTier(clients: readonly ClientInfo[]): Record<Tier, string[]> {
  const groups = Object.fromEntries(tiers.map((tier) => [tier, [] as string[]])) as Record<Tier, string[]>;
  for (const client of clients) groups[client.tier].push(client.id);
  for (const tier of tiers) groups[tier].sort(compareIds);
  return groups;
}

function compareIds(x: string, y: string): number {
  return x < y ? -1 : x > y ? 1 : 0;
}
