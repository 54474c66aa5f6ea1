// Where the browser tests' server lives and what it serves: a fixed port, a temp directory with a
// fresh data dir and a tiny random model (served at /models/e2e-tiny/). Shared by playwright.config.ts,
// the webServer's setup script and the tests.
import os from 'node:os';
import path from 'node:path';
import type { TinyModelOptions } from '@prufed/model/node';

export const port = 3123;
/** localhost, not 127.0.0.1, so that the page is a secure context (WebGPU needs one). */
export const baseUrl = `http://localhost:${port}`;
export const rootDir = path.join(os.tmpdir(), `prufed-e2e-${port}`);
export const dataDir = path.join(rootDir, 'data');
export const modelId = 'e2e-tiny';
export const modelDir = path.join(rootDir, modelId);
export const modelUrl = `/models/${modelId}/`;

/** The researcher token of the e2e server. */
export const dashboardToken = 'e2e';

/** L = 4 layers, so tier c (depth L/2, top pruning) keeps layers 0 and 1. */
export const tinyModel: TinyModelOptions = { layers: 4, hidden: 32, heads: 4, kvHeads: 2, seed: 7 };
