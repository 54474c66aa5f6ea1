// Acquires a GPUDevice from a GPU object (navigator.gpu in browsers and workers, createNodeGpu()
// in Node) with the limits training needs, and turns device loss and uncaptured validation errors
// into clear exceptions. After a loss, call acquireDevice again and rebuild what used the device.

/** Thrown when WebGPU is missing, the device was lost, or a GPU command failed validation. */
export class GpuError extends Error {
  override name = 'GpuError';
}

/** Limits requested at the adapter's maximum: they bound model size and kernel tiling. */
const requestedLimits = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxStorageBuffersPerShaderStage',
] as const;

export interface AdapterDescription {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** True for software adapters such as SwiftShader. */
  isFallbackAdapter: boolean;
}

export interface GpuContext {
  device: GPUDevice;
  adapter: AdapterDescription;
  /** Identifies the adapter across sessions, e.g. to remember autotuning results. */
  adapterKey: string;
  limits: Pick<GPUSupportedLimits, (typeof requestedLimits)[number]>;
  shaderF16: boolean;
  /** Resolves when the device is lost (including destroy()); never rejects. */
  lost: Promise<GPUDeviceLostInfo>;
  /** Throws GpuError if the device was lost, or once for an uncaptured error since the last check. */
  check(): void;
}

export interface AcquireOptions {
  powerPreference?: GPUPowerPreference;
  /** Label prefix of the device and every object made through this context. */
  label?: string;
}

function describeAdapter(adapter: GPUAdapter): AdapterDescription {
  const info = adapter.info;
  return {
    vendor: info.vendor,
    architecture: info.architecture,
    device: info.device,
    description: info.description,
    // Older browsers and Dawn builds lack the field.
    isFallbackAdapter: (info as { isFallbackAdapter?: boolean }).isFallbackAdapter ?? false,
  };
}

/**
 * The adapter in words for logs and reports, e.g. "NVIDIA: 580.159.04 580.159.4.0 (nvidia//nvidia-h200)"
 * or "SwiftShader driver 5.0.0 (google/swiftshader/swiftshader-device-subzero-, fallback)".
 */
export function adapterLabel({
  description,
  vendor,
  architecture,
  device,
  isFallbackAdapter,
}: AdapterDescription) {
  return `${description || vendor} (${vendor}/${architecture}/${device}${isFallbackAdapter ? ', fallback' : ''})`;
}

export function adapterKeyOf(adapter: AdapterDescription): string {
  return [adapter.vendor, adapter.architecture, adapter.device, adapter.description].join('|');
}

export async function acquireDevice(gpu: GPU | undefined, options: AcquireOptions = {}): Promise<GpuContext> {
  if (gpu === undefined) {
    throw new GpuError(
      'WebGPU is not available here (navigator.gpu is undefined): use a browser with WebGPU or the CPU engine',
    );
  }
  const adapter = await gpu.requestAdapter({
    powerPreference: options.powerPreference ?? 'high-performance',
  });
  if (adapter === null) {
    throw new GpuError(
      'no WebGPU adapter found: update the GPU driver, enable WebGPU, or use the CPU engine',
    );
  }
  const requiredLimits: Record<string, number> = {};
  for (const name of requestedLimits) requiredLimits[name] = adapter.limits[name];
  const shaderF16 = adapter.features.has('shader-f16');
  const label = options.label ?? 'prufed';
  const device = await adapter.requestDevice({
    label,
    requiredLimits,
    requiredFeatures: shaderF16 ? ['shader-f16'] : [],
  });
  const description = describeAdapter(adapter);
  let lostMessage: string | null = null;
  let errorMessage: string | null = null;
  const lost = device.lost.then((info) => {
    lostMessage = `the GPU device "${label}" was lost (${info.reason}: ${info.message}); acquire a new device with acquireDevice() and rebuild the engine`;
    return info;
  });
  device.addEventListener('uncapturederror', (event) => {
    errorMessage ??= `a GPU command on device "${label}" failed: ${(event as GPUUncapturedErrorEvent).error.message}`;
  });
  const limits = Object.fromEntries(
    requestedLimits.map((name) => [name, device.limits[name]]),
  ) as GpuContext['limits'];
  return {
    device,
    adapter: description,
    adapterKey: adapterKeyOf(description),
    limits,
    shaderF16,
    lost,
    check() {
      if (lostMessage !== null) throw new GpuError(lostMessage);
      const message = errorMessage;
      errorMessage = null;
      if (message !== null) throw new GpuError(message);
    },
  };
}
