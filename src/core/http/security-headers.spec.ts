import { securityHeaders } from './security-headers';

describe('securityHeaders', () => {
  it("works out helmet's headers once, lower-cased, without the ones switched off", () => {
    const headers = securityHeaders({ contentSecurityPolicy: false });
    expect(headers).toMatchObject({ 'x-content-type-options': 'nosniff', 'x-frame-options': 'SAMEORIGIN', 'referrer-policy': 'no-referrer' });
    expect(headers).not.toHaveProperty('content-security-policy');
    for (const name of Object.keys(headers)) expect(name).toBe(name.toLowerCase());
  });

  it('follows the options given', () => {
    expect(securityHeaders({ contentSecurityPolicy: false, frameguard: { action: 'deny' } })['x-frame-options']).toBe('DENY');
    expect(securityHeaders({})['content-security-policy']).toContain("default-src 'self'");
    expect(securityHeaders({ contentSecurityPolicy: false, xFrameOptions: false })).not.toHaveProperty('x-frame-options');
  });
});
