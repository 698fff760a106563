// Whether a pid is still a running process, the one check every owner of child processes needs.
import { readFileSync } from 'node:fs';

/**
 * True while `pid` names a process that has not exited. A zombie counts as gone: a detached broker's parent may be
 * an init that never reaps, and its ports are already closed.
 */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ENOENT';
  }
}
