import { PetalError } from '../errors.ts';

/** A frame that breaks the wire format: bad header, oversize, malformed metadata or tensor table. Never retryable. */
export class ProtocolError extends PetalError {
  constructor(code: `PETAL_PROTOCOL_${string}`, message: string, detail: Record<string, unknown> = {}) {
    super(code, message, { detail, fix: 'the peer is not speaking Petal protocol v1 (or a bug corrupted a frame)' });
    this.name = 'ProtocolError';
  }
}
