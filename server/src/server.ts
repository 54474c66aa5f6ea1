// Assembles the PruFed server from a configuration: the HTTP handler (web app, model, public/, API,
// merged ONNX models), the Socket.IO coordinator, the SQLite store and the background evaluation of
// each round's globals, listening on one port. Used by `npm start`, the
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
  loadTokenizer,
  parseLlamaConfig,
  parseTaskJsonl,
} from '@prufed/model';
import { readModelDir } from '@prufed/model/node';
import { Server } from 'socket.io';
import { type Calibration, computeCalibration } from './calibration';
import type { ServerConfig } from './config';
import { Coordinator, type VolunteerServer } from './coordinator';
import { type EvaluationData, Evaluator } from './evaluation';
import { createApiHandler } from './http/api';
import { createHttpHandler } from './http/app';
import { createLatestModelRoute } from './http/onnx-routes';
import { OnnxModels } from './onnx-models';
import { Store } from './store';
import { planTiers } from './tiers';

export interface RunningServer {
  /** http://host:port without a trailing slash. */
  url: string;
  port: number;
  token: string;
  coordinator: Coordinator;
  store: Store;
  models: OnnxModels;
  /** Undefined when evaluation is off (evalSamples 0, or no validation split or tokenizer). */
  evaluator: Evaluator | undefined;
  /** Stops rounds, sockets, HTTP and the store; an open round is dropped unpersisted. */
  close(): Promise<void>;
}

export interface StartOptions {
  log?: (line: string) => void;
  /** Awaited before each tier's evaluation (tests make evaluation slow with it). */
  beforeEvaluation?: (round: number, tier: Tier) => Promise<void>;
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

/**
 * What the server evaluates each round on: the first evalSamples records of the data task's
 * validation split (under publicRoot, as the clients' train split) and the model's tokenizer; with
 * either missing, evaluation is off and the log says why.
 */
function evaluationData(config: ServerConfig, log: (line: string) => void): EvaluationData | undefined {
  if (config.evalSamples === 0) {
    log('prufed: server-side evaluation is off (evalSamples 0)');
    return undefined;
  }
  const split = path.join(config.publicRoot, 'datasets', 'wordnet', config.dataTask, 'validation.jsonl');
  const tokenizerFile = path.join(config.modelDir, 'tokenizer.json');
  const missing = [split, tokenizerFile].filter((file) => !existsSync(file));
  if (missing.length > 0) {
    log(
      `prufed: server-side evaluation is off: ${missing.join(' and ')} missing (build the dataset with npm run data:wordnet, use a model with its tokenizer.json, or set PRUFED_EVAL_SAMPLES=0)`,
    );
    return undefined;
  }
  const configFile = path.join(config.modelDir, 'tokenizer_config.json');
  return {
    task: config.dataTask,
    records: parseTaskJsonl(readFileSync(split, 'utf8'), split).slice(0, config.evalSamples),
    tokenizer: loadTokenizer(
      JSON.parse(readFileSync(tokenizerFile, 'utf8')),
      existsSync(configFile) ? JSON.parse(readFileSync(configFile, 'utf8')) : undefined,
    ),
    maxLength: config.seqLen,
    maxNewTokens: config.evalMaxNewTokens,
  };
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

  const data = evaluationData(config, log);
  // The coordinator holds the latest global; older rounds come from the store.
  let latest: Coordinator | undefined;
  const models = new OnnxModels({
    modelDir: config.modelDir,
    store,
    tierPlan,
    globalOf: (round) => (round === latest?.completedRound ? latest.currentGlobal : undefined),
  });
  const evaluator =
    data &&
    new Evaluator({
      models,
      tierPlan,
      store,
      data,
      log,
      onResult: () => latest?.broadcastState(),
      beforeEvaluation: options.beforeEvaluation,
    });
  if (data) {
    log(
      `prufed: evaluating each round's tier globals on ${data.records.length} ${config.dataTask} validation records (ONNX, in the background)`,
    );
  }

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
    onRoundCommitted: (round) => evaluator?.schedule(round),
    log,
  });
  latest = coordinator;
  const onnxRoutes = { models, coordinator, store, tierPlan, modelId };
  const handler = createHttpHandler({
    webRoot: config.webRoot,
    publicRoot: config.publicRoot,
    mounts: [{ prefix: manifest.baseUrl, root: config.modelDir }],
    api: createApiHandler({
      ...onnxRoutes,
      token: config.dashboardToken,
      evaluator,
      evaluationSamples: data?.records.length ?? 0,
    }),
    routes: [createLatestModelRoute(onnxRoutes)],
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
    models,
    evaluator,
    async close() {
      coordinator.stop();
      await evaluator?.stop();
      io.disconnectSockets(true);
      await new Promise<void>((resolve) => io.close(() => resolve()));
      httpServer.closeAllConnections();
      store.close();
    },
  };
}
