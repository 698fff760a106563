// The per-cluster token both sides prove they hold. It never crosses the wire: the handshake sends HMACs of nonces.
import { randomBytes } from 'node:crypto';
import { TransportError } from './errors.ts';

/** Fewest bytes a token may have: 128 bits. */
export const MIN_TOKEN_BYTES = 16;

/** A fresh random cluster token (32 bytes, base64url), for the coordinator to hand to every task it starts. */
export function createClusterToken(): string {
  return randomBytes(32).toString('base64url');
}

/** The token as HMAC key bytes; throws PETAL_TRANSPORT_OPTIONS when it is missing or too short to be secret. */
export function tokenKey(token: unknown, path: string): Buffer {
  const key =
    typeof token === 'string'
      ? Buffer.from(token, 'utf8')
      : token instanceof Uint8Array
        ? Buffer.from(token)
        : undefined;
  if (!key || key.length < MIN_TOKEN_BYTES) {
    throw new TransportError(
      'PETAL_TRANSPORT_OPTIONS',
      `${path}.token must be a string or bytes of ≥ ${MIN_TOKEN_BYTES} bytes`,
      {
        fix: 'pass the cluster token from createClusterToken() (the coordinator gives it to every task)',
      },
    );
  }
  return key;
}
