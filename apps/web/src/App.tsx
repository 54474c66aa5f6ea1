// The volunteer page: what PruFed is and what stays on the device, the capability card, the local
// data card (public demo data or the volunteer's own JSONL, which never leaves the browser), the
// join flow (hello, download with progress in bytes, leave at any time) and the live view of the
// round loop (round, local step, loss chart, examples/s, bytes up and down, rounds contributed), and
// once joined, "Try the model": the tier's latest global answering a prompt in this browser.
// A joined tab that is reloaded joins again by itself, restores its checkpoint and, when it was
// training a round that is still open, claims that round back and finishes it.
import { type ChangeEvent, useEffect, useRef, useState } from 'react';
import { idbCheckpointStore, idbOwnDataStore } from './checkpoint';
import { type LocalData, parseOwnJsonl } from './local-data';
import { forgetIdentity, resumeClaim, saveIdentity } from './resume';
import { RoundLoop, type VolunteerStats } from './round-loop';
import { chooseTier, type TierChoice } from './tier';
import { getTrainer } from './trainer-client';
import { LineChart } from './ui/LineChart';
import { TryModel } from './ui/TryModel';
import {
  connect,
  fetchTokenizer,
  forwardRoundEvents,
  helloReport,
  type JoinedAck,
  loadAssignedModel,
  loadLocalData,
  sayHello,
  socketChannel,
  type VolunteerSocket,
  workerRoundTrainer,
} from './volunteer';
import type { Capabilities, DownloadProgress, EngineKind, LoadedModel } from './worker/api';

type JoinState =
  | { step: 'idle' }
  | { step: 'joining'; ack?: JoinedAck; progress?: DownloadProgress; warmingUp?: EngineKind }
  | {
      step: 'joined';
      ack: JoinedAck;
      model: LoadedModel;
      data: LocalData;
      resumed: boolean;
      /** Milliseconds of the warm-up step, which compiled the engine's kernels. */
      warmUpMs: number;
    }
  | { step: 'failed'; message: string };

/** Set while this tab is joined, so a reload joins again (sessionStorage: per tab, kept on reload). */
const joinedKey = 'prufed-joined';

const bytes = (n: number) => `${n.toLocaleString('en-US')} bytes`;

function CapabilityCard({
  capabilities,
  choice,
  ack,
}: {
  capabilities: Capabilities | null;
  choice: TierChoice | null;
  ack: JoinedAck | null;
}) {
  if (capabilities === null || choice === null) return <p data-testid="gpu-status">Checking this device…</p>;
  const { gpu } = capabilities;
  return (
    <section className="card">
      <h2>This device</h2>
      <p data-testid="gpu-status">
        {gpu === null
          ? `No WebGPU: ${capabilities.gpuUnavailableReason}`
          : `WebGPU adapter: ${[gpu.vendor, gpu.architecture, gpu.description].filter(Boolean).join(' ')}` +
            `${gpu.isFallbackAdapter ? ' (software)' : ''}; max storage buffer ${bytes(gpu.maxStorageBufferBindingSize)}` +
            `${gpu.features.includes('shader-f16') ? '; shader-f16' : ''}`}
      </p>
      <p>
        Device memory:{' '}
        {capabilities.deviceMemoryGb === null ? 'not reported' : `${capabilities.deviceMemoryGb} GB`}
      </p>
      <p data-testid="tier">
        Tier {choice.tier} with the {choice.engine} engine ({choice.reason})
      </p>
      {choice.engine === 'cpu' && (
        <p data-testid="cpu-note">
          Training runs on the CPU engine, which works without WebGPU but is slower; unless ?tier= says
          otherwise, this device trains the smallest variant.
        </p>
      )}
      {ack && (
        <p data-testid="assignment">
          The server assigned tier {ack.tier}: it trains layers {ack.keptLayers.join(', ')} of{' '}
          {ack.manifest.numLayers} ({ack.tierReason})
        </p>
      )}
    </section>
  );
}

function DataCard({
  data,
  ownFile,
  onFile,
  onDemo,
  locked,
}: {
  data: LocalData | null;
  ownFile: { name: string; examples: number } | null;
  onFile: (event: ChangeEvent<HTMLInputElement>) => void;
  onDemo: () => void;
  locked: boolean;
}) {
  return (
    <section className="card">
      <h2>Local data</h2>
      <p data-testid="data-source">
        {data
          ? `Training on ${data.source}: ${data.examples.length.toLocaleString('en-US')} examples.`
          : ownFile
            ? `Will train on your file ${ownFile.name} (${ownFile.examples.toLocaleString('en-US')} examples); it stays in this browser.`
            : 'Will train on the shard of public WordNet data the server assigns unless you pick your own file.'}
      </p>
      {!locked && (
        <p>
          <label>
            Your own JSONL of instruction/response pairs (one {'{"instruction", "response"}'} object per
            line): <input type="file" accept=".jsonl,.json,.txt" onChange={onFile} data-testid="own-data" />
          </label>
          {ownFile && (
            <button type="button" onClick={onDemo}>
              Use the demo data instead
            </button>
          )}
        </p>
      )}
    </section>
  );
}

function DownloadBar({ progress }: { progress: DownloadProgress }) {
  const { loadedBytes, totalBytes, fetchedBytes } = progress;
  return (
    <p>
      <progress
        data-testid="download"
        data-fetched-bytes={fetchedBytes}
        value={loadedBytes}
        max={totalBytes || 1}
      />
      <br />
      Model weights: {bytes(loadedBytes)} of {bytes(totalBytes)} ({bytes(fetchedBytes)} downloaded, the rest
      from this browser's cache)
    </p>
  );
}

function JoinStatus({ state }: { state: JoinState }) {
  switch (state.step) {
    case 'idle':
      return null;
    case 'joining':
      return (
        <>
          <p data-testid="join-status">
            {state.ack === undefined
              ? 'Connecting to the server…'
              : state.warmingUp === undefined
                ? `Assigned tier ${state.ack.tier} (layers ${state.ack.keptLayers.join(', ')}); downloading its weights…`
                : `Tier ${state.ack.tier}'s weights are loaded into the ${state.warmingUp} engine; a warm-up training step compiles its kernels…`}
          </p>
          {state.progress && <DownloadBar progress={state.progress} />}
        </>
      );
    case 'joined':
      return (
        <>
          <p data-testid="join-status">
            Joined as {state.ack.clientId}: tier {state.ack.tier}, {state.model.keptLayers.length} of{' '}
            {state.model.config.numHiddenLayers} layers loaded into the {state.model.engine} engine (they need{' '}
            {bytes(state.model.progress.totalBytes)} of the model's {bytes(state.model.fileBytes)}). Warm-up
            step (compiles the engine's kernels): {(state.warmUpMs / 1000).toFixed(1)} s.
            {state.resumed && ' Restored this tab’s checkpoint.'}
            {state.ack.resumedRound !== null &&
              ` Resumed round ${state.ack.resumedRound} where this tab left it.`}
          </p>
          <DownloadBar progress={state.model.progress} />
        </>
      );
    case 'failed':
      return (
        <p data-testid="join-status" role="alert" className="alert">
          Could not join: {state.message}
        </p>
      );
  }
}

function LiveView({ stats, modelBytes }: { stats: VolunteerStats; modelBytes: number }) {
  const phase = {
    waiting: 'waiting for a round',
    training: 'training',
    uploading: 'sending the update',
    left: 'left',
  }[stats.phase];
  return (
    <section className="card">
      <h2>Training</h2>
      <dl className="stats">
        <div>
          <dt>Round</dt>
          <dd
            data-testid="round-status"
            data-round={stats.round}
            data-step={stats.step}
            data-phase={stats.phase}
          >
            {stats.round === 0 ? '—' : `round ${stats.round}, step ${stats.step} of ${stats.localSteps}`} (
            {phase})
          </dd>
        </div>
        <div>
          <dt>Rounds contributed</dt>
          <dd data-testid="rounds-contributed">{stats.roundsContributed}</dd>
        </div>
        <div>
          <dt>Examples per second</dt>
          <dd data-testid="examples-per-second">
            {stats.examplesPerSecond === null ? '—' : stats.examplesPerSecond.toFixed(1)}
          </dd>
        </div>
        <div>
          <dt>Downloaded (model + adapters)</dt>
          <dd data-testid="bytes-down">{bytes(modelBytes + stats.bytesDown)}</dd>
        </div>
        <div>
          <dt>Uploaded (adapter updates)</dt>
          <dd data-testid="bytes-up">{bytes(stats.bytesUp)}</dd>
        </div>
      </dl>
      <p data-testid="last-outcome">{stats.lastOutcome}</p>
      <LineChart
        title="Training loss per local step"
        xLabel="step"
        x={stats.losses.map((_, i) => i + 1)}
        series={[{ label: 'loss', color: '#4a78c2', values: stats.losses.map((point) => point.loss) }]}
        empty="No local steps yet: the chart fills in when this device trains a round."
        testId="loss-chart"
        width={860}
        height={240}
      />
    </section>
  );
}

export function App() {
  const [capabilities, setCapabilities] = useState<Capabilities | null>(null);
  const [join, setJoin] = useState<JoinState>({ step: 'idle' });
  const [stats, setStats] = useState<VolunteerStats | null>(null);
  const [ownFile, setOwnFile] = useState<{ name: string; examples: number } | null>(null);
  const [dataError, setDataError] = useState<string | null>(null);
  const socket = useRef<VolunteerSocket | null>(null);
  const running = useRef<Promise<string> | null>(null);
  const autoJoined = useRef(false);
  const override = new URLSearchParams(window.location.search).get('tier');
  const choice = capabilities && chooseTier(capabilities, override);

  useEffect(() => {
    getTrainer()
      .probe()
      .then(setCapabilities, (error: unknown) => setJoin({ step: 'failed', message: String(error) }));
    idbOwnDataStore()
      .load()
      .then(
        (file) =>
          file &&
          setOwnFile({ name: file.name, examples: parseOwnJsonl(file.text, file.name).examples.length }),
      )
      .catch((error: Error) => setDataError(error.message));
  }, []);

  const start = async () => {
    if (capabilities === null || choice === null) return;
    sessionStorage.setItem(joinedKey, '1');
    const connection = connect();
    socket.current = connection;
    const stillJoining = () => socket.current === connection;
    connection.on('disconnect', (reason) => {
      if (stillJoining()) setJoin({ step: 'failed', message: `disconnected from the server (${reason})` });
    });
    setJoin({ step: 'joining' });
    try {
      const checkpoints = idbCheckpointStore();
      const restored = await checkpoints.load();
      const resume = resumeClaim(sessionStorage, restored);
      const ack = await sayHello(connection, helloReport(capabilities, choice, resume));
      if (!stillJoining()) return;
      saveIdentity(sessionStorage, ack);
      setJoin({ step: 'joining', ack });
      const model = await loadAssignedModel(getTrainer(), ack, choice, (progress) => {
        // Progress arrives on its own channel and may land after the result: only a running join takes it.
        if (stillJoining())
          setJoin((state) => (state.step === 'joining' ? { step: 'joining', ack, progress } : state));
      });
      const [tokenizer, data] = await Promise.all([
        fetchTokenizer(ack.manifest),
        loadLocalData(idbOwnDataStore(), ack.data),
      ]);
      if (!stillJoining()) return;
      // Compiled now, the kernels cost the first round nothing; the server waits for `ready`.
      setJoin({ step: 'joining', ack, progress: model.progress, warmingUp: model.engine });
      const warmUpMs = await getTrainer().warmUp(
        { batchSize: ack.train.batchSize, seqLen: ack.train.seqLen },
        ack.manifest.lora,
      );
      if (!stillJoining()) return;
      const loop = new RoundLoop(
        {
          channel: socketChannel(connection),
          trainer: workerRoundTrainer(getTrainer()),
          lora: ack.manifest.lora,
          data,
          tokenizer,
          checkpoints,
          onStats: setStats,
        },
        restored,
      );
      forwardRoundEvents(connection, loop);
      setJoin({ step: 'joined', ack, model, data, resumed: restored !== undefined, warmUpMs });
      // A failed round loop ends the connection, so the server does not wait for this device.
      running.current = loop.run().catch((error: Error) => {
        if (stillJoining()) setJoin({ step: 'failed', message: `training stopped: ${error.message}` });
        socket.current = null;
        connection.disconnect();
        return error.message;
      });
    } catch (error) {
      if (stillJoining()) setJoin({ step: 'failed', message: (error as Error).message });
    }
  };

  const leave = async () => {
    sessionStorage.removeItem(joinedKey);
    forgetIdentity(sessionStorage);
    const connection = socket.current;
    socket.current = null;
    connection?.disconnect();
    await running.current;
    running.current = null;
    await idbCheckpointStore().clear();
    setStats(null);
    setJoin({ step: 'idle' });
  };

  // A reloaded tab that had joined joins again (its consent was given before the reload).
  // biome-ignore lint/correctness/useExhaustiveDependencies: runs once, when the probe has answered
  useEffect(() => {
    if (choice === null || autoJoined.current || sessionStorage.getItem(joinedKey) === null) return;
    autoJoined.current = true;
    void start();
  }, [choice === null]);

  const onFile = async (event: ChangeEvent<HTMLInputElement>) => {
    const file = event.target.files?.[0];
    if (!file) return;
    try {
      const text = await file.text();
      const parsed = parseOwnJsonl(text, file.name);
      await idbOwnDataStore().save({ name: file.name, text });
      setOwnFile({ name: file.name, examples: parsed.examples.length });
      setDataError(null);
    } catch (error) {
      setDataError((error as Error).message);
    }
  };

  const chooseDemo = async () => {
    await idbOwnDataStore().clear();
    setOwnFile(null);
  };

  const inFlow = join.step === 'joining' || join.step === 'joined';
  return (
    <main>
      <h1>PruFed</h1>
      <p>
        PruFed fine-tunes a language model together with volunteers' browsers. Each device trains small LoRA
        adapters for a pruned copy of the model that fits it; the server averages the adapters into one model.
      </p>
      <p>
        <strong>Your raw data never leaves this device; only adapter updates do.</strong> Joining downloads
        the model layers this device trains (cached for the next visit) and uses its GPU, or its CPU, while
        this page stays open. You can leave at any time.
      </p>
      <CapabilityCard
        capabilities={capabilities}
        choice={choice}
        ack={join.step === 'joined' || join.step === 'joining' ? (join.ack ?? null) : null}
      />
      <DataCard
        data={join.step === 'joined' ? join.data : null}
        ownFile={ownFile}
        onFile={onFile}
        onDemo={chooseDemo}
        locked={inFlow}
      />
      {dataError && (
        <p role="alert" className="alert" data-testid="data-error">
          {dataError}
        </p>
      )}
      <p>
        {inFlow ? (
          <button type="button" onClick={leave}>
            Leave
          </button>
        ) : (
          <button type="button" onClick={start} disabled={choice === null}>
            Join training
          </button>
        )}
      </p>
      <JoinStatus state={join} />
      {stats && join.step === 'joined' && (
        <LiveView stats={stats} modelBytes={join.model.progress.fetchedBytes} />
      )}
      {join.step === 'joined' && (
        <TryModel
          tier={join.ack.tier}
          modelUrl={`/models/latest/${join.ack.tier}.onnx`}
          tokenizer={() => fetchTokenizer(join.ack.manifest)}
          maxLength={join.ack.train.seqLen}
        />
      )}
    </main>
  );
}
