import { applyDecorators, SetMetadata } from '@nestjs/common';
import { ApiExtension } from '@nestjs/swagger';
import type { FeatureKey } from './feature-catalog';

export const FEATURE_METADATA = 'maestro:feature';
/** The OpenAPI extension that tells the served document which feature an operation belongs to. */
export const FEATURE_EXTENSION = 'x-feature';

/**
 * Puts a controller (or one route) behind a feature: when the feature is off its routes
 * answer 404 and vanish from the served OpenAPI document.
 */
export function RequiresFeature(key: FeatureKey) {
  return applyDecorators(SetMetadata(FEATURE_METADATA, key), ApiExtension(FEATURE_EXTENSION, key));
}
