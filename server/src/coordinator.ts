// The Socket.IO coordinator (Algorithm 1): volunteers say hello and get a tier and its kept layers;
// each round samples a fraction of the ready volunteers, sends each the global adapter slice of its
// layers (PEFT safetensors as a binary attachment), validates and streams the updates into the
// strategy's aggregation, and at the last reply or the deadline aggregates if the quorum was met
// (else retries the round), persists (with the strategy's server state), broadcasts round:end and
// moves on. A rejected update is acked with its reason and the client may resend until the
// deadline; one that only sent rejected updates is a failure of the round. The /dashboard namespace
// (token in the handshake) gets state snapshots and activity and may send control commands.
// Everything that arrives from a socket is untyped until a guard from @prufed/fl has parsed it,
// and no handler lets an exception escape: a malformed message never takes the server down.
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
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
  dashboardNamespace,
  fedAvg,
  type HelloAck,
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
  type ServerState,
  type ServerToClientEvents,
  type SocketData,
  type StreamingStrategy,
  type Tier,
  type UpdateAck,
  withFedAdam,
} from '@prufed/fl';
import { adapterToPeft, ConfigError, InputError, type LoraAdapter, Rng } from '@prufed/model';
import type { Namespace, Server, Socket } from 'socket.io';
import type { AggregationStrategyName } from './config';
import type { Store, TierMetrics } from './store';
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
  log: (line: string) => void;
}

interface Volunteer {
  info: ClientInfo;
  socket: VolunteerSocket;
  engine: 'webgpu' | 'cpu';
  ready: boolean;
  lastLoss: number | null;
}

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
   * accumulation): wall clock, and this process's CPU time, which a busy machine does not inflate.
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
    const { tier, reason } = assignTier(parsed.value, this.options.tierPlan);
    const keptLayers = this.options.tierPlan.layers[tier]!;
    const info: ClientInfo = { id: randomUUID(), tier, keptLayers };
    const volunteer: Volunteer = { info, socket, engine: parsed.value.engine, ready: false, lastLoss: null };
    socket.data = { clientId: info.id, tier, keptLayers };
    this.volunteers.set(info.id, volunteer);
    this.options.store.recordClientJoin({ ...info, engine: volunteer.engine });
    reply({
      ok: true,
      clientId: info.id,
      tier,
      keptLayers,
      tierReason: reason,
      manifest: this.options.manifest,
      train: this.settings.train,
    });
    this.activity({ type: 'client:join', client: this.summary(volunteer) });
  }

  private volunteerOf(socket: VolunteerSocket): Volunteer | undefined {
    return socket.data.clientId === undefined ? undefined : this.volunteers.get(socket.data.clientId);
  }

  private ready(socket: VolunteerSocket): void {
    const volunteer = this.volunteerOf(socket);
    if (!volunteer || this.pendingIn(volunteer.info.id)) return;
    volunteer.ready = true;
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
    if (reply.accepted) this.finishIfComplete();
  }

  /** Validates an update and adds it to the open round's aggregation, or says why not. */
  private receiveUpdate(socket: VolunteerSocket, metaInput: unknown, bytesInput: unknown): UpdateAck {
    const clientId = socket.data.clientId ?? '(no hello)';
    const reject = (code: RejectionCode, reason: string, round = 0): UpdateAck => {
      this.counters.rejected[code] = (this.counters.rejected[code] ?? 0) + 1;
      if (this.pendingIn(clientId)) this.open!.rejected.set(clientId, `${code}: ${reason}`);
      this.log(`prufed: rejected an update from ${clientId}: ${code}: ${reason}`);
      this.activity({ type: 'update:rejected', clientId, round, code, reason });
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
    const cpuStarted = process.cpuUsage();
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
    const cpu = process.cpuUsage(cpuStarted);
    this.counters.updateCpuMs += (cpu.user + cpu.system) / 1000;
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

  private leave(socket: VolunteerSocket, reason: string): void {
    const volunteer = this.volunteerOf(socket);
    if (!volunteer) return;
    const { id } = volunteer.info;
    this.volunteers.delete(id);
    this.options.store.recordClientLeave(id);
    if (this.pendingIn(id)) this.fail(id, `disconnected (${reason})`);
    this.activity({ type: 'client:leave', clientId: id, reason });
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
      volunteer.socket.emit(
        'round:start',
        { round, train, seed, keptLayers: client.keptLayers, deadline },
        bytes,
      );
    }
    this.open = {
      round,
      assigned,
      submitted: new Map(),
      failed: new Map(),
      rejected: new Map(),
      aggregation: this.strategy.openRound(round, this.global),
      tierSums: new Map(),
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
      this.fail(
        clientId,
        rejection ? `sent only rejected updates (last: ${rejection})` : 'missed the deadline',
      );
    }
    this.open = null;
    const started = performance.now();
    const output = open.aggregation.finish();
    let aggregated = false;
    if (output === null) {
      this.counters.retriedRounds++;
      this.attempt++;
      this.log(
        `prufed: round ${open.round} made no new global (${open.submitted.size} accepted updates, quorum ${this.settings.minResults}); retrying it`,
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
          `prufed: round ${open.round} aggregated ${open.submitted.size} updates (${open.failed.size} failures)`,
        );
      } catch (error) {
        this.counters.retriedRounds++;
        this.log(`prufed: round ${open.round} could not be stored, retrying it: ${(error as Error).message}`);
        this.rollBackServerState();
      }
    }
    this.counters.finishMs += performance.now() - started;
    for (const clientId of open.assigned.keys()) {
      this.volunteers.get(clientId)?.socket.emit('round:end', {
        round: open.round,
        included: aggregated && open.submitted.has(clientId),
        aggregated,
      });
    }
    this.activity({ type: 'round:end', round: open.round, metrics: aggregated ? output!.metrics : null });
    if (this.lastRound >= this.settings.totalRounds) this.status = 'finished';
    this.broadcastState();
    this.scheduleRound();
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
    for (const clientId of open.assigned.keys()) {
      this.volunteers.get(clientId)?.socket.emit('round:cancel', { round: open.round, reason });
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
      activity: this.pendingIn(id) ? 'training' : volunteer.ready ? 'ready' : 'busy',
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
    };
  }

  private broadcastState(): void {
    this.dashboard.emit('state', this.snapshot());
  }

  private activity(activity: DashboardActivity): void {
    this.dashboard.emit('activity', activity);
  }
}

function tierMetrics(sums: Map<Tier, TierSum>): TierMetrics[] {
  return [...sums].map(([tier, sum]) => ({
    tier,
    clients: sum.clients,
    samples: sum.samples,
    metrics: Object.fromEntries(
      [...sum.metrics].map(([name, { sum: total, weight }]) => [name, total / weight]),
    ),
  }));
}
