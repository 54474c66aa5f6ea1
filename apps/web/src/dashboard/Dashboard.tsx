// The researcher dashboard (/dashboard?token=...): connects to the coordinator's /dashboard
// namespace with the token, shows the live clients with their devices and data shards, the rounds
// timeline, per-tier charts of the training loss and of the server-side evaluation of each round's
// globals (eval_* metrics, which land after their round), the per-layer coverage and update norms of
// a round, rejected updates with reasons, the run controls, downloads of each tier's global adapter,
// merged ONNX model and of the metrics, and "Try the model" on a tier's latest global. The socket's snapshots (sent on every
// join, leave, ready and round transition) and activity drive the page: it never polls the API.
import {
  type ControlAck,
  type ControlCommand,
  type DashboardActivity,
  type DashboardClientToServerEvents,
  type DashboardServerToClientEvents,
  type DashboardState,
  dashboardNamespace,
  type ProgressReport,
  type RoundSettingsPatch,
  type Tier,
  tiers,
} from '@prufed/fl';
import { instructionTokenizer, loadTokenizer } from '@prufed/model';
import { type FormEvent, useEffect, useRef, useState } from 'react';
import { io, type Socket } from 'socket.io-client';
import { LineChart } from '../ui/LineChart';
import { TryModel } from '../ui/TryModel';
import {
  applyActivity,
  coverageRows,
  forgetToken,
  metricNames,
  metricsCsv,
  readToken,
  tierSeries,
} from './dashboard-data';
import { RoundFailures } from './RoundFailures';

type DashboardSocket = Socket<DashboardServerToClientEvents, DashboardClientToServerEvents>;

const tierColors: Record<Tier, string> = { a: '#1f77b4', b: '#e07b00', c: '#2a9d3c' };

interface Rejection {
  clientId: string;
  round: number;
  code: string;
  reason: string;
}

/** Per-tier metrics of the server's evaluation (the others are the clients' training means). */
const evaluationPrefix = 'eval_';

function Refused({ message }: { message: string }) {
  return (
    <main>
      <h1>PruFed dashboard</h1>
      <p role="alert" className="alert" data-testid="dashboard-refused">
        {message}
      </p>
      <p>
        Open the address the server printed at start, <code>/dashboard?token=…</code>, or set{' '}
        <code>PRUFED_DASHBOARD_TOKEN</code> when starting the server.
      </p>
    </main>
  );
}

function Controls({ state, send }: { state: DashboardState; send: (command: ControlCommand) => void }) {
  const { settings } = state;
  const fields: [string, number][] = [
    ['localSteps', settings.train.localSteps],
    ['batchSize', settings.train.batchSize],
    ['learningRate', settings.train.learningRate],
    ['seqLen', settings.train.seqLen],
    ['fraction', settings.sampling.fraction],
    ['minClients', settings.sampling.minClients],
    ['maxClients', settings.sampling.maxClients],
    ['minResults', settings.minResults],
    ['totalRounds', settings.totalRounds],
    ['roundTimeoutMs', settings.roundTimeoutMs],
  ];
  const configure = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const value = (name: string) => Number(form.get(name));
    const patch: RoundSettingsPatch = {
      train: {
        localSteps: value('localSteps'),
        batchSize: value('batchSize'),
        learningRate: value('learningRate'),
        seqLen: value('seqLen'),
      },
      sampling: {
        fraction: value('fraction'),
        minClients: value('minClients'),
        maxClients: value('maxClients'),
      },
      minResults: value('minResults'),
      totalRounds: value('totalRounds'),
      roundTimeoutMs: value('roundTimeoutMs'),
    };
    send({ type: 'configure', settings: patch });
  };
  return (
    <>
      <p>
        <button type="button" onClick={() => send({ type: 'start' })} disabled={state.status === 'running'}>
          Start
        </button>
        <button type="button" onClick={() => send({ type: 'pause' })} disabled={state.status !== 'running'}>
          Pause
        </button>
        <button type="button" onClick={() => send({ type: 'resume' })} disabled={state.status !== 'paused'}>
          Resume
        </button>
      </p>
      <details>
        <summary>Configure (cancels the open round)</summary>
        {/* Keyed by the settings, so a change from elsewhere refills the form. */}
        <form onSubmit={configure} key={JSON.stringify(settings)} className="stats">
          {fields.map(([name, current]) => (
            <label key={name}>
              {name} <input name={name} type="number" step="any" defaultValue={current} size={8} />
            </label>
          ))}
          <button type="submit">Apply</button>
        </form>
      </details>
    </>
  );
}

export function Dashboard() {
  const [token] = useState(() => readToken(window.location, sessionStorage));
  const [refusal, setRefusal] = useState<string | null>(null);
  const [state, setState] = useState<DashboardState | null>(null);
  const [progress, setProgress] = useState<Record<string, ProgressReport>>({});
  const [rejections, setRejections] = useState<Rejection[]>([]);
  const [events, setEvents] = useState<string[]>([]);
  const [controlResult, setControlResult] = useState('');
  const [coverageRound, setCoverageRound] = useState<number | null>(null);
  const [tryTier, setTryTier] = useState<Tier | null>(null);
  const socket = useRef<DashboardSocket | null>(null);

  useEffect(() => {
    if (token === null) return;
    // The address bar keeps no token once the tab has it.
    window.history.replaceState(null, '', window.location.pathname);
    const connection: DashboardSocket = io(dashboardNamespace, { auth: { token } });
    socket.current = connection;
    connection.on('connect_error', (error) => {
      forgetToken(sessionStorage);
      setRefusal(`The server refused this dashboard: ${error.message}.`);
      connection.disconnect();
    });
    connection.on('state', setState);
    connection.on('activity', (activity: DashboardActivity) => {
      setState((current) => current && applyActivity(current, activity));
      if (activity.type === 'progress') {
        setProgress((current) => ({ ...current, [activity.clientId]: activity.progress }));
      } else if (activity.type === 'update:rejected') {
        const { clientId, round, code, reason } = activity;
        setRejections((current) => [{ clientId, round, code, reason }, ...current].slice(0, 50));
      }
      const line = describeActivity(activity);
      if (line) setEvents((current) => [line, ...current].slice(0, 30));
    });
    return () => {
      connection.disconnect();
    };
  }, [token]);

  if (token === null)
    return <Refused message="This dashboard needs the researcher's token, and this tab has none." />;
  if (refusal !== null) return <Refused message={refusal} />;
  if (state === null) return <p data-testid="dashboard-status">Connecting to the coordinator…</p>;

  const send = (command: ControlCommand) =>
    socket.current
      ?.timeout(10_000)
      .emitWithAck('control', command)
      .then(
        (ack: ControlAck) =>
          setControlResult(ack.ok ? `${command.type}: done` : `${command.type} refused: ${ack.reason}`),
        (error: Error) => setControlResult(`${command.type}: no answer (${error.message})`),
      );

  const enabledTiers = tiers.filter((tier) => state.tiers[tier] !== undefined);
  const tierRows = state.tierMetrics;
  const loss = tierSeries(tierRows, enabledTiers, 'loss');
  const evaluation = metricNames(tierRows).filter((name) => name.startsWith(evaluationPrefix));
  const triedTier = tryTier ?? enabledTiers.at(-1)!;
  const tokenizer = async () => {
    const response = await fetch(`/models/${encodeURIComponent(state.modelId)}/tokenizer.json`);
    if (!response.ok) throw new Error(`the model's tokenizer.json: HTTP ${response.status}`);
    return instructionTokenizer(loadTokenizer(await response.json()), state.modelId);
  };
  const numLayers = Math.max(
    0,
    ...Object.values(state.tiers)
      .flatMap((layers) => layers ?? [])
      .map((l) => l + 1),
  );
  const lastRound = state.rounds.at(-1);
  const shownRound = state.rounds.find((round) => round.round === coverageRound) ?? lastRound;
  const coverage = shownRound ? coverageRows(shownRound, numLayers, state.tiers) : [];
  const maxNorm = Math.max(0, ...coverage.map((row) => row.meanDeltaNorm ?? 0));
  const downloadCsv = () => {
    const url = URL.createObjectURL(new Blob([metricsCsv(state.rounds, tierRows)], { type: 'text/csv' }));
    const link = document.createElement('a');
    link.href = url;
    link.download = `prufed-${state.modelId}-metrics.csv`;
    link.click();
    URL.revokeObjectURL(url);
  };
  const rejectedCounts = Object.entries(state.rejected).filter(([, count]) => (count ?? 0) > 0);

  return (
    <main className="wide">
      <h1>PruFed dashboard</h1>
      <section className="card">
        <p data-testid="dashboard-status" data-status={state.status} data-round={state.round}>
          Status: {state.status} · round {state.round} of {state.settings.totalRounds} · {state.strategy}
          {` · model ${state.modelId}`} · {state.rounds.length} rounds aggregated
          {state.retriedRounds > 0 && ` · ${state.retriedRounds} retried`}
        </p>
        <Controls state={state} send={send} />
        <p data-testid="control-result">{controlResult}</p>
      </section>

      <section className="card">
        <h2>Clients ({state.clients.length})</h2>
        <div className="scroll">
          <table data-testid="clients">
            <thead>
              <tr>
                <th>id</th>
                <th>tier</th>
                <th>kept layers</th>
                <th>device</th>
                <th>data shard</th>
                <th>status</th>
                <th>step</th>
                <th>loss</th>
              </tr>
            </thead>
            <tbody>
              {state.clients.map((client) => {
                const report = progress[client.id];
                return (
                  <tr
                    key={client.id}
                    data-testid="client-row"
                    data-tier={client.tier}
                    data-activity={client.activity}
                  >
                    <td title={client.id}>{client.id.slice(0, 8)}</td>
                    <td>{client.tier}</td>
                    <td>{client.keptLayers.join(', ')}</td>
                    <td data-testid="client-device" title={`tier choice: ${client.device.tierReason}`}>
                      {client.engine} engine · {client.device.gpu ?? 'no WebGPU'}
                      {client.device.deviceMemoryGb !== null && ` · ${client.device.deviceMemoryGb} GB`}
                      <br />
                      <small>{client.device.tierReason}</small>
                    </td>
                    <td>{client.dataShard ?? 'all'}</td>
                    <td>{client.activity}</td>
                    <td>
                      {report && report.round === state.round
                        ? `${report.step} (round ${report.round})`
                        : '—'}
                    </td>
                    <td>{(report?.loss ?? client.lastLoss)?.toFixed(4) ?? '—'}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      </section>

      <div className="grid">
        <LineChart
          title="Training loss by tier (clients' mean per round)"
          xLabel="round"
          x={loss.rounds}
          series={enabledTiers.map((tier) => ({
            label: `tier ${tier}`,
            color: tierColors[tier],
            values: loss.values[tier],
          }))}
          empty="No round aggregated yet."
          testId="tier-loss-chart"
        />
        {evaluation.length === 0 ? (
          <LineChart
            title="Server-side evaluation by tier"
            xLabel="round"
            x={[]}
            series={[]}
            empty="No evaluation yet: the server evaluates each tier's new global in the background after every round (PRUFED_EVAL_SAMPLES; 0 turns it off)."
            testId="evaluation-chart"
          />
        ) : (
          evaluation.map((name) => {
            const series = tierSeries(tierRows, enabledTiers, name);
            return (
              <LineChart
                key={name}
                title={`Server-side evaluation: ${name.slice(evaluationPrefix.length)} by tier`}
                xLabel="round"
                x={series.rounds}
                series={enabledTiers.map((tier) => ({
                  label: `tier ${tier}`,
                  color: tierColors[tier],
                  values: series.values[tier],
                }))}
                empty="No values yet."
                testId="evaluation-chart"
              />
            );
          })
        )}
      </div>

      <p>
        <label>
          Try tier{' '}
          <select
            value={triedTier}
            onChange={(event) => setTryTier(event.target.value as Tier)}
            data-testid="try-tier"
          >
            {enabledTiers.map((tier) => (
              <option key={tier} value={tier}>
                {tier}
              </option>
            ))}
          </select>
        </label>
      </p>
      <TryModel
        key={triedTier}
        tier={triedTier}
        modelUrl={`/models/latest/${triedTier}.onnx`}
        tokenizer={tokenizer}
        maxLength={state.settings.train.seqLen}
      />

      <div className="grid">
        <section className="card" style={{ flex: '1 1 440px' }}>
          <h2>Rounds</h2>
          <div className="scroll">
            <table data-testid="rounds">
              <thead>
                <tr>
                  <th>round</th>
                  <th>updates</th>
                  <th>failed</th>
                  <th>samples</th>
                  <th>loss by tier</th>
                  <th>adapters</th>
                  <th>ONNX</th>
                </tr>
              </thead>
              <tbody>
                {[...state.rounds].reverse().map((round) => (
                  <tr
                    key={round.round}
                    data-testid="round-row"
                    data-round={round.round}
                    data-results={round.numResults}
                    data-failures={round.numFailures}
                  >
                    <td>{round.round}</td>
                    <td>{round.numResults}</td>
                    <td>
                      <RoundFailures
                        count={round.numFailures}
                        failures={state.failures.filter((failure) => failure.round === round.round)}
                      />
                    </td>
                    <td>{round.totalSamples}</td>
                    <td data-testid="round-tier-loss">
                      {tierRows
                        .filter((row) => row.round === round.round && row.clients > 0)
                        .map((row) => `${row.tier}: ${row.metrics.loss?.toFixed(3) ?? '—'}`)
                        .join(' · ')}
                    </td>
                    <td>
                      {enabledTiers.map((tier) => (
                        <a
                          key={tier}
                          href={`/api/rounds/${round.round}/adapter?tier=${tier}&token=${encodeURIComponent(token)}`}
                          data-testid={`adapter-${round.round}-${tier}`}
                        >
                          {tier}{' '}
                        </a>
                      ))}
                    </td>
                    <td>
                      {enabledTiers.map((tier) => (
                        <a
                          key={tier}
                          href={`/api/rounds/${round.round}/model.onnx?tier=${tier}&token=${encodeURIComponent(token)}`}
                          data-testid={`onnx-${round.round}-${tier}`}
                        >
                          {tier}{' '}
                        </a>
                      ))}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <p>
            <button type="button" onClick={downloadCsv} data-testid="metrics-csv">
              Download metrics (CSV)
            </button>
            Adapters are PEFT safetensors of each tier's layers (the round's global); ONNX is the tier's
            pruned model with that adapter merged in.
          </p>
        </section>

        <section className="card" style={{ flex: '1 1 380px' }}>
          <h2>
            Layer coverage{' '}
            {shownRound && (
              <select
                value={shownRound.round}
                onChange={(event) => setCoverageRound(Number(event.target.value))}
                data-testid="coverage-round"
              >
                {state.rounds.map((round) => (
                  <option key={round.round} value={round.round}>
                    round {round.round}
                  </option>
                ))}
              </select>
            )}
          </h2>
          {coverage.length === 0 ? (
            <p className="empty">No round aggregated yet.</p>
          ) : (
            <table data-testid="coverage">
              <tbody>
                {coverage.map((row) => (
                  <tr
                    key={row.layer}
                    data-testid="coverage-layer"
                    data-layer={row.layer}
                    data-clients={row.clients}
                    data-norm={row.meanDeltaNorm ?? ''}
                  >
                    <td>layer {row.layer}</td>
                    <td style={{ width: '45%' }}>
                      <span
                        className="bar"
                        style={{
                          width: `${(100 * row.clients) / Math.max(1, shownRound?.numResults ?? 1)}%`,
                        }}
                      />
                    </td>
                    <td>
                      {row.clients} clients, {row.weight} samples
                    </td>
                    <td
                      title="mean L2 norm of the accepted updates' change to this layer"
                      style={{ whiteSpace: 'nowrap' }}
                    >
                      {row.meanDeltaNorm === null ? (
                        'Δ —'
                      ) : (
                        <>
                          <span
                            className="bar norm"
                            style={{ width: `${(40 * row.meanDeltaNorm) / Math.max(maxNorm, 1e-30)}px` }}
                          />{' '}
                          ‖Δ‖ {row.meanDeltaNorm.toPrecision(3)}
                        </>
                      )}
                    </td>
                    <td>kept by {row.keptBy.join(', ') || 'no tier'}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>
      </div>

      <div className="grid">
        <section className="card" style={{ flex: '1 1 440px' }}>
          <h2>Rejected updates</h2>
          <p data-testid="rejected-counts">
            {rejectedCounts.length === 0
              ? 'None rejected.'
              : rejectedCounts.map(([code, count]) => `${code}: ${count}`).join(' · ')}
          </p>
          <ul className="scroll" data-testid="rejections">
            {rejections.map((rejection, i) => (
              // biome-ignore lint/suspicious/noArrayIndexKey: a log, newest first
              <li key={i}>
                round {rejection.round}, {rejection.clientId.slice(0, 8)}: {rejection.code}:{' '}
                {rejection.reason}
              </li>
            ))}
          </ul>
        </section>
        <section className="card" style={{ flex: '1 1 380px' }}>
          <h2>Activity</h2>
          <ul className="scroll" data-testid="activity">
            {events.map((line, i) => (
              // biome-ignore lint/suspicious/noArrayIndexKey: a log, newest first
              <li key={i}>{line}</li>
            ))}
          </ul>
        </section>
      </div>
    </main>
  );
}

function describeActivity(activity: DashboardActivity): string | null {
  switch (activity.type) {
    case 'client:join':
      return `client ${activity.client.id.slice(0, 8)} joined (tier ${activity.client.tier})`;
    case 'client:leave':
      return `client ${activity.clientId.slice(0, 8)} left (${activity.reason})`;
    case 'client:disconnected':
      return `client ${activity.clientId.slice(0, 8)} lost its connection in round ${activity.round} (${activity.reason}); it may resume until ${new Date(activity.resumeUntil).toLocaleTimeString()}`;
    case 'client:resumed':
      return `client ${activity.clientId.slice(0, 8)} resumed round ${activity.round}`;
    case 'round:start':
      return `round ${activity.round} started with ${activity.clients.length} clients`;
    case 'round:end':
      return activity.metrics
        ? `round ${activity.round} aggregated ${activity.metrics.numResults} updates`
        : `round ${activity.round} ended without a new global (retried or cancelled)`;
    case 'update:rejected':
      return `update from ${activity.clientId.slice(0, 8)} rejected: ${activity.code}`;
    case 'progress':
      return null;
  }
}
