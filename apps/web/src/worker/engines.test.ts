// The worker's engine factory: every engine kind is built, best first, and the WebGPU engine's
// creation fails with a message that points to the CPU engine where WebGPU or an adapter is missing
// (the engine itself is tested in packages/webgpu and, inside the worker, in e2e/webgpu-parity.spec.ts).
import { InputError } from '@prufed/model';
import { GpuError } from '@prufed/webgpu';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { EngineKind } from './api';
import { builtEngines, createEngine } from './engines';

afterEach(() => vi.unstubAllGlobals());

describe('the engine factory', () => {
  it('builds the WebGPU and CPU engines, WebGPU first', async () => {
    expect(builtEngines).toEqual(['webgpu', 'cpu']);
    expect((await createEngine('cpu')).kind).toBe('cpu');
  });

  it('says to use the CPU engine where the browser has no navigator.gpu', async () => {
    vi.stubGlobal('navigator', {});
    const creating = createEngine('webgpu');
    await expect(creating).rejects.toThrow(GpuError);
    await expect(creating).rejects.toThrow(/navigator\.gpu is undefined.*CPU engine/);
  });

  it('says to use the CPU engine where no WebGPU adapter is found', async () => {
    vi.stubGlobal('navigator', { gpu: { requestAdapter: async () => null } });
    await expect(createEngine('webgpu')).rejects.toThrow(/no WebGPU adapter found.*CPU engine/);
  });

  it('rejects a kind this build does not have, listing the ones it has', () => {
    expect(() => createEngine('tpu' as EngineKind)).toThrow(InputError);
    expect(() => createEngine('tpu' as EngineKind)).toThrow('use one of webgpu, cpu');
  });
});
