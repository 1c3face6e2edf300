import { Injectable } from '@nestjs/common';
import { ThrottlerGuard } from '@nestjs/throttler';

/**
 * Throttles sign-in and reset requests per client address and per address + email, so
 * one attacker cannot hammer one account nor spray many.
 */
@Injectable()
export class AuthThrottlerGuard extends ThrottlerGuard {
  protected override async getTracker(request: Record<string, unknown>): Promise<string> {
    const body = request.body as { email?: unknown } | undefined;
    const email = typeof body?.email === 'string' ? body.email.trim().toLowerCase() : '';
    return `${String(request.ip)}|${email}`;
  }

  protected override async getErrorMessage(): Promise<string> {
    return 'Too many attempts; wait a little and try again';
  }
}
