import { CanActivate, ExecutionContext, ForbiddenException, Injectable } from '@nestjs/common';
import { buildAbility } from '../../core/access/app-ability';
import type { AuthorizedRequest } from '../../core/access/policies.guard';
import { hasWholeRight } from '../../core/access/record-access';

/** What an import does to contacts: finds them by email, creates and updates them, assigns them. */
const IMPORT_RIGHTS = ['read', 'create', 'update', 'assign'];

/** What it gives them by name: any status, traffic source, tag or service, tags it lacks created. */
const LOOKUP_RIGHTS: Array<[action: string, subject: string, label: string]> = [
  ['read', 'ContactStatus', 'read every status'],
  ['read', 'TrafficSource', 'read every traffic source'],
  ['read', 'Tag', 'read every tag'],
  ['create', 'Tag', 'create tags'],
  ['read', 'Service', 'read every service'],
];

/**
 * Imports write contacts set-based, a chunk at a time, without weighing each row against the
 * importer's rules: only a role whose rules reach every contact, whole, may run them. A role
 * limited to some contacts or fields would otherwise overwrite (or learn of) the others; one
 * limited to some tags or statuses would give contacts the ones its rules hide.
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
    const missing = LOOKUP_RIGHTS.filter(([action, subject]) => !hasWholeRight(ability, action, subject)).map(([, , label]) => label);
    if (missing.length) {
      throw new ForbiddenException({
        message: `Imports name statuses, traffic sources, tags and services as they go; they need the rights to ${missing.join(', ')}, which your role limits`,
        code: 'forbidden',
      });
    }
    return true;
  }
}

/**
 * Reverting removes the contacts an import created for good (they skip the trash): only a role
 * that may delete every contact may do it.
 */
@Injectable()
export class WholeContactDeleteGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const ability = context.switchToHttp().getRequest<AuthorizedRequest>().ability ?? buildAbility([]);
    if (!hasWholeRight(ability, 'delete', 'Contact')) {
      throw new ForbiddenException({
        message: 'Reverting an import removes the contacts it created for good: it needs the delete right on every contact, which your role limits',
        code: 'forbidden',
      });
    }
    return true;
  }
}
