export * from './feature-catalog';
export * from './feature.decorator';
export * from './feature.guard';
export * from './features.errors';
export * from './features.module';
export * from './features.service';
