// Persistence of runs, rounds, clients and per-round per-tier metrics in SQLite (better-sqlite3),
// and of each round's global adapter as a PEFT safetensors file. A round's file is written to a
// temporary name, flushed and renamed before its row is committed, so a crash at any moment leaves
// either a complete round (file and rows) or none of it; restarting resumes from the last one. The
// strategy's server state (FedAdam's moments) is stored in the round's transaction, float64 BLOBs,
// only for the last completed round: resuming needs nothing older. Server-side evaluations of a
// round's per-tier globals arrive later, each in its own row, and join the round's per-tier metrics
// as eval_loss and eval_<metric>.
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import path from 'node:path';
import type { RoundFailure, RoundMetrics, ServerState, Tier, TierRoundMetrics } from '@prufed/fl';
import {
  adapterFromPeft,
  adapterToPeft,
  FormatError,
  type LoraAdapter,
  type PeftAdapterConfig,
} from '@prufed/model';
import Database from 'better-sqlite3';

const schema = `
CREATE TABLE IF NOT EXISTS runs (
  id INTEGER PRIMARY KEY,
  created_at TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  config TEXT NOT NULL,
  peft_config TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS rounds (
  run_id INTEGER NOT NULL REFERENCES runs(id),
  round INTEGER NOT NULL,
  completed_at TEXT NOT NULL,
  adapter_file TEXT NOT NULL,
  num_results INTEGER NOT NULL,
  num_failures INTEGER NOT NULL,
  total_samples INTEGER NOT NULL,
  coverage TEXT NOT NULL,
  client_metrics TEXT NOT NULL,
  PRIMARY KEY (run_id, round)
);
CREATE TABLE IF NOT EXISTS round_tiers (
  run_id INTEGER NOT NULL,
  round INTEGER NOT NULL,
  tier TEXT NOT NULL,
  clients INTEGER NOT NULL,
  samples INTEGER NOT NULL,
  metrics TEXT NOT NULL,
  PRIMARY KEY (run_id, round, tier)
);
CREATE TABLE IF NOT EXISTS round_evaluations (
  run_id INTEGER NOT NULL,
  round INTEGER NOT NULL,
  tier TEXT NOT NULL,
  samples INTEGER NOT NULL,
  loss REAL NOT NULL,
  metric TEXT NOT NULL,
  value REAL NOT NULL,
  ms REAL NOT NULL,
  PRIMARY KEY (run_id, round, tier)
);
CREATE TABLE IF NOT EXISTS clients (
  id TEXT PRIMARY KEY,
  run_id INTEGER NOT NULL,
  tier TEXT NOT NULL,
  kept_layers TEXT NOT NULL,
  engine TEXT NOT NULL,
  joined_at TEXT NOT NULL,
  left_at TEXT
);
CREATE TABLE IF NOT EXISTS server_state (
  run_id INTEGER NOT NULL,
  round INTEGER NOT NULL,
  name TEXT NOT NULL,
  data BLOB NOT NULL,
  PRIMARY KEY (run_id, name)
);
CREATE TABLE IF NOT EXISTS round_clients (
  run_id INTEGER NOT NULL,
  round INTEGER NOT NULL,
  client_id TEXT NOT NULL,
  outcome TEXT NOT NULL,
  num_samples INTEGER NOT NULL,
  reason TEXT NOT NULL,
  PRIMARY KEY (run_id, round, client_id)
);
`;

/** What a run is about: a stored global only resumes under the same model and LoRA layout. */
export interface RunFingerprint {
  modelId: string;
  numLayers: number;
  lora: LoraAdapter['config'];
}

export interface TierMetrics {
  tier: Tier;
  clients: number;
  samples: number;
  /** Sample-weighted mean of each metric over the tier's clients. */
  metrics: Record<string, number>;
}

/** The server's evaluation of one tier's global of one round on the validation sample. */
export interface TierEvaluation {
  round: number;
  tier: Tier;
  /** Validation records evaluated. */
  samples: number;
  /** Mean cross-entropy over the response tokens (instruction format). */
  loss: number;
  /** The task metric: exact_match over accepted answers, or token_f1 for define. */
  metric: 'exact_match' | 'token_f1';
  value: number;
  /** Wall-clock time of the evaluation: export, session, loss and decoding. */
  ms: number;
}

export interface ClientOutcome {
  clientId: string;
  outcome: 'included' | 'failed';
  numSamples: number;
  reason: string;
}

export interface CompletedRound {
  metrics: RoundMetrics;
  tiers: TierMetrics[];
  clients: ClientOutcome[];
  /** The strategy's state after this round; replaces the stored one. */
  serverState: ServerState;
}

export interface ResumedRun {
  runId: number;
  /** Last completed round; 0 when only the initial adapter exists. */
  lastRound: number;
  global: LoraAdapter;
  /** The strategy's state after lastRound (empty for a new run or a stateless strategy). */
  serverState: ServerState;
  /** True when an existing run was resumed. */
  resumed: boolean;
}

interface RoundRow {
  round: number;
  adapter_file: string;
  num_results: number;
  num_failures: number;
  total_samples: number;
  coverage: string;
  client_metrics: string;
}

/** Writes bytes to `file` through a flushed temporary file and a rename (atomic on POSIX). */
function writeFileAtomic(file: string, bytes: Uint8Array): void {
  const temp = `${file}.tmp-${process.pid}`;
  const fd = openSync(temp, 'w');
  try {
    writeSync(fd, bytes);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temp, file);
}

export class Store {
  readonly db: Database.Database;
  private runId = 0;
  private peftConfig: PeftAdapterConfig | null = null;

  constructor(readonly dataDir: string) {
    mkdirSync(dataDir, { recursive: true });
    this.db = new Database(path.join(dataDir, 'prufed.sqlite'));
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.exec(schema);
  }

  get currentRunId(): number {
    return this.runId;
  }

  /** adapter_config.json of the current run's full-depth adapters. */
  get runPeftConfig(): PeftAdapterConfig {
    if (!this.peftConfig) throw new Error('no run is open; call openRun first');
    return this.peftConfig;
  }

  /**
   * Resumes the latest run with this fingerprint from its last completed round, or starts a new
   * run whose round 0 is `initial()`.
   */
  openRun(fingerprint: RunFingerprint, config: unknown, initial: () => LoraAdapter): ResumedRun {
    const key = JSON.stringify(fingerprint);
    const latest = this.db
      .prepare('SELECT id, fingerprint, peft_config FROM runs ORDER BY id DESC LIMIT 1')
      .get() as { id: number; fingerprint: string; peft_config: string } | undefined;
    if (latest && latest.fingerprint === key) {
      this.runId = latest.id;
      this.peftConfig = JSON.parse(latest.peft_config) as PeftAdapterConfig;
      const last = this.db
        .prepare('SELECT round, adapter_file FROM rounds WHERE run_id = ? ORDER BY round DESC LIMIT 1')
        .get(latest.id) as { round: number; adapter_file: string };
      return {
        runId: latest.id,
        lastRound: last.round,
        global: this.readAdapter(last.round),
        serverState: this.serverState(last.round),
        resumed: true,
      };
    }
    const global = initial();
    const { safetensors, config: peftConfig } = adapterToPeft(global);
    const runId = (this.db.prepare('SELECT COALESCE(MAX(id), 0) + 1 AS id FROM runs').get() as { id: number })
      .id;
    this.runId = runId;
    this.peftConfig = peftConfig;
    const write = this.db.transaction(() => {
      this.db
        .prepare('INSERT INTO runs (id, created_at, fingerprint, config, peft_config) VALUES (?, ?, ?, ?, ?)')
        .run(runId, new Date().toISOString(), key, JSON.stringify(config), JSON.stringify(peftConfig));
      this.insertRound(0, {
        round: 0,
        numResults: 0,
        numFailures: 0,
        totalSamples: 0,
        coverage: [],
        clientMetrics: {},
      });
    });
    mkdirSync(this.runDir(runId), { recursive: true });
    writeFileAtomic(this.adapterPath(runId, 0), safetensors);
    write();
    return { runId, lastRound: 0, global, serverState: new Map(), resumed: false };
  }

  private runDir(runId: number): string {
    return path.join(this.dataDir, 'runs', String(runId));
  }

  private adapterPath(runId: number, round: number): string {
    return path.join(this.runDir(runId), `round-${String(round).padStart(5, '0')}.safetensors`);
  }

  private insertRound(round: number, metrics: RoundMetrics): void {
    this.db
      .prepare(
        `INSERT INTO rounds (run_id, round, completed_at, adapter_file, num_results, num_failures, total_samples, coverage, client_metrics)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        this.runId,
        round,
        new Date().toISOString(),
        path.relative(this.dataDir, this.adapterPath(this.runId, round)),
        metrics.numResults,
        metrics.numFailures,
        metrics.totalSamples,
        JSON.stringify(metrics.coverage),
        JSON.stringify(metrics.clientMetrics),
      );
  }

  /** Persists a completed round: the adapter file first, then every row in one transaction. */
  commitRound(global: LoraAdapter, round: CompletedRound): void {
    const { metrics } = round;
    writeFileAtomic(this.adapterPath(this.runId, metrics.round), adapterToPeft(global).safetensors);
    const tierRow = this.db.prepare(
      'INSERT INTO round_tiers (run_id, round, tier, clients, samples, metrics) VALUES (?, ?, ?, ?, ?, ?)',
    );
    const clientRow = this.db.prepare(
      'INSERT INTO round_clients (run_id, round, client_id, outcome, num_samples, reason) VALUES (?, ?, ?, ?, ?, ?)',
    );
    const stateRow = this.db.prepare(
      'INSERT INTO server_state (run_id, round, name, data) VALUES (?, ?, ?, ?)',
    );
    this.db.transaction(() => {
      this.insertRound(metrics.round, metrics);
      this.db.prepare('DELETE FROM server_state WHERE run_id = ?').run(this.runId);
      for (const [name, values] of round.serverState) {
        stateRow.run(
          this.runId,
          metrics.round,
          name,
          Buffer.from(values.buffer, values.byteOffset, values.byteLength),
        );
      }
      for (const tier of round.tiers) {
        tierRow.run(
          this.runId,
          metrics.round,
          tier.tier,
          tier.clients,
          tier.samples,
          JSON.stringify(tier.metrics),
        );
      }
      for (const client of round.clients) {
        clientRow.run(
          this.runId,
          metrics.round,
          client.clientId,
          client.outcome,
          client.numSamples,
          client.reason,
        );
      }
    })();
  }

  recordClientJoin(client: { id: string; tier: Tier; keptLayers: number[]; engine: string }): void {
    this.db
      .prepare(
        'INSERT INTO clients (id, run_id, tier, kept_layers, engine, joined_at) VALUES (?, ?, ?, ?, ?, ?)',
      )
      .run(
        client.id,
        this.runId,
        client.tier,
        JSON.stringify(client.keptLayers),
        client.engine,
        new Date().toISOString(),
      );
  }

  recordClientLeave(clientId: string): void {
    this.db.prepare('UPDATE clients SET left_at = ? WHERE id = ?').run(new Date().toISOString(), clientId);
  }

  /** Metrics of every completed round of the current run after round 0, oldest first. */
  roundMetrics(): RoundMetrics[] {
    const rows = this.db
      .prepare('SELECT * FROM rounds WHERE run_id = ? AND round > 0 ORDER BY round')
      .all(this.runId) as RoundRow[];
    return rows.map((row) => ({
      round: row.round,
      numResults: row.num_results,
      numFailures: row.num_failures,
      totalSamples: row.total_samples,
      coverage: JSON.parse(row.coverage),
      clientMetrics: JSON.parse(row.client_metrics),
    }));
  }

  /** The clients that failed each completed round of the current run, by round then client id. */
  roundFailures(): RoundFailure[] {
    return this.db
      .prepare(
        `SELECT round, client_id AS clientId, reason FROM round_clients
         WHERE run_id = ? AND outcome = 'failed' ORDER BY round, client_id`,
      )
      .all(this.runId) as RoundFailure[];
  }

  /**
   * Per-tier metrics of every completed round, by round then tier: the clients' means, plus eval_loss
   * and eval_<metric> where the server evaluated the tier's global (a tier nobody trained in gets a
   * row with 0 clients then).
   */
  tierMetrics(): TierRoundMetrics[] {
    const rows = this.db
      .prepare(
        'SELECT round, tier, clients, samples, metrics FROM round_tiers WHERE run_id = ? ORDER BY round, tier',
      )
      .all(this.runId) as { round: number; tier: Tier; clients: number; samples: number; metrics: string }[];
    const merged = new Map<string, TierRoundMetrics>(
      rows.map((row) => [`${row.round}:${row.tier}`, { ...row, metrics: JSON.parse(row.metrics) }]),
    );
    for (const evaluation of this.evaluations()) {
      const key = `${evaluation.round}:${evaluation.tier}`;
      const row = merged.get(key) ?? {
        round: evaluation.round,
        tier: evaluation.tier,
        clients: 0,
        samples: 0,
        metrics: {},
      };
      row.metrics.eval_loss = evaluation.loss;
      row.metrics[`eval_${evaluation.metric}`] = evaluation.value;
      merged.set(key, row);
    }
    return [...merged.values()].sort((a, b) => a.round - b.round || (a.tier < b.tier ? -1 : 1));
  }

  recordEvaluation(evaluation: TierEvaluation): void {
    const { round, tier, samples, loss, metric, value, ms } = evaluation;
    this.db
      .prepare(
        `INSERT OR REPLACE INTO round_evaluations (run_id, round, tier, samples, loss, metric, value, ms)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(this.runId, round, tier, samples, loss, metric, value, ms);
  }

  /** Every stored evaluation of the current run, by round then tier. */
  evaluations(): TierEvaluation[] {
    return this.db
      .prepare(
        'SELECT round, tier, samples, loss, metric, value, ms FROM round_evaluations WHERE run_id = ? ORDER BY round, tier',
      )
      .all(this.runId) as TierEvaluation[];
  }

  lastRound(): number {
    return (
      this.db.prepare('SELECT MAX(round) AS round FROM rounds WHERE run_id = ?').get(this.runId) as {
        round: number;
      }
    ).round;
  }

  /** The PEFT bytes of a completed round of the current run, or undefined when there is none. */
  adapterBytes(round: number): Uint8Array | undefined {
    const row = this.db
      .prepare('SELECT adapter_file FROM rounds WHERE run_id = ? AND round = ?')
      .get(this.runId, round) as { adapter_file: string } | undefined;
    return row && readFileSync(path.join(this.dataDir, row.adapter_file));
  }

  /** The strategy's state stored with `round` of the current run; empty when none was stored with it. */
  serverState(round: number): ServerState {
    const rows = this.db
      .prepare('SELECT name, data FROM server_state WHERE run_id = ? AND round = ?')
      .all(this.runId, round) as { name: string; data: Buffer }[];
    const state: ServerState = new Map();
    for (const { name, data } of rows) {
      if (data.byteLength % Float64Array.BYTES_PER_ELEMENT !== 0) {
        throw new FormatError(
          `stored server state "${name}" of round ${round} is ${data.byteLength} bytes, not float64 values; the store is corrupt`,
        );
      }
      state.set(name, new Float64Array(new Uint8Array(data).buffer)); // copied: SQLite's buffer may be unaligned
    }
    return state;
  }

  readAdapter(round: number): LoraAdapter {
    const bytes = this.adapterBytes(round);
    if (!bytes) throw new Error(`round ${round} of run ${this.runId} is not in the store`);
    return adapterFromPeft(bytes, this.runPeftConfig);
  }

  close(): void {
    this.db.close();
  }
}
