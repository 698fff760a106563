import { PetalError } from '../errors.ts';

/** Connection-level failures: refused handshakes, timeouts, closed connections, errors answered by the peer. */
export class TransportError extends PetalError {
  constructor(
    code: `PETAL_${string}`,
    message: string,
    options: { fix?: string; retryable?: boolean; cause?: unknown; detail?: Record<string, unknown> } = {},
  ) {
    super(code, message, options);
    this.name = 'TransportError';
  }
}

/** The connection closed (by either side) before the operation finished; retrying on a new connection may help. */
export function closedError(detail: string, cause?: unknown): TransportError {
  return new TransportError('PETAL_TRANSPORT_CLOSED', `connection closed: ${detail}`, { retryable: true, cause });
}
