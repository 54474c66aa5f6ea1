import type { ClientSummary, DashboardState, RoundMetrics, TierRoundMetrics } from '@prufed/fl';
import { describe, expect, it } from 'vitest';
import {
  applyActivity,
  coverageRows,
  dashboardRedirect,
  metricsCsv,
  readToken,
  tierSeries,
} from './dashboard-data';

function memoryStorage(): Storage {
  const items = new Map<string, string>();
  return {
    get length() {
      return items.size;
    },
    clear: () => items.clear(),
    getItem: (key) => items.get(key) ?? null,
    key: (index) => [...items.keys()][index] ?? null,
    removeItem: (key) => void items.delete(key),
    setItem: (key, value) => void items.set(key, value),
  };
}

const round1: RoundMetrics = {
  round: 1,
  numResults: 3,
  numFailures: 1,
  totalSamples: 24,
  coverage: [
    { layer: 0, clients: 3, weight: 24, meanDeltaNorm: 0.5 },
    { layer: 1, clients: 3, weight: 24, meanDeltaNorm: 0.25 },
    { layer: 2, clients: 2, weight: 16, meanDeltaNorm: 0.125 },
  ],
  clientMetrics: { loss: 5.5 },
};
const tierRows: TierRoundMetrics[] = [
  { round: 1, tier: 'a', clients: 1, samples: 8, metrics: { loss: 5 } },
  { round: 1, tier: 'c', clients: 2, samples: 16, metrics: { loss: 6 } },
  { round: 2, tier: 'a', clients: 1, samples: 8, metrics: { loss: 4, 'note,x': 1 } },
];

describe('readToken', () => {
  it('takes ?token= from the query, keeps it, and falls back to the kept one', () => {
    const storage = memoryStorage();
    expect(readToken({ search: '' }, storage)).toBeNull();
    expect(readToken({ search: '?token=abc' }, storage)).toBe('abc');
    expect(readToken({ search: '' }, storage)).toBe('abc');
    expect(readToken({ search: '?token=' }, storage)).toBe('abc');
    expect(readToken({ search: '?token=xyz' }, storage)).toBe('xyz');
  });
});

describe('dashboardRedirect', () => {
  it('moves the old hash route to /dashboard with its query, and leaves other hashes alone', () => {
    expect(dashboardRedirect('#/dashboard')).toBe('/dashboard');
    expect(dashboardRedirect('#/dashboard?token=a%20b')).toBe('/dashboard?token=a%20b');
    expect(dashboardRedirect('')).toBeNull();
    expect(dashboardRedirect('#/dashboards')).toBeNull();
    expect(dashboardRedirect('#top')).toBeNull();
  });
});

describe('tierSeries', () => {
  it('aligns each tier on the rounds that have the metric, with gaps as null', () => {
    expect(tierSeries(tierRows, ['a', 'b', 'c'], 'loss')).toEqual({
      rounds: [1, 2],
      values: { a: [5, 4], b: [null, null], c: [6, null] },
    });
    expect(tierSeries(tierRows, ['a'], 'accuracy')).toEqual({ rounds: [], values: { a: [] } });
  });
});

describe('coverageRows', () => {
  it('lists every layer with its clients, zero where nobody trained it, and the tiers keeping it', () => {
    const rows = coverageRows(round1, 4, { a: [0, 1, 2, 3], b: [0, 1, 2], c: [0, 1] });
    expect(
      rows.map((row) => [row.layer, row.clients, row.weight, row.meanDeltaNorm, row.keptBy.join('')]),
    ).toEqual([
      [0, 3, 24, 0.5, 'abc'],
      [1, 3, 24, 0.25, 'abc'],
      [2, 2, 16, 0.125, 'ab'],
      [3, 0, 0, null, 'a'],
    ]);
  });
});

describe('metricsCsv', () => {
  it('writes a row per round and one per round and tier, quoting cells that need it', () => {
    const round2 = { ...round1, round: 2, numFailures: 0, clientMetrics: { loss: 4 } };
    expect(metricsCsv([round1, round2], tierRows).split('\n')).toEqual([
      'round,tier,clients,failures,samples,loss,"note,x"',
      '1,all,3,1,24,5.5,',
      '1,a,1,,8,5,',
      '1,c,2,,16,6,',
      '2,all,3,0,24,4,',
      '2,a,1,,8,4,1',
      '',
    ]);
  });
});

describe('applyActivity', () => {
  const client = (id: string): ClientSummary => ({
    id,
    tier: 'c',
    keptLayers: [0, 1],
    engine: 'cpu',
    device: { gpu: null, deviceMemoryGb: null, tierReason: '?tier=c override' },
    dataShard: 0,
    activity: 'ready',
    lastLoss: null,
  });
  const state = { clients: [client('x')] } as DashboardState;

  it('adds joining clients, drops leaving ones and records progress losses', () => {
    const joined = applyActivity(state, { type: 'client:join', client: client('y') });
    expect(joined.clients.map((c) => c.id)).toEqual(['x', 'y']);
    const trained = applyActivity(joined, {
      type: 'progress',
      clientId: 'y',
      progress: { round: 1, step: 2, loss: 3.5 },
    });
    expect(trained.clients.map((c) => c.lastLoss)).toEqual([null, 3.5]);
    expect(applyActivity(trained, { type: 'client:leave', clientId: 'x', reason: 'gone' }).clients).toEqual([
      { ...client('y'), lastLoss: 3.5 },
    ]);
    expect(applyActivity(state, { type: 'round:start', round: 1, clients: ['x'] })).toBe(state);
  });

  it('marks a client disconnected and training again when it resumes', () => {
    const disconnected = applyActivity(state, {
      type: 'client:disconnected',
      clientId: 'x',
      reason: 'transport close',
      round: 2,
      resumeUntil: 0,
    });
    expect(disconnected.clients.map((c) => c.activity)).toEqual(['disconnected']);
    const resumed = applyActivity(disconnected, { type: 'client:resumed', clientId: 'x', round: 2 });
    expect(resumed.clients.map((c) => c.activity)).toEqual(['training']);
  });
});
