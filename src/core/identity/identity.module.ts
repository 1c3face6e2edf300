import { Global, Module } from '@nestjs/common';
import { IdentityService } from './identity.service';
import { RolesCache } from './roles-cache.service';

@Global()
@Module({ providers: [IdentityService, RolesCache], exports: [IdentityService, RolesCache] })
export class IdentityModule {}
