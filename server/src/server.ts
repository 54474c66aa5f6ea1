// Assembles the PruFed server from a configuration: the HTTP handler (web app, model, public/, API),
// the Socket.IO coordinator and the SQLite store, listening on one port. Used by `npm start`, the
// integration tests (port 0, temp dirs) and the benchmark.
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { ModelManifest, RoundSettings, Tier } from '@prufed/fl';
import {
  adapterToPeft,
  ConfigError,
  initLoraAdapter,
  type LoraConfig,
  parseLlamaConfig,
} from '@prufed/model';
import { readModelDir } from '@prufed/model/node';
import { Server } from 'socket.io';
import { type Calibration, computeCalibration } from './calibration';
import type { ServerConfig } from './config';
import { Coordinator, type VolunteerServer } from './coordinator';
import { createApiHandler } from './http/api';
import { createHttpHandler } from './http/app';
import { Store } from './store';
import { planTiers } from './tiers';

export interface RunningServer {
  /** http://host:port without a trailing slash. */
  url: string;
  port: number;
  token: string;
  coordinator: Coordinator;
  store: Store;
  /** Stops rounds, sockets, HTTP and the store; an open round is dropped unpersisted. */
  close(): Promise<void>;
}

export interface StartOptions {
  log?: (line: string) => void;
}

function readModelConfig(modelDir: string) {
  const file = path.join(modelDir, 'config.json');
  if (!existsSync(file)) {
    throw new ConfigError(
      `no model at ${modelDir} (config.json is missing). Put a Hugging Face LLaMA checkpoint directory there ` +
        '(config.json, model.safetensors, tokenizer.json), e.g. `huggingface-cli download HuggingFaceTB/SmolLM2-135M ' +
        '--local-dir public/models/smollm2-135m`, and point PRUFED_MODEL_DIR at it',
    );
  }
  return parseLlamaConfig(JSON.parse(readFileSync(file, 'utf8')));
}

export async function startServer(config: ServerConfig, options: StartOptions = {}): Promise<RunningServer> {
  const log = options.log ?? ((line: string) => console.log(line));
  const modelConfig = readModelConfig(config.modelDir);
  const modelId = path.basename(config.modelDir);
  const L = modelConfig.numHiddenLayers;
  const needsWeights = ['magnitude', 'contribution', 'angular'].includes(config.pruning);
  const model = needsWeights ? await readModelDir(config.modelDir) : undefined;
  let calibration: Calibration | undefined;
  if (model && (config.pruning === 'contribution' || config.pruning === 'angular')) {
    const started = performance.now();
    calibration = await computeCalibration(model.weights, model.tokenizerJson, {
      file: config.calibrationFile,
      lines: config.calibrationLines,
      maxTokens: config.seqLen,
    });
    log(
      `prufed: ${config.pruning} pruning ran the full model on ${calibration.sequences} calibration lines (${calibration.tokens} tokens of ${config.calibrationFile}) in ${(performance.now() - started).toFixed(0)} ms`,
    );
  }
  const tierPlan = planTiers({
    numLayers: L,
    enabled: config.tiers,
    depths: { a: config.tierDepthA, b: config.tierDepthB, c: config.tierDepthC } satisfies Record<
      Tier,
      number
    >,
    pruning: config.pruning,
    weights: model?.weights,
    calibration,
  });
  const lora: LoraConfig = { r: config.loraRank, alpha: config.loraAlpha, targetModules: config.loraTargets };
  const allLayers = Array.from({ length: L }, (_, i) => i);
  const store = new Store(config.dataDir);
  const run = store.openRun({ modelId, numLayers: L, lora }, config, () =>
    initLoraAdapter(modelConfig, lora, allLayers, config.seed),
  );
  log(
    run.resumed
      ? `prufed: resuming run ${run.runId} after round ${run.lastRound} (${config.dataDir})`
      : `prufed: started run ${run.runId} (${config.dataDir})`,
  );
  for (const tier of tierPlan.enabled) log(`prufed: ${tierPlan.reasons[tier]}`);
  const maxUpdateBytes = config.maxUpdateBytes || adapterToPeft(run.global).safetensors.byteLength + 65536;
  const settings: RoundSettings = {
    sampling: { fraction: config.fraction, minClients: config.minClients, maxClients: config.maxClients },
    train: {
      localSteps: config.localSteps,
      batchSize: config.batchSize,
      learningRate: config.learningRate,
      seqLen: config.seqLen,
    },
    minResults: config.quorum,
    totalRounds: config.rounds,
    roundTimeoutMs: config.roundTimeoutMs,
  };
  const manifest: ModelManifest = {
    modelId,
    baseUrl: `/models/${encodeURIComponent(modelId)}/`,
    numLayers: L,
    lora,
  };

  const httpServer = createServer();
  // Frames above this are refused by Socket.IO itself; updates between maxUpdateBytes and this get a reason.
  const io: VolunteerServer = new Server(httpServer, { maxHttpBufferSize: 2 * maxUpdateBytes + (1 << 20) });
  const coordinator = new Coordinator(io, {
    store,
    global: run.global,
    lastRound: run.lastRound,
    serverState: run.serverState,
    manifest,
    tierPlan,
    strategy: config.strategy,
    settings,
    gatherMs: config.gatherMs,
    maxUpdateBytes,
    maxUpdateNorm: config.maxUpdateNorm,
    maxNumSamples: config.maxNumSamples,
    seed: config.seed,
    autoStart: config.autoStart,
    dashboardToken: config.dashboardToken,
    data: {
      task: config.dataTask,
      url: `/datasets/wordnet/${config.dataTask}/train.jsonl`,
      shards: config.dataShards,
      scheme: config.dataPartition,
      alpha: config.dataAlpha,
      seed: config.dataSeed,
    },
    resumeGraceMs: config.resumeGraceMs,
    log,
  });
  const handler = createHttpHandler({
    webRoot: config.webRoot,
    publicRoot: config.publicRoot,
    mounts: [{ prefix: manifest.baseUrl, root: config.modelDir }],
    api: createApiHandler({ coordinator, store, tierPlan, token: config.dashboardToken, modelId }),
    pages: { '/dashboard': 'dashboard.html' },
  });
  httpServer.on('request', (req, res) => {
    // Socket.IO answers its own path; everything else is ours.
    if (req.url?.startsWith('/socket.io/')) return;
    handler(req, res).catch((error: unknown) => {
      log(`prufed: request failed: ${(error as Error).stack ?? String(error)}`);
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(config.port, config.host, () => resolve());
  });
  const { port } = httpServer.address() as AddressInfo;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  return {
    url: `http://${host}:${port}`,
    port,
    token: config.dashboardToken,
    coordinator,
    store,
    async close() {
      coordinator.stop();
      io.disconnectSockets(true);
      await new Promise<void>((resolve) => io.close(() => resolve()));
      httpServer.closeAllConnections();
      store.close();
    },
  };
}
