import { describe, expect, it } from 'vitest';
import { chooseTier } from './tier';
import type { Capabilities } from './worker/api';

const gpu = {
  vendor: 'google',
  architecture: 'swiftshader',
  description: '',
  isFallbackAdapter: true,
  features: [],
  maxStorageBufferBindingSize: 1 << 30,
  maxBufferSize: 1 << 30,
  maxComputeWorkgroupStorageSize: 32768,
};
const cpuOnly: Capabilities = { gpu, gpuUnavailableReason: null, deviceMemoryGb: 8, engines: ['cpu'] };
const noGpu: Capabilities = { ...cpuOnly, gpu: null, gpuUnavailableReason: 'no navigator.gpu' };
const withWebgpu: Capabilities = { ...cpuOnly, engines: ['webgpu', 'cpu'] };

describe('chooseTier', () => {
  it('gives the CPU engine the smallest variant, saying why', () => {
    expect(chooseTier(noGpu, null)).toEqual({
      tier: 'c',
      engine: 'cpu',
      reason: 'no WebGPU: the CPU engine trains the smallest variant',
    });
    expect(chooseTier(cpuOnly, null).reason).toMatch(/^the WebGPU engine is not in this build/);
  });

  it('takes the best engine and the full depth on a hardware WebGPU adapter', () => {
    const hardware: Capabilities = { ...withWebgpu, gpu: { ...gpu, isFallbackAdapter: false } };
    expect(chooseTier(hardware, null)).toMatchObject({ tier: 'a', engine: 'webgpu' });
  });

  it('gives a software WebGPU adapter the smallest variant, saying why', () => {
    expect(chooseTier(withWebgpu, null)).toEqual({
      tier: 'c',
      engine: 'webgpu',
      reason: 'software WebGPU adapter (swiftshader): the smallest variant',
    });
  });

  it('obeys ?tier= and reports an invalid one', () => {
    expect(chooseTier(withWebgpu, 'b')).toEqual({ tier: 'b', engine: 'webgpu', reason: '?tier=b override' });
    expect(chooseTier(noGpu, 'z')).toMatchObject({
      tier: 'c',
      reason: expect.stringMatching(/\?tier=z ignored/),
    });
  });
});
