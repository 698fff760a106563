// The only place that loads TensorFlow. It loads tfjs-node's native backend (libtensorflow from the venv)
// and never falls back to the pure-JS backend, which is ~600x slower for training: if the native backend
// cannot load, the error names the missing piece and the fix.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import util from 'node:util';
import { PetalError } from '../errors.ts';
import { tfjsBindingFile, venvDir, venvTensorflowDir } from '../env/locations.ts';

/** The tfjs-node module: tfjs-core's API plus `tf.node`. */
export type Tf = typeof import('@tensorflow/tfjs-node');

// tfjs-node 4.22 calls util.isNullOrUndefined and util.isArray: removed in Node 23, or deprecated with a
// runtime warning per call where they remain. Plain replacements keep it quiet on every version.
const legacyUtil = util as unknown as Record<string, unknown>;
legacyUtil.isNullOrUndefined = (value: unknown): boolean => value === null || value === undefined;
legacyUtil.isArray = Array.isArray;

const require = createRequire(import.meta.url);
let loaded: Tf | undefined;

/** Loads TensorFlow with the native backend, once per process. Throws PETAL_TF_* errors. */
export function loadTf(): Tf {
  if (loaded) return loaded;
  process.env.TF_CPP_MIN_LOG_LEVEL ??= '2'; // keep libtensorflow's start-up chatter out of cells
  const binding = tfjsBindingFile();
  if (!existsSync(binding)) {
    throw new PetalError('PETAL_TF_BINDING_MISSING', `tfjs-node's native binding is not built (${binding})`, {
      fix: 'run `npm run setup`; it builds the binding against the venv TensorFlow',
    });
  }
  let tf: Tf;
  try {
    tf = require('@tensorflow/tfjs-node') as Tf;
  } catch (cause) {
    const message = cause instanceof Error ? cause.message : String(cause);
    if (/libtensorflow|cannot open shared object/i.test(message)) {
      const where = venvTensorflowDir() ?? `${venvDir()} (no tensorflow package there)`;
      throw new PetalError('PETAL_TF_LIBRARY_MISSING', `libtensorflow could not be loaded from ${where}: ${message}`, {
        cause,
        fix: 'run `npm run setup` to (re)create the venv, or set PETAL_VENV to a venv with tensorflow-cpu==2.21.0',
      });
    }
    throw new PetalError('PETAL_TF_LOAD', `tfjs-node failed to load: ${message}`, {
      cause,
      fix: 'run `npm run setup` to rebuild the native binding',
    });
  }
  if (tf.getBackend() !== 'tensorflow') {
    throw new PetalError(
      'PETAL_TF_NOT_NATIVE',
      `TensorFlow loaded with backend "${tf.getBackend()}", not "tensorflow"`,
      {
        fix: 'run `npm run setup`; Petal does not train on the pure-JS backend',
      },
    );
  }
  loaded = tf;
  return tf;
}
