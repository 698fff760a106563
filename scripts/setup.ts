// `npm run setup`: makes this machine able to run Petal, from nothing, using only the package registries.
// Every step is idempotent and checks a stamp first, so a set-up machine passes through in about a second.
// Run by scripts/bootstrap.mjs on Node ≥ 22.22 after `npm ci`.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import {
  cacheDir,
  cachedBindingFile,
  gpuRequested,
  javaBinary,
  kafkaLibsDir,
  kafkaPom,
  pythonRequirementsFile,
  settings,
  tfjsBindingFile,
  tfjsNodeDir,
  venvBin,
  venvDir,
  venvJupyterDir,
  venvTensorflowDir,
} from '@petal/runtime/locations';
import { installKernelspecs } from '@petal/kernel/kernelspec';

class SetupError extends Error {}

function say(line: string): void {
  process.stderr.write(`petal setup: ${line}\n`);
}

/** Runs a command; on failure throws with the command, its exit and the tail of its output. */
function sh(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; hint: string }): string {
  const r = spawnSync(cmd, args, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  if (r.error) throw new SetupError(`could not run ${cmd}: ${r.error.message}\n  fix: ${opts.hint}`);
  if (r.status !== 0) {
    const tail = `${r.stdout}\n${r.stderr}`.trim().split('\n').slice(-25).join('\n');
    throw new SetupError(`${cmd} ${args.join(' ')} failed (exit ${r.status}):\n${tail}\n  fix: ${opts.hint}`);
  }
  return r.stdout;
}

function has(cmd: string): boolean {
  return spawnSync(cmd, ['--version'], { stdio: 'ignore' }).status === 0;
}

const stampOk = (file: string, want: string): boolean => existsSync(file) && readFileSync(file, 'utf8') === want;

/** Python 3.10–3.13, the range the pinned TensorFlow wheel exists for. */
function findPython(): string {
  const explicit = process.env[settings.python];
  const candidates = explicit ? [explicit] : ['python3.12', 'python3.11', 'python3.13', 'python3.10', 'python3'];
  for (const py of candidates) {
    const r = spawnSync(py, ['-c', 'import sys, venv; print("%d.%d" % sys.version_info[:2])'], { encoding: 'utf8' });
    if (r.status !== 0 && explicit) {
      throw new SetupError(
        `${settings.python}=${py} cannot run or lacks the venv module\n  fix: point ${settings.python} at a Python 3.10–3.13 with venv, or unset it`,
      );
    }
    if (r.status !== 0) continue;
    const [major, minor] = r.stdout.trim().split('.').map(Number);
    if (major === 3 && minor !== undefined && minor >= 10 && minor <= 13) return py;
    if (explicit)
      throw new SetupError(`${settings.python}=${py} is Python ${r.stdout.trim()}; TensorFlow 2.21 needs 3.10–3.13`);
  }
  throw new SetupError(
    'no Python 3.10–3.13 with the venv module found\n  fix: install python3 and python3-venv ' +
      `(apt-get install python3 python3-venv), or set ${settings.python} to one`,
  );
}

function pythonEnv(): void {
  const venv = venvDir();
  const requirements = readFileSync(pythonRequirementsFile(), 'utf8');
  const stamp = join(venv, '.petal-requirements');
  if (stampOk(stamp, requirements)) return say(`python venv ok (${venv})`);
  const python = findPython();
  say(
    `creating the python venv at ${venv} (TensorFlow${gpuRequested() ? ' with CUDA' : ''}, JupyterLab; a few minutes)`,
  );
  // A venv cannot be moved once made, so build in place and write the stamp last: a half-made venv is redone.
  rmSync(venv, { recursive: true, force: true });
  sh(python, ['-m', 'venv', venv], { hint: 'install python3-venv (apt-get install python3-venv)' });
  sh(
    venvBin('python'),
    [
      '-m',
      'pip',
      'install',
      '--quiet',
      '--progress-bar',
      'off',
      '--disable-pip-version-check',
      '-r',
      pythonRequirementsFile(),
    ],
    {
      hint: 'check that PyPI is reachable and that the wheels in runtime/python/ exist for this Python and platform',
    },
  );
  if (!venvTensorflowDir() || !existsSync(join(venvTensorflowDir() ?? '', 'libtensorflow_cc.so.2'))) {
    throw new SetupError(
      `the TensorFlow wheel in ${venv} has no libtensorflow_cc.so.2\n  fix: pin a Linux x86-64 tensorflow(-cpu) 2.x wheel`,
    );
  }
  writeFileSync(stamp, requirements);
  say('python venv ready');
}

/** Points tfjs-node's deps/ at the venv's libtensorflow, the layout its binding.gyp and rpath expect. */
function linkTensorflowLibraries(tfDir: string): void {
  const deps = join(tfjsNodeDir(), 'deps');
  rmSync(deps, { recursive: true, force: true });
  mkdirSync(join(deps, 'lib'), { recursive: true });
  symlinkSync(join(tfDir, 'include'), join(deps, 'include'));
  const links: Record<string, string> = {
    'libtensorflow.so': 'libtensorflow_cc.so.2',
    'libtensorflow_cc.so.2': 'libtensorflow_cc.so.2',
    'libtensorflow_framework.so': 'libtensorflow_framework.so.2',
    'libtensorflow_framework.so.2': 'libtensorflow_framework.so.2',
  };
  for (const [name, target] of Object.entries(links)) symlinkSync(join(tfDir, target), join(deps, 'lib', name));
}

function nativeBinding(): void {
  const tfDir = venvTensorflowDir();
  if (!tfDir) throw new SetupError(`no TensorFlow in ${venvDir()}\n  fix: run npm run setup again`);
  const tfjsVersion = (JSON.parse(readFileSync(join(tfjsNodeDir(), 'package.json'), 'utf8')) as { version: string })
    .version;
  const binding = tfjsBindingFile();
  const stamp = `${binding}.petal-venv`;
  if (stampOk(stamp, tfDir) && existsSync(join(tfjsNodeDir(), 'deps', 'lib', 'libtensorflow.so'))) {
    return say('native TensorFlow binding ok');
  }
  linkTensorflowLibraries(tfDir);
  const cached = cachedBindingFile(tfjsVersion);
  if (!existsSync(cached)) {
    say(`building tfjs-node ${tfjsVersion}'s native binding against ${tfDir} (about a minute)`);
    for (const tool of ['make', 'g++']) {
      if (!has(tool))
        throw new SetupError(
          `${tool} not found; it is needed to build the binding\n  fix: apt-get install build-essential`,
        );
    }
    // The binding uses N-API only: the running Node's headers serve every Node version.
    const nodeDir = dirname(dirname(process.execPath));
    if (!existsSync(join(nodeDir, 'include', 'node', 'node_api.h'))) {
      throw new SetupError(
        `no Node headers under ${nodeDir}/include/node\n  fix: run setup through npm so the project's Node 24 is used`,
      );
    }
    const gyp = join(dirname(tfjsNodeDir()), '..', 'node-gyp', 'bin', 'node-gyp.js');
    sh(
      process.execPath,
      [
        gyp,
        'rebuild',
        `--nodedir=${nodeDir}`,
        '--module_name=tfjs_binding',
        '--module_path=lib/napi-v8',
        '--napi_build_version=8',
      ],
      {
        cwd: tfjsNodeDir(),
        env: { ...process.env, npm_config_nodedir: nodeDir },
        hint: 'the compiler output above names the cause; a missing header means the venv TensorFlow wheel is incomplete',
      },
    );
    mkdirSync(dirname(cached), { recursive: true });
    copyFileSync(join(tfjsNodeDir(), 'build', 'Release', 'tfjs_binding.node'), `${cached}.tmp`);
    renameSync(`${cached}.tmp`, cached);
  }
  mkdirSync(dirname(binding), { recursive: true });
  copyFileSync(cached, binding);
  // Prove it: load it in a fresh process, exactly as Petal will.
  sh(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      "const {loadTf}=await import('@petal/runtime/tf'); const tf=loadTf(); if (tf.getBackend()!=='tensorflow') process.exit(3);",
    ],
    {
      cwd: join(tfjsNodeDir(), '..', '..', '..'),
      hint: 'the error above names the missing piece',
    },
  );
  writeFileSync(stamp, tfDir);
  say('native TensorFlow binding ready');
}

function kafkaJars(): void {
  const libs = kafkaLibsDir();
  const pom = readFileSync(kafkaPom, 'utf8');
  const stamp = join(dirname(libs), '.petal-pom');
  if (stampOk(stamp, pom) && existsSync(libs)) return say(`kafka jars ok (${libs})`);
  if (!has('mvn'))
    throw new SetupError('mvn not found; it resolves the Kafka jars from Maven Central\n  fix: apt-get install maven');
  const java = spawnSync(javaBinary(), ['-version'], { encoding: 'utf8' });
  const javaMajor = Number(/version "(\d+)/.exec(java.stderr ?? '')?.[1] ?? 0);
  if (javaMajor < 17) {
    throw new SetupError(
      `Kafka 4 needs Java ≥ 17; ${javaBinary()} is ${java.error ? 'missing' : `Java ${javaMajor}`}\n  fix: apt-get install openjdk-17-jre-headless, or set ${settings.java}`,
    );
  }
  say('resolving the Kafka broker jars from Maven Central');
  const tmp = `${libs}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  sh('mvn', ['-q', '-B', '-f', kafkaPom, 'dependency:copy-dependencies', `-DoutputDirectory=${tmp}`], {
    hint: 'check that Maven Central is reachable; the mvn output above names the artifact',
  });
  rmSync(libs, { recursive: true, force: true });
  renameSync(tmp, libs);
  writeFileSync(stamp, pom);
  say('kafka jars ready');
}

/**
 * JupyterLab defaults for Petal's own venv: no prompt to fetch Jupyter news or check for updates, which would
 * reach out to the internet from a workshop room or a cluster's head node.
 */
function labSettings(): void {
  const file = join(venvJupyterDir(), 'lab', 'settings', 'overrides.json');
  const text = `${JSON.stringify({ '@jupyterlab/apputils-extension:notification': { fetchNews: 'false', checkForUpdates: false } }, null, 2)}\n`;
  if (stampOk(file, text)) return;
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
  say(`JupyterLab settings written (${file})`);
}

const repoRoot = join(import.meta.dirname, '..');
const extensionDir = join(repoRoot, 'labextension');

/** Every file under `dir` (sorted, recursive), for hashing what a build reads. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name))
    .sort();
}

/** JupyterLab's own package.json in the venv: the shared singletons the extension must build against. */
function jupyterlabCorePackage(): string {
  const lib = join(venvDir(), 'lib');
  for (const py of existsSync(lib) ? readdirSync(lib) : []) {
    const file = join(lib, py, 'site-packages', 'jupyterlab', 'staging', 'package.json');
    if (existsSync(file)) return file;
  }
  throw new SetupError(`no JupyterLab in ${venvDir()}\n  fix: run npm run setup again (it rebuilds the venv)`);
}

/**
 * Builds @petal/labextension with jupyter-builder (rspack) and installs it as a prebuilt extension into the venv,
 * where `jupyter lab` finds it. Keyed by a hash of what the build reads (its sources, the kernel's output contract,
 * the lock file, the venv's JupyterLab), so an unchanged checkout skips it and a rebuilt one is cached for clones.
 */
function labExtension(): void {
  const core = jupyterlabCorePackage();
  const inputs = [
    ...filesUnder(join(extensionDir, 'src')),
    ...filesUnder(join(extensionDir, 'style')),
    join(extensionDir, 'package.json'),
    join(extensionDir, 'rspack.config.cjs'),
    join(repoRoot, 'kernel', 'src', 'outputs', 'types.ts'),
    join(repoRoot, 'package-lock.json'),
    core,
  ];
  const hash = createHash('sha256');
  for (const file of inputs) hash.update(file.replace(repoRoot, '')).update('\0').update(readFileSync(file));
  const key = hash.digest('hex').slice(0, 12);
  const dest = join(venvJupyterDir(), 'labextensions', '@petal', 'labextension');
  const stamp = join(dest, '.petal-build');
  if (stampOk(stamp, key)) return say('JupyterLab extension ok');
  const cached = join(cacheDir(), `labextension-${key}`);
  if (!existsSync(cached)) {
    say('building the JupyterLab extension (jupyter-builder)');
    const built = join(extensionDir, 'lib', 'prebuilt');
    // jupyter-builder runs the `node` on PATH: ours (Node 24), not whatever the system has.
    sh(venvBin('jupyter-builder'), ['build', extensionDir, '--core-package-file', core], {
      cwd: repoRoot,
      env: { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` },
      hint: 'the rspack errors above name the file; `node node_modules/typescript/bin/tsc -b` shows type errors too',
    });
    // Builds of older sources are a second's work to redo: keep only this one.
    for (const old of readdirSync(cacheDir()).filter((name) => name.startsWith('labextension-')))
      rmSync(join(cacheDir(), old), { recursive: true, force: true });
    cpSync(built, `${cached}.tmp`, { recursive: true });
    renameSync(`${cached}.tmp`, cached);
  }
  rmSync(dest, { recursive: true, force: true });
  cpSync(cached, dest, { recursive: true });
  writeFileSync(stamp, key);
  say(`JupyterLab extension installed (${dest})`);
}

/**
 * The kernelspec, into this checkout's Jupyter data dir (what Petal's launchers use: the venv is shared, so its
 * copy names whichever checkout set up last) and into the venv's (for a `jupyter lab` run by hand).
 */
function kernelspec(): void {
  for (const result of installKernelspecs())
    say(`kernelspec "${result.displayName}" ${result.changed ? 'installed' : 'ok'} (${result.dir})`);
}

try {
  pythonEnv();
  nativeBinding();
  kafkaJars();
  kernelspec();
  labSettings();
  labExtension();
} catch (err) {
  // Our own errors already say what to do; anything else is a bug worth its stack.
  say(err instanceof SetupError ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exit(1);
}
