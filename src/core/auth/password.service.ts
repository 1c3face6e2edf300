import { Injectable } from '@nestjs/common';
import * as argon2 from 'argon2';

/** Argon2id with the library's defaults (OWASP-aligned: 64 MiB, 3 passes). */
@Injectable()
export class PasswordService {
  // Verified against when the account does not exist, so both paths take the same time.
  private readonly decoy = argon2.hash('not-a-real-password-decoy', { type: argon2.argon2id });

  hash(password: string): Promise<string> {
    return argon2.hash(password, { type: argon2.argon2id });
  }

  async verify(hash: string | null | undefined, password: string): Promise<boolean> {
    if (!hash) {
      await argon2.verify(await this.decoy, password).catch(() => false);
      return false;
    }
    return argon2.verify(hash, password).catch(() => false);
  }
}
