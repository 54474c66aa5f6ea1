// The volunteer page: what PruFed is and what stays on the device, the capability card, and the
// join flow (consent, hello, download of the assigned variant with progress in bytes, leave).
import { useEffect, useRef, useState } from 'react';
import { chooseTier, type TierChoice } from './tier';
import { getTrainer } from './trainer-client';
import {
  connect,
  helloReport,
  type JoinedAck,
  loadAssignedModel,
  sayHello,
  type VolunteerSocket,
} from './volunteer';
import type { Capabilities, DownloadProgress, LoadedModel } from './worker/api';

type JoinState =
  | { step: 'idle' }
  | { step: 'joining'; ack?: JoinedAck; progress?: DownloadProgress }
  | { step: 'joined'; ack: JoinedAck; model: LoadedModel }
  | { step: 'failed'; message: string };

const bytes = (n: number) => `${n.toLocaleString('en-US')} bytes`;

function CapabilityCard({
  capabilities,
  choice,
}: {
  capabilities: Capabilities | null;
  choice: TierChoice | null;
}) {
  if (capabilities === null || choice === null) return <p data-testid="gpu-status">Checking this device…</p>;
  const { gpu } = capabilities;
  return (
    <section style={{ border: '1px solid #ccc', borderRadius: 8, padding: '0.5rem 1rem' }}>
      <h2 style={{ fontSize: '1.1rem' }}>This device</h2>
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
        style={{ width: '100%' }}
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
              : `Assigned tier ${state.ack.tier} (layers ${state.ack.keptLayers.join(', ')}); downloading its weights…`}
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
            {bytes(state.model.progress.totalBytes)} of the model's {bytes(state.model.fileBytes)}).
          </p>
          <DownloadBar progress={state.model.progress} />
        </>
      );
    case 'failed':
      return (
        <p data-testid="join-status" role="alert" style={{ color: '#a00' }}>
          Could not join: {state.message}
        </p>
      );
  }
}

export function App() {
  const [capabilities, setCapabilities] = useState<Capabilities | null>(null);
  const [join, setJoin] = useState<JoinState>({ step: 'idle' });
  const socket = useRef<VolunteerSocket | null>(null);
  const override = new URLSearchParams(window.location.search).get('tier');
  const choice = capabilities && chooseTier(capabilities, override);

  useEffect(() => {
    getTrainer()
      .probe()
      .then(setCapabilities, (error: unknown) => setJoin({ step: 'failed', message: String(error) }));
  }, []);

  const leave = () => {
    socket.current?.disconnect();
    socket.current = null;
    setJoin({ step: 'idle' });
  };

  const start = async () => {
    if (capabilities === null || choice === null) return;
    const connection = connect();
    socket.current = connection;
    const stillJoining = () => socket.current === connection;
    connection.on('disconnect', (reason) => {
      if (stillJoining()) setJoin({ step: 'failed', message: `disconnected from the server (${reason})` });
    });
    setJoin({ step: 'joining' });
    try {
      const ack = await sayHello(connection, helloReport(capabilities, choice));
      if (!stillJoining()) return;
      setJoin({ step: 'joining', ack });
      const model = await loadAssignedModel(getTrainer(), ack, choice, (progress) => {
        // Progress arrives on its own channel and may land after the result: only a running join takes it.
        if (stillJoining())
          setJoin((state) => (state.step === 'joining' ? { step: 'joining', ack, progress } : state));
      });
      if (stillJoining()) setJoin({ step: 'joined', ack, model });
    } catch (error) {
      if (stillJoining()) setJoin({ step: 'failed', message: (error as Error).message });
    }
  };

  const inFlow = join.step === 'joining' || join.step === 'joined';
  return (
    <main
      style={{ fontFamily: 'system-ui, sans-serif', maxWidth: 720, margin: '2rem auto', lineHeight: 1.5 }}
    >
      <h1>PruFed</h1>
      <p>
        PruFed fine-tunes a language model together with volunteers' browsers. Each device trains small LoRA
        adapters for a pruned copy of the model that fits it; the server averages the adapters into one model.
      </p>
      <p>
        <strong>Your raw data never leaves this device; only adapter updates do.</strong> Joining downloads
        the model layers this device trains (cached for the next visit) and uses its GPU, or its CPU, while
        this page stays open.
      </p>
      <CapabilityCard capabilities={capabilities} choice={choice} />
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
    </main>
  );
}
