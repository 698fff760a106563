// Spawning a command that dies with this process however this process dies, SIGKILL included.
import { spawn } from 'node:child_process';
import type { ChildProcess, StdioNull, StdioPipe } from 'node:child_process';
import { PetalError } from '../errors.ts';

/** Where one of the command's fds goes: a pipe to us, nowhere, or an fd of ours (a log file). */
export type TiedStdio = StdioPipe | StdioNull | number;

/** How {@link spawnTied} runs a command. */
export interface TiedSpawnOptions {
  /** The command's fds 1, 2, 3, … in order (at most 7); its fd 0 is always the owner pipe. */
  stdio: readonly TiedStdio[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Seconds between SIGTERM and SIGKILL when the owner dies (whole seconds: `sleep` may lack fractions). */
  graceS: number;
  /** argv[0] of the wrapper, which `ps` shows (e.g. `petal-task`). */
  name?: string;
}

/** A tied command: the `sh` wrapper we spawned (its exit is the command's) and the command's own pid. */
export interface TiedChild {
  child: ChildProcess;
  pid: number;
}

const OWNER_FD = 9; // where the wrapper keeps the owner pipe; `sh` only names fds 0–9

/**
 * The wrapper script. Linux's PR_SET_PDEATHSIG is out of reach from Node, so a `sh` wrapper holds a pipe from us:
 * the kernel closes our end when we die however we die, a watcher's `read` sees EOF and sends the command SIGTERM,
 * then SIGKILL after the grace. The same script works wherever stdin is the owner's pipe — over `ssh host sh -c`
 * too, where ssh forwards stdin and its EOF — so remote pools can reuse it. The command's pid goes out on a
 * control fd (the last one) so the command's stdout stays its own. The command's stdin is a copy of the owner
 * pipe's read end, so a task may also watch it itself (`watchOwner()`); a read end never delays the EOF.
 */
export function tiedScript(controlFd: number, graceS: number): string {
  const close = Array.from({ length: controlFd - 3 }, (_, i) => `${i + 3}>&-`).join(' ');
  return [
    // A terminal's Ctrl-C reaches our whole process group. The owner decides when the command stops; a wrapper
    // killed by it would orphan its watcher, which later sends SIGKILL to a pid that may be reused by then.
    "trap '' INT HUP QUIT",
    `exec ${OWNER_FD}<&0 </dev/null`,
    `"$@" <&${OWNER_FD} ${OWNER_FD}<&- ${controlFd}>&- &`,
    'pid=$!',
    `echo "$pid" >&${controlFd}`,
    // Only the command keeps the extra pipes, so their EOF means the command (and its children) closed them.
    `exec ${controlFd}>&- ${close}`,
    // The watcher's grace sleep must not outlive it: when the command ends first we kill the watcher, and its
    // trap takes the sleep along (wait returns at once on a trapped signal).
    `{ read -r _ <&${OWNER_FD}; kill -TERM "$pid"; trap 'kill "$s"; exit 0' TERM; sleep ${graceS} & s=$!; wait "$s"; kill -KILL "$pid"; } >/dev/null 2>&1 </dev/null &`,
    'watcher=$!',
    `exec ${OWNER_FD}<&-`,
    'wait "$pid"; code=$?',
    'kill "$watcher" 2>/dev/null',
    'exit "$code"',
  ].join('\n');
}

/**
 * Runs `command args` under the {@link tiedScript} wrapper; resolves once the command's pid is known. The child is
 * the wrapper: its `exit` means the command ended (a signal death shows as code 128 + n). Keep `child.stdin`
 * open while the command should live; destroying it (or dying) makes the watcher stop the command.
 */
export function spawnTied(command: string, args: readonly string[], options: TiedSpawnOptions): Promise<TiedChild> {
  const controlFd = options.stdio.length + 1;
  if (options.stdio.length < 2 || controlFd >= OWNER_FD)
    throw new RangeError(`spawnTied needs 2 to ${OWNER_FD - 3} stdio entries, got ${options.stdio.length}`);
  const script = tiedScript(controlFd, Math.max(1, Math.ceil(options.graceS)));
  const child = spawn('/bin/sh', ['-c', script, options.name ?? 'petal-tied', command, ...args], {
    stdio: ['pipe', ...options.stdio, 'pipe'],
    env: options.env,
    cwd: options.cwd,
  });
  return new Promise((resolve, reject) => {
    const control = child.stdio[controlFd] as NodeJS.ReadableStream | null;
    let text = '';
    const onData = (chunk: Buffer): void => {
      text += chunk.toString('utf8');
      const newline = text.indexOf('\n');
      if (newline < 0) return;
      cleanup();
      const pid = Number(text.slice(0, newline));
      if (Number.isInteger(pid) && pid > 0) resolve({ child, pid });
      else fail(new Error(`the wrapper wrote "${text.slice(0, newline)}" instead of a pid`));
    };
    const fail = (err?: unknown): void => {
      cleanup();
      child.stdin?.destroy();
      reject(
        new PetalError('PETAL_POOL_SPAWN', `could not start ${command} under /bin/sh`, {
          cause: err,
          fix: 'Petal needs a POSIX /bin/sh; check that the command exists',
          detail: { command },
        }),
      );
    };
    // The control pipe's end, not the wrapper's exit: a command that fails at once may make the wrapper exit
    // before we read the pid it wrote.
    const onEnd = (): void => fail(new Error('the wrapper ended before reporting a pid'));
    const cleanup = (): void => {
      control?.off('data', onData);
      control?.off('end', onEnd);
      control?.off('close', onEnd);
      child.off('error', fail);
    };
    if (!control) return fail(new Error('no control pipe'));
    control.on('data', onData);
    control.once('end', onEnd);
    control.once('close', onEnd);
    child.once('error', fail);
  });
}
