// Federated partitions of a split: which record indices each of N clients holds. IID deals a seeded
// shuffle out in equal slices; non-IID draws, for each lexicographer category, client proportions
// from Dirichlet(alpha) (small alpha: each client holds few categories; large alpha: close to IID).
// Pure and deterministic from the seed: a browser fetches the split's JSONL file once and computes
// its own shard; the server computes the same table.
import { ConfigError } from '../errors';
import { Rng } from '../rng';
import { sampleDirichlet, shuffleInPlace } from './sampling';

export interface PartitionOptions {
  clients: number;
  scheme: 'iid' | 'dirichlet';
  /** Dirichlet concentration, required for scheme 'dirichlet'. */
  alpha?: number;
  seed: number;
  /** Dirichlet draws are repeated (deterministically) until every client holds this many records; default 1. */
  minPerClient?: number;
}

/** Redraws allowed before a Dirichlet partition that leaves a client too small is declared impossible. */
const MAX_DIRICHLET_DRAWS = 100;

function checkOptions(count: number, options: PartitionOptions): void {
  const { clients, scheme, alpha, seed } = options;
  if (!Number.isInteger(clients) || clients < 1) {
    throw new ConfigError(`partition: clients must be a positive integer, got ${clients}.`);
  }
  if (clients > count) {
    throw new ConfigError(
      `partition: ${clients} clients for ${count} records; use at most one client per record.`,
    );
  }
  if (!Number.isSafeInteger(seed))
    throw new ConfigError(`partition: seed must be a safe integer, got ${seed}.`);
  if (scheme !== 'iid' && scheme !== 'dirichlet') {
    throw new ConfigError(`partition: scheme must be 'iid' or 'dirichlet', got '${scheme}'.`);
  }
  if (scheme === 'dirichlet' && !(alpha !== undefined && Number.isFinite(alpha) && alpha > 0)) {
    throw new ConfigError(`partition: scheme 'dirichlet' needs a finite alpha > 0 (e.g. 0.5), got ${alpha}.`);
  }
}

/** Cuts `items` into consecutive parts with the given proportions (rounded cumulative cut points). */
function cutByProportions<T>(items: readonly T[], proportions: readonly number[]): T[][] {
  const parts: T[][] = [];
  let cumulative = 0;
  let start = 0;
  proportions.forEach((p, c) => {
    cumulative += p;
    const end = c === proportions.length - 1 ? items.length : Math.round(cumulative * items.length);
    parts.push(items.slice(start, Math.max(start, end)));
    start = Math.max(start, end);
  });
  return parts;
}

/** Record indices per client (each ascending); every index appears in exactly one client. */
export function partition(records: readonly { category: string }[], options: PartitionOptions): number[][] {
  checkOptions(records.length, options);
  const { clients, scheme, seed } = options;
  const rng = new Rng(seed);
  const ascending = (a: number, b: number) => a - b;
  if (scheme === 'iid') {
    const order = shuffleInPlace(
      records.map((_, i) => i),
      rng,
    );
    return cutByProportions(order, new Array(clients).fill(1 / clients)).map((s) => s.sort(ascending));
  }
  const byCategory = new Map<string, number[]>();
  records.forEach((record, i) => {
    const list = byCategory.get(record.category) ?? [];
    list.push(i);
    byCategory.set(record.category, list);
  });
  const categories = [...byCategory.keys()].sort();
  const minPerClient = options.minPerClient ?? 1;
  for (let draw = 0; draw < MAX_DIRICHLET_DRAWS; draw++) {
    const shards: number[][] = Array.from({ length: clients }, () => []);
    for (const category of categories) {
      const members = shuffleInPlace([...byCategory.get(category)!], rng);
      const parts = cutByProportions(members, sampleDirichlet(options.alpha!, clients, rng));
      parts.forEach((part, c) => {
        shards[c].push(...part);
      });
    }
    if (shards.every((s) => s.length >= minPerClient)) return shards.map((s) => s.sort(ascending));
  }
  throw new ConfigError(
    `partition: ${MAX_DIRICHLET_DRAWS} Dirichlet draws with alpha ${options.alpha} all left a client with fewer than ${minPerClient} records; raise alpha, lower minPerClient or use fewer clients.`,
  );
}

/** The records of one client's shard. */
export function clientShard<T extends { category: string }>(
  records: readonly T[],
  client: number,
  options: PartitionOptions,
): T[] {
  const shards = partition(records, options);
  if (!Number.isInteger(client) || client < 0 || client >= shards.length) {
    throw new ConfigError(`clientShard: client ${client} is outside 0..${shards.length - 1}.`);
  }
  return shards[client].map((i) => records[i]);
}
