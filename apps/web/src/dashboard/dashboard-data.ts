// What the researcher dashboard computes from the coordinator's state, as pure functions: where the
// old `#/dashboard` address now lives, the token from the URL or the tab's session, per-tier series
// of a metric by round, per-layer coverage of a round, the metrics CSV, and the client list kept
// current between snapshots.
import type { DashboardActivity, DashboardState, RoundMetrics, Tier, TierRoundMetrics } from '@prufed/fl';

const tokenKey = 'prufed-dashboard-token';

/** The dashboard page's address for an old `/#/dashboard?token=…` one (query kept); null for any other hash. */
export function dashboardRedirect(hash: string): string | null {
  const match = /^#\/dashboard(\?.*)?$/.exec(hash);
  return match ? `/dashboard${match[1] ?? ''}` : null;
}

/**
 * The dashboard token: `?token=` in the query, which is then kept in sessionStorage and removed from
 * the address bar; else the one kept before.
 */
export function readToken(location: { search: string }, storage: Storage): string | null {
  const presented = new URLSearchParams(location.search).get('token');
  if (presented !== null && presented !== '') {
    storage.setItem(tokenKey, presented);
    return presented;
  }
  return storage.getItem(tokenKey);
}

export function forgetToken(storage: Storage): void {
  storage.removeItem(tokenKey);
}

/** Rounds that have a value of `metric` for some tier, and each tier's value per round (null: none). */
export function tierSeries(
  rows: readonly TierRoundMetrics[],
  tiers: readonly Tier[],
  metric: string,
): { rounds: number[]; values: Record<Tier, (number | null)[]> } {
  const withMetric = rows.filter((row) => Number.isFinite(row.metrics[metric]));
  const rounds = [...new Set(withMetric.map((row) => row.round))].sort((a, b) => a - b);
  const values = {} as Record<Tier, (number | null)[]>;
  for (const tier of tiers) {
    values[tier] = rounds.map(
      (round) => withMetric.find((row) => row.round === round && row.tier === tier)?.metrics[metric] ?? null,
    );
  }
  return { rounds, values };
}

/** Metric names present in the rows, sorted. */
export function metricNames(rows: readonly TierRoundMetrics[]): string[] {
  return [...new Set(rows.flatMap((row) => Object.keys(row.metrics)))].sort();
}

export interface LayerCoverageRow {
  layer: number;
  clients: number;
  weight: number;
  /** Mean L2 norm of the accepted updates' deltas on the layer; null when nobody trained it. */
  meanDeltaNorm: number | null;
  /** Tiers whose variant keeps the layer. */
  keptBy: Tier[];
}

/** Every original layer 0..L-1 of a round: how many clients trained it and with what sample weight. */
export function coverageRows(
  round: RoundMetrics,
  numLayers: number,
  tiers: Partial<Record<Tier, number[]>>,
): LayerCoverageRow[] {
  return Array.from({ length: numLayers }, (_, layer) => {
    const entry = round.coverage.find((coverage) => coverage.layer === layer);
    const keptBy = (Object.keys(tiers) as Tier[]).filter((tier) => tiers[tier]?.includes(layer)).sort();
    return {
      layer,
      clients: entry?.clients ?? 0,
      weight: entry?.weight ?? 0,
      meanDeltaNorm: entry?.meanDeltaNorm ?? null,
      keptBy,
    };
  });
}

function csvCell(value: string | number): string {
  const text = String(value);
  return /[",\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/**
 * The run's metrics as CSV, one row per round and tier plus one row per round for all tiers
 * (tier "all": the round's results, failures, samples and client metrics).
 */
export function metricsCsv(rounds: readonly RoundMetrics[], rows: readonly TierRoundMetrics[]): string {
  const names = [
    ...new Set([...metricNames(rows), ...rounds.flatMap((round) => Object.keys(round.clientMetrics))]),
  ].sort();
  const header = ['round', 'tier', 'clients', 'failures', 'samples', ...names];
  const lines = [header.map(csvCell).join(',')];
  for (const round of rounds) {
    const overall = [round.round, 'all', round.numResults, round.numFailures, round.totalSamples];
    lines.push([...overall, ...names.map((name) => round.clientMetrics[name] ?? '')].map(csvCell).join(','));
    for (const row of rows.filter((candidate) => candidate.round === round.round)) {
      const cells = [
        row.round,
        row.tier,
        row.clients,
        '',
        row.samples,
        ...names.map((name) => row.metrics[name] ?? ''),
      ];
      lines.push(cells.map(csvCell).join(','));
    }
  }
  return `${lines.join('\n')}\n`;
}

function withActivity(
  state: DashboardState,
  clientId: string,
  activity: DashboardState['clients'][number]['activity'],
): DashboardState {
  return {
    ...state,
    clients: state.clients.map((client) => (client.id === clientId ? { ...client, activity } : client)),
  };
}

/**
 * The snapshot with a join, leave, disconnect, resume or progress applied, until the server's next
 * snapshot (which follows every such change) replaces it.
 */
export function applyActivity(state: DashboardState, activity: DashboardActivity): DashboardState {
  switch (activity.type) {
    case 'client:disconnected':
      return withActivity(state, activity.clientId, 'disconnected');
    case 'client:resumed':
      return withActivity(state, activity.clientId, 'training');
    case 'client:join':
      return {
        ...state,
        clients: [...state.clients.filter((client) => client.id !== activity.client.id), activity.client],
      };
    case 'client:leave':
      return { ...state, clients: state.clients.filter((client) => client.id !== activity.clientId) };
    case 'progress':
      return {
        ...state,
        clients: state.clients.map((client) =>
          client.id === activity.clientId ? { ...client, lastLoss: activity.progress.loss } : client,
        ),
      };
    default:
      return state;
  }
}
