// The Jupyter wire protocol (messaging 5.x): frames ⇄ messages, HMAC-SHA256 over the four dicts only (header,
// parent header, metadata, content; binary buffers are not signed), and replay protection.
import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';

/** A message header. */
export interface Header {
  msg_id: string;
  session: string;
  username: string;
  date: string;
  msg_type: string;
  version: string;
}

/** One decoded message. `idents` route a reply back to the socket that sent the request. */
export interface Message<C = Record<string, unknown>> {
  idents: Buffer[];
  header: Header;
  parent_header: Header | Record<string, never>;
  metadata: Record<string, unknown>;
  content: C;
  buffers: Buffer[];
}

/** The connection file Jupyter writes for a kernel. */
export interface ConnectionInfo {
  transport: string;
  ip: string;
  shell_port: number;
  iopub_port: number;
  stdin_port: number;
  control_port: number;
  hb_port: number;
  key: string;
  signature_scheme: string;
}

export const PROTOCOL_VERSION = '5.3';
const DELIMITER = Buffer.from('<IDS|MSG>');
const REPLAY_WINDOW = 4096;

/** Thrown for a frame set that is not a well-formed, correctly signed message; the caller drops it. */
export class WireError extends Error {
  override name = 'WireError';
}

/** Encodes and decodes messages for one kernel session, signing with the connection's key. */
export class Wire {
  readonly session = randomUUID();
  readonly #key: Buffer;
  readonly #seen = new Set<string>();

  constructor(key: string, scheme = 'hmac-sha256') {
    if (key !== '' && scheme !== 'hmac-sha256')
      throw new WireError(`signature_scheme ${scheme} is not supported (use hmac-sha256)`);
    this.#key = Buffer.from(key, 'utf8');
  }

  sign(parts: readonly (Buffer | string)[]): string {
    if (this.#key.length === 0) return '';
    const hmac = createHmac('sha256', this.#key);
    for (const part of parts) hmac.update(part);
    return hmac.digest('hex');
  }

  /** Frames → message; throws WireError for a missing delimiter, bad JSON, a wrong or replayed signature. */
  decode(frames: readonly Buffer[]): Message {
    const at = frames.findIndex((f) => f.equals(DELIMITER));
    if (at < 0 || frames.length < at + 6) throw new WireError('not a Jupyter message (no <IDS|MSG> delimiter)');
    const signature = frames[at + 1]!.toString('ascii');
    const dicts = frames.slice(at + 2, at + 6);
    if (this.#key.length > 0) {
      const expected = Buffer.from(this.sign(dicts), 'ascii');
      const given = Buffer.from(signature, 'ascii');
      if (given.length !== expected.length || !timingSafeEqual(given, expected))
        throw new WireError('invalid message signature');
      if (this.#seen.has(signature)) throw new WireError('replayed message signature');
      this.#seen.add(signature);
      if (this.#seen.size > REPLAY_WINDOW) this.#seen.delete(this.#seen.values().next().value as string);
    }
    try {
      const [header, parent, metadata, content] = dicts.map((d) => JSON.parse(d.toString('utf8')) as unknown);
      return {
        idents: frames.slice(0, at),
        header: header as Header,
        parent_header: parent as Header,
        metadata: metadata as Record<string, unknown>,
        content: content as Record<string, unknown>,
        buffers: frames.slice(at + 6),
      };
    } catch (err) {
      throw new WireError(`malformed message: ${(err as Error).message}`);
    }
  }

  /** A new message of `msgType` answering or caused by `parent`. */
  message<C>(
    msgType: string,
    content: C,
    parent: Header | Record<string, never> = {},
    options: { idents?: Buffer[]; buffers?: readonly Uint8Array[]; metadata?: Record<string, unknown> } = {},
  ): Buffer[] {
    const header: Header = {
      msg_id: randomUUID(),
      session: this.session,
      username: 'petal',
      date: new Date().toISOString(),
      msg_type: msgType,
      version: PROTOCOL_VERSION,
    };
    const dicts = [header, parent, options.metadata ?? {}, content].map((d) => Buffer.from(JSON.stringify(d)));
    return [
      ...(options.idents ?? []),
      DELIMITER,
      Buffer.from(this.sign(dicts)),
      ...dicts,
      ...(options.buffers ?? []).map((b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength)),
    ];
  }
}
