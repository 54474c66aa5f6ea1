// The volunteer's side of the join flow: connect to the coordinator, say hello with the device's
// capabilities and preferred tier, then download the assigned variant into the trainer worker.
// The round loop (round:start -> local steps -> update) builds on this.
import {
  type ClientToServerEvents,
  type HelloAck,
  type HelloReport,
  protocolVersion,
  type ServerToClientEvents,
} from '@prufed/fl';
import { io, type Socket } from 'socket.io-client';
import type { TierChoice } from './tier';
import { progressCallback, type Trainer } from './trainer-client';
import type { Capabilities, DownloadProgress, LoadedModel } from './worker/api';

export type VolunteerSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

export type JoinedAck = Extract<HelloAck, { ok: true }>;

export function helloReport(capabilities: Capabilities, choice: TierChoice): HelloReport {
  const { gpu } = capabilities;
  return {
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
