import { ConflictException, NotFoundException } from '@nestjs/common';
import { FEATURE_CATALOG, FeatureKey } from './feature-catalog';

export class FeatureDisabledError extends NotFoundException {
  constructor(key: FeatureKey) {
    super({ message: `The "${key}" feature is switched off in this deployment`, code: 'feature_disabled', feature: key });
  }
}

export class UnknownFeatureError extends NotFoundException {
  constructor(key: string) {
    super({ message: `There is no feature "${key}"`, code: 'unknown_feature' });
  }
}

export class FeatureDependencyError extends ConflictException {
  constructor(key: FeatureKey, other: FeatureKey, direction: 'requires' | 'required-by') {
    super({
      message:
        direction === 'requires'
          ? `"${key}" cannot be enabled while "${other}" (${FEATURE_CATALOG[other].title}) is off; enable "${other}" first`
          : `"${key}" cannot be disabled while "${other}" (${FEATURE_CATALOG[other].title}), which needs it, is on; disable "${other}" first`,
      code: direction === 'requires' ? 'feature_dependency_off' : 'feature_needed_by_other',
      feature: other,
    });
  }
}
