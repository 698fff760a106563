// Elementwise float32 kernels in WebAssembly SIMD (4 lanes), for the PS's hot loops: Adam and the sync-step sums.
// Scalar JS spends ~5 ns per element on Adam's sqrt and two divisions; f32x4 does four at once, and every op
// rounds to float32 exactly as TensorFlow's kernels do, so results match tfjs op for op. The module is assembled
// here from a few opcodes (no toolchain, no binary blob). A ShardStore allocates its arrays in a KernelMemory, so
// updates run in place; arrays from elsewhere are staged through a small memory a chunk at a time.
import { PsError } from './errors.ts';

/** Elements staged per kernel call; four regions of this many float32 fill the staging memory. */
const CHUNK = 16 * 1024;
const PAGE = 64 * 1024;
const MAX_BYTES = 65536 * PAGE; // wasm32: 4 GiB

/** The kernels, on arrays of any length (all operands of one call have the same length). */
export interface SimdKernels {
  /**
   * One Adam step, as tfjs computes it: m ← m·β1 + g·(1-β1); v ← v·β2 + g²·(1-β2);
   * p ← (m/c1) / (√(v/c2) + ε) · (-lr) + p, with c1 = 1-β1^t, c2 = 1-β2^t.
   */
  adam(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, c: AdamConstants): void;
  /** sum ← sum + g. */
  add(sum: Float32Array, g: Float32Array): void;
  /** x ← x / d. */
  divide(x: Float32Array, d: number): void;
}

/** Adam's per-step scalars, each already a float32 value. */
export interface AdamConstants {
  beta1: number;
  oneMinusBeta1: number;
  beta2: number;
  oneMinusBeta2: number;
  oneMinusAccBeta1: number;
  oneMinusAccBeta2: number;
  epsilon: number;
  negLearningRate: number;
}

interface Exports {
  adam(lanes: number, p: number, g: number, m: number, v: number, ...c: number[]): void;
  add(lanes: number, sum: number, g: number): void;
  divide(lanes: number, x: number, d: number): void;
}

// The few WebAssembly globals used here (TypeScript declares them only in its DOM libs, which this project omits).
interface WasmMemory {
  readonly buffer: ArrayBuffer;
}
const wasm = (
  globalThis as unknown as {
    WebAssembly: {
      Memory: new (limits: { initial: number; maximum: number }) => WasmMemory;
      Module: new (bytes: Uint8Array) => object;
      Instance: new (module: object, imports: Record<string, Record<string, unknown>>) => { exports: unknown };
    };
  }
).WebAssembly;

let compiled: object | undefined;
// By memory buffer, so subarrays of a KernelMemory's arrays (a step's parts) run in place too.
const owners = new WeakMap<ArrayBufferLike, KernelMemory>();

/**
 * Float32 arrays allocated inside one wasm memory, which the kernels update in place (no staging copies). A
 * ShardStore keeps its values, optimizer slots and sums here. Sized once: it never grows, so views stay valid.
 */
export class KernelMemory {
  readonly #memory: WasmMemory;
  readonly exports: Exports;
  #used = 0;

  /** Room for arrays of these lengths. Throws PETAL_PS_TOO_LARGE past wasm32's 4 GiB. */
  constructor(lengths: readonly number[]) {
    const bytes = lengths.reduce((a, n) => a + padded(n) * 4, 0);
    if (bytes > MAX_BYTES) {
      throw new PsError('PETAL_PS_TOO_LARGE', `this PS would hold ${bytes} bytes of values and slots, over 4 GiB`, {
        detail: { bytes },
        fix: 'start more parameter servers: the shard plan spreads variables (and slices large ones) over them',
      });
    }
    const pages = Math.max(1, Math.ceil(bytes / PAGE));
    this.#memory = new wasm.Memory({ initial: pages, maximum: pages });
    compiled ??= new wasm.Module(assemble());
    const instance = new wasm.Instance(compiled, { env: { memory: this.#memory } });
    this.exports = instance.exports as unknown as Exports;
  }

  /** Whether `a` lies in this memory (kernels then run on it in place). */
  holds(a: Float32Array): boolean {
    return owners.get(a.buffer) === this;
  }

  /** A zeroed array of `n` elements (padded to whole vectors, so kernels may run over its last partial one). */
  alloc(n: number): Float32Array {
    const a = new Float32Array(this.#memory.buffer, this.#used, n);
    this.#used += padded(n) * 4;
    owners.set(a.buffer, this);
    return a;
  }
}

// The kernels' operands: byte offsets into one memory when every array was allocated in it, else undefined.
function placed(arrays: Float32Array[]): { x: Exports; at: number[] } | undefined {
  const mem = owners.get(arrays[0]!.buffer);
  if (!mem || arrays.some((a) => owners.get(a.buffer) !== mem)) return undefined;
  return { x: mem.exports, at: arrays.map((a) => a.byteOffset) };
}

let kernels: SimdKernels | undefined;

/**
 * The process-wide kernels. Operands allocated in one KernelMemory are updated in place; any other arrays (tests,
 * references) are staged through a small memory of its own, CHUNK elements at a time, and copied back.
 */
export function simdKernels(): SimdKernels {
  kernels ??= makeKernels();
  return kernels;
}

function makeKernels(): SimdKernels {
  const staging = new KernelMemory([CHUNK, CHUNK, CHUNK, CHUNK]);
  const r = [staging.alloc(CHUNK), staging.alloc(CHUNK), staging.alloc(CHUNK), staging.alloc(CHUNK)] as const;
  const x = staging.exports;
  const [o0, o1, o2, o3] = r.map((a) => a.byteOffset) as [number, number, number, number];
  const chunked = (n: number, each: (at: number, len: number) => void): void => {
    for (let at = 0; at < n; at += CHUNK) each(at, Math.min(CHUNK, n - at));
  };
  const constants = (c: AdamConstants): number[] => [
    c.beta1,
    c.oneMinusBeta1,
    c.beta2,
    c.oneMinusBeta2,
    c.oneMinusAccBeta1,
    c.oneMinusAccBeta2,
    c.epsilon,
    c.negLearningRate,
  ];
  return {
    adam(p, g, m, v, c) {
      const k = constants(c);
      const direct = placed([p, g, m, v]);
      if (direct) {
        const [ap, ag, am, av] = direct.at as [number, number, number, number];
        direct.x.adam(padded(p.length), ap, ag, am, av, ...k);
        return;
      }
      chunked(p.length, (at, len) => {
        const end = at + len;
        r[0].set(p.subarray(at, end));
        r[1].set(g.subarray(at, end));
        r[2].set(m.subarray(at, end));
        r[3].set(v.subarray(at, end));
        x.adam(padded(len), o0, o1, o2, o3, ...k);
        p.set(r[0].subarray(0, len), at);
        m.set(r[2].subarray(0, len), at);
        v.set(r[3].subarray(0, len), at);
      });
    },
    add(sum, g) {
      const direct = placed([sum, g]);
      if (direct) return direct.x.add(padded(sum.length), direct.at[0]!, direct.at[1]!);
      chunked(sum.length, (at, len) => {
        r[0].set(sum.subarray(at, at + len));
        r[1].set(g.subarray(at, at + len));
        x.add(padded(len), o0, o1);
        sum.set(r[0].subarray(0, len), at);
      });
    },
    divide(v, d) {
      const direct = placed([v]);
      if (direct) return direct.x.divide(padded(v.length), direct.at[0]!, d);
      chunked(v.length, (at, len) => {
        r[0].set(v.subarray(at, at + len));
        x.divide(padded(len), o0, d);
        v.set(r[0].subarray(0, len), at);
      });
    },
  };
}

// Whole vectors: the extra lanes of a last partial vector compute on padding (or stale staging data) and are
// never read back.
function padded(n: number): number {
  return (n + 3) & ~3;
}

// ---- a minimal WebAssembly assembler: just what the three kernels need ----

const I32 = 0x7f;
const F32 = 0x7d;
const V128 = 0x7b;
const op = {
  end: 0x0b,
  block: [0x02, 0x40],
  loop: [0x03, 0x40],
  br: 0x0c,
  brIf: 0x0d,
  get: 0x20,
  set: 0x21,
  i32Const: 0x41,
  i32GeU: 0x4f,
  i32Add: 0x6a,
  i32Shl: 0x74,
};
const simd = (code: number): number[] => [0xfd, ...uleb(code)];
const f32x4 = {
  splat: simd(0x13),
  sqrt: simd(0xe3),
  add: simd(0xe4),
  mul: simd(0xe6),
  div: simd(0xe7),
};

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];
const name = (s: string): number[] => vec([...Buffer.from(s)].map((b) => [b]));

/** What a kernel's loop body may use: its operands (by index) at the current element, and its locals. */
interface Body {
  load(operand: number): number[];
  /** Stores the vector `value` leaves on the stack. */
  store(operand: number, value: number[]): number[];
  get(local: number): number[];
  /** First v128 local: the splatted constants, then the temporaries. */
  v: number;
}

interface Kernel {
  name: string;
  /** Arrays it reads or writes, passed as byte offsets (i32) after `lanes`. */
  operands: number;
  /** f32 parameters after the operands, splatted into the first v128 locals. */
  constants: number;
  /** v128 locals beyond the constants. */
  temporaries: number;
  body(b: Body): number[];
}

const adamKernel: Kernel = {
  name: 'adam',
  operands: 4, // p, g, m, v
  constants: 8,
  temporaries: 3,
  body: ({ load, store, get, v }) => {
    const [b1, omb1, b2, omb2, c1, c2, eps, negLr, g, m1, v1] = Array.from({ length: 11 }, (_, k) => v + k);
    const set = (l: number): number[] => [op.set, l];
    // prettier-ignore
    return [
      ...load(1), ...set(g!),
      // m1 = m·β1 + g·(1-β1)
      ...load(2), ...get(b1!), ...f32x4.mul, ...get(g!), ...get(omb1!), ...f32x4.mul, ...f32x4.add, ...set(m1!),
      ...store(2, get(m1!)),
      // v1 = v·β2 + (g·g)·(1-β2)
      ...load(3), ...get(b2!), ...f32x4.mul,
      ...get(g!), ...get(g!), ...f32x4.mul, ...get(omb2!), ...f32x4.mul, ...f32x4.add, ...set(v1!),
      ...store(3, get(v1!)),
      // p = ((m1/c1) / (√(v1/c2) + ε))·(-lr) + p
      ...store(0, [
        ...get(m1!), ...get(c1!), ...f32x4.div,
        ...get(v1!), ...get(c2!), ...f32x4.div, ...f32x4.sqrt, ...get(eps!), ...f32x4.add,
        ...f32x4.div, ...get(negLr!), ...f32x4.mul,
        ...load(0), ...f32x4.add,
      ]),
    ];
  },
};

const addKernel: Kernel = {
  name: 'add',
  operands: 2, // sum, g
  constants: 0,
  temporaries: 0,
  body: ({ load, store }) => store(0, [...load(0), ...load(1), ...f32x4.add]),
};

const divideKernel: Kernel = {
  name: 'divide',
  operands: 1, // x
  constants: 1,
  temporaries: 0,
  body: ({ load, store, get, v }) => store(0, [...load(0), ...get(v), ...f32x4.div]),
};

const KERNELS = [adamKernel, addKernel, divideKernel];

// (lanes, ...operand offsets, ...constants) → (). Locals after the parameters: i, end (i32), then v128s. Runs i
// over [0, 4·lanes) bytes, 16 at a time; operand k is at its offset + i.
function code(k: Kernel): number[] {
  const params = 1 + k.operands + k.constants;
  const i = params;
  const end = params + 1;
  const v = params + 2;
  const get = (l: number): number[] => [op.get, l];
  const address = (operand: number): number[] => [...get(1 + operand), ...get(i), op.i32Add];
  const body: Body = {
    load: (operand) => [...address(operand), ...simd(0x00), 4, 0],
    store: (operand, value) => [...address(operand), ...value, ...simd(0x0b), 4, 0],
    get,
    v,
  };
  const splats: number[] = [];
  for (let c = 0; c < k.constants; c++) splats.push(...get(1 + k.operands + c), ...f32x4.splat, op.set, v + c);
  // prettier-ignore
  const instructions = [
    ...splats,
    ...get(0), op.i32Const, 2, op.i32Shl, op.set, end,
    op.i32Const, 0, op.set, i,
    ...op.block, ...op.loop,
    ...get(i), ...get(end), op.i32GeU, op.brIf, 1,
    ...k.body(body),
    ...get(i), op.i32Const, 16, op.i32Add, op.set, i,
    op.br, 0,
    op.end, op.end, op.end,
  ];
  const vectors = k.constants + k.temporaries;
  const locals =
    vectors > 0
      ? vec([
          [2, I32],
          [...uleb(vectors), V128],
        ])
      : vec([[2, I32]]);
  const fn = [...locals, ...instructions];
  return [...uleb(fn.length), ...fn];
}

function assemble(): Uint8Array {
  const types = KERNELS.map((k) => {
    const params = [I32, ...Array<number>(k.operands).fill(I32), ...Array<number>(k.constants).fill(F32)];
    return [0x60, ...vec(params.map((t) => [t])), 0];
  });
  // The memory comes from the importer (env.memory), sized by it; no maximum here, so any size fits.
  const imports = [[...name('env'), ...name('memory'), 0x02, 0x00, 0x01]];
  const exports = KERNELS.map((k, j) => [...name(k.name), 0x00, ...uleb(j)]);
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, vec(types)),
    ...section(2, vec(imports)),
    ...section(3, vec(KERNELS.map((_, j) => uleb(j)))),
    ...section(7, vec(exports)),
    ...section(10, vec(KERNELS.map(code))),
  ]);
}
