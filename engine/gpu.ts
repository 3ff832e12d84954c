// The WebGPU device: adapter choice, limits raised to what large models need, a pipeline cache keyed by shader
// name, constants and generated code, buffer helpers, and WebGPU errors turned into EngramErrors instead of
// hangs.
import { EngramError } from "../base/errors.ts";

/** What `cli.ts info` prints about the adapter: its names, features and the limits engram's device got. */
export interface AdapterSummary {
  /** The adapter's name, e.g. "NVIDIA H200" or "llvmpipe (LLVM 15.0.6, 256 bits)" ("unknown" if unnamed). */
  description: string;
  /** The vendor as WebGPU reports it (may be empty). */
  vendor: string;
  /** The architecture as WebGPU reports it (may be empty). */
  architecture: string;
  /** Whether WebGPU calls this a fallback (software) adapter. */
  isFallback: boolean;
  /** The device's enabled features, sorted. */
  features: string[];
  /** Every limit of the device, by WebGPU's name (sizes in bytes). */
  limits: Record<string, number>;
}

const SHADER_DIR = new URL("../shaders/", import.meta.url);
const shaderText = new Map<string, string>();

/** Reads shaders/<name>.wgsl once (name may be lib/<piece>). */
function shaderSource(name: string): string {
  let text = shaderText.get(name);
  if (text === undefined) {
    text = Deno.readTextFileSync(new URL(`${name}.wgsl`, SHADER_DIR));
    shaderText.set(name, text);
  }
  return text;
}

/** The limits engram asks for: the adapter's own maxima (defaults are far too small for a 1B model). */
const WANTED_LIMITS = [
  "maxStorageBufferBindingSize",
  "maxBufferSize",
  "maxComputeWorkgroupStorageSize",
  "maxStorageBuffersPerShaderStage",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupSizeX",
  "maxComputeWorkgroupsPerDimension",
  // Texel layouts (CPU kernels): staging textures take one activation row a texture row where rows fit.
  "maxTextureDimension2D",
] as const;

/** The WebGPU device engram runs on, and everything that talks to it directly (see the top of this file). */
export class Gpu {
  /** Set when the device reported an error nobody was waiting for, or was lost; checked at every sync point. */
  private failure: string | null = null;
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  /** Host seconds spent building pipelines (compiling shaders), so that a rate can leave them out. */
  pipelineSeconds = 0;
  private nextBufferId = 1;
  private readonly bufferIds = new WeakMap<GPUBuffer | GPUTexture, number>();

  private constructor(
    /** The WebGPU adapter. */
    readonly adapter: GPUAdapter,
    /** The WebGPU device, opened with the adapter's maximal limits. */
    readonly device: GPUDevice,
    /** Whether shader-f16 is enabled: f16 weights are then read natively. */
    readonly hasF16: boolean,
    /** CPU adapters (lavapipe, SwiftShader, WARP) share system memory and want smaller batches. */
    readonly isCpu: boolean,
    /** Use the kernels written for CPU adapters (barrier-free); tests force either family on any adapter. */
    readonly cpuKernels: boolean,
    /** GPU timestamps (the timestamp-query feature), requested by the commands that time kernels. */
    readonly hasTimestamps: boolean,
    /**
     * With the CPU kernels, weight matrices are held as textures and run the texel tiles (engine/tiles.ts)
     * wherever their rows fill whole texels; false: storage buffers and the direct tiles. Texels ran
     * pythia-70m's matmuls 1.5-2x as fast as buffers on lavapipe, and pico-3's scoring 1.2-1.5x, with a cold
     * `demo` on the pico suite in 22 s against 34 s (bench/NOTES.md).
     */
    readonly texels: boolean = true,
  ) {
    device.lost.then((info) => {
      if (info.reason !== "destroyed") this.failure = `GPU device lost: ${info.message || info.reason}`;
    });
    device.addEventListener("uncapturederror", (e) => {
      this.failure ??= `WebGPU error: ${firstLine((e as GPUUncapturedErrorEvent).error.message)}`;
    });
  }

  /**
   * Opens the high-performance adapter with its maximal limits; `shader-f16` is enabled when offered, and
   * `timestamp-query` when asked for and offered. `kernels` forces a kernel family; `texels: false` keeps the
   * CPU kernels' matrices in buffers (tests compare the two).
   */
  static async open(
    opts: { f16?: boolean; kernels?: "cpu" | "gpu"; timestamps?: boolean; texels?: boolean } = {},
  ): Promise<Gpu> {
    if (!("gpu" in navigator) || !navigator.gpu) {
      throw new EngramError("this Deno has no WebGPU (navigator.gpu): use Deno ≥ 2 (engram pins 2.9.6)");
    }
    // Vulkan's window-system layers complain on stderr without XDG_RUNTIME_DIR; engram draws nothing.
    if (!Deno.env.get("XDG_RUNTIME_DIR")) Deno.env.set("XDG_RUNTIME_DIR", Deno.env.get("TMPDIR") ?? "/tmp");
    const adapter = await navigator.gpu.requestAdapter({ powerPreference: "high-performance" });
    if (!adapter) {
      throw new EngramError(
        "no WebGPU adapter: install a GPU driver with Vulkan, Metal or DX12, or for the CPU " +
          "Mesa's lavapipe (Debian/Ubuntu: apt-get install mesa-vulkan-drivers libvulkan1)",
      );
    }
    const requiredLimits: Record<string, number> = {};
    for (const name of WANTED_LIMITS) {
      // Deno may report 64-bit limits as BigInt.
      const value = (adapter.limits as unknown as Record<string, number | bigint>)[name];
      if (value !== undefined) requiredLimits[name] = Number(value);
    }
    const hasF16 = (opts.f16 ?? true) && adapter.features.has("shader-f16");
    const requiredFeatures: GPUFeatureName[] = hasF16 ? ["shader-f16"] : [];
    const hasTimestamps = !!opts.timestamps && adapter.features.has("timestamp-query");
    if (hasTimestamps) requiredFeatures.push("timestamp-query");
    let device: GPUDevice;
    try {
      device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
    } catch (e) {
      throw new EngramError(`could not open the WebGPU device: ${(e as Error).message}`);
    }
    const info = adapter.info;
    const isCpu = info.isFallbackAdapter || /llvmpipe|lavapipe|swiftshader|warp/i.test(info.description);
    const cpuKernels = opts.kernels ? opts.kernels === "cpu" : isCpu;
    // The texel tiles read read-only storage textures (a WGSL language feature, which Deno's types do not
    // declare yet); without it, buffers only.
    const wgsl = (navigator.gpu as { wgslLanguageFeatures?: ReadonlySet<string> }).wgslLanguageFeatures;
    const texels = (opts.texels ?? true) && !!wgsl?.has("readonly_and_readwrite_storage_textures");
    return new Gpu(adapter, device, hasF16, isCpu, cpuKernels, hasTimestamps, texels);
  }

  /**
   * The device limits engram sizes its work by: bytes of one storage binding and of one buffer, workgroups per
   * dispatch dimension, and bytes of workgroup memory.
   */
  get limits(): { maxBinding: number; maxBuffer: number; maxWorkgroups: number; workgroupStorage: number } {
    const l = this.device.limits as unknown as Record<string, number | bigint>;
    return {
      maxBinding: Number(l.maxStorageBufferBindingSize),
      maxBuffer: Number(l.maxBufferSize),
      maxWorkgroups: Number(l.maxComputeWorkgroupsPerDimension),
      workgroupStorage: Number(l.maxComputeWorkgroupStorageSize),
    };
  }

  /** What a matmul tile variant may use (engine/tiles.ts fits). */
  get tileLimits(): { workgroupStorage: number; invocations: number } {
    const l = this.device.limits;
    return {
      workgroupStorage: l.maxComputeWorkgroupStorageSize,
      invocations: Math.min(l.maxComputeInvocationsPerWorkgroup, l.maxComputeWorkgroupSizeX),
    };
  }

  /** Rows per batch and workspace budget (GiB) when the user gives none. */
  get defaults(): { batch: number; memoryGiB: number } {
    return this.isCpu ? { batch: 256, memoryGiB: 4 } : { batch: 1024, memoryGiB: 48 };
  }

  /** The adapter's names, features and limits. */
  summary(): AdapterSummary {
    const info = this.adapter.info;
    const limits: Record<string, number> = {};
    const l = this.device.limits as unknown as Record<string, number | bigint>;
    for (const key in this.device.limits) limits[key] = Number(l[key]);
    return {
      description: info.description || info.device || "unknown",
      vendor: info.vendor,
      architecture: info.architecture,
      isFallback: info.isFallbackAdapter,
      features: [...this.device.features].sort(),
      limits,
    };
  }

  /** One line naming the adapter, for provenance and bench output. */
  describe(): string {
    const s = this.summary();
    return `${s.description} (vendor ${s.vendor}${s.isFallback ? ", CPU fallback" : ""})`;
  }

  /** A stable small id per buffer or texture, so kernels can be memoized on what they bind. */
  id(buffer: GPUBuffer | GPUTexture): number {
    let id = this.bufferIds.get(buffer);
    if (id === undefined) {
      id = this.nextBufferId++;
      this.bufferIds.set(buffer, id);
    }
    return id;
  }

  /**
   * A compute pipeline for shaders/<name>.wgsl, with `consts` as WGSL constants, the shader pieces `parts`
   * (shaders/lib/...) and generated `code` (parameter structs, tile variants) in the same module; built once
   * per distinct module, keyed by name, parts, constants and the code's key (its text is written only then).
   */
  pipeline(
    name: string,
    spec: { consts?: Record<string, number>; parts?: string[]; code?: GeneratedCode } = {},
  ): GPUComputePipeline {
    const { consts = {}, parts = [], code } = spec;
    const key = `${name}|${parts.join(",")}|${JSON.stringify(consts)}|${code?.key ?? ""}`;
    let pipeline = this.pipelines.get(key);
    if (pipeline) return pipeline;
    const t0 = performance.now();
    const enables = parts.some((p) => p.endsWith("_f16native")) ? "enable f16;\n" : "";
    const header = Object.entries(consts).map(([k, v]) => `const ${k}: u32 = ${v >>> 0}u;`).join("\n");
    const generated = code ? [code.wgsl()] : [];
    const text = [enables + header, ...generated, ...parts.map(shaderSource), shaderSource(name)].join("\n");
    const module = this.device.createShaderModule({ label: name, code: text });
    pipeline = this.device.createComputePipeline({ label: name, layout: "auto", compute: { module } });
    this.pipelines.set(key, pipeline);
    this.pipelineSeconds += (performance.now() - t0) / 1000;
    return pipeline;
  }

  /**
   * A GPU buffer of at least `size` bytes (rounded up to 16) with `usage` flags; a size past the adapter's limit
   * is a GpuOutOfMemory.
   */
  buffer(size: number, usage: number, label: string): GPUBuffer {
    const max = this.limits.maxBuffer;
    if (size > max) {
      throw new GpuOutOfMemory(
        `${label} needs a ${fmtBytes(size)} GPU buffer, above this adapter's limit of ${fmtBytes(max)}: ` +
          `use a smaller --batch`,
      );
    }
    // Sizes are rounded up to 16 bytes so vec4 views of any buffer are whole.
    return this.device.createBuffer({ label, size: Math.max(16, Math.ceil(size / 16) * 16), usage });
  }

  /** A storage buffer of `size` bytes that can also be copied to and from. */
  storage(size: number, label: string): GPUBuffer {
    return this.buffer(
      size,
      GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
      label,
    );
  }

  /** A storage buffer holding `data` (padded to 16 bytes). */
  upload(data: ArrayBufferView, label: string): GPUBuffer {
    const buf = this.storage(data.byteLength, label);
    this.write(buf, 0, data);
    return buf;
  }

  /** Queues a write of `data` into `buffer` at byte `offset` (padded to a multiple of 4 bytes). */
  write(buffer: GPUBuffer, offset: number, data: ArrayBufferView): void {
    const bytes = new Uint8Array(data.buffer as ArrayBuffer, data.byteOffset, data.byteLength);
    // writeBuffer wants a multiple of 4 bytes.
    if (bytes.byteLength % 4 !== 0) {
      const padded = new Uint8Array(Math.ceil(bytes.byteLength / 4) * 4);
      padded.set(bytes);
      this.device.queue.writeBuffer(buffer, offset, padded);
    } else {
      this.device.queue.writeBuffer(buffer, offset, bytes);
    }
  }

  /** Copies `size` bytes of `buffer` back to the CPU after all submitted work; one round trip. */
  async read(buffer: GPUBuffer, size: number, offset = 0): Promise<ArrayBuffer> {
    const staging = this.device.createBuffer({
      size: Math.ceil(size / 4) * 4,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    const enc = this.device.createCommandEncoder();
    enc.copyBufferToBuffer(buffer, offset, staging, 0, Math.ceil(size / 4) * 4);
    this.device.queue.submit([enc.finish()]);
    try {
      await staging.mapAsync(GPUMapMode.READ);
    } catch (e) {
      this.check();
      throw new EngramError(`reading back from the GPU failed: ${(e as Error).message}`);
    }
    const out = staging.getMappedRange().slice(0, size);
    staging.unmap();
    staging.destroy();
    this.check();
    return out;
  }

  /** Throws the first asynchronous WebGPU error seen so far, if any. */
  check(): void {
    if (this.failure) throw new EngramError(this.failure);
  }

  /** Runs `fn` inside validation and out-of-memory error scopes; an error becomes an EngramError. */
  async scoped<T>(what: string, fn: () => T): Promise<T> {
    this.device.pushErrorScope("out-of-memory");
    this.device.pushErrorScope("validation");
    let result: T | undefined;
    let thrown: unknown = undefined;
    try {
      result = fn();
    } catch (e) {
      thrown = e;
    }
    // Pop both scopes even when fn threw, or later errors land in scopes nobody reads.
    const validation = await this.device.popErrorScope();
    const oom = await this.device.popErrorScope();
    if (thrown !== undefined) throw thrown;
    if (oom) throw new GpuOutOfMemory(`${what}: GPU out of memory (${firstLine(oom.message)})`);
    if (validation) {
      throw new EngramError(`${what}: WebGPU validation error: ${firstLine(validation.message)}`);
    }
    return result as T;
  }

  /** Destroys the device and with it every buffer; the Gpu is unusable afterwards. */
  destroy(): void {
    this.device.destroy();
  }
}

/** Out of memory, or a buffer past the adapter's limits: recoverable, callers retry with a smaller batch. */
export class GpuOutOfMemory extends EngramError {}

/** WebGPU messages span lines (and may start with a blank one): the first two with text, as one line. */
function firstLine(message: string): string {
  return message.split("\n").map((l) => l.trim()).filter(Boolean).slice(0, 2).join(": ");
}

/** `n` bytes for people: GiB with 2 decimals, MiB with 1, else bytes. */
export function fmtBytes(n: number): string {
  if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(2)} GiB`;
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(1)} MiB`;
  return `${n} B`;
}

/** WGSL generated for a pipeline (engine/kernels.ts: parameter structs, tile variants). */
export interface GeneratedCode {
  /** Names the text exactly (with the shader's name, parts and constants: the pipeline cache's key). */
  key: string;
  /** Writes the text (called only when a pipeline is built). */
  wgsl: () => string;
}

/** A compute dispatch: what every kernel constructor returns. */
export interface Kernel {
  /** The compiled shader with its constants. */
  pipeline: GPUComputePipeline;
  /** Its buffers, bound as group 0. */
  bindGroup: GPUBindGroup;
  /** How many workgroups to dispatch in x, y and z. */
  workgroups: [number, number, number];
  /** A kernel dispatched just before this one, whose output it reads (the texel tiles' staging of X). */
  before?: Kernel;
  /** A copy recorded just before this one (between compute passes: see Recorder), whose texture it reads. */
  copy?: TextureCopy;
}

/**
 * Rows of a buffer copied into a texture, one buffer row (`bytesPerRow`, a multiple of 256) to each of the
 * texture's first `height` rows, `width` texels each: the texel tiles' staging of X where its rows allow.
 */
export interface TextureCopy {
  /** The buffer read from its start. */
  buffer: GPUBuffer;
  /** Bytes from one row to the next in the buffer. */
  bytesPerRow: number;
  /** The texture written from its origin. */
  texture: GPUTexture;
  /** Texels a row. */
  width: number;
  /** Rows. */
  height: number;
}

/**
 * Records kernels into the compute passes of one command encoder: a kernel with a copy before it (Kernel.copy)
 * ends the open pass, since copies are recorded between passes, and the next kernel begins a new one. With
 * `timestamps`, the first pass writes query 0 at its beginning and every pass query 1 at its end: the last one
 * stands, so the two span everything recorded.
 */
export class Recorder {
  private pass: GPUComputePassEncoder | null = null;
  private passes = 0;
  /** Records into `encoder`; end() before finishing it. */
  constructor(readonly encoder: GPUCommandEncoder, private readonly timestamps: GPUQuerySet | null = null) {}

  /** Records kernel `k` (after its `before` and its copy): its pipeline, its bind group and its dispatch. */
  kernel(k: Kernel): void {
    if (k.before) this.kernel(k.before);
    if (k.copy) {
      this.end();
      const { buffer, bytesPerRow, texture, width, height } = k.copy;
      this.encoder.copyBufferToTexture({ buffer, bytesPerRow }, { texture }, [width, height]);
    }
    if (!this.pass) {
      const querySet = this.timestamps;
      this.pass = this.encoder.beginComputePass(
        querySet
          ? {
            timestampWrites: this.passes === 0
              ? { querySet, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 }
              : { querySet, endOfPassWriteIndex: 1 },
          }
          : {},
      );
      this.passes++;
    }
    this.pass.setPipeline(k.pipeline);
    this.pass.setBindGroup(0, k.bindGroup);
    this.pass.dispatchWorkgroups(...k.workgroups);
  }

  /** Ends the open pass, if any. */
  end(): void {
    this.pass?.end();
    this.pass = null;
  }
}

/** Spreads `count` workgroups over x and y (x ≤ the per-dimension limit); shaders rebuild the linear id. */
export function grid(count: number, maxPerDim: number): [number, number, number] {
  const x = Math.max(1, Math.min(count, maxPerDim));
  return [x, Math.max(1, Math.ceil(count / x)), 1];
}
