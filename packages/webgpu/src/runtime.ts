// What every WebGPU kernel call goes through: one device context, one pipeline cache, one buffer
// arena, and one open command encoder that collects dispatches until submit() or a read-back.
// Dispatches recorded in one compute pass run in order and see each other's writes.
import { InputError } from '@prufed/model';
import { BufferArena } from './buffer-arena';
import type { GpuContext } from './gpu-device';
import type { MatmulVariant } from './matmul';
import { PipelineCache } from './pipeline-cache';
import { type Program, packUniforms, uniformByteSize } from './program';

export interface RuntimeCounters {
  buffersCreated: number;
  pipelinesCompiled: number;
  dispatches: number;
  submits: number;
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

  constructor(
    readonly ctx: GpuContext,
    options: { dumpWgsl?: boolean } = {},
  ) {
    this.pipelines = new PipelineCache(ctx, options);
    this.arena = new BufferArena(ctx.device, ctx.device.label || 'prufed');
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

  /** Buffers bound in program.bindings order; uniforms by field name. */
  async dispatch(
    program: Program,
    buffers: readonly GPUBuffer[],
    uniforms: Readonly<Record<string, number>>,
  ): Promise<void> {
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
      entries: [uniformBuffer, ...buffers].map((buffer, binding) => ({ binding, resource: { buffer } })),
    });
    const pass = this.openPass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    const [x, y, z] = program.dispatch(uniforms);
    pass.dispatchWorkgroups(x, y, z);
    this.dispatches++;
  }

  /** Writes data into the arena buffer called name (created or resized as needed). */
  upload(name: string, data: Float32Array): GPUBuffer {
    this.ctx.check();
    const buffer = this.arena.buffer(name, data.byteLength);
    this.device.queue.writeBuffer(buffer, 0, data.buffer, data.byteOffset, data.byteLength);
    return buffer;
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
