import { createHash, randomBytes } from 'node:crypto';

/** A random bearer secret and the hash that is stored in its place. */
export function newSecretToken(): { token: string; hash: string } {
  const token = randomBytes(32).toString('base64url');
  return { token, hash: hashSecretToken(token) };
}

/** SHA-256 is enough here: the tokens are 256 random bits, not guessable passwords. */
export function hashSecretToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}
