// What the browser tests share: ordered cleanups, JupyterLab from the venv on a free loopback port, and Debian's
// Chromium driven by playwright-core. Needs what `npm run setup` builds and /usr/bin/chromium (PETAL_CHROMIUM).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { findFreePort, LOOPBACK, waitUntil } from '@petal/runtime';
import { jupyterEnv, venvBin } from '@petal/runtime/locations';

export const CHROMIUM = process.env.PETAL_CHROMIUM ?? '/usr/bin/chromium';

/** Registers a cleanup. */
export type Defer = (cleanup: () => unknown) => void;

/** Cleanups run in reverse order of registration, all of them even if one throws. */
export function cleanups(t: TestContext): Defer {
  const stack: (() => unknown)[] = [];
  t.after(async () => {
    const errors: unknown[] = [];
    for (const cleanup of stack.reverse())
      await Promise.resolve()
        .then(cleanup)
        .catch((err: unknown) => errors.push(err));
    if (errors.length > 0) throw new AggregateError(errors, 'cleanup failed');
  });
  return (cleanup) => stack.push(cleanup);
}

/** A running JupyterLab. */
export interface Lab {
  base: string;
  token: string;
  log: () => string;
}

/** `jupyter lab` from the venv on a free loopback port, serving `root`; stopped (kernels first) by the cleanup. */
export async function startLab(defer: Defer, root: string, tmp: string): Promise<Lab> {
  const jupyter = venvBin('jupyter');
  assert.ok(existsSync(jupyter), `${jupyter} is missing; run \`npm run setup\``);
  const port = await findFreePort();
  const token = randomBytes(24).toString('hex');
  const args = [
    'lab',
    `--ServerApp.ip=${LOOPBACK}`,
    `--ServerApp.port=${port}`,
    '--ServerApp.port_retries=0',
    `--ServerApp.root_dir=${root}`,
    '--ServerApp.open_browser=False',
    // Lets the test drive JupyterLab's commands (run a cell, clear outputs) as the menus do.
    '--LabApp.expose_app_in_browser=True',
  ];
  if (process.getuid?.() === 0) args.push('--allow-root');
  let output = '';
  const child: ChildProcess = spawn(jupyter, args, {
    cwd: root,
    env: {
      ...jupyterEnv(), // this checkout's "petal" kernel, not the one the shared venv's kernelspec names
      JUPYTER_TOKEN: token,
      JUPYTER_CONFIG_DIR: join(tmp, 'jupyter-config'),
      JUPYTER_RUNTIME_DIR: join(tmp, 'jupyter-runtime'),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (output = (output + chunk).slice(-20_000)));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (output = (output + chunk).slice(-20_000)));
  const base = `http://${LOOPBACK}:${port}`;
  const auth = { authorization: `token ${token}` };
  defer(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    // Kernels run in sessions of their own: shut them down through the server before stopping it.
    const res = await fetch(`${base}/api/kernels`, { headers: auth }).catch(() => undefined);
    const kernels = res?.ok ? ((await res.json()) as { id: string }[]) : [];
    for (const { id } of kernels) await fetch(`${base}/api/kernels/${id}`, { method: 'DELETE', headers: auth });
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(killer);
  });
  const ready = await waitUntil(async () => {
    if (child.exitCode !== null) return true;
    const res = await fetch(`${base}/api/status`, { headers: auth }).catch(() => undefined);
    return res?.ok === true;
  }, 120_000);
  assert.ok(ready && child.exitCode === null, `JupyterLab did not come up on ${base}\n${output}`);
  return { base, token, log: () => output };
}

/** Debian's Chromium, headless, with what it needs to run as root in a container and without background traffic. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}

/** A page of a headless Chromium closed by the cleanup. */
export async function openBrowser(defer: Defer, viewport = { width: 1400, height: 2400 }): Promise<Page> {
  const browser = await launchChromium();
  defer(() => browser.close());
  return browser.newPage({ viewport });
}
