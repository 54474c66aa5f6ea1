// A protocol-level volunteer for tests and benchmarks: speaks hello / ready / update over a real
// socket.io-client connection and queues round:start / round:end events so none is missed between
// awaits. It trains nothing: callers submit whatever adapter bytes they want (synthetic updates).
import {
  type ClientToServerEvents,
  type HelloAck,
  type HelloReport,
  protocolVersion,
  type ResumeRequest,
  type RoundCancelInfo,
  type RoundEndInfo,
  type RoundStartInfo,
  type ServerToClientEvents,
  type Tier,
  type UpdateAck,
  type UpdateMeta,
} from '@prufed/fl';
import { io, type Socket } from 'socket.io-client';

export type VolunteerClientSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

export interface RoundStart {
  info: RoundStartInfo;
  /** The global adapter slice, PEFT safetensors. */
  bytes: Uint8Array;
}

export function helloReport(tier: Tier, engine: 'webgpu' | 'cpu' = 'cpu'): HelloReport {
  return {
    protocolVersion,
    engine,
    preferredTier: tier,
    tierReason: `?tier=${tier} override`,
    gpu: null,
    deviceMemoryGb: null,
  };
}

/** A FIFO of events with promise-returning take(). */
class EventQueue<T> {
  private readonly items: T[] = [];
  private readonly waiters: ((item: T) => void)[] = [];

  push(item: T): void {
    const waiter = this.waiters.shift();
    if (waiter) waiter(item);
    else this.items.push(item);
  }

  take(timeoutMs: number, what: string): Promise<T> {
    const item = this.items.shift();
    if (item !== undefined) return Promise.resolve(item);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error(`no ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter = (value: T) => {
        clearTimeout(timer);
        resolve(value);
      };
      this.waiters.push(waiter);
    });
  }
}

export class ProtocolClient {
  readonly starts = new EventQueue<RoundStart>();
  readonly ends = new EventQueue<RoundEndInfo>();
  readonly cancels = new EventQueue<RoundCancelInfo>();
  clientId = '';
  resumeToken = '';

  private constructor(readonly socket: VolunteerClientSocket) {
    socket.on('round:start', (info, bytes) =>
      this.starts.push({ info, bytes: bytes instanceof ArrayBuffer ? new Uint8Array(bytes) : bytes }),
    );
    socket.on('round:end', (info) => this.ends.push(info));
    socket.on('round:cancel', (info) => this.cancels.push(info));
  }

  static async connect(url: string): Promise<ProtocolClient> {
    const socket: VolunteerClientSocket = io(url, {
      transports: ['websocket'],
      reconnection: false,
      forceNew: true,
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('connect_error', reject);
    });
    return new ProtocolClient(socket);
  }

  async hello(tier: Tier, resume?: ResumeRequest): Promise<HelloAck & { ok: true }> {
    const report = resume ? { ...helloReport(tier), resume } : helloReport(tier);
    const ack = await this.socket.timeout(10_000).emitWithAck('hello', report);
    if (!ack.ok) throw new Error(`hello refused: ${ack.reason}`);
    this.clientId = ack.clientId;
    this.resumeToken = ack.resumeToken;
    return ack;
  }

  /** Closes the transport under the socket, as a crashed tab or a lost network would (not a Leave). */
  dropConnection(): void {
    this.socket.io.engine.close();
  }

  ready(): void {
    this.socket.emit('ready');
  }

  nextRoundStart(timeoutMs = 10_000): Promise<RoundStart> {
    return this.starts.take(timeoutMs, 'round:start');
  }

  nextRoundEnd(timeoutMs = 10_000): Promise<RoundEndInfo> {
    return this.ends.take(timeoutMs, 'round:end');
  }

  update(meta: UpdateMeta, bytes: Uint8Array): Promise<UpdateAck> {
    return this.socket.timeout(10_000).emitWithAck('update', meta, bytes);
  }

  close(): void {
    this.socket.disconnect();
  }
}
