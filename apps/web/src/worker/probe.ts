// The capability probe the worker runs before it picks an engine and the page a tier: the WebGPU
// adapter (info, the limits that bound model size, features such as shader-f16) and device memory.
// Runs in a worker or a page (both have navigator.gpu where WebGPU is enabled).
import type { Capabilities, EngineKind, GpuCapabilities } from './api';

type GpuNavigator = { gpu?: GPU; deviceMemory?: number };

async function probeGpu(gpu: GPU | undefined): Promise<GpuCapabilities | string> {
  if (gpu === undefined) return 'this browser does not expose navigator.gpu (WebGPU is off or unsupported)';
  let adapter: GPUAdapter | null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch (error) {
    return `navigator.gpu.requestAdapter() failed: ${(error as Error).message}`;
  }
  if (adapter === null) return 'navigator.gpu.requestAdapter() found no adapter (blocklisted GPU or driver)';
  const { info, limits } = adapter;
  return {
    vendor: info.vendor,
    architecture: info.architecture,
    description: info.description,
    // Older browsers lack the field.
    isFallbackAdapter: (info as { isFallbackAdapter?: boolean }).isFallbackAdapter ?? false,
    features: [...adapter.features].sort(),
    maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
    maxBufferSize: limits.maxBufferSize,
    maxComputeWorkgroupStorageSize: limits.maxComputeWorkgroupStorageSize,
  };
}

/** Probes this browser; `engines` lists the engines this build has, best first. */
export async function probeCapabilities(engines: EngineKind[]): Promise<Capabilities> {
  const nav = navigator as Navigator & GpuNavigator;
  const gpu = await probeGpu(nav.gpu);
  return {
    gpu: typeof gpu === 'string' ? null : gpu,
    gpuUnavailableReason: typeof gpu === 'string' ? gpu : null,
    deviceMemoryGb: typeof nav.deviceMemory === 'number' ? nav.deviceMemory : null,
    engines: engines.filter((engine) => engine !== 'webgpu' || typeof gpu !== 'string'),
  };
}
