// Small helpers shared by benchmarks: argument parsing, robust summaries of noisy timings, and the BENCH line.
// A benchmark prints readable lines first and, last, one line `BENCH {json}` that scripts/bench.ts callers parse.
import type { Tf } from '@petal/runtime/tf';
import type { Sequential } from '@tensorflow/tfjs-node';

/** The last line of every benchmark: `BENCH {"name":…,"ratio":…,…}` on one line. */
export function printBench(result: { name: string; ratio: number } & Record<string, unknown>): void {
  process.stdout.write(`BENCH ${JSON.stringify(result)}\n`);
}

/** Reads `--flag N` (or `--flag=N`) as a positive integer, or the default; exits with a usage hint on bad input. */
export function intArg(args: readonly string[], flag: string, fallback: number): number {
  let raw: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === flag) raw = args[i + 1];
    else if (a.startsWith(`${flag}=`)) raw = a.slice(flag.length + 1);
  }
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) {
    process.stderr.write(`${flag} must be an integer ≥ 1 (got ${JSON.stringify(raw)})\n`);
    process.exit(2);
  }
  return n;
}

/** True when `--flag` is present. */
export function boolArg(args: readonly string[], flag: string): boolean {
  return args.includes(flag);
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Rounds for JSON: enough digits to compare runs, no float noise. */
export function round(x: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Right-aligned number with a fixed count of decimals. */
export function num(x: number, width: number, decimals = 0): string {
  return x.toFixed(decimals).padStart(width);
}

/** Runs the full garbage collector when node was started with --expose-gc, so a collection lands outside a timed region. */
export function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/**
 * The ~4.2 M-parameter MLP (784-2048-1024-512-10, relu, softmax) the issues benchmark against: the same model in
 * every benchmark, so their figures compare.
 */
export function buildMlp(tf: Tf): Sequential {
  return tf.sequential({
    layers: [
      tf.layers.dense({ inputShape: [784], units: 2048, activation: 'relu' }),
      tf.layers.dense({ units: 1024, activation: 'relu' }),
      tf.layers.dense({ units: 512, activation: 'relu' }),
      tf.layers.dense({ units: 10, activation: 'softmax' }),
    ],
  });
}
