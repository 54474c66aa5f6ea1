// The tab's resume claim: only with a stored identity AND a checkpointed round, never from garbage.
import type { HelloAck } from '@prufed/fl';
import { describe, expect, it } from 'vitest';
import type { Checkpoint } from './checkpoint';
import { forgetIdentity, resumeClaim, saveIdentity } from './resume';
import { initialStats } from './round-loop';

function memoryStorage(): Storage {
  const items = new Map<string, string>();
  return {
    get length() {
      return items.size;
    },
    key: (i) => [...items.keys()][i] ?? null,
    getItem: (key) => items.get(key) ?? null,
    setItem: (key, value) => void items.set(key, value),
    removeItem: (key) => void items.delete(key),
    clear: () => items.clear(),
  };
}

const ack = { ok: true, clientId: 'c-7', resumeToken: 'tok' } as Extract<HelloAck, { ok: true }>;
const training = (round: number): Checkpoint => ({
  stats: initialStats(),
  training: { round, step: 2, globalDigest: 'ab', adapter: new Uint8Array([1]) },
});

describe('resumeClaim', () => {
  it("claims the checkpoint's round with the stored client id and token", () => {
    const storage = memoryStorage();
    saveIdentity(storage, ack);
    expect(resumeClaim(storage, training(4))).toEqual({ clientId: 'c-7', round: 4, token: 'tok' });
  });

  it('claims nothing without a round in training, without an identity or with a broken one', () => {
    const storage = memoryStorage();
    expect(resumeClaim(storage, training(4))).toBeUndefined();
    saveIdentity(storage, ack);
    expect(resumeClaim(storage, undefined)).toBeUndefined();
    expect(resumeClaim(storage, { stats: initialStats(), training: null })).toBeUndefined();
    storage.setItem('prufed-identity', '{not json');
    expect(resumeClaim(storage, training(4))).toBeUndefined();
    storage.setItem('prufed-identity', '{"clientId": 3}');
    expect(resumeClaim(storage, training(4))).toBeUndefined();
    saveIdentity(storage, ack);
    forgetIdentity(storage);
    expect(resumeClaim(storage, training(4))).toBeUndefined();
  });
});
