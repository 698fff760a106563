// Jupyter comms: channels between kernel code and frontend widgets, opened from either side, carrying JSON data and
// binary buffers (comm_open / comm_msg / comm_close, listed by comm_info).
import { randomUUID } from 'node:crypto';
import type { Comm, CommHandler, CommMessageHandler } from './api/types.ts';

/** How the manager publishes on iopub: message type, content, buffers. */
export type CommSend = (msgType: string, content: Record<string, unknown>, buffers?: readonly Uint8Array[]) => void;

class CommImpl implements Comm {
  readonly id: string;
  readonly target: string;
  #closed = false;
  #onMsg: CommMessageHandler[] = [];
  #onClose: CommMessageHandler[] = [];
  readonly #send: CommSend;
  readonly #forget: () => void;

  constructor(id: string, target: string, send: CommSend, forget: () => void) {
    this.id = id;
    this.target = target;
    this.#send = send;
    this.#forget = forget;
  }

  get closed(): boolean {
    return this.#closed;
  }

  send(data: Record<string, unknown> = {}, buffers: readonly Uint8Array[] = []): void {
    if (this.#closed) return;
    this.#send('comm_msg', { comm_id: this.id, data }, buffers);
  }

  close(data: Record<string, unknown> = {}): void {
    if (this.#closed) return;
    this.#send('comm_close', { comm_id: this.id, data });
    this.#end(data, []);
  }

  onMsg(handler: CommMessageHandler): void {
    this.#onMsg.push(handler);
  }

  onClose(handler: CommMessageHandler): void {
    this.#onClose.push(handler);
  }

  deliver(data: Record<string, unknown>, buffers: Uint8Array[]): void {
    for (const handler of this.#onMsg) handler(data, buffers);
  }

  /** Closed by the frontend (or by us): runs the close handlers once. */
  end(data: Record<string, unknown>, buffers: Uint8Array[]): void {
    this.#end(data, buffers);
  }

  #end(data: Record<string, unknown>, buffers: Uint8Array[]): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#forget();
    for (const handler of this.#onClose) handler(data, buffers);
  }
}

/** The kernel's comms and the targets the frontend may open comms to. */
export class CommManager {
  readonly #comms = new Map<string, CommImpl>();
  readonly #targets = new Map<string, CommHandler>();
  readonly #send: CommSend;

  constructor(send: CommSend) {
    this.#send = send;
  }

  registerTarget(name: string, handler: CommHandler): void {
    this.#targets.set(name, handler);
  }

  unregisterTarget(name: string): void {
    this.#targets.delete(name);
  }

  /** Opens a comm from the kernel side (the frontend needs a target of that name). */
  open(target: string, data: Record<string, unknown> = {}, buffers: readonly Uint8Array[] = []): Comm {
    const comm = this.#create(randomUUID().replaceAll('-', ''), target);
    this.#send('comm_open', { comm_id: comm.id, target_name: target, data }, buffers);
    return comm;
  }

  /** comm_open from the frontend; an unknown target gets a comm_close back, as ipykernel does. */
  handleOpen(content: Record<string, unknown>, buffers: Uint8Array[]): void {
    const id = String(content.comm_id);
    const target = String(content.target_name);
    const handler = this.#targets.get(target);
    if (!handler) {
      this.#send('comm_close', { comm_id: id, data: { error: `no comm target "${target}" in this kernel` } });
      return;
    }
    handler(this.#create(id, target), dataOf(content), buffers);
  }

  handleMsg(content: Record<string, unknown>, buffers: Uint8Array[]): void {
    this.#comms.get(String(content.comm_id))?.deliver(dataOf(content), buffers);
  }

  handleClose(content: Record<string, unknown>, buffers: Uint8Array[]): void {
    this.#comms.get(String(content.comm_id))?.end(dataOf(content), buffers);
  }

  /** comm_info_reply's `comms`: open comms, of one target when given. */
  info(target?: string): Record<string, { target_name: string }> {
    const comms: Record<string, { target_name: string }> = {};
    for (const comm of this.#comms.values()) {
      if (target === undefined || target === '' || comm.target === target)
        comms[comm.id] = { target_name: comm.target };
    }
    return comms;
  }

  #create(id: string, target: string): CommImpl {
    const comm = new CommImpl(id, target, this.#send, () => this.#comms.delete(id));
    this.#comms.set(id, comm);
    return comm;
  }
}

function dataOf(content: Record<string, unknown>): Record<string, unknown> {
  const data = content.data;
  return data !== null && typeof data === 'object' ? (data as Record<string, unknown>) : {};
}
