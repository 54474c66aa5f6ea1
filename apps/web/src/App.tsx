// The volunteer page: what PruFed is, what stays on the device, and whether this browser has WebGPU.
import { useEffect, useState } from 'react';

type GpuState =
  | { kind: 'checking' }
  | { kind: 'webgpu'; description: string }
  | { kind: 'none'; why: string };

async function detectGpu(): Promise<GpuState> {
  const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
  if (!gpu) return { kind: 'none', why: 'this browser does not expose navigator.gpu' };
  const adapter = await gpu.requestAdapter();
  if (!adapter) return { kind: 'none', why: 'no WebGPU adapter is available' };
  const info = adapter.info;
  const description =
    [info.vendor, info.architecture, info.description].filter(Boolean).join(' ') || 'unknown GPU';
  return { kind: 'webgpu', description };
}

export function App() {
  const [gpu, setGpu] = useState<GpuState>({ kind: 'checking' });
  useEffect(() => {
    detectGpu().then(setGpu, (error: unknown) => setGpu({ kind: 'none', why: String(error) }));
  }, []);
  return (
    <main
      style={{ fontFamily: 'system-ui, sans-serif', maxWidth: 720, margin: '2rem auto', lineHeight: 1.5 }}
    >
      <h1>PruFed</h1>
      <p>
        Federated fine-tuning of layer-pruned LLaMA models in volunteers' browsers. Your browser trains small
        LoRA adapters on its own GPU; raw data never leaves this device, only adapter updates do.
      </p>
      <p data-testid="gpu-status">
        {gpu.kind === 'checking' && 'Checking for WebGPU…'}
        {gpu.kind === 'webgpu' && `WebGPU adapter: ${gpu.description}`}
        {gpu.kind === 'none' && `No WebGPU (${gpu.why}): this browser would train with the CPU engine.`}
      </p>
    </main>
  );
}
