// Shared pieces of the server's integration tests: a real server on port 0 over a temp tiny model and
// a temp data dir, synthetic updates, and an independent reference of the sample-weighted mean
// computed straight from the safetensors tensors (no @prufed/fl code involved).
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { readSafetensors, type Tensor, writeSafetensors } from '@prufed/model';
import { makeTempTinyModel } from '@prufed/model/node';
import { loadServerConfig, type ServerConfig } from './config';
import { type RunningServer, type StartOptions, startServer } from './server';

export const testToken = 'test-token';

/** A 4-layer tiny model: tiers a/b/c keep 4/3/2 layers with the default depths. */
export async function tinyModelDir(): Promise<string> {
  const { dir } = await makeTempTinyModel({ layers: 4, hidden: 32, heads: 4, kvHeads: 2, seed: 7 });
  return dir;
}

export async function tempDataDir(): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), 'prufed-data-'));
}

export interface TestServer extends RunningServer {
  config: ServerConfig;
  logs: string[];
}

export async function startTestServer(
  modelDir: string,
  dataDir: string,
  overrides: Partial<ServerConfig> = {},
  options: Omit<StartOptions, 'log'> = {},
): Promise<TestServer> {
  const { config } = loadServerConfig({}, process.cwd(), {
    port: 0,
    modelDir,
    dataDir,
    webRoot: path.join(dataDir, 'no-web'),
    publicRoot: path.join(dataDir, 'no-public'),
    dashboardToken: testToken,
    loraRank: 2,
    loraAlpha: 4,
    loraTargets: ['q_proj', 'v_proj', 'down_proj'],
    gatherMs: 50,
    roundTimeoutMs: 5000,
    seed: 3,
    ...overrides,
  });
  const logs: string[] = [];
  const server = await startServer(config, { ...options, log: (line) => logs.push(line) });
  return { ...server, config, logs };
}

export async function removeDirs(...dirs: string[]): Promise<void> {
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
}

export async function api(server: RunningServer, route: string, token = testToken): Promise<Response> {
  return fetch(`${server.url}${route}`, { headers: { Authorization: `Bearer ${token}` } });
}

export async function apiJson<T = Record<string, unknown>>(server: RunningServer, route: string): Promise<T> {
  const res = await api(server, route);
  if (res.status !== 200) throw new Error(`GET ${route}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

export async function roundAdapter(
  server: RunningServer,
  round: number,
  tier?: string,
): Promise<Map<string, Tensor>> {
  const res = await api(server, `/api/rounds/${round}/adapter${tier ? `?tier=${tier}` : ''}`);
  if (res.status !== 200) throw new Error(`round ${round} adapter: ${res.status} ${await res.text()}`);
  return readSafetensors(new Uint8Array(await res.arrayBuffer()));
}

/** The received slice plus scale * sin(seed + i) on every value: a known, small update. */
export function shiftedUpdate(slice: Uint8Array, seed: number, scale = 0.01): Map<string, Tensor> {
  const tensors = readSafetensors(slice);
  for (const tensor of tensors.values()) {
    for (let i = 0; i < tensor.data.length; i++) tensor.data[i] += scale * Math.sin(seed + i);
  }
  return tensors;
}

export function encode(tensors: Map<string, Tensor>): Uint8Array {
  return writeSafetensors(tensors, { metadata: { format: 'pt' } });
}

/** HeteAgg by hand: per tensor, the n-weighted mean over the updates that hold it, else the previous value. */
export function expectedMean(
  previous: Map<string, Tensor>,
  updates: { tensors: Map<string, Tensor>; numSamples: number }[],
): Map<string, Float64Array> {
  const out = new Map<string, Float64Array>();
  for (const [name, tensor] of previous) {
    const holders = updates.filter((update) => update.tensors.has(name));
    const weight = holders.reduce((sum, update) => sum + update.numSamples, 0);
    out.set(
      name,
      Float64Array.from(tensor.data, (value, i) =>
        weight === 0
          ? value
          : holders.reduce((sum, update) => sum + update.numSamples * update.tensors.get(name)!.data[i], 0) /
            weight,
      ),
    );
  }
  return out;
}

/** Largest |actual - expected| over every tensor; throws when the names differ. */
export function maxDifference(actual: Map<string, Tensor>, expected: Map<string, Float64Array>): number {
  const names = [...actual.keys()].sort().join();
  if (names !== [...expected.keys()].sort().join()) throw new Error(`tensor names differ: ${names}`);
  let max = 0;
  for (const [name, values] of expected) {
    const data = actual.get(name)!.data;
    for (let i = 0; i < values.length; i++) max = Math.max(max, Math.abs(data[i] - values[i]));
  }
  return max;
}
