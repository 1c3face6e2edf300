import { CanActivate, ExecutionContext, ForbiddenException, Injectable } from '@nestjs/common';
import { buildAbility } from '../../core/access/app-ability';
import type { AuthorizedRequest } from '../../core/access/policies.guard';
import { hasWholeRight } from '../../core/access/record-access';

/** What an import does to contacts: finds them by email, creates and updates them. */
const IMPORT_RIGHTS = ['read', 'create', 'update'];

/**
 * Imports write contacts set-based, a chunk at a time, without weighing each row against the
 * importer's rules: only a role whose rules reach every contact, whole, may run them. A role
 * limited to some contacts or fields would otherwise overwrite (or learn of) the others.
 */
@Injectable()
export class WholeContactRightsGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const ability = context.switchToHttp().getRequest<AuthorizedRequest>().ability ?? buildAbility([]);
    // An import finds contacts by email and never changes it: a rule keeping some emails from edits does not limit it.
    const limited = IMPORT_RIGHTS.filter((action) => !hasWholeRight(ability, action, 'Contact', action === 'update' ? ['email'] : []));
    if (limited.length) {
      throw new ForbiddenException({
        message: `Imports need ${limited.join(', ')} rights on every contact; your role limits them to some contacts or fields`,
        code: 'forbidden',
      });
    }
    return true;
  }
}
