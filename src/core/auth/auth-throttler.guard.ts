import { ExecutionContext, Injectable } from '@nestjs/common';
import { ThrottlerGuard } from '@nestjs/throttler';

/** Throttlers whose name ends in this count attempts per email alone, from any address. */
export const PER_ACCOUNT_SUFFIX = '-account';

/**
 * Throttles sign-in and reset requests twice: per client address + email (one client
 * hammering one account) and per email alone with a larger budget (many addresses, one
 * account).
 */
@Injectable()
export class AuthThrottlerGuard extends ThrottlerGuard {
  protected override async getTracker(request: Record<string, unknown>): Promise<string> {
    return `${String(request.ip)}|${emailOf(request)}`;
  }

  protected override generateKey(context: ExecutionContext, tracker: string, throttlerName: string): string {
    if (throttlerName.endsWith(PER_ACCOUNT_SUFFIX)) {
      return super.generateKey(context, `account|${emailOf(context.switchToHttp().getRequest())}`, throttlerName);
    }
    return super.generateKey(context, tracker, throttlerName);
  }

  protected override async getErrorMessage(): Promise<string> {
    return 'Too many attempts; wait a little and try again';
  }
}

function emailOf(request: Record<string, unknown>): string {
  const body = request.body as { email?: unknown } | undefined;
  return typeof body?.email === 'string' ? body.email.trim().toLowerCase() : '';
}
