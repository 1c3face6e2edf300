import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FeatureKey } from './feature-catalog';
import { FEATURE_METADATA } from './feature.decorator';
import { FeatureDisabledError } from './features.errors';
import { FeaturesService } from './features.service';

/** Registered before every other guard: a switched-off module answers 404 to everyone. */
@Injectable()
export class FeatureGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly features: FeaturesService,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    const key = this.reflector.getAllAndOverride<FeatureKey | undefined>(FEATURE_METADATA, [context.getHandler(), context.getClass()]);
    if (key && !this.features.isEnabled(key)) throw new FeatureDisabledError(key);
    return true;
  }
}
