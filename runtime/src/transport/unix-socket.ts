// What a Unix domain socket listener needs beyond TCP: a path short enough for the kernel, a stale file from a
// crashed run cleared (but never a live server's), and the identity of the machine, so that a client uses a
// socket path only where that path names the same socket (same kernel, same mount namespace).
import { lstat, unlink } from 'node:fs/promises';
import { lstatSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { TransportError } from './errors.ts';

/** Longest Unix socket path in bytes (Linux's sun_path holds 108 with the terminating NUL). */
export const MAX_SOCKET_PATH_BYTES = 107;

/** Options check for a socket path: non-empty and short enough to bind. */
export const socketPathCheck = (v: unknown): string | undefined =>
  typeof v === 'string' && v.length > 0 && Buffer.byteLength(v) <= MAX_SOCKET_PATH_BYTES
    ? undefined
    : `must be a path of 1 to ${MAX_SOCKET_PATH_BYTES} bytes (the kernel's limit for Unix sockets)`;

/**
 * Removes what a crashed server left at `path` so it can be bound again. Throws PETAL_TRANSPORT_LISTEN when a
 * server still answers there, or when the path is something other than a socket (never deleted).
 */
export async function clearStaleSocket(path: string): Promise<void> {
  const stat = await lstat(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (!stat) return;
  if (!stat.isSocket()) {
    throw new TransportError('PETAL_TRANSPORT_LISTEN', `cannot listen on ${path}: it exists and is not a socket`, {
      fix: 'pass a socketPath in a directory of its own (a fresh mkdtemp directory)',
    });
  }
  if (await answers(path)) {
    throw new TransportError('PETAL_TRANSPORT_LISTEN', `cannot listen on ${path}: another server listens there`, {
      fix: 'stop that server or pass another socketPath',
    });
  }
  await unlink(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
}

function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.connect({ path });
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}

let cachedMachine: string | undefined | null = null;

/**
 * This process's machine as a Unix socket path sees it: host name, kernel boot id and mount namespace. Processes
 * with equal ids reach the same socket file by the same path; a host name alone would match a twin container or a
 * reused name. Undefined where the kernel does not tell (not Linux): such a process never uses socket paths.
 */
export function machineId(): string | undefined {
  if (cachedMachine === null) {
    try {
      const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
      const mountNs = readlinkSync('/proc/self/ns/mnt');
      cachedMachine = `${hostname()}/${bootId}/${mountNs}`;
    } catch {
      cachedMachine = undefined;
    }
  }
  return cachedMachine;
}

const SOCKET_DIR_PREFIX = 'petal-sock-';

/** A private directory for one listener's socket: `petal-sock-NAME-XXXXXX` in the temp dir, mode 0700 (mkdtemp). */
export function makeSocketDir(name: string): string {
  return mkdtempSync(path.join(tmpdir(), `${SOCKET_DIR_PREFIX}${name}-`));
}

/**
 * Removes the directory of `socketPath` for a process that could not (killed by SIGKILL, the OOM killer): only a
 * directory makeSocketDir() made, holding sockets alone, on this machine (`machine` is the owner's machineId()).
 * Never throws.
 */
export function removeSocketDir(socketPath: string, machine: string | undefined): void {
  const dir = path.dirname(socketPath);
  const made = path.dirname(dir) === tmpdir() && path.basename(dir).startsWith(SOCKET_DIR_PREFIX);
  if (!made || machine === undefined || machine !== machineId()) return;
  try {
    if (readdirSync(dir).every((name) => lstatSync(path.join(dir, name)).isSocket())) {
      rmSync(dir, { recursive: true, force: true });
    }
  } catch {
    // gone already, or not ours to remove: a leftover directory in the temp dir harms nothing
  }
}
