// The Socket.IO coordinator (Algorithm 1): volunteers say hello and get a tier and its kept layers;
// each round samples a fraction of the ready volunteers, sends each the global adapter slice of its
// layers (PEFT safetensors as a binary attachment), validates and streams the updates into the
// strategy's aggregation, and at the last reply or the deadline aggregates if the quorum was met
// (else retries the round), persists (with the strategy's server state), broadcasts round:end and
// moves on. A rejected update is acked with its reason and the client may resend until the
// deadline; one that only sent rejected updates is a failure of the round. A client whose connection
// drops mid-round (not a deliberate disconnect) is 'disconnected', not failed: within the resume grace
// (and the deadline) it may say hello again on a new connection with its resume token and finish the
// round there; only a client that never comes back fails. Each hello ack also assigns the client a
// shard of the public train split. The /dashboard namespace (token in the handshake) gets a state
// snapshot on every join, leave, ready, control and round transition (and when a round's server-side
// evaluation lands), activity in between, and may send control commands.
// Everything that arrives from a socket is untyped until a guard from @prufed/fl has parsed it,
// and no handler lets an exception escape: a malformed message never takes the server down.
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import {
  acceptUpdate,
  type ClientInfo,
  type ClientSummary,
  type ClientToServerEvents,
  type ControlAck,
  type ControlCommand,
  type CoordinatorStatus,
  type DashboardActivity,
  type DashboardClientToServerEvents,
  type DashboardServerToClientEvents,
  type DashboardState,
  type DataAssignment,
  type DataShard,
  type DeviceSummary,
  dashboardNamespace,
  fedAvg,
  type HelloAck,
  type HelloReport,
  heteAgg,
  type InterServerEvents,
  type ModelManifest,
  parseAdapterBytes,
  parseControl,
  parseHello,
  parseProgress,
  parseUpdateMeta,
  protocolVersion,
  type RejectionCode,
  type RoundAggregation,
  type RoundSettings,
  type RoundStartInfo,
  type ServerState,
  type ServerToClientEvents,
  type SocketData,
  type StreamingStrategy,
  type Tier,
  type TierRoundMetrics,
  type UpdateAck,
  withFedAdam,
} from '@prufed/fl';
import { adapterToPeft, ConfigError, InputError, type LoraAdapter, Rng } from '@prufed/model';
import type { Namespace, Server, Socket } from 'socket.io';
import type { AggregationStrategyName } from './config';
import type { Store } from './store';
import { threadCpuMs } from './thread-cpu';
import { assignTier, sliceAdapter, type TierPlan } from './tiers';

export type VolunteerServer = Server<
  ClientToServerEvents,
  ServerToClientEvents,
  InterServerEvents,
  SocketData
>;
type VolunteerSocket = Socket<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;
type DashboardNamespace = Namespace<DashboardClientToServerEvents, DashboardServerToClientEvents>;

export interface CoordinatorOptions {
  store: Store;
  /** The global adapter of the last completed round and that round's number (0: the initial one). */
  global: LoraAdapter;
  lastRound: number;
  /** The strategy's server state stored with lastRound (FedAdam's moments). */
  serverState: ServerState;
  manifest: ModelManifest;
  tierPlan: TierPlan;
  strategy: AggregationStrategyName;
  settings: RoundSettings;
  /** Wait this long after the first ready volunteer before sampling, so others can join the round. */
  gatherMs: number;
  maxUpdateBytes: number;
  maxUpdateNorm: number;
  maxNumSamples: number;
  seed: number;
  autoStart: boolean;
  dashboardToken: string;
  data: DataPlan;
  /** How long a client whose connection dropped mid-round may take to resume (0: it fails at once). */
  resumeGraceMs: number;
  /** Called once a round's new global is stored and round:end has gone out (server-side evaluation). */
  onRoundCommitted?: (round: number) => void;
  log: (line: string) => void;
}

/** The public train split the clients train on and how it is sharded among them. */
export interface DataPlan {
  task: string;
  /** URL of the split's task JSONL. */
  url: string;
  /** 0: every client trains on the whole split. */
  shards: number;
  scheme: DataShard['scheme'];
  alpha: number;
  seed: number;
}

interface Volunteer {
  info: ClientInfo;
  /** null while disconnected mid-round, waiting for the client to resume on a new connection. */
  socket: VolunteerSocket | null;
  engine: 'webgpu' | 'cpu';
  device: DeviceSummary;
  data: DataAssignment;
  /** Why the server gave this tier (the preferred one or the nearest enabled shallower one). */
  tierReason: string;
  resumeToken: string;
  ready: boolean;
  lastLoss: number | null;
  /** Why the connection dropped and the timer that fails the client if it does not resume. */
  disconnected: { reason: string; timer: NodeJS.Timeout } | null;
  /** Resumed on a new connection: its round:start goes out again when it says ready. */
  owesRoundStart: boolean;
}

/** Socket.IO's disconnect reason when the client itself closed the connection (Leave, process exit). */
const deliberateDisconnect = 'client namespace disconnect';

interface TierSum {
  clients: number;
  samples: number;
  metrics: Map<string, { sum: number; weight: number }>;
}

interface OpenRound {
  round: number;
  assigned: Map<string, ClientInfo>;
  /** Accepted updates: client id -> numSamples. */
  submitted: Map<string, number>;
  /** Clients that will not deliver: client id -> reason. */
  failed: Map<string, string>;
  /** Assigned clients' last rejected update, "code: reason"; they may still resend. */
  rejected: Map<string, string>;
  aggregation: RoundAggregation;
  tierSums: Map<Tier, TierSum>;
  /** Epoch milliseconds. */
  deadline: number;
  /** performance.now() at round:start. */
  startedAt: number;
  /** What each client was sent at round:start, to send again to a client that resumed. */
  starts: Map<string, { info: RoundStartInfo; bytes: Uint8Array }>;
  timer: NodeJS.Timeout;
}

/** Counters exposed by /api/state: rejected updates by reason code, rounds retried. */
export interface CoordinatorCounters {
  rejected: Partial<Record<RejectionCode, number>>;
  retriedRounds: number;
  acceptedUpdates: number;
  /** Bytes of accepted updates. */
  updateBytes: number;
  /**
   * Server time spent on accepted updates (layout check, value pass for finiteness and delta norm,
   * accumulation): wall clock, and the event-loop thread's CPU time (threadCpuMs), which a busy
   * machine does not inflate.
   */
  updateMs: number;
  updateCpuMs: number;
  /** Server time spent finishing rounds: means, server optimizer step, persisting. */
  finishMs: number;
  /** Epoch milliseconds (fractional) when the last update was accepted. */
  lastUpdateAt: number;
}

export function buildStrategy(name: AggregationStrategyName, settings: RoundSettings): StreamingStrategy {
  const options = {
    sampling: settings.sampling,
    train: settings.train,
    minResults: settings.minResults,
    acceptFailures: true,
  };
  if (name === 'fedavg') return fedAvg(options);
  const strategy = heteAgg(options);
  return name === 'fedadam' ? withFedAdam(strategy) : strategy;
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

/** Constant-time comparison of a presented token with the configured one. */
export function tokenMatches(presented: unknown, token: string): boolean {
  return typeof presented === 'string' && timingSafeEqual(digest(presented), digest(token));
}

/** Calls an ack the sender passed, if it passed a function at all. */
function replyWith<T>(ack: unknown): (reply: T) => void {
  return (reply) => {
    if (typeof ack === 'function') ack(reply);
  };
}

export class Coordinator {
  private readonly volunteers = new Map<string, Volunteer>();
  private readonly dashboard: DashboardNamespace;
  private strategy: StreamingStrategy;
  private settings: RoundSettings;
  private status: CoordinatorStatus;
  private global: LoraAdapter;
  private lastRound: number;
  private open: OpenRound | null = null;
  private gatherTimer: NodeJS.Timeout | null = null;
  private attempt = 0;
  private stopped = false;
  private joins = 0;
  private stateQueued = false;
  readonly counters: CoordinatorCounters = {
    rejected: {},
    retriedRounds: 0,
    acceptedUpdates: 0,
    updateBytes: 0,
    updateMs: 0,
    updateCpuMs: 0,
    finishMs: 0,
    lastUpdateAt: 0,
  };

  constructor(
    io: VolunteerServer,
    private readonly options: CoordinatorOptions,
  ) {
    this.settings = options.settings;
    this.strategy = buildStrategy(options.strategy, this.settings);
    this.strategy.restoreServerState(options.serverState);
    this.global = options.global;
    this.lastRound = options.lastRound;
    this.status =
      this.lastRound >= this.settings.totalRounds ? 'finished' : options.autoStart ? 'running' : 'idle';
    io.on('connection', (socket) => this.onVolunteer(socket));
    this.dashboard = io.of(dashboardNamespace);
    this.dashboard.use((socket, next) => {
      if (tokenMatches(socket.handshake.auth?.token, options.dashboardToken)) next();
      else next(new Error('dashboard token missing or wrong; pass { auth: { token } } (see the server log)'));
    });
    this.dashboard.on('connection', (socket) => {
      socket.emit('state', this.snapshot());
      socket.on('control', (command: unknown, ack: unknown) =>
        this.guarded('control', () => replyWith<ControlAck>(ack)(this.control(command))),
      );
    });
  }

  /** The global adapter of the last completed round. */
  get currentGlobal(): LoraAdapter {
    return this.global;
  }

  get completedRound(): number {
    return this.lastRound;
  }

  /** Stops every timer; the open round is dropped unpersisted, as if the process were killed. */
  stop(): void {
    this.stopped = true;
    for (const volunteer of this.volunteers.values()) {
      if (volunteer.disconnected) clearTimeout(volunteer.disconnected.timer);
    }
    if (this.open) clearTimeout(this.open.timer);
    if (this.gatherTimer) clearTimeout(this.gatherTimer);
    this.open = null;
    this.gatherTimer = null;
  }

  private log(line: string): void {
    this.options.log(line);
  }

  /** Runs a handler; an unexpected exception is logged, never thrown into Socket.IO. */
  private guarded(what: string, handler: () => void): void {
    try {
      handler();
    } catch (error) {
      this.log(`prufed: ${what} handler failed: ${(error as Error).stack ?? String(error)}`);
    }
  }

  private onVolunteer(socket: VolunteerSocket): void {
    socket.on('hello', (report: unknown, ack: unknown) =>
      this.guarded('hello', () => this.hello(socket, report, ack)),
    );
    socket.on('ready', () => this.guarded('ready', () => this.ready(socket)));
    socket.on('progress', (progress: unknown) =>
      this.guarded('progress', () => this.progress(socket, progress)),
    );
    socket.on('update', (meta: unknown, bytes: unknown, ack: unknown) =>
      this.guarded('update', () => this.update(socket, meta, bytes, ack)),
    );
    socket.on('disconnect', (reason) => this.guarded('disconnect', () => this.leave(socket, reason)));
  }

  private hello(socket: VolunteerSocket, report: unknown, ack: unknown): void {
    const reply = replyWith<HelloAck>(ack);
    if (socket.data.clientId) {
      reply({ ok: false, reason: `this connection already said hello as ${socket.data.clientId}` });
      return;
    }
    const parsed = parseHello(report);
    if (!parsed.ok) {
      reply({ ok: false, reason: parsed.reason });
      return;
    }
    if (parsed.value.protocolVersion !== protocolVersion) {
      reply({
        ok: false,
        reason: `protocol version ${parsed.value.protocolVersion} is not supported, the server speaks ${protocolVersion}; reload the page`,
      });
      return;
    }
    const resumed = this.resume(socket, parsed.value);
    const volunteer = resumed ?? this.join(socket, parsed.value);
    socket.data = {
      clientId: volunteer.info.id,
      tier: volunteer.info.tier,
      keptLayers: volunteer.info.keptLayers,
    };
    reply({
      ok: true,
      clientId: volunteer.info.id,
      tier: volunteer.info.tier,
      keptLayers: volunteer.info.keptLayers,
      tierReason: volunteer.tierReason,
      manifest: this.options.manifest,
      train: this.settings.train,
      data: volunteer.data,
      resumeToken: volunteer.resumeToken,
      resumedRound: resumed ? this.open!.round : null,
    });
    if (resumed) {
      this.log(`prufed: client ${volunteer.info.id} resumed round ${this.open!.round} on a new connection`);
      this.activity({ type: 'client:resumed', clientId: volunteer.info.id, round: this.open!.round });
    } else {
      this.activity({ type: 'client:join', client: this.summary(volunteer) });
    }
    this.broadcastState();
  }

  /** A new client: its tier, layers, data shard and resume token. */
  private join(socket: VolunteerSocket, report: HelloReport): Volunteer {
    const { tier, reason } = assignTier(report, this.options.tierPlan);
    const info: ClientInfo = { id: randomUUID(), tier, keptLayers: this.options.tierPlan.layers[tier]! };
    const volunteer: Volunteer = {
      info,
      socket,
      engine: report.engine,
      device: {
        gpu:
          report.gpu === null
            ? null
            : [report.gpu.vendor, report.gpu.architecture, report.gpu.description]
                .filter(Boolean)
                .join(' ') || 'unnamed WebGPU adapter',
        deviceMemoryGb: report.deviceMemoryGb,
        tierReason: report.tierReason,
      },
      data: this.dataAssignment(this.joins++),
      tierReason: reason,
      resumeToken: randomBytes(24).toString('base64url'),
      ready: false,
      lastLoss: null,
      disconnected: null,
      owesRoundStart: false,
    };
    this.volunteers.set(info.id, volunteer);
    this.options.store.recordClientJoin({ ...info, engine: volunteer.engine });
    return volunteer;
  }

  private dataAssignment(join: number): DataAssignment {
    const { task, url, shards, scheme, alpha, seed } = this.options.data;
    return {
      task,
      url,
      shard:
        shards === 0
          ? null
          : {
              index: join % shards,
              count: shards,
              scheme,
              alpha: scheme === 'dirichlet' ? alpha : null,
              seed,
            },
    };
  }

  /**
   * The disconnected client a hello's resume claim names, re-bound to this connection, when the claim
   * holds: the right token, the open round, assigned to the client and not yet delivered. Otherwise
   * undefined, and the hello joins a new client (the claimed slot stays as it was).
   */
  private resume(socket: VolunteerSocket, report: HelloReport): Volunteer | undefined {
    const claim = report.resume;
    if (!claim) return undefined;
    const volunteer = this.volunteers.get(claim.clientId);
    if (
      !volunteer?.disconnected ||
      !tokenMatches(claim.token, volunteer.resumeToken) ||
      claim.round !== this.open?.round ||
      !this.pendingIn(volunteer.info.id)
    ) {
      this.log(
        `prufed: a hello claimed round ${claim.round} of client ${claim.clientId} but cannot resume it; joining it as a new client`,
      );
      return undefined;
    }
    clearTimeout(volunteer.disconnected.timer);
    volunteer.disconnected = null;
    volunteer.socket = socket;
    volunteer.owesRoundStart = true;
    return volunteer;
  }

  private volunteerOf(socket: VolunteerSocket): Volunteer | undefined {
    return socket.data.clientId === undefined ? undefined : this.volunteers.get(socket.data.clientId);
  }

  private ready(socket: VolunteerSocket): void {
    const volunteer = this.volunteerOf(socket);
    if (!volunteer) return;
    if (this.pendingIn(volunteer.info.id)) {
      if (volunteer.owesRoundStart) {
        volunteer.owesRoundStart = false;
        const start = this.open!.starts.get(volunteer.info.id)!;
        socket.emit('round:start', start.info, start.bytes);
      }
      return;
    }
    if (volunteer.ready) return;
    volunteer.ready = true;
    this.broadcastState();
    this.scheduleRound();
  }

  /** Whether the client trains in the open round and has not delivered yet. */
  private pendingIn(clientId: string): boolean {
    const open = this.open;
    return (
      !!open && open.assigned.has(clientId) && !open.submitted.has(clientId) && !open.failed.has(clientId)
    );
  }

  private progress(socket: VolunteerSocket, input: unknown): void {
    const volunteer = this.volunteerOf(socket);
    const parsed = parseProgress(input);
    if (
      !volunteer ||
      !parsed.ok ||
      parsed.value.round !== this.open?.round ||
      !this.pendingIn(volunteer.info.id)
    ) {
      return;
    }
    volunteer.lastLoss = parsed.value.loss;
    this.activity({ type: 'progress', clientId: volunteer.info.id, progress: parsed.value });
  }

  /** Acks an update (the ack goes out before the round:end it may trigger). */
  private update(socket: VolunteerSocket, metaInput: unknown, bytesInput: unknown, ack: unknown): void {
    const reply = this.receiveUpdate(socket, metaInput, bytesInput);
    replyWith<UpdateAck>(ack)(reply);
    if (!reply.accepted) return;
    this.broadcastState();
    this.finishIfComplete();
  }

  /** Validates an update and adds it to the open round's aggregation, or says why not. */
  private receiveUpdate(socket: VolunteerSocket, metaInput: unknown, bytesInput: unknown): UpdateAck {
    const clientId = socket.data.clientId ?? '(no hello)';
    const reject = (code: RejectionCode, reason: string, round = 0): UpdateAck => {
      this.counters.rejected[code] = (this.counters.rejected[code] ?? 0) + 1;
      if (this.pendingIn(clientId)) this.open!.rejected.set(clientId, `${code}: ${reason}`);
      this.log(`prufed: rejected an update from ${clientId}: ${code}: ${reason}`);
      this.activity({ type: 'update:rejected', clientId, round, code, reason });
      this.broadcastState();
      return { accepted: false, code, reason };
    };
    const meta = parseUpdateMeta(metaInput);
    if (!meta.ok) return reject('malformed', meta.reason);
    const bytes = parseAdapterBytes(bytesInput, Number.POSITIVE_INFINITY);
    if (!bytes.ok) return reject('malformed', bytes.reason, meta.value.round);
    const volunteer = this.volunteerOf(socket);
    if (!volunteer) return reject('unknown-client', 'this connection has not said hello', meta.value.round);
    const open = this.open;
    if (!open) {
      return reject(
        'wrong-round',
        `no round is open; wait for round:start (last completed: ${this.lastRound})`,
        meta.value.round,
      );
    }
    const started = performance.now();
    const cpuStarted = threadCpuMs();
    const acceptance = acceptUpdate(
      { ...meta.value, clientId: volunteer.info.id, bytes: bytes.value },
      {
        round: open.round,
        assigned: open.assigned,
        submitted: new Set([...open.submitted.keys(), ...open.failed.keys()]),
        maxPayloadBytes: this.options.maxUpdateBytes,
        maxNumSamples: this.options.maxNumSamples,
        global: this.global,
        maxDeltaNorm: this.options.maxUpdateNorm,
      },
    );
    if (!acceptance.ok) return reject(acceptance.code, acceptance.reason, meta.value.round);
    try {
      open.aggregation.addResult(acceptance.result);
    } catch (error) {
      if (!(error instanceof InputError)) throw error;
      return reject('malformed', error.message, meta.value.round);
    }
    this.counters.updateMs += performance.now() - started;
    this.counters.updateCpuMs += threadCpuMs() - cpuStarted;
    this.counters.updateBytes += bytes.value.byteLength;
    this.counters.acceptedUpdates++;
    this.counters.lastUpdateAt = performance.timeOrigin + performance.now();
    const { numSamples, metrics } = acceptance.result;
    open.submitted.set(volunteer.info.id, numSamples);
    const tierSum = open.tierSums.get(volunteer.info.tier) ?? { clients: 0, samples: 0, metrics: new Map() };
    tierSum.clients++;
    tierSum.samples += numSamples;
    for (const [name, value] of Object.entries(metrics)) {
      const entry = tierSum.metrics.get(name) ?? { sum: 0, weight: 0 };
      entry.sum += numSamples * value;
      entry.weight += numSamples;
      tierSum.metrics.set(name, entry);
    }
    open.tierSums.set(volunteer.info.tier, tierSum);
    return { accepted: true };
  }

  /**
   * A connection closed. A client training in the open round whose connection dropped (rather than
   * being closed by the client) waits, disconnected, for a resume until the grace or the deadline ends.
   */
  private leave(socket: VolunteerSocket, reason: string): void {
    const volunteer = this.volunteerOf(socket);
    // A re-bound client's old connection closing later says nothing about the client.
    if (!volunteer || volunteer.socket !== socket) return;
    const open = this.open;
    const graceMs = open ? Math.min(this.options.resumeGraceMs, Math.max(0, open.deadline - Date.now())) : 0;
    if (open && this.pendingIn(volunteer.info.id) && reason !== deliberateDisconnect && graceMs > 0) {
      volunteer.socket = null;
      volunteer.ready = false;
      volunteer.owesRoundStart = false;
      volunteer.disconnected = {
        reason,
        timer: setTimeout(
          () =>
            this.guarded('resume grace', () =>
              this.drop(volunteer, `${reason}; did not resume within ${graceMs} ms`),
            ),
          graceMs,
        ),
      };
      this.activity({
        type: 'client:disconnected',
        clientId: volunteer.info.id,
        reason,
        round: open.round,
        resumeUntil: Date.now() + graceMs,
      });
      this.broadcastState();
      return;
    }
    this.drop(volunteer, reason);
  }

  /** The client is gone: it fails the open round if it still owed an update. */
  private drop(volunteer: Volunteer, reason: string): void {
    const { id } = volunteer.info;
    if (volunteer.disconnected) clearTimeout(volunteer.disconnected.timer);
    this.volunteers.delete(id);
    this.options.store.recordClientLeave(id);
    if (this.pendingIn(id)) this.fail(id, `disconnected (${reason})`);
    this.activity({ type: 'client:leave', clientId: id, reason });
    this.broadcastState();
    this.finishIfComplete();
  }

  private fail(clientId: string, reason: string): void {
    const open = this.open!;
    open.failed.set(clientId, reason);
    open.aggregation.addFailure({ clientId, reason });
  }

  private finishIfComplete(): void {
    const open = this.open;
    if (open && open.submitted.size + open.failed.size === open.assigned.size) this.finishRound();
  }

  private scheduleRound(): void {
    if (this.stopped || this.status !== 'running' || this.open || this.gatherTimer) return;
    if (this.readyVolunteers().length < this.settings.sampling.minClients) return;
    this.gatherTimer = setTimeout(() => {
      this.gatherTimer = null;
      this.guarded('round start', () => this.startRound());
    }, this.options.gatherMs);
  }

  private readyVolunteers(): Volunteer[] {
    return [...this.volunteers.values()].filter((volunteer) => volunteer.ready);
  }

  private startRound(): void {
    if (this.stopped || this.status !== 'running' || this.open) return;
    const round = this.lastRound + 1;
    if (round > this.settings.totalRounds) {
      this.status = 'finished';
      this.log(`prufed: all ${this.settings.totalRounds} rounds are done`);
      this.broadcastState();
      return;
    }
    const rng = new Rng(this.options.seed).fork(`round ${round} attempt ${this.attempt}`);
    let plan: ReturnType<StreamingStrategy['configureRound']>;
    try {
      plan = this.strategy.configureRound(
        round,
        this.readyVolunteers().map((volunteer) => volunteer.info),
        rng,
      );
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      this.status = 'paused';
      this.log(`prufed: round ${round} cannot start, paused: ${error.message}`);
      this.broadcastState();
      return;
    }
    if (!plan) return;
    const deadline = Date.now() + this.settings.roundTimeoutMs;
    const slices = new Map<string, Uint8Array>();
    const assigned = new Map<string, ClientInfo>();
    const starts = new Map<string, { info: RoundStartInfo; bytes: Uint8Array }>();
    for (const { client, train, seed } of plan.assignments) {
      const volunteer = this.volunteers.get(client.id)!;
      volunteer.ready = false;
      assigned.set(client.id, client);
      const key = client.keptLayers.join();
      let bytes = slices.get(key);
      if (!bytes) {
        bytes = adapterToPeft(sliceAdapter(this.global, client.keptLayers)).safetensors;
        slices.set(key, bytes);
      }
      const info: RoundStartInfo = { round, train, seed, keptLayers: client.keptLayers, deadline };
      starts.set(client.id, { info, bytes });
      volunteer.socket?.emit('round:start', info, bytes);
    }
    this.open = {
      round,
      assigned,
      submitted: new Map(),
      failed: new Map(),
      rejected: new Map(),
      aggregation: this.strategy.openRound(round, this.global),
      tierSums: new Map(),
      deadline,
      startedAt: performance.now(),
      starts,
      timer: setTimeout(
        () => this.guarded('round deadline', () => this.finishRound()),
        this.settings.roundTimeoutMs,
      ),
    };
    this.log(`prufed: round ${round} started with ${assigned.size} clients`);
    this.activity({ type: 'round:start', round, clients: [...assigned.keys()] });
    this.broadcastState();
  }

  /** Aggregates the open round (clients still pending are failures), persists it, or retries it. */
  private finishRound(): void {
    const open = this.open;
    if (!open) return;
    clearTimeout(open.timer);
    for (const clientId of open.assigned.keys()) {
      if (!this.pendingIn(clientId)) continue;
      const rejection = open.rejected.get(clientId);
      const disconnected = this.volunteers.get(clientId)?.disconnected;
      this.fail(
        clientId,
        rejection
          ? `sent only rejected updates (last: ${rejection})`
          : disconnected
            ? `disconnected (${disconnected.reason}) and did not resume before the deadline`
            : 'missed the deadline',
      );
    }
    this.open = null;
    this.dropDisconnected(open, 'its round ended before it resumed');
    const started = performance.now();
    const output = open.aggregation.finish();
    let aggregated = false;
    if (output === null) {
      this.counters.retriedRounds++;
      this.attempt++;
      this.log(
        `prufed: round ${open.round} made no new global (${open.submitted.size} accepted updates, quorum ${this.settings.minResults}; ${failureSummary(open.failed, open.assigned)}) ${secondsSince(open.startedAt)} after its start; retrying it`,
      );
    } else {
      try {
        this.options.store.commitRound(output.global, {
          metrics: output.metrics,
          tiers: tierMetrics(open.tierSums),
          clients: [
            ...[...open.submitted].map(([clientId, numSamples]) => ({
              clientId,
              outcome: 'included' as const,
              numSamples,
              reason: '',
            })),
            ...[...open.failed].map(([clientId, reason]) => ({
              clientId,
              outcome: 'failed' as const,
              numSamples: 0,
              reason,
            })),
          ],
          serverState: this.strategy.serverState(),
        });
        this.global = output.global;
        this.lastRound = open.round;
        this.attempt = 0;
        aggregated = true;
        this.log(
          `prufed: round ${open.round} aggregated ${open.submitted.size} updates (${failureSummary(open.failed, open.assigned)}) ${secondsSince(open.startedAt)} after its start`,
        );
      } catch (error) {
        this.counters.retriedRounds++;
        this.log(`prufed: round ${open.round} could not be stored, retrying it: ${(error as Error).message}`);
        this.rollBackServerState();
      }
    }
    this.counters.finishMs += performance.now() - started;
    for (const clientId of open.assigned.keys()) {
      this.volunteers.get(clientId)?.socket?.emit('round:end', {
        round: open.round,
        included: aggregated && open.submitted.has(clientId),
        aggregated,
      });
    }
    this.activity({ type: 'round:end', round: open.round, metrics: aggregated ? output!.metrics : null });
    if (this.lastRound >= this.settings.totalRounds) this.status = 'finished';
    this.broadcastState();
    this.scheduleRound();
    if (aggregated) this.options.onRoundCommitted?.(open.round);
  }

  /** Clients of a closed round still waiting to resume it are gone: nothing is left to resume. */
  private dropDisconnected(open: OpenRound, reason: string): void {
    for (const clientId of open.assigned.keys()) {
      const volunteer = this.volunteers.get(clientId);
      if (volunteer?.disconnected) this.drop(volunteer, `${volunteer.disconnected.reason}; ${reason}`);
    }
  }

  /** finish() advanced the strategy's server state past the last stored round: go back to that round's. */
  private rollBackServerState(): void {
    try {
      this.strategy.restoreServerState(this.options.store.serverState(this.lastRound));
    } catch (error) {
      this.status = 'paused';
      this.log(
        `prufed: the server optimizer state of round ${this.lastRound} cannot be read back (${(error as Error).message}); paused: fix the data dir and restart the server`,
      );
    }
  }

  /** Abandons the open round: its clients are told and may send ready again; nothing is stored. */
  private cancelRound(reason: string): void {
    const open = this.open;
    if (!open) return;
    clearTimeout(open.timer);
    this.open = null;
    this.dropDisconnected(open, 'its round was cancelled before it resumed');
    for (const clientId of open.assigned.keys()) {
      this.volunteers.get(clientId)?.socket?.emit('round:cancel', { round: open.round, reason });
    }
    this.activity({ type: 'round:end', round: open.round, metrics: null });
  }

  private control(input: unknown): ControlAck {
    const parsed = parseControl(input);
    if (!parsed.ok) return { ok: false, reason: parsed.reason };
    const result = this.apply(parsed.value);
    if (result.ok) {
      this.broadcastState();
      this.scheduleRound();
    }
    return result;
  }

  private apply(command: ControlCommand): ControlAck {
    switch (command.type) {
      case 'start':
        if (this.status === 'running') return { ok: false, reason: 'the run is already running' };
        if (this.lastRound >= this.settings.totalRounds) {
          return {
            ok: false,
            reason: `all ${this.settings.totalRounds} rounds are done; configure more totalRounds first`,
          };
        }
        this.status = 'running';
        return { ok: true };
      case 'pause':
        if (this.status !== 'running') return { ok: false, reason: `the run is ${this.status}, not running` };
        this.cancelRound('paused by the researcher');
        this.status = 'paused';
        return { ok: true };
      case 'resume':
        if (this.status !== 'paused') return { ok: false, reason: `the run is ${this.status}, not paused` };
        this.status = 'running';
        return { ok: true };
      case 'configure': {
        const { sampling, train, ...rest } = command.settings;
        const settings: RoundSettings = {
          ...this.settings,
          ...rest,
          sampling: { ...this.settings.sampling, ...sampling },
          train: { ...this.settings.train, ...train },
        };
        let strategy: StreamingStrategy;
        try {
          strategy = buildStrategy(this.options.strategy, settings);
        } catch (error) {
          if (error instanceof ConfigError) return { ok: false, reason: error.message };
          throw error;
        }
        strategy.restoreServerState(this.strategy.serverState());
        this.cancelRound('the researcher changed the settings');
        this.settings = settings;
        this.strategy = strategy;
        if (this.status === 'finished' && this.lastRound < settings.totalRounds) this.status = 'idle';
        return { ok: true };
      }
    }
  }

  private summary(volunteer: Volunteer): ClientSummary {
    const { id, tier, keptLayers } = volunteer.info;
    return {
      id,
      tier,
      keptLayers,
      engine: volunteer.engine,
      device: volunteer.device,
      dataShard: volunteer.data.shard?.index ?? null,
      activity: volunteer.disconnected
        ? 'disconnected'
        : this.pendingIn(id)
          ? 'training'
          : volunteer.ready
            ? 'ready'
            : 'busy',
      lastLoss: volunteer.lastLoss,
    };
  }

  snapshot(): DashboardState {
    return {
      status: this.status,
      round: this.open?.round ?? this.lastRound,
      strategy: this.strategy.name,
      settings: this.settings,
      clients: [...this.volunteers.values()].map((volunteer) => this.summary(volunteer)),
      rounds: this.options.store.roundMetrics(),
      failures: this.options.store.roundFailures(),
      modelId: this.options.manifest.modelId,
      tiers: this.options.tierPlan.layers,
      tierMetrics: this.options.store.tierMetrics(),
      rejected: { ...this.counters.rejected },
      retriedRounds: this.counters.retriedRounds,
    };
  }

  /** Sends the dashboards a snapshot once the current burst of changes is over (one per tick). */
  broadcastState(): void {
    if (this.stateQueued) return;
    this.stateQueued = true;
    setImmediate(() => {
      this.stateQueued = false;
      if (!this.stopped) this.guarded('state broadcast', () => this.dashboard.emit('state', this.snapshot()));
    });
  }

  private activity(activity: DashboardActivity): void {
    this.dashboard.emit('activity', activity);
  }
}

function tierMetrics(sums: Map<Tier, TierSum>): Omit<TierRoundMetrics, 'round'>[] {
  return [...sums].map(([tier, sum]) => ({
    tier,
    clients: sum.clients,
    samples: sum.samples,
    metrics: Object.fromEntries(
      [...sum.metrics].map(([name, { sum: total, weight }]) => [name, total / weight]),
    ),
  }));
}

/** "0 failures", or each failed client (tier and id) with its reason, for the server's log. */
function failureSummary(failed: Map<string, string>, assigned: Map<string, ClientInfo>): string {
  if (failed.size === 0) return '0 failures';
  const each = [...failed].map(
    ([clientId, reason]) => `tier ${assigned.get(clientId)?.tier ?? '?'} client ${clientId}: ${reason}`,
  );
  return `${failed.size} failure${failed.size === 1 ? '' : 's'}: ${each.join('; ')}`;
}

function secondsSince(start: number): string {
  return `${((performance.now() - start) / 1000).toFixed(1)} s`;
}
