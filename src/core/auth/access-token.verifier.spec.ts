import { JwtService } from '@nestjs/jwt';
import type { AppConfig } from '../../config/app-config';
import { AccessTokenVerifier, bearerToken } from './access-token.verifier';

const SECRET = 'unit-secret-that-is-long-enough-for-hs256-signing';
const config = { auth: { jwtSecret: SECRET } } as AppConfig;

describe('bearerToken', () => {
  it('takes the token of a Bearer header, whatever the scheme case', () => {
    expect(bearerToken('Bearer abc.def.ghi')).toBe('abc.def.ghi');
    expect(bearerToken('bearer abc.def.ghi ')).toBe('abc.def.ghi');
  });

  it('finds nothing in other schemes, empty or repeated headers', () => {
    for (const header of [undefined, '', 'Bearer', 'Bearer ', 'Basic dXNlcjpwYXNz', 'Bearer a b', 'Bearerabc']) expect(bearerToken(header)).toBeNull();
    expect(bearerToken(['Bearer a', 'Bearer b'])).toBeNull();
  });
});

describe('AccessTokenVerifier', () => {
  const jwt = new JwtService({ secret: SECRET, signOptions: { algorithm: 'HS256' } });
  const sign = (payload: object, options: Parameters<JwtService['sign']>[1] = { expiresIn: 900 }) => jwt.sign(payload as Record<string, unknown>, options);

  afterEach(() => jest.useRealTimers());

  it('answers the claims of a valid token', () => {
    expect(new AccessTokenVerifier(jwt, config).verify(sign({ sub: 'user-1', tv: 3 }))).toEqual({ sub: 'user-1', tv: 3 });
  });

  it('refuses other secrets, tampering, alg none, missing claims and expired tokens', () => {
    const verifier = new AccessTokenVerifier(jwt, config);
    const other = new JwtService({ secret: 'another-secret-that-is-long-enough-for-hs256' }).sign({ sub: 'user-1', tv: 0 }, { expiresIn: 900 });
    const valid = sign({ sub: 'user-1', tv: 0 });
    const [header, , signature] = valid.split('.');
    const forgedBody = Buffer.from(JSON.stringify({ sub: 'admin', tv: 0, exp: Math.floor(Date.now() / 1000) + 900 })).toString('base64url');
    const none = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${forgedBody}.`;
    for (const token of [
      other,
      `${header}.${forgedBody}.${signature}`,
      none,
      'not-a-jwt',
      sign({ sub: 'user-1' }),
      sign({ sub: 42, tv: 0 }),
      sign({ sub: 'user-1', tv: 0 }, {}),
      sign({ sub: 'user-1', tv: 0, exp: Math.floor(Date.now() / 1000) - 10 }, {}),
    ]) {
      expect(verifier.verify(token)).toBeNull();
    }
  });

  it('checks a token once, then remembers it until it expires, not after', () => {
    jest.useFakeTimers({ now: new Date('2026-11-21T10:00:00Z') });
    const spy = jest.spyOn(jwt, 'verify');
    const verifier = new AccessTokenVerifier(jwt, config);
    const token = sign({ sub: 'user-1', tv: 0 }, { expiresIn: 60 });
    for (let i = 0; i < 5; i += 1) expect(verifier.verify(token)).toEqual({ sub: 'user-1', tv: 0 });
    expect(spy).toHaveBeenCalledTimes(1);

    jest.advanceTimersByTime(61_000);
    expect(verifier.verify(token)).toBeNull();
    expect(spy).toHaveBeenCalledTimes(2);
    spy.mockRestore();
  });
});
