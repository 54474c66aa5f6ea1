// What every WebGPU kernel call goes through: one device context, one pipeline cache, one buffer
// arena, and one open command encoder that collects dispatches until submit() or a read-back.
// Dispatches recorded in one compute pass run in order and see each other's writes.
import { InputError } from '@prufed/model';
import { BufferArena } from './buffer-arena';
import type { GpuContext } from './gpu-device';
import type { MatmulVariant } from './matmul';
import { PipelineCache } from './pipeline-cache';
import { type Program, packUniforms, uniformByteSize } from './program';

/**
 * What a kernel binding receives: a whole buffer, or a range of one (byte offset and size; the
 * offset a multiple of the device's minStorageBufferOffsetAlignment), as for the tensors of a packed
 * buffer. Either way `size / 4` is the floats the kernel sees.
 */
export type GpuBinding = GPUBuffer | GpuSlice;

export interface GpuSlice {
  buffer: GPUBuffer;
  offset: number; // bytes
  size: number; // bytes
}

function bindingResource(binding: GpuBinding): GPUBufferBinding {
  return 'buffer' in binding ? binding : { buffer: binding };
}

export interface RuntimeCounters {
  buffersCreated: number;
  pipelinesCompiled: number;
  dispatches: number;
  submits: number;
}

/** Wall time of the profiled calls of one kernel, or of one kernel with given uniforms. */
export interface KernelProfileRow {
  kernel: string;
  calls: number;
  ms: number;
}

/** What profiling gathered: per kernel, and per kernel and uniform values (shapes). */
export interface KernelProfile {
  byKernel: KernelProfileRow[];
  byCall: KernelProfileRow[];
}

function profileRequestedByEnv(): boolean {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  return env?.PRUFED_GPU_PROFILE === '1';
}

export class GpuRuntime {
  readonly pipelines: PipelineCache;
  readonly arena: BufferArena;
  /** The matmul kernel used when a call names none; autotuneMatmul sets it per adapter. */
  matmulVariant: MatmulVariant = 'tiled';
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private readonly uniformScratch = new DataView(new ArrayBuffer(256));
  private dispatches = 0;
  private submits = 0;
  /** Per kernel name, and per kernel name with its uniforms: calls and milliseconds, while profiling. */
  private readonly profiled: {
    byKernel: Map<string, KernelProfileRow>;
    byCall: Map<string, KernelProfileRow>;
  } | null;

  /**
   * profile (or PRUFED_GPU_PROFILE=1): every dispatch is submitted alone and waited for, and its
   * wall time is charged to its kernel's name; slower, for finding where a step spends its time.
   */
  constructor(
    readonly ctx: GpuContext,
    options: { dumpWgsl?: boolean; profile?: boolean } = {},
  ) {
    this.pipelines = new PipelineCache(ctx, options);
    this.arena = new BufferArena(ctx.device, ctx.device.label || 'prufed');
    this.profiled =
      (options.profile ?? profileRequestedByEnv()) ? { byKernel: new Map(), byCall: new Map() } : null;
  }

  /** The kernel times gathered since the last call, most expensive first; empty unless profiling. */
  takeProfile(): KernelProfile {
    const take = (rows: Map<string, KernelProfileRow> | undefined) => {
      const sorted = [...(rows?.values() ?? [])].sort((a, b) => b.ms - a.ms);
      rows?.clear();
      return sorted;
    };
    return { byKernel: take(this.profiled?.byKernel), byCall: take(this.profiled?.byCall) };
  }

  get device(): GPUDevice {
    return this.ctx.device;
  }

  counters(): RuntimeCounters {
    return {
      buffersCreated: this.arena.created,
      pipelinesCompiled: this.pipelines.compiled,
      dispatches: this.dispatches,
      submits: this.submits,
    };
  }

  /** Buffers (or ranges of buffers) bound in program.bindings order; uniforms by field name. */
  async dispatch(
    program: Program,
    buffers: readonly GpuBinding[],
    uniforms: Readonly<Record<string, number>>,
  ): Promise<void> {
    if (this.profiled !== null) await this.finish();
    if (buffers.length !== program.bindings.length) {
      throw new InputError(
        `kernel ${program.name} takes ${program.bindings.length} buffers (${program.bindings.map((b) => b.name).join(', ')}), got ${buffers.length}`,
      );
    }
    const { pipeline, layout } = await this.pipelines.get(program);
    this.ctx.check();
    const uniformBuffer = this.arena.nextUniform();
    packUniforms(program, uniforms, this.uniformScratch);
    this.device.queue.writeBuffer(uniformBuffer, 0, this.uniformScratch.buffer, 0, uniformByteSize(program));
    const bindGroup = this.device.createBindGroup({
      label: program.name,
      layout,
      entries: [uniformBuffer, ...buffers].map((buffer, binding) => ({
        binding,
        resource: bindingResource(buffer),
      })),
    });
    const pass = this.openPass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    const [x, y, z] = program.dispatch(uniforms);
    pass.dispatchWorkgroups(x, y, z);
    this.dispatches++;
    if (this.profiled !== null) await this.timeRecorded(program, uniforms);
  }

  /** Runs the one recorded dispatch and charges its wall time to its kernel. */
  private async timeRecorded(program: Program, uniforms: Readonly<Record<string, number>>): Promise<void> {
    const start = performance.now();
    await this.finish();
    const ms = performance.now() - start;
    const shape = program.uniforms.map(({ name }) => `${name}=${uniforms[name]}`).join(' ');
    for (const [rows, kernel] of [
      [this.profiled!.byKernel, program.name],
      [this.profiled!.byCall, `${program.name} ${shape}`],
    ] as const) {
      const row = rows.get(kernel) ?? { kernel, calls: 0, ms: 0 };
      row.calls++;
      row.ms += ms;
      rows.set(kernel, row);
    }
  }

  /** Writes data into the arena buffer called name (created or resized as needed). */
  upload(name: string, data: Float32Array): GPUBuffer {
    const buffer = this.arena.buffer(name, data.byteLength);
    this.write(buffer, 0, data);
    return buffer;
  }

  /** Writes data into buffer from float `offset` on, ordered before the work submitted next. */
  write(buffer: GPUBuffer, offset: number, data: Float32Array): void {
    this.ctx.check();
    this.device.queue.writeBuffer(buffer, offset * 4, data.buffer, data.byteOffset, data.byteLength);
  }

  /** Submits the recorded work. Uniform buffers are reused from here on. */
  submit(): void {
    this.ctx.check();
    if (this.encoder === null) return;
    this.pass?.end();
    this.device.queue.submit([this.encoder.finish({ label: `${this.device.label} commands` })]);
    this.encoder = null;
    this.pass = null;
    this.arena.restartUniforms();
    this.submits++;
  }

  /** Submits the recorded work and waits for the GPU to finish it. */
  async finish(): Promise<void> {
    this.submit();
    await this.device.queue.onSubmittedWorkDone();
    this.ctx.check();
  }

  /** Submits the recorded work and returns the first `length` floats of buffer. */
  async read(buffer: GPUBuffer, length = buffer.size / 4): Promise<Float32Array> {
    const bytes = length * 4;
    const readback = this.arena.readback(buffer.label, bytes);
    this.commandEncoder();
    this.pass?.end();
    this.pass = null;
    this.encoder!.copyBufferToBuffer(buffer, 0, readback, 0, bytes);
    this.submit();
    await readback.mapAsync(GPUMapMode.READ, 0, bytes);
    const result = new Float32Array(readback.getMappedRange(0, bytes).slice(0));
    readback.unmap();
    this.ctx.check();
    return result;
  }

  dispose(): void {
    this.encoder = null;
    this.pass = null;
    this.arena.destroy();
  }

  private commandEncoder(): GPUCommandEncoder {
    this.encoder ??= this.device.createCommandEncoder({ label: `${this.device.label} step` });
    return this.encoder;
  }

  private openPass(): GPUComputePassEncoder {
    this.pass ??= this.commandEncoder().beginComputePass({ label: `${this.device.label} pass` });
    return this.pass;
  }
}
