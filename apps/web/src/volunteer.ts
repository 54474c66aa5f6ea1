// The volunteer's side of the protocol: connect to the coordinator, say hello with the device's
// capabilities and preferred tier (and, after a reload mid-round, the claim on that round),
// download the assigned variant into the trainer worker, fetch the tokenizer and the assigned data
// shard, and wire the socket to the round loop (round-loop.ts).
import {
  type Bytes,
  type ClientToServerEvents,
  type DataAssignment,
  type HelloAck,
  type HelloReport,
  type ModelManifest,
  protocolVersion,
  type ResumeRequest,
  type ServerToClientEvents,
} from '@prufed/fl';
import { InputError, instructionTokenizer, loadTokenizer } from '@prufed/model';
import { io, type Socket } from 'socket.io-client';
import type { OwnDataStore } from './checkpoint';
import { assignedData, type LocalData, parseOwnJsonl } from './local-data';
import type { RoundChannel, RoundLoop, RoundTrainer } from './round-loop';
import type { TierChoice } from './tier';
import { progressCallback, type Trainer, transferBatch, transferCopy } from './trainer-client';
import type { Capabilities, DownloadProgress, LoadedModel } from './worker/api';

export type VolunteerSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

export type JoinedAck = Extract<HelloAck, { ok: true }>;

export function helloReport(
  capabilities: Capabilities,
  choice: TierChoice,
  resume: ResumeRequest | undefined,
): HelloReport {
  const { gpu } = capabilities;
  const report: HelloReport = {
    protocolVersion,
    engine: choice.engine,
    preferredTier: choice.tier,
    tierReason: choice.reason,
    gpu:
      gpu === null
        ? null
        : {
            vendor: gpu.vendor,
            architecture: gpu.architecture,
            description: gpu.description,
            features: gpu.features,
            maxStorageBufferBindingSize: gpu.maxStorageBufferBindingSize,
            maxBufferSize: gpu.maxBufferSize,
          },
    deviceMemoryGb: capabilities.deviceMemoryGb,
  };
  if (resume) report.resume = resume;
  return report;
}

/** Connects to the page's own server; the socket does not reconnect (a new connection needs a new hello). */
export function connect(): VolunteerSocket {
  return io({ reconnection: false });
}

/** Says hello and returns the server's assignment; throws with the server's reason on refusal. */
export async function sayHello(socket: VolunteerSocket, report: HelloReport): Promise<JoinedAck> {
  const ack = await socket.timeout(30_000).emitWithAck('hello', report);
  if (!ack.ok) throw new Error(`the server refused to join this device: ${ack.reason}`);
  return ack;
}

/** Downloads (or reads from the cache) the assigned variant into the worker's engine. */
export function loadAssignedModel(
  trainer: Trainer,
  ack: JoinedAck,
  choice: TierChoice,
  onProgress: (progress: DownloadProgress) => void,
): Promise<LoadedModel> {
  return trainer.loadModel(
    { baseUrl: ack.manifest.baseUrl, keptLayers: ack.keptLayers, engine: choice.engine },
    progressCallback(onProgress),
  );
}

async function fetchOk(url: string, what: string): Promise<Response> {
  const response = await fetch(url);
  if (!response.ok) throw new InputError(`GET ${url} (${what}) failed with HTTP ${response.status}`);
  return response;
}

/** The model's tokenizer, in the instruction format's terms. */
export async function fetchTokenizer(
  manifest: ModelManifest,
): Promise<ReturnType<typeof instructionTokenizer>> {
  const url = new URL('tokenizer.json', new URL(manifest.baseUrl, window.location.href)).href;
  const json: unknown = await (await fetchOk(url, 'the model tokenizer')).json();
  return instructionTokenizer(loadTokenizer(json), manifest.modelId);
}

/** The volunteer's own file when one is stored, else the shard of public data the server assigned. */
export async function loadLocalData(ownData: OwnDataStore, assignment: DataAssignment): Promise<LocalData> {
  const own = await ownData.load();
  if (own !== undefined) return parseOwnJsonl(own.text, own.name);
  const response = await fetchOk(assignment.url, `the assigned ${assignment.task} data`);
  return assignedData(await response.text(), assignment);
}

/** The trainer worker as the round loop uses it: batches and adapter bytes move, not copy. */
export function workerRoundTrainer(trainer: Trainer): RoundTrainer {
  return {
    setAdapter: (bytes, lora) => trainer.setAdapter(transferCopy(bytes), lora),
    trainStep: (batch, optimizer) => trainer.trainStep(transferBatch(batch), optimizer),
    readAdapter: () => trainer.readAdapter(),
  };
}

/** The loop's messages to the coordinator; the update's bytes go as a binary attachment. */
export function socketChannel(socket: VolunteerSocket): RoundChannel {
  return {
    ready: () => socket.emit('ready'),
    progress: (progress) => socket.emit('progress', progress),
    update: (meta, adapter) => socket.timeout(60_000).emitWithAck('update', meta, adapter),
  };
}

function asUint8(bytes: Bytes): Uint8Array {
  return bytes instanceof ArrayBuffer ? new Uint8Array(bytes) : bytes;
}

/** Forwards the coordinator's round events, and the end of the connection, to the loop. */
export function forwardRoundEvents(socket: VolunteerSocket, loop: RoundLoop): void {
  socket.on('round:start', (info, adapter) => loop.push({ type: 'start', info, adapter: asUint8(adapter) }));
  socket.on('round:cancel', (info) => loop.push({ type: 'cancel', info }));
  socket.on('round:end', (info) => loop.push({ type: 'end', info }));
  socket.on('disconnect', (reason) =>
    loop.push({ type: 'stop', reason: `disconnected from the server (${reason})` }),
  );
}
