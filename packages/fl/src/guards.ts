// Runtime guards for every JSON part of a message that arrives from the network. Each parser
// returns a typed value or a reason string; it never throws and never lets through unknown keys,
// wrong types, non-finite numbers or oversized strings and arrays.
import type {
  ControlCommand,
  GpuReport,
  HelloReport,
  ProgressReport,
  ResumeRequest,
  RoundSettingsPatch,
  UpdateMeta,
} from './protocol';
import type { SamplingOptions } from './sampling';
import { type Tier, type TrainConfig, tiers } from './types';

export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

const maxShortString = 256;
const maxLongString = 1000;
const maxListItems = 64;
const maxMetrics = 32;

class ParseFailure extends Error {}

type Json = Record<string, unknown>;

function parseWith<T>(what: string, input: unknown, read: (input: unknown, path: string) => T): Parsed<T> {
  try {
    return { ok: true, value: read(input, what) };
  } catch (error) {
    if (error instanceof ParseFailure) return { ok: false, reason: error.message };
    throw error;
  }
}

function fail(path: string, expected: string, got: unknown): never {
  // Short strings are echoed to help the sender; long ones only by length, to keep reasons small.
  const shown =
    typeof got !== 'string'
      ? describe(got)
      : got.length <= 32
        ? JSON.stringify(got)
        : `a string of ${got.length} characters`;
  throw new ParseFailure(`${path} must be ${expected}, got ${shown}`);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of ${value.length} items`;
  if (typeof value === 'number') return String(value);
  return `a ${typeof value}`;
}

/** An object (not null, an array or binary data) with any keys. */
function record(input: unknown, path: string): Json {
  if (typeof input !== 'object' || input === null || Array.isArray(input) || ArrayBuffer.isView(input)) {
    fail(path, 'an object', input);
  }
  return input as Json;
}

/** A plain object with all `required` keys, some `optional` ones and nothing else. */
function object(
  input: unknown,
  path: string,
  required: readonly string[],
  optional: readonly string[] = [],
): Json {
  const json = record(input, path);
  for (const key of Object.keys(json)) {
    if (!required.includes(key) && !optional.includes(key)) {
      throw new ParseFailure(`${path} has an unknown field "${key.slice(0, 64)}"`);
    }
  }
  for (const key of required) {
    if (json[key] === undefined) throw new ParseFailure(`${path}.${key} is missing`);
  }
  return json;
}

function number(input: unknown, path: string, min: number, max: number): number {
  if (typeof input !== 'number' || !Number.isFinite(input) || input < min || input > max) {
    fail(path, `a finite number in [${min}, ${max}]`, input);
  }
  return input;
}

function integer(input: unknown, path: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isSafeInteger(input) || (input as number) < min || (input as number) > max) {
    fail(path, `an integer in [${min}, ${max}]`, input);
  }
  return input as number;
}

function string(input: unknown, path: string, maxLength: number): string {
  if (typeof input !== 'string' || input.length > maxLength)
    fail(path, `a string of at most ${maxLength} characters`, input);
  return input;
}

function oneOf<T extends string>(input: unknown, path: string, values: readonly T[]): T {
  if (typeof input !== 'string' || !values.includes(input as T))
    fail(path, `one of ${values.join(', ')}`, input);
  return input as T;
}

function list<T>(input: unknown, path: string, read: (item: unknown, path: string) => T): T[] {
  if (!Array.isArray(input) || input.length > maxListItems)
    fail(path, `an array of at most ${maxListItems} items`, input);
  return input.map((item, i) => read(item, `${path}[${i}]`));
}

function metrics(input: unknown, path: string): Record<string, number> {
  const json = record(input, path);
  const keys = Object.keys(json);
  if (keys.length > maxMetrics) throw new ParseFailure(`${path} must hold at most ${maxMetrics} metrics`);
  // fromEntries defines own properties, so a "__proto__" key cannot reach the prototype.
  return Object.fromEntries(
    keys.map((key) => [
      string(key, `${path} key`, 64),
      number(json[key], `${path}.${key}`, -Number.MAX_VALUE, Number.MAX_VALUE),
    ]),
  );
}

const round = (input: unknown, path: string) => integer(input, path, 1);
const tier = (input: unknown, path: string): Tier => oneOf(input, path, tiers);

function gpuReport(input: unknown, path: string): GpuReport {
  const json = object(input, path, [
    'vendor',
    'architecture',
    'description',
    'features',
    'maxStorageBufferBindingSize',
    'maxBufferSize',
  ]);
  return {
    vendor: string(json.vendor, `${path}.vendor`, maxShortString),
    architecture: string(json.architecture, `${path}.architecture`, maxShortString),
    description: string(json.description, `${path}.description`, maxShortString),
    features: list(json.features, `${path}.features`, (item, itemPath) =>
      string(item, itemPath, maxShortString),
    ),
    maxStorageBufferBindingSize: integer(
      json.maxStorageBufferBindingSize,
      `${path}.maxStorageBufferBindingSize`,
      0,
    ),
    maxBufferSize: integer(json.maxBufferSize, `${path}.maxBufferSize`, 0),
  };
}

function resumeRequest(input: unknown, path: string): ResumeRequest {
  const json = object(input, path, ['clientId', 'round', 'token']);
  return {
    clientId: string(json.clientId, `${path}.clientId`, 64),
    round: round(json.round, `${path}.round`),
    token: string(json.token, `${path}.token`, 128),
  };
}

/** The `hello` capability report. */
export function parseHello(input: unknown): Parsed<HelloReport> {
  return parseWith('hello', input, (value, path) => {
    const json = object(
      value,
      path,
      ['protocolVersion', 'engine', 'preferredTier', 'tierReason', 'gpu', 'deviceMemoryGb'],
      ['resume'],
    );
    const report: HelloReport = {
      protocolVersion: integer(json.protocolVersion, `${path}.protocolVersion`, 1),
      engine: oneOf(json.engine, `${path}.engine`, ['webgpu', 'cpu'] as const),
      preferredTier: tier(json.preferredTier, `${path}.preferredTier`),
      tierReason: string(json.tierReason, `${path}.tierReason`, maxLongString),
      gpu: json.gpu === null ? null : gpuReport(json.gpu, `${path}.gpu`),
      deviceMemoryGb:
        json.deviceMemoryGb === null ? null : number(json.deviceMemoryGb, `${path}.deviceMemoryGb`, 0, 1e6),
    };
    if (json.resume !== undefined) report.resume = resumeRequest(json.resume, `${path}.resume`);
    return report;
  });
}

/** The `progress` report of a training client. */
export function parseProgress(input: unknown): Parsed<ProgressReport> {
  return parseWith('progress', input, (value, path) => {
    const json = object(value, path, ['round', 'step', 'loss']);
    return {
      round: round(json.round, `${path}.round`),
      step: integer(json.step, `${path}.step`, 0),
      loss: number(json.loss, `${path}.loss`, 0, Number.MAX_VALUE),
    };
  });
}

/** The JSON part of an `update`; the adapter bytes go through parseAdapterBytes. */
export function parseUpdateMeta(input: unknown): Parsed<UpdateMeta> {
  return parseWith('update', input, (value, path) => {
    const json = object(value, path, ['round', 'numSamples', 'metrics']);
    return {
      round: round(json.round, `${path}.round`),
      numSamples: integer(json.numSamples, `${path}.numSamples`, 1),
      metrics: metrics(json.metrics, `${path}.metrics`),
    };
  });
}

/** The binary attachment of an `update` (or `round:start`), as a Uint8Array view without copying. */
export function parseAdapterBytes(input: unknown, maxBytes: number): Parsed<Uint8Array> {
  return parseWith('adapter', input, (value: unknown, path) => {
    const bytes = value instanceof ArrayBuffer ? new Uint8Array(value) : value;
    if (!(bytes instanceof Uint8Array)) fail(path, 'binary data (Uint8Array or ArrayBuffer)', value);
    if (bytes.byteLength > maxBytes) {
      throw new ParseFailure(`${path} is ${bytes.byteLength} bytes, the limit is ${maxBytes}`);
    }
    return bytes;
  });
}

function samplingPatch(input: unknown, path: string): Partial<SamplingOptions> {
  const json = object(input, path, [], ['fraction', 'minClients', 'maxClients']);
  const out: Partial<SamplingOptions> = {};
  if (json.fraction !== undefined)
    out.fraction = number(json.fraction, `${path}.fraction`, Number.MIN_VALUE, 1);
  if (json.minClients !== undefined) out.minClients = integer(json.minClients, `${path}.minClients`, 1);
  if (json.maxClients !== undefined) out.maxClients = integer(json.maxClients, `${path}.maxClients`, 1);
  return out;
}

function trainPatch(input: unknown, path: string): Partial<TrainConfig> {
  const json = object(input, path, [], ['localSteps', 'batchSize', 'learningRate', 'seqLen']);
  const out: Partial<TrainConfig> = {};
  if (json.localSteps !== undefined) out.localSteps = integer(json.localSteps, `${path}.localSteps`, 1, 1e6);
  if (json.batchSize !== undefined) out.batchSize = integer(json.batchSize, `${path}.batchSize`, 1, 4096);
  if (json.learningRate !== undefined)
    out.learningRate = number(json.learningRate, `${path}.learningRate`, 0, 10);
  if (json.seqLen !== undefined) out.seqLen = integer(json.seqLen, `${path}.seqLen`, 1, 1 << 20);
  return out;
}

function settingsPatch(input: unknown, path: string): RoundSettingsPatch {
  const json = object(input, path, [], ['sampling', 'train', 'minResults', 'totalRounds', 'roundTimeoutMs']);
  const out: RoundSettingsPatch = {};
  if (json.sampling !== undefined) out.sampling = samplingPatch(json.sampling, `${path}.sampling`);
  if (json.train !== undefined) out.train = trainPatch(json.train, `${path}.train`);
  if (json.minResults !== undefined) out.minResults = integer(json.minResults, `${path}.minResults`, 1);
  if (json.totalRounds !== undefined) out.totalRounds = integer(json.totalRounds, `${path}.totalRounds`, 1);
  if (json.roundTimeoutMs !== undefined) {
    out.roundTimeoutMs = integer(json.roundTimeoutMs, `${path}.roundTimeoutMs`, 1000, 24 * 3600 * 1000);
  }
  return out;
}

/** A dashboard `control` command. */
export function parseControl(input: unknown): Parsed<ControlCommand> {
  return parseWith('control', input, (value, path): ControlCommand => {
    const type = oneOf(object(value, path, ['type'], ['settings']).type, `${path}.type`, [
      'start',
      'pause',
      'resume',
      'configure',
    ] as const);
    if (type !== 'configure') {
      object(value, path, ['type']);
      return { type };
    }
    const json = object(value, path, ['type', 'settings']);
    return { type, settings: settingsPatch(json.settings, `${path}.settings`) };
  });
}
