// The one cache of compute pipelines of a device, keyed by programKey (shader file, entry point,
// override constants). Compilation errors become GpuErrors carrying the WGSL compiler's messages.
// Set PRUFED_WGSL_DUMP=1 (Node) or pass dumpWgsl to print the WGSL of every compiled pipeline.
import { type GpuContext, GpuError } from './gpu-device';
import { loadWgsl, type Program, programKey } from './program';

export interface CompiledProgram {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
}

function dumpRequestedByEnv(): boolean {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  return env?.PRUFED_WGSL_DUMP === '1';
}

/** WebGPU takes override values as numbers; booleans are 0 or 1. */
function overrideValues(program: Program): Record<string, number> {
  return Object.fromEntries(Object.entries(program.constants).map(([name, value]) => [name, Number(value)]));
}

export class PipelineCache {
  /** Pipelines compiled so far: a steady-state training step must not raise it. */
  compiled = 0;
  private readonly pipelines = new Map<string, Promise<CompiledProgram>>();
  private readonly dumpWgsl: boolean;

  constructor(
    private readonly ctx: GpuContext,
    options: { dumpWgsl?: boolean } = {},
  ) {
    this.dumpWgsl = options.dumpWgsl ?? dumpRequestedByEnv();
  }

  get(program: Program): Promise<CompiledProgram> {
    const key = programKey(program);
    let compiled = this.pipelines.get(key);
    if (compiled === undefined) {
      compiled = this.compile(program, key);
      this.pipelines.set(key, compiled);
      compiled.catch(() => this.pipelines.delete(key));
    }
    return compiled;
  }

  private async compile(program: Program, key: string): Promise<CompiledProgram> {
    const code = await loadWgsl(program.source);
    this.ctx.check();
    const { device } = this.ctx;
    if (this.dumpWgsl) console.log(`// ---- WGSL of pipeline ${key}\n${code}`);
    device.pushErrorScope('validation');
    const module = device.createShaderModule({ label: `${program.name}.wgsl`, code });
    const layout = device.createBindGroupLayout({
      label: `${key} bindings`,
      entries: [
        { binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform' } },
        ...program.bindings.map(
          ({ kind }, i): GPUBindGroupLayoutEntry => ({
            binding: i + 1,
            visibility: GPUShaderStage.COMPUTE,
            buffer: { type: kind },
          }),
        ),
      ],
    });
    const pipeline = device.createComputePipeline({
      label: key,
      layout: device.createPipelineLayout({ label: key, bindGroupLayouts: [layout] }),
      compute: { module, entryPoint: program.entryPoint, constants: overrideValues(program) },
    });
    const error = await device.popErrorScope();
    if (error !== null) {
      const info = await module.getCompilationInfo();
      const messages = info.messages
        .map((m) => `${m.type} at ${m.lineNum}:${m.linePos}: ${m.message}`)
        .join('\n');
      throw new GpuError(`compiling kernel ${key} failed: ${error.message}\n${messages}`);
    }
    this.compiled++;
    return { pipeline, layout };
  }
}
