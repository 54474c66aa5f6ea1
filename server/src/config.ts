// Server configuration: one table of every setting with its environment variable, default and
// meaning (the docs are generated from `settingsTable`), resolved as defaults <- the JSON file named
// by PRUFED_CONFIG <- environment variables <- programmatic overrides (tests, benchmarks).
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { type Tier, tiers } from '@prufed/fl';
import {
  ConfigError,
  type LoraModule,
  loraModules,
  type PruningStrategy,
  pruningStrategies,
  TASKS,
  type TaskName,
} from '@prufed/model';

export const aggregationStrategies = ['heteagg', 'fedavg', 'fedadam'] as const;
export type AggregationStrategyName = (typeof aggregationStrategies)[number];

export interface ServerConfig {
  port: number;
  host: string;
  webRoot: string;
  publicRoot: string;
  dataDir: string;
  modelDir: string;
  /** Token of the /dashboard namespace and the JSON API. */
  dashboardToken: string;
  /** Tiers the server hands out; a client asking for another tier gets the nearest shallower one. */
  tiers: Tier[];
  /** Depth of each tier as a fraction of the model's L layers (rounded, at least 1 layer). */
  tierDepthA: number;
  tierDepthB: number;
  tierDepthC: number;
  pruning: PruningStrategy;
  /** Calibration text of the contribution and angular strategies: one sequence per line. */
  calibrationFile: string;
  calibrationLines: number;
  strategy: AggregationStrategyName;
  rounds: number;
  fraction: number;
  minClients: number;
  maxClients: number;
  localSteps: number;
  batchSize: number;
  learningRate: number;
  seqLen: number;
  loraRank: number;
  loraAlpha: number;
  loraTargets: LoraModule[];
  roundTimeoutMs: number;
  quorum: number;
  gatherMs: number;
  maxUpdateNorm: number;
  /** 0: derived from the full-depth adapter's size. */
  maxUpdateBytes: number;
  maxNumSamples: number;
  seed: number;
  autoStart: boolean;
  /** WordNet task whose train split (public/datasets/wordnet/<task>/train.jsonl) the volunteers train on. */
  dataTask: TaskName;
  /** Shards the split is partitioned into, handed to joining clients in turn (0: every client gets it whole). */
  dataShards: number;
  dataPartition: 'dirichlet' | 'iid';
  dataAlpha: number;
  dataSeed: number;
  /** How long a client that lost its connection mid-round may take to resume it (0: fail it at once). */
  resumeGraceMs: number;
  /** Validation records of dataTask each tier's new global is evaluated on after every round (0: no evaluation). */
  evalSamples: number;
  /** Most tokens greedy decoding generates per evaluated record. */
  evalMaxNewTokens: number;
}

type Parse<T> = (raw: unknown, where: string) => T;

interface Setting<K extends keyof ServerConfig> {
  key: K;
  env: string;
  fallback: ServerConfig[K] | ((repoRoot: string) => ServerConfig[K]);
  doc: string;
  parse: Parse<ServerConfig[K]>;
}

function bad(where: string, expected: string, raw: unknown): never {
  throw new ConfigError(`${where} must be ${expected}, got ${JSON.stringify(raw)}`);
}

/** Environment variables arrive as strings: numbers and booleans are read from them. */
function numberIn(min: number, max: number, integer: boolean): Parse<number> {
  return (raw, where) => {
    const value = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
    const ok = typeof value === 'number' && Number.isFinite(value) && value >= min && value <= max;
    if (!ok || (integer && !Number.isSafeInteger(value))) {
      bad(where, `${integer ? 'an integer' : 'a number'} in [${min}, ${max}]`, raw);
    }
    return value as number;
  };
}

const text: Parse<string> = (raw, where) => (typeof raw === 'string' ? raw : bad(where, 'a string', raw));

function oneOf<T extends string>(values: readonly T[]): Parse<T> {
  return (raw, where) =>
    values.find((value) => value === raw) ?? bad(where, `one of ${values.join(', ')}`, raw);
}

function listOf<T extends string>(values: readonly T[]): Parse<T[]> {
  return (raw, where) => {
    const items = typeof raw === 'string' ? raw.split(',').map((item) => item.trim()) : raw;
    if (!Array.isArray(items) || items.length === 0 || new Set(items).size !== items.length) {
      bad(
        where,
        `a non-empty list of distinct names from ${values.join(', ')} (comma-separated in env)`,
        raw,
      );
    }
    return items.map((item, i) => oneOf(values)(item, `${where}[${i}]`));
  };
}

const flag: Parse<boolean> = (raw, where) => {
  if (raw === true || raw === 'true' || raw === '1') return true;
  if (raw === false || raw === 'false' || raw === '0') return false;
  return bad(where, 'true or false', raw);
};

const inRepo =
  (relative: string) =>
  (repoRoot: string): string =>
    path.resolve(repoRoot, relative);

const depth = numberIn(Number.MIN_VALUE, 1, false);
const count = numberIn(1, 1_000_000, true);

/** Every setting: environment variable, default and meaning. */
export const settingsTable: { [K in keyof ServerConfig]: Setting<K> }[keyof ServerConfig][] = [
  {
    key: 'port',
    env: 'PORT',
    fallback: 3000,
    doc: 'HTTP port (0: any free port)',
    parse: numberIn(0, 65535, true),
  },
  { key: 'host', env: 'HOST', fallback: '127.0.0.1', doc: 'interface to listen on', parse: text },
  { key: 'webRoot', env: 'PRUFED_WEB_ROOT', fallback: inRepo('dist/web'), doc: 'built web app', parse: text },
  {
    key: 'publicRoot',
    env: 'PRUFED_PUBLIC_ROOT',
    fallback: inRepo('public'),
    doc: 'models and datasets served with byte ranges',
    parse: text,
  },
  {
    key: 'dataDir',
    env: 'PRUFED_DATA_DIR',
    fallback: inRepo('data'),
    doc: 'SQLite store and adapter files',
    parse: text,
  },
  {
    key: 'modelDir',
    env: 'PRUFED_MODEL_DIR',
    fallback: inRepo('public/models/prufed-tiny'),
    doc: 'base model (HF LLaMA checkpoint directory), served at /models/<basename>/',
    parse: text,
  },
  {
    key: 'dashboardToken',
    env: 'PRUFED_DASHBOARD_TOKEN',
    fallback: '',
    doc: 'token of /dashboard and /api (empty: a random one, printed at start)',
    parse: text,
  },
  { key: 'tiers', env: 'PRUFED_TIERS', fallback: [...tiers], doc: 'tiers handed out', parse: listOf(tiers) },
  {
    key: 'tierDepthA',
    env: 'PRUFED_TIER_DEPTH_A',
    fallback: 1,
    doc: 'tier a depth, fraction of L',
    parse: depth,
  },
  {
    key: 'tierDepthB',
    env: 'PRUFED_TIER_DEPTH_B',
    fallback: 0.75,
    doc: 'tier b depth, fraction of L',
    parse: depth,
  },
  {
    key: 'tierDepthC',
    env: 'PRUFED_TIER_DEPTH_C',
    fallback: 0.5,
    doc: 'tier c depth, fraction of L',
    parse: depth,
  },
  {
    key: 'pruning',
    env: 'PRUFED_PRUNING',
    fallback: 'top',
    doc: `layers each tier keeps: ${pruningStrategies.join(', ')} (the last two run the model on calibration text at start)`,
    parse: oneOf(pruningStrategies),
  },
  {
    key: 'calibrationFile',
    env: 'PRUFED_CALIBRATION_FILE',
    fallback: inRepo('public/datasets/wordnet/corpus-valid.txt'),
    doc: 'calibration text of the contribution and angular pruning strategies, one sequence per line',
    parse: text,
  },
  {
    key: 'calibrationLines',
    env: 'PRUFED_CALIBRATION_LINES',
    fallback: 32,
    doc: 'first non-empty lines of the calibration text used (each cut to seqLen tokens)',
    parse: count,
  },
  {
    key: 'strategy',
    env: 'PRUFED_STRATEGY',
    fallback: 'heteagg',
    doc: `aggregation: ${aggregationStrategies.join(', ')} (fedavg needs one tier)`,
    parse: oneOf(aggregationStrategies),
  },
  { key: 'rounds', env: 'PRUFED_ROUNDS', fallback: 100, doc: 'rounds of the run', parse: count },
  {
    key: 'fraction',
    env: 'PRUFED_FRACTION',
    fallback: 1,
    doc: 'fraction of ready clients sampled per round',
    parse: numberIn(Number.MIN_VALUE, 1, false),
  },
  {
    key: 'minClients',
    env: 'PRUFED_MIN_CLIENTS',
    fallback: 1,
    doc: 'ready clients needed to start a round',
    parse: count,
  },
  {
    key: 'maxClients',
    env: 'PRUFED_MAX_CLIENTS',
    fallback: 100,
    doc: 'most clients sampled per round',
    parse: count,
  },
  {
    key: 'localSteps',
    env: 'PRUFED_LOCAL_STEPS',
    fallback: 10,
    doc: 'local training steps per round',
    parse: count,
  },
  {
    key: 'batchSize',
    env: 'PRUFED_BATCH_SIZE',
    fallback: 4,
    doc: 'examples per local step',
    parse: numberIn(1, 4096, true),
  },
  {
    key: 'learningRate',
    env: 'PRUFED_LEARNING_RATE',
    fallback: 3e-4,
    doc: 'client AdamW learning rate',
    parse: numberIn(0, 10, false),
  },
  {
    key: 'seqLen',
    env: 'PRUFED_SEQ_LEN',
    fallback: 128,
    doc: 'tokens per example after truncation',
    parse: count,
  },
  {
    key: 'loraRank',
    env: 'PRUFED_LORA_RANK',
    fallback: 8,
    doc: 'LoRA rank r',
    parse: numberIn(1, 1024, true),
  },
  {
    key: 'loraAlpha',
    env: 'PRUFED_LORA_ALPHA',
    fallback: 16,
    doc: 'LoRA alpha',
    parse: numberIn(Number.MIN_VALUE, 1e6, false),
  },
  {
    key: 'loraTargets',
    env: 'PRUFED_LORA_TARGETS',
    fallback: [...loraModules],
    doc: 'adapted projections',
    parse: listOf(loraModules),
  },
  {
    key: 'roundTimeoutMs',
    env: 'PRUFED_ROUND_TIMEOUT_MS',
    fallback: 120_000,
    doc: 'round deadline after round:start',
    parse: numberIn(10, 24 * 3600 * 1000, true),
  },
  {
    key: 'quorum',
    env: 'PRUFED_QUORUM',
    fallback: 1,
    doc: 'accepted updates needed to aggregate',
    parse: count,
  },
  {
    key: 'gatherMs',
    env: 'PRUFED_GATHER_MS',
    fallback: 2000,
    doc: 'wait for ready clients before sampling a round',
    parse: numberIn(0, 3600_000, true),
  },
  {
    key: 'maxUpdateNorm',
    env: 'PRUFED_MAX_UPDATE_NORM',
    fallback: 100,
    doc: 'bound on the L2 norm of an update minus the global',
    parse: numberIn(0, Number.MAX_VALUE, false),
  },
  {
    key: 'maxUpdateBytes',
    env: 'PRUFED_MAX_UPDATE_BYTES',
    fallback: 0,
    doc: 'update size limit (0: the full adapter + 64 KiB)',
    parse: numberIn(0, 2 ** 31, true),
  },
  {
    key: 'maxNumSamples',
    env: 'PRUFED_MAX_NUM_SAMPLES',
    fallback: 100_000,
    doc: "cap on a client's sample weight",
    parse: count,
  },
  {
    key: 'seed',
    env: 'PRUFED_SEED',
    fallback: 0,
    doc: 'seed of the initial adapter and sampling',
    parse: numberIn(0, 2 ** 31, true),
  },
  {
    key: 'autoStart',
    env: 'PRUFED_AUTO_START',
    fallback: true,
    doc: 'start rounds without a dashboard start',
    parse: flag,
  },
  {
    key: 'dataTask',
    env: 'PRUFED_DATA_TASK',
    fallback: 'define',
    doc: `task the volunteers train on (its /datasets/wordnet/<task>/train.jsonl): ${TASKS.join(', ')}`,
    parse: oneOf(TASKS),
  },
  {
    key: 'dataShards',
    env: 'PRUFED_DATA_SHARDS',
    fallback: 10,
    doc: 'shards of the train split, handed to joining clients in turn (0: each trains on the whole split)',
    parse: numberIn(0, 100_000, true),
  },
  {
    key: 'dataPartition',
    env: 'PRUFED_DATA_PARTITION',
    fallback: 'dirichlet',
    doc: 'how the split is sharded: dirichlet (non-IID over lexicographer categories) or iid',
    parse: oneOf(['dirichlet', 'iid'] as const),
  },
  {
    key: 'dataAlpha',
    env: 'PRUFED_DATA_ALPHA',
    fallback: 0.5,
    doc: 'Dirichlet concentration of the shards (small: few categories per client)',
    parse: numberIn(Number.MIN_VALUE, 1e6, false),
  },
  {
    key: 'dataSeed',
    env: 'PRUFED_DATA_SEED',
    fallback: 0,
    doc: 'seed of the data partition',
    parse: numberIn(0, 2 ** 31, true),
  },
  {
    key: 'resumeGraceMs',
    env: 'PRUFED_RESUME_GRACE_MS',
    fallback: 30_000,
    doc: 'time a client that lost its connection mid-round has to reconnect and resume it, never past the deadline (0: it fails at once)',
    parse: numberIn(0, 24 * 3600 * 1000, true),
  },
  {
    key: 'evalSamples',
    env: 'PRUFED_EVAL_SAMPLES',
    fallback: 32,
    doc: "first records of the data task's validation split on which each tier's new global is evaluated (ONNX, in the background) after every round (0: off)",
    parse: numberIn(0, 100_000, true),
  },
  {
    key: 'evalMaxNewTokens',
    env: 'PRUFED_EVAL_MAX_NEW_TOKENS',
    fallback: 16,
    doc: 'most tokens greedy decoding generates per evaluated record',
    parse: count,
  },
];

function readConfigFile(file: string): Record<string, unknown> {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ConfigError(`PRUFED_CONFIG ${file} could not be read as JSON: ${(error as Error).message}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new ConfigError(`PRUFED_CONFIG ${file} must hold a JSON object of settings, e.g. {"rounds": 10}`);
  }
  const known = new Set<string>(settingsTable.map((setting) => setting.key));
  const unknown = Object.keys(json).filter((key) => !known.has(key));
  if (unknown.length > 0) {
    throw new ConfigError(
      `PRUFED_CONFIG ${file} has unknown settings ${unknown.join(', ')}; known: ${[...known].join(', ')}`,
    );
  }
  return json as Record<string, unknown>;
}

/** Checks the settings against each other. */
function checkConsistency(config: ServerConfig): void {
  if (config.maxClients < config.minClients) {
    throw new ConfigError(`maxClients (${config.maxClients}) must be >= minClients (${config.minClients})`);
  }
  if (config.quorum > config.maxClients) {
    throw new ConfigError(
      `quorum (${config.quorum}) exceeds maxClients (${config.maxClients}), so no round could succeed`,
    );
  }
  if (config.strategy === 'fedavg' && config.tiers.length !== 1) {
    throw new ConfigError(
      `fedavg needs every client at one depth but tiers is [${config.tiers}]; set tiers to one tier (e.g. PRUFED_TIERS=c) or use heteagg`,
    );
  }
}

export interface LoadedConfig {
  config: ServerConfig;
  /** True when no token was configured and a random one was made. */
  tokenGenerated: boolean;
}

/** Defaults <- PRUFED_CONFIG file <- environment <- overrides, every value checked. */
export function loadServerConfig(
  env: NodeJS.ProcessEnv,
  repoRoot: string,
  overrides: Partial<ServerConfig> = {},
): LoadedConfig {
  const file = env.PRUFED_CONFIG ? readConfigFile(path.resolve(repoRoot, env.PRUFED_CONFIG)) : {};
  const config = {} as Record<string, unknown>;
  for (const setting of settingsTable) {
    const { key, env: name, fallback, parse } = setting;
    const override = overrides[key];
    const value =
      override !== undefined
        ? (parse as Parse<unknown>)(override, key)
        : env[name] !== undefined
          ? (parse as Parse<unknown>)(env[name], `environment variable ${name}`)
          : file[key] !== undefined
            ? (parse as Parse<unknown>)(file[key], `PRUFED_CONFIG ${key}`)
            : typeof fallback === 'function'
              ? fallback(repoRoot)
              : fallback;
    config[key] = value;
  }
  const loaded = config as unknown as ServerConfig;
  for (const key of ['webRoot', 'publicRoot', 'dataDir', 'modelDir', 'calibrationFile'] as const) {
    loaded[key] = path.resolve(repoRoot, loaded[key]);
  }
  checkConsistency(loaded);
  const tokenGenerated = loaded.dashboardToken === '';
  if (tokenGenerated) loaded.dashboardToken = randomBytes(16).toString('hex');
  return { config: loaded, tokenGenerated };
}

/** Markdown table of every setting, for the docs. */
export function settingsMarkdown(repoRoot = '.'): string {
  const rows = settingsTable.map(({ key, env, fallback, doc }) => {
    const value =
      typeof fallback === 'function' ? path.relative(repoRoot, String(fallback(repoRoot))) : fallback;
    return `| \`${key}\` | \`${env}\` | \`${JSON.stringify(value)}\` | ${doc} |`;
  });
  return ['| setting | environment | default | meaning |', '| --- | --- | --- | --- |', ...rows].join('\n');
}
