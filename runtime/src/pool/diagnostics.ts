// What the pools report instead of printing. `bin/` (or a test) subscribes; nothing is published to nobody.
import diagnostics_channel from 'node:diagnostics_channel';
import { debuglog } from 'node:util';

/** A task's life as the pool sees it. */
export interface TaskEvent {
  pool: string;
  task: string;
  pid: number;
  event: 'launched' | 'ready' | 'not-ready' | 'stopping' | 'exited';
  code?: number | null;
  signal?: NodeJS.Signals | null;
  port?: number;
  reason?: string;
}

/** Published for every task event ({@link TaskEvent}). */
export const taskChannel = diagnostics_channel.channel('petal:pool:task');

/** Publishes `event` when someone listens. */
export function publishTask(event: TaskEvent): void {
  debug('%s %s pid %d %s', event.pool, event.task, event.pid, event.event);
  if (taskChannel.hasSubscribers) taskChannel.publish(event);
}

/** `NODE_DEBUG=petal_pool` traces task events. */
export const debug = debuglog('petal_pool');
