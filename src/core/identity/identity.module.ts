import { Global, Module } from '@nestjs/common';
import { AccountReferences } from './account-references';
import { IdentityService } from './identity.service';
import { RolesCache } from './roles-cache.service';

@Global()
@Module({ providers: [IdentityService, RolesCache, AccountReferences], exports: [IdentityService, RolesCache, AccountReferences] })
export class IdentityModule {}
