// Where Petal's installed pieces live. One module, so setup, the runtime and `petal doctor` agree.
// Heavy artifacts sit in a cache outside the clone, each folder keyed by a hash of the file that specifies
// it, so a fresh clone on the same machine reuses them and a changed pin gets a folder of its own.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/** The runtime package folder (holds `python/` and the Kafka pom). */
export const runtimeDir = join(here, '..', '..');

/** The checkout (repository root) this runtime belongs to. */
export const checkoutDir = join(runtimeDir, '..');

/** Settings read from the environment; each one points a piece somewhere else. */
export const settings = {
  cacheDir: 'PETAL_CACHE_DIR',
  stateDir: 'PETAL_STATE_DIR',
  venv: 'PETAL_VENV',
  python: 'PETAL_PYTHON',
  gpu: 'PETAL_GPU',
  kafkaLibs: 'PETAL_KAFKA_LIBS',
  java: 'PETAL_JAVA',
  dataDir: 'PETAL_DATA_DIR',
} as const;

function env(name: string): string | undefined {
  const value = process.env[name];
  return value === undefined || value === '' ? undefined : value;
}

function shortHash(...parts: string[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p).update('\0');
  return h.digest('hex').slice(0, 12);
}

/** Build caches: the venv, Kafka jars, the native binding. */
export function cacheDir(): string {
  return env(settings.cacheDir) ?? join(env('XDG_CACHE_HOME') ?? join(homedir(), '.cache'), 'petal');
}

/**
 * Datasets and pretrained weights that ship beside the checkout (`../shared/data` of the repository root, as in CI),
 * or PETAL_DATA_DIR; undefined when neither exists. Code that finds nothing here downloads into cacheDir().
 */
export function sharedDataDir(): string | undefined {
  const dir = env(settings.dataDir) ?? join(runtimeDir, '..', '..', 'shared', 'data');
  return existsSync(dir) ? dir : undefined;
}

/** Runtime state: broker data and logs, cluster records. */
export function stateDir(): string {
  return env(settings.stateDir) ?? join(env('XDG_STATE_HOME') ?? join(homedir(), '.local', 'state'), 'petal');
}

export function gpuRequested(): boolean {
  return env(settings.gpu) === '1';
}

export function pythonRequirementsFile(): string {
  return join(runtimeDir, 'python', gpuRequested() ? 'requirements-gpu.txt' : 'requirements-cpu.txt');
}

/** The Python venv holding TensorFlow (libtensorflow for the binding) and JupyterLab. */
export function venvDir(): string {
  const file = pythonRequirementsFile();
  return env(settings.venv) ?? join(cacheDir(), `venv-${shortHash(readFileSync(file, 'utf8'))}`);
}

export function venvBin(name: string): string {
  return join(venvDir(), 'bin', name);
}

/** The Jupyter data dir of a sys-prefix style PREFIX (a venv, `jupyter --prefix`): PREFIX/share/jupyter. */
export function prefixDataDir(prefix: string): string {
  return join(prefix, 'share', 'jupyter');
}

/** The shared venv's Jupyter data dir: its kernelspec, JupyterLab settings and prebuilt extensions. */
export function venvJupyterDir(): string {
  return prefixDataDir(venvDir());
}

/**
 * This checkout's own Jupyter data dir (git-ignored), holding the kernelspec that runs this checkout's kernel.
 * The venv is shared by every checkout on the machine, so its kernelspec names whichever checkout set up last.
 */
export function checkoutJupyterDir(): string {
  return join(checkoutDir, '.petal', 'jupyter');
}

/**
 * The environment for a Jupyter process launched from this checkout (JupyterLab, nbclient, jupyter_client):
 * `base` with checkoutJupyterDir() first on JUPYTER_PATH, which Jupyter searches before the venv, so "petal"
 * resolves to this checkout's kernel. A JUPYTER_PATH already in `base` stays, after it.
 */
export function jupyterEnv(base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const own = checkoutJupyterDir();
  const rest = (base.JUPYTER_PATH ?? '').split(delimiter).filter((dir) => dir !== '' && dir !== own);
  return { ...base, JUPYTER_PATH: [own, ...rest].join(delimiter) };
}

/** The installed `tensorflow` package folder inside the venv, or undefined when TensorFlow is not there. */
export function venvTensorflowDir(): string | undefined {
  const lib = join(venvDir(), 'lib');
  if (!existsSync(lib)) return undefined;
  for (const py of readdirSync(lib)) {
    const dir = join(lib, py, 'site-packages', 'tensorflow');
    if (existsSync(dir)) return dir;
  }
  return undefined;
}

export const kafkaPom = join(runtimeDir, 'src', 'kafka', 'pom.xml');

/** Folder of the Kafka broker's jars (resolved from Maven Central by setup). */
export function kafkaLibsDir(): string {
  return env(settings.kafkaLibs) ?? join(cacheDir(), `kafka-${shortHash(readFileSync(kafkaPom, 'utf8'))}`, 'libs');
}

/** The Kafka version the pom pins. */
export function kafkaVersion(): string {
  const m = /<kafka\.version>([^<]+)<\/kafka\.version>/.exec(readFileSync(kafkaPom, 'utf8'));
  return m?.[1] ?? 'unknown';
}

export function javaBinary(): string {
  const explicit = env(settings.java);
  if (explicit) return explicit;
  const home = env('JAVA_HOME');
  return home ? join(home, 'bin', 'java') : 'java';
}

const require = createRequire(import.meta.url);

/** The installed @tensorflow/tfjs-node package folder. */
export function tfjsNodeDir(): string {
  return dirname(require.resolve('@tensorflow/tfjs-node/package.json'));
}

/** Where the native binding must sit for tfjs-node to load it. */
export function tfjsBindingFile(): string {
  return join(tfjsNodeDir(), 'lib', 'napi-v8', 'tfjs_binding.node');
}

/** The cached build of the binding for this tfjs-node version and this venv's TensorFlow. */
export function cachedBindingFile(tfjsVersion: string): string {
  return join(cacheDir(), `tfjs-binding-${tfjsVersion}-${shortHash(venvDir())}`, 'tfjs_binding.node');
}
