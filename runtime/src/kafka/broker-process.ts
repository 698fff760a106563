// The broker as an operating-system process: spawning it tied to its owner or detached from it, asking whether a
// pid is still a live broker, ending it, and the loopback ports it holds.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, fstatSync, openSync, readdirSync, readFileSync, readSync } from 'node:fs';
import { PetalError } from '../errors.ts';
import { spawnTied } from '../pool/owner-tie.ts';
import type { TiedChild } from '../pool/owner-tie.ts';
import { waitUntil } from '../net/loopback.ts';
import { processAlive } from '../pool/process-alive.ts';

/**
 * Runs `command` so that it dies with this process, even on SIGKILL, which Node cannot catch: the pool's `sh`
 * wrapper watching a pipe from us (`spawnTied`, shared with the local task pool) sends SIGTERM when our end
 * closes, then SIGKILL after `graceS`. The command's stdout and stderr go to `logFd`. The wrapper exits with the
 * command's status, so the child's `exit` event means the command ended; resolves with it and the command's pid.
 */
export async function spawnAttached(
  command: string,
  args: string[],
  logFd: number,
  graceS: number,
): Promise<{ child: ChildProcess; pid: number }> {
  let tied: TiedChild;
  try {
    tied = await spawnTied(command, args, { stdio: [logFd, logFd], graceS, name: 'petal-kafka' });
  } catch (err) {
    throw new PetalError('PETAL_KAFKA_START', 'could not start /bin/sh to supervise the broker', {
      cause: err,
      fix: 'Petal needs a POSIX /bin/sh',
    });
  }
  // The broker must never keep its owner alive: the owner's exit is what ends it.
  tied.child.unref();
  for (const stream of tied.child.stdio) (stream as unknown as { unref?: () => void } | null)?.unref?.();
  return tied;
}

/** Runs `command` in a session of its own with output to `logFd`, so it outlives this process. */
export function spawnDetached(
  command: string,
  args: string[],
  logFd: number,
): Promise<{ child: ChildProcess; pid: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { detached: true, stdio: ['ignore', logFd, logFd] });
    child.once('error', (err) =>
      reject(
        new PetalError('PETAL_KAFKA_START', `could not run ${command}`, {
          cause: err,
          fix: 'run `npm run setup`, or set PETAL_JAVA',
        }),
      ),
    );
    child.once('spawn', () => {
      child.unref();
      resolve({ child, pid: child.pid ?? -1 });
    });
  });
}

/**
 * True when `pid` is alive and its command line contains `marker` (the broker's server.properties path), so a
 * stale record whose pid the system has since reused never gets someone else's process killed. Where /proc is
 * missing the pid alone decides.
 */
export function processMatches(pid: number, marker: string): boolean {
  if (!processAlive(pid)) return false;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(marker);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ENOENT';
  }
}

/**
 * Live JVMs whose command line names `marker` (a broker's server.properties): the brokers using that data dir,
 * whoever started them. Empty where /proc is missing.
 */
export function jvmsMatching(marker: string): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  const found: number[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      // The attached wrapper carries the same arguments; only the JVM itself counts.
      if (argv.includes(marker) && argv[0] !== '/bin/sh' && processAlive(Number(entry))) found.push(Number(entry));
    } catch {
      // exited while we looked, or not ours to read
    }
  }
  return found;
}

/** SIGTERM (Kafka shuts down cleanly on it), then SIGKILL after `graceMs`; resolves once `pid` is gone. */
export async function terminate(pid: number, graceMs: number): Promise<void> {
  if (!signal(pid, 'SIGTERM')) return;
  if (await waitUntil(() => !processAlive(pid), graceMs)) return;
  signal(pid, 'SIGKILL');
  if (await waitUntil(() => !processAlive(pid), 10_000)) return;
  throw new PetalError('PETAL_KAFKA_STOP', `process ${pid} survived SIGKILL`, {
    fix: `check it with \`ps -p ${pid}\``,
  });
}

function signal(pid: number, name: NodeJS.Signals): boolean {
  try {
    process.kill(pid, name);
    return true;
  } catch {
    return false;
  }
}

/** The last `count` lines of a log file, read from its end so a long-lived log costs nothing. */
export function logTail(file: string, count = 20): string[] {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return [];
  }
  try {
    const size = fstatSync(fd).size;
    const length = Math.min(size, 64 * 1024);
    const buffer = Buffer.alloc(length);
    readSync(fd, buffer, 0, length, size - length);
    const lines = buffer
      .toString('utf8')
      .split('\n')
      .map((l) => l.trimEnd());
    while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
    return lines.slice(-count);
  } finally {
    closeSync(fd);
  }
}
