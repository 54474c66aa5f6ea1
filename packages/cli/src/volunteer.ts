// `prufed volunteer`: a headless volunteer that speaks the same Socket.IO protocol as the browser.
// It says hello with its tier, downloads only its kept layers from the server over HTTP byte ranges,
// and for each round it is sampled in trains the received global adapter slice with a real engine
// (AdamW) on its local instruction data, reports progress and sends the update. runVolunteer is
// the whole client as a function, for in-process tests and simulations.
import { readFile } from 'node:fs/promises';
import {
  type ClientToServerEvents,
  type DataShard,
  describeData,
  type HelloAck,
  protocolVersion,
  type RoundStartInfo,
  type ServerToClientEvents,
  shardPartition,
  type Tier,
  tiers,
} from '@prufed/fl';
import {
  adapterFromPeft,
  adapterToPeft,
  clientShard,
  defaultAdamW,
  encodeRecord,
  httpFetchRange,
  InputError,
  instructionTokenizer,
  loadLlamaWeights,
  loadTokenizer,
  makeBatch,
  openSafetensorsByRange,
  parseLlamaConfig,
  parseTaskJsonl,
  Rng,
  type TaskRecord,
  warmUpTraining,
} from '@prufed/model';
import { Command, InvalidArgumentError, Option } from 'commander';
import { io, type Socket } from 'socket.io-client';
import { parseCount } from './args';
import { createEngine, engineNames } from './engines';

export interface VolunteerOptions {
  serverUrl: string;
  tier: Tier;
  engine: string;
  /** Task JSONL file path or URL; default the split the server assigns (with its shard). */
  data?: string;
  /** Train on shard `index` of an IID partition (seed 0) of the data into `count` shards, not the server's. */
  shard?: { index: number; count: number };
  /** Leave after this many rounds that ended; default: until the signal aborts. */
  rounds?: number;
  signal?: AbortSignal;
  log?: (line: string) => void;
}

export interface VolunteerResult {
  clientId: string;
  tier: Tier;
  keptLayers: number[];
  /** Rounds whose update the server accepted. */
  roundsTrained: number;
  /** Mean training loss of the last round, NaN before the first. */
  lastLoss: number;
}

type VolunteerSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

type Event =
  | { type: 'start'; info: RoundStartInfo; bytes: Uint8Array }
  | { type: 'cancel'; round: number }
  | { type: 'end'; round: number }
  | { type: 'stop'; reason: string };

async function readText(source: string): Promise<string> {
  if (!/^https?:\/\//.test(source)) return readFile(source, 'utf8');
  const res = await fetch(source);
  if (!res.ok) throw new InputError(`GET ${source} failed with HTTP ${res.status}; check --data`);
  return res.text();
}

async function fetchJson(url: URL): Promise<unknown> {
  const res = await fetch(url);
  if (!res.ok) throw new InputError(`GET ${url} failed with HTTP ${res.status}; is the model served there?`);
  return res.json();
}

export async function runVolunteer(options: VolunteerOptions): Promise<VolunteerResult> {
  const log = options.log ?? (() => {});
  const socket: VolunteerSocket = io(options.serverUrl, {
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
  });
  const events: Event[] = [];
  let wake: (() => void) | null = null;
  const push = (event: Event) => {
    events.push(event);
    wake?.();
  };
  socket.on('round:start', (info, bytes) =>
    push({ type: 'start', info, bytes: bytes instanceof ArrayBuffer ? new Uint8Array(bytes) : bytes }),
  );
  socket.on('round:cancel', (info) => push({ type: 'cancel', round: info.round }));
  socket.on('round:end', (info) => push({ type: 'end', round: info.round }));
  socket.on('disconnect', (reason) => push({ type: 'stop', reason: `disconnected (${reason})` }));
  const onAbort = () => push({ type: 'stop', reason: 'stopped' });
  options.signal?.addEventListener('abort', onAbort, { once: true });
  const next = async (): Promise<Event> => {
    while (events.length === 0) await new Promise<void>((resolve) => (wake = resolve));
    wake = null;
    return events.shift()!;
  };

  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('connect_error', (error) =>
        reject(new InputError(`cannot reach the PruFed server at ${options.serverUrl}: ${error.message}`)),
      );
    });
    const hello: HelloAck = await socket.timeout(30_000).emitWithAck('hello', {
      protocolVersion,
      engine: options.engine === 'webgpu' ? 'webgpu' : 'cpu',
      preferredTier: options.tier,
      tierReason: `--tier ${options.tier}`,
      gpu: null,
      deviceMemoryGb: null,
    });
    if (!hello.ok) throw new InputError(`the server refused this volunteer: ${hello.reason}`);
    const { clientId, tier, keptLayers, manifest } = hello;
    log(`volunteer ${clientId}: tier ${tier}, layers [${keptLayers}] of ${manifest.modelId}`);

    const modelUrl = new URL(manifest.baseUrl, options.serverUrl);
    const config = parseLlamaConfig(await fetchJson(new URL('config.json', modelUrl)));
    const file = await openSafetensorsByRange(httpFetchRange(new URL('model.safetensors', modelUrl).href));
    const weights = await loadLlamaWeights(config, (name) => file.readTensor(name), keptLayers);
    const tokenizer = loadTokenizer(await fetchJson(new URL('tokenizer.json', modelUrl)));
    const instruction = instructionTokenizer(tokenizer, manifest.modelId);
    // The server's assignment unless --data or --shard says otherwise.
    const dataSource = options.data ?? new URL(hello.data.url, options.serverUrl).href;
    const shard: DataShard | null = options.shard
      ? { ...options.shard, scheme: 'iid', alpha: null, seed: 0 }
      : options.data
        ? null
        : hello.data.shard;
    const allRecords = parseTaskJsonl(await readText(dataSource), dataSource);
    const records: TaskRecord[] = shard
      ? clientShard(allRecords, shard.index, shardPartition(shard))
      : allRecords;
    if (records.length === 0)
      throw new InputError(`${dataSource} holds no records for this volunteer's shard`);
    log(
      `volunteer ${clientId}: ${records.length} local examples from ${dataSource}, ${describeData({ ...hello.data, shard })}`,
    );

    const engine = await createEngine(options.engine);
    const result: VolunteerResult = { clientId, tier, keptLayers, roundsTrained: 0, lastLoss: Number.NaN };
    const peftConfig = {
      peft_type: 'LORA',
      r: manifest.lora.r,
      lora_alpha: manifest.lora.alpha,
      target_modules: manifest.lora.targetModules,
    };
    let roundsEnded = 0;
    try {
      await engine.loadVariant(weights, { keptLayers });
      // Kernels compiled now cost the first round nothing (see warmUpTraining).
      const warmUpStarted = performance.now();
      await warmUpTraining(engine, config, keptLayers, hello.train, manifest.lora);
      log(
        `volunteer ${clientId}: warm-up step on the ${engine.kind} engine in ${((performance.now() - warmUpStarted) / 1000).toFixed(1)} s`,
      );
      socket.emit('ready');
      for (;;) {
        const event = await next();
        if (event.type === 'stop') break;
        if (event.type === 'cancel' || event.type === 'end') {
          roundsEnded += event.type === 'end' ? 1 : 0;
          if (options.rounds !== undefined && roundsEnded >= options.rounds) break;
          socket.emit('ready');
          continue;
        }
        const { round, train, seed } = event.info;
        await engine.setAdapter(adapterFromPeft(event.bytes, peftConfig));
        const rng = new Rng(seed);
        let lossSum = 0;
        let steps = 0;
        for (; steps < train.localSteps && events.length === 0; steps++) {
          const examples = Array.from({ length: train.batchSize }, () =>
            encodeRecord(instruction, records[Math.floor(rng.uniform() * records.length)], train.seqLen),
          );
          const batch = makeBatch(
            examples.map((example) => example.inputIds),
            examples.map((example) => example.labels),
            instruction.padId,
          );
          const { loss } = await engine.trainStep(batch, { ...defaultAdamW, lr: train.learningRate });
          lossSum += loss;
          socket.emit('progress', { round, step: steps + 1, loss: Number.isFinite(loss) ? loss : 0 });
          // Let a round:cancel or a stop arrive between steps.
          await new Promise((resolve) => setImmediate(resolve));
        }
        if (steps < train.localSteps) continue;
        result.lastLoss = lossSum / steps;
        const update = adapterToPeft(await engine.readAdapter()).safetensors;
        const ack = await socket
          .timeout(60_000)
          .emitWithAck(
            'update',
            { round, numSamples: steps * train.batchSize, metrics: { loss: result.lastLoss } },
            update,
          );
        if (ack.accepted) result.roundsTrained++;
        log(
          `volunteer ${clientId}: round ${round} loss ${result.lastLoss.toFixed(4)}: ${ack.accepted ? 'accepted' : `rejected (${ack.code}: ${ack.reason})`}`,
        );
      }
    } finally {
      engine.dispose();
    }
    return result;
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    socket.disconnect();
  }
}

export function volunteerCommand(): Command {
  return new Command('volunteer')
    .description('join a PruFed server as a headless volunteer and train every round it is sampled in')
    .requiredOption('--server <url>', 'server URL, e.g. http://localhost:3000')
    .addOption(
      new Option('--tier <tier>', 'device tier (a: full depth, b: 3/4, c: 1/2)')
        .choices([...tiers])
        .default('c'),
    )
    .addOption(new Option('--engine <name>', 'training engine').choices(engineNames).default('cpu'))
    .option('--data <file-or-url>', 'task JSONL; default: the split and shard the server assigns')
    .option(
      '--shard <k/n>',
      "train on shard k of n (IID partition of the data) instead of the server's",
      parseShard,
    )
    .option('--rounds <n>', 'leave after n rounds', parseCount)
    .action(
      async (options: {
        server: string;
        tier: Tier;
        engine: string;
        data?: string;
        shard?: VolunteerOptions['shard'];
        rounds?: number;
      }) => {
        const controller = new AbortController();
        process.once('SIGINT', () => controller.abort());
        const result = await runVolunteer({
          serverUrl: options.server,
          tier: options.tier,
          engine: options.engine,
          data: options.data,
          shard: options.shard,
          rounds: options.rounds,
          signal: controller.signal,
          log: (line) => console.log(line),
        });
        console.log(`volunteer ${result.clientId}: left after ${result.roundsTrained} accepted updates`);
      },
    );
}

function parseShard(value: string): { index: number; count: number } {
  const match = /^(\d+)\/(\d+)$/.exec(value);
  const index = Number(match?.[1]);
  const count = Number(match?.[2]);
  if (!match || count < 1 || index >= count) {
    throw new InvalidArgumentError(`"${value}" is not k/n with 0 <= k < n, e.g. 0/10.`);
  }
  return { index, count };
}
