import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { FEATURE_KEYS, FeatureKey, isFeatureKey } from './feature-catalog';

/**
 * Deployment defaults, applied only to features that have no row yet.
 * `config/features.json` holds `{ "<key>": true|false }`; `FEATURES=a,b,-c` then turns
 * the listed keys on and the `-` prefixed ones off.
 */
export function resolveFeatureDefaults(file: string, envList: string | undefined): Record<FeatureKey, boolean> {
  const defaults = Object.fromEntries(FEATURE_KEYS.map((key) => [key, false])) as Record<FeatureKey, boolean>;
  const path = resolve(file);
  if (existsSync(path)) {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    for (const [key, value] of Object.entries(parsed)) {
      if (!isFeatureKey(key)) throw new Error(`${file}: unknown feature key "${key}" (known: ${FEATURE_KEYS.join(', ')})`);
      if (typeof value !== 'boolean') throw new Error(`${file}: "${key}" must be true or false`);
      defaults[key] = value;
    }
  }
  for (const raw of (envList ?? '').split(',').map((item) => item.trim()).filter(Boolean)) {
    const disable = raw.startsWith('-');
    const key = disable ? raw.slice(1) : raw;
    if (!isFeatureKey(key)) throw new Error(`FEATURES names an unknown feature "${key}" (known: ${FEATURE_KEYS.join(', ')})`);
    defaults[key] = !disable;
  }
  return defaults;
}
