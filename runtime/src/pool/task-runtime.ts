// The task side of a pool: what a PS or worker entry file calls, one line each. Reads the fds its pool named in
// the environment (`PETAL_READY_FD`, `PETAL_OWNER_FD`), so the same entry runs under any pool.
import { closeSync, writeSync } from 'node:fs';
import { Socket } from 'node:net';
import { PetalError } from '../errors.ts';
import type { ReadyInfo } from './pool.ts';

/**
 * Tells the pool this task serves: writes `info` as one JSON line to the readiness fd and closes it. Call once,
 * after listening (`reportReady({ port: server.address().port })`). Outside a pool (no `PETAL_READY_FD`) it does
 * nothing, so an entry also runs by hand.
 */
export function reportReady(info: ReadyInfo = {}, env: NodeJS.ProcessEnv = process.env): void {
  const fd = fdFrom(env, 'PETAL_READY_FD');
  if (fd === undefined) return;
  const line = `${JSON.stringify(info)}\n`;
  try {
    writeSync(fd, line);
    closeSync(fd);
  } catch (err) {
    throw new PetalError('PETAL_TASK_READY_REPORT', `could not write the readiness report to fd ${fd}`, {
      cause: err,
      fix: 'call reportReady() once, in a task the pool launched',
    });
  }
}

/** Options of {@link watchOwner}. */
export interface WatchOwnerOptions {
  /** Runs first when the owner is gone or SIGTERM/SIGINT arrives (close listeners, flush); bounded by `graceMs`. */
  onExit?: () => void | Promise<void>;
  /** How long `onExit` may take before the task exits anyway (default 2000 ms). */
  graceMs?: number;
  env?: NodeJS.ProcessEnv;
}

/**
 * Exits this task (code 0 after `onExit`) when its owner is gone: the owner pipe (`PETAL_OWNER_FD`) reaches EOF,
 * or the pool's watcher sends SIGTERM. The pool stops the task regardless (by signal, even if this task's event
 * loop is blocked); this is the task's chance to leave cleanly. Returns a function that stops watching.
 */
export function watchOwner(options: WatchOwnerOptions = {}): () => void {
  const { onExit, graceMs = 2000, env = process.env } = options;
  let leaving = false;
  const leave = (): void => {
    if (leaving) return;
    leaving = true;
    const hard = setTimeout(() => process.exit(0), graceMs);
    hard.unref();
    void Promise.resolve()
      .then(onExit)
      .catch(() => {})
      .finally(() => process.exit(0));
  };
  const fd = fdFrom(env, 'PETAL_OWNER_FD');
  let pipe: Socket | undefined;
  if (fd !== undefined) {
    pipe = new Socket({ fd, readable: true, writable: false });
    pipe.on('data', () => {}); // the owner writes nothing; reading is how EOF is seen
    pipe.once('end', leave);
    pipe.once('error', leave);
    pipe.unref(); // watching must not keep the task alive
  }
  const signals: NodeJS.Signals[] = ['SIGTERM', 'SIGINT'];
  for (const name of signals) process.on(name, leave);
  return () => {
    for (const name of signals) process.off(name, leave);
    pipe?.off('end', leave);
    pipe?.off('error', leave);
    pipe?.destroy();
  };
}

function fdFrom(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const value = env[name];
  if (value === undefined || value === '') return undefined;
  const fd = Number(value);
  if (!Number.isInteger(fd) || fd < 0)
    throw new PetalError('PETAL_TASK_ENV', `${name} is "${value}", not an fd number`, {
      fix: `unset ${name}, or let the pool set it`,
    });
  return fd;
}
