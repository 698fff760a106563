// `petal doctor`: one check per piece Petal needs. Each says OK with what it found, or what is wrong and the
// fix. Checks never throw and never print; the CLI renders them.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { isPetalError } from '../errors.ts';
import {
  checkoutJupyterDir,
  javaBinary,
  kafkaLibsDir,
  kafkaVersion,
  settings,
  tfjsNodeDir,
  venvBin,
  venvDir,
  venvJupyterDir,
} from '../env/locations.ts';
import { loadTf } from '../tf/tf.ts';

/** The outcome of one check. */
export interface CheckResult {
  name: string;
  ok: boolean;
  /** What was found (OK) or what is wrong. */
  detail: string;
  /** How to fix it, when not OK. */
  fix?: string;
}

const SETUP = 'run `npm run setup`';
const MIN_NODE: readonly [number, number] = [22, 22];

/** Runs a command; `out` is its stdout when it succeeded, else the error or stderr that says why. */
function run(cmd: string, args: string[]): { ok: boolean; out: string } {
  const r = spawnSync(cmd, args, {
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '3' },
  });
  const ok = !r.error && r.status === 0;
  return { ok, out: r.error ? r.error.message : ok ? r.stdout : `${r.stderr}${r.stdout}` };
}

function lastLine(text: string): string {
  return text.trim().split('\n').at(-1) ?? '';
}

export function checkNode(version: string = process.versions.node): CheckResult {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  const ok = major > MIN_NODE[0] || (major === MIN_NODE[0] && minor >= MIN_NODE[1]);
  return ok
    ? { name: 'node', ok, detail: `Node ${version}` }
    : {
        name: 'node',
        ok,
        detail: `Node ${version} is older than ${MIN_NODE.join('.')}`,
        fix: `${SETUP} (it installs Node 24 from npm) and start Petal through npm`,
      };
}

export function checkTensorflow(): CheckResult {
  try {
    const tf = loadTf();
    const binding = (tf.backend() as unknown as { binding: { TF_Version: string } }).binding;
    const library = realpathSync(join(tfjsNodeDir(), 'deps', 'lib', 'libtensorflow.so'));
    return {
      name: 'tensorflow',
      ok: true,
      detail: `libtensorflow ${binding.TF_Version} (${library}), tfjs-node ${tf.version['tfjs-node']}, backend "${tf.getBackend()}"`,
    };
  } catch (err) {
    const message = err instanceof Error ? (err.message.split('\n')[0] ?? '') : String(err);
    return { name: 'tensorflow', ok: false, detail: message, fix: isPetalError(err) && err.fix ? err.fix : SETUP };
  }
}

/** The devices TensorFlow itself sees, asked of the venv's Python TensorFlow (same libtensorflow). */
export function checkDevices(): CheckResult {
  const python = venvBin('python');
  if (!existsSync(python))
    return { name: 'devices', ok: false, detail: `no Python in the venv ${venvDir()}`, fix: SETUP };
  const r = run(python, [
    '-c',
    'import json, tensorflow as tf; print(json.dumps([d.name for d in tf.config.list_physical_devices()]))',
  ]);
  if (!r.ok)
    return { name: 'devices', ok: false, detail: `TensorFlow in ${venvDir()} failed: ${lastLine(r.out)}`, fix: SETUP };
  const devices = JSON.parse(lastLine(r.out)) as string[];
  return {
    name: 'devices',
    ok: devices.length > 0,
    detail: devices.map((d) => d.replace('/physical_device:', '')).join(', ') || 'none',
  };
}

export function checkKafka(): CheckResult {
  const libs = kafkaLibsDir();
  const jar = existsSync(libs) ? readdirSync(libs).find((f) => /^kafka_2\.13-.*\.jar$/.test(f)) : undefined;
  if (!jar) {
    return {
      name: 'kafka',
      ok: false,
      detail: `no Kafka broker jars in ${libs}`,
      fix: `${SETUP} (resolves them from Maven Central), or point ${settings.kafkaLibs} at a folder of them`,
    };
  }
  const java = spawnSync(javaBinary(), ['-version'], { encoding: 'utf8' });
  const major = Number(/version "(\d+)/.exec(java.stderr ?? '')?.[1] ?? 0);
  if (java.error || major < 17) {
    return {
      name: 'kafka',
      ok: false,
      detail: `${javaBinary()}: ${java.error ? 'not found' : `Java ${major}`}; Kafka ${kafkaVersion()} needs Java ≥ 17`,
      fix: `apt-get install openjdk-17-jre-headless, or set ${settings.java}`,
    };
  }
  return { name: 'kafka', ok: true, detail: `Kafka ${kafkaVersion()} jars in ${libs}, Java ${major}` };
}

export function checkJupyterLab(): CheckResult {
  const python = venvBin('python');
  const r = existsSync(python)
    ? run(python, ['-c', 'import jupyterlab; print(jupyterlab.__version__)'])
    : { ok: false, out: `no Python in ${venvDir()}` };
  return r.ok
    ? { name: 'jupyterlab', ok: true, detail: `JupyterLab ${lastLine(r.out)} in ${venvDir()}` }
    : {
        name: 'jupyterlab',
        ok: false,
        detail: `JupyterLab not importable: ${lastLine(r.out)}`,
        fix: `${SETUP}, or point ${settings.venv} at a venv with jupyterlab==4.6.*`,
      };
}

/**
 * The kernelspec Petal's launchers use (this checkout's, first on their JUPYTER_PATH) exists and what it launches
 * exists, and the venv holds one too (for its `jupyter lab` run by hand; it names whichever checkout set up last).
 */
export function checkKernelspec(): CheckResult {
  const fix = `${SETUP} (it writes the kernelspec)`;
  const own = join(checkoutJupyterDir(), 'kernels', 'petal', 'kernel.json');
  const venv = join(venvJupyterDir(), 'kernels', 'petal', 'kernel.json');
  for (const file of [own, venv]) {
    if (!existsSync(file)) return { name: 'kernelspec', ok: false, detail: `no kernelspec at ${file}`, fix };
  }
  const spec = JSON.parse(readFileSync(own, 'utf8')) as { argv?: string[]; display_name?: string };
  const missing = (spec.argv ?? []).slice(0, 2).filter((p) => !existsSync(p));
  return missing.length === 0
    ? { name: 'kernelspec', ok: true, detail: `"${spec.display_name}" runs ${spec.argv?.slice(0, 2).join(' ')}` }
    : { name: 'kernelspec', ok: false, detail: `"${spec.display_name}" launches missing ${missing.join(', ')}`, fix };
}

/** Every check, in the order a person reads them. */
export function runChecks(): CheckResult[] {
  return [checkNode(), checkTensorflow(), checkDevices(), checkKafka(), checkJupyterLab(), checkKernelspec()];
}
