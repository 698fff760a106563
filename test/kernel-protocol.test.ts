// Jupyter protocol conformance of the Petal kernel: test/kernel_protocol.py drives a real kernel process (started
// with a connection file, as Jupyter starts it) through jupyter_client from the project venv, and reports one line
// per check; each becomes a subtest here. Its magics run against a real Kafka broker in a throwaway state dir.
// Needs what `npm run setup` builds (the venv with jupyter_client, the Kafka jars).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { venvBin } from '@petal/runtime/locations';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const SCRIPT = join(root, 'test', 'kernel_protocol.py');
const MAIN = join(root, 'kernel', 'src', 'main.ts');

/** Every check the script runs; a check missing from its output fails too. */
const CHECKS = 29;

interface CheckLine {
  check: string;
  ok: boolean;
  detail: string;
  ms: number;
}

function kill(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL'); // the kernel runs in a session (and process group) of its own, as under Jupyter
  } catch {
    // gone
  }
}

test('the Petal kernel speaks the Jupyter protocol to jupyter_client', async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'petal-kernel-'));
  t.after(() => {
    const pidFile = join(work, 'kernel.pid');
    if (existsSync(pidFile)) kill(Number(readFileSync(pidFile, 'utf8')));
    rmSync(work, { recursive: true, force: true });
  });
  const child = spawn(venvBin('python'), ['-u', SCRIPT, process.execPath, MAIN, work], {
    cwd: work,
    env: { ...process.env, PETAL_STATE_DIR: join(work, 'state') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  const kernelLog = (): string => {
    const file = join(work, 'kernel.log');
    return existsSync(file) ? readFileSync(file, 'utf8').slice(-4000) : '(no kernel log)';
  };
  assert.equal(
    code,
    0,
    `kernel_protocol.py exited ${code}\n${stderr.slice(-4000)}\n--- kernel log ---\n${kernelLog()}`,
  );
  const checks = stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as CheckLine);
  for (const c of checks) {
    await t.test(`${c.check} (${Math.round(c.ms)} ms)`, () => {
      assert.ok(c.ok, `${c.detail}\n--- kernel log ---\n${kernelLog()}`);
    });
  }
  assert.equal(checks.length, CHECKS, `expected ${CHECKS} checks, got:\n${checks.map((c) => c.check).join('\n')}`);
});
