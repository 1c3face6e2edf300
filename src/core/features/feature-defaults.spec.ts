import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveFeatureDefaults } from './feature-defaults';
import { dependentsOf, FEATURE_CATALOG, FEATURE_KEYS, FeatureKey, isFeatureKey } from './feature-catalog';

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'maestro-features-'));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

let fileCount = 0;
function featuresFile(content: unknown): string {
  const path = join(dir, `features-${++fileCount}.json`);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

const allOff = () => Object.fromEntries(FEATURE_KEYS.map((key) => [key, false])) as Record<FeatureKey, boolean>;
const missingFile = () => join(dir, 'does-not-exist.json');

describe('resolveFeatureDefaults', () => {
  it('turns everything off without a file or FEATURES', () => {
    expect(resolveFeatureDefaults(missingFile(), undefined)).toEqual(allOff());
    expect(resolveFeatureDefaults(missingFile(), '')).toEqual(allOff());
  });

  it('returns a value for every catalogue key', () => {
    expect(Object.keys(resolveFeatureDefaults(missingFile(), undefined)).sort()).toEqual([...FEATURE_KEYS].sort());
  });

  it('reads the file; keys it leaves out stay off', () => {
    const file = featuresFile({ contacts: true, segments: true, users: false });
    expect(resolveFeatureDefaults(file, undefined)).toEqual({ ...allOff(), contacts: true, segments: true });
  });

  it('FEATURES turns listed keys on and -prefixed keys off, over the file', () => {
    const file = featuresFile({ users: true, contacts: true, inventory: true });
    expect(resolveFeatureDefaults(file, 'segments,visitors,-inventory')).toEqual({
      ...allOff(),
      users: true,
      contacts: true,
      segments: true,
      visitors: true,
      inventory: false,
    });
  });

  it('FEATURES alone works without a file', () => {
    expect(resolveFeatureDefaults(missingFile(), 'contacts,client-portal')).toEqual({ ...allOff(), contacts: true, 'client-portal': true });
  });

  it('tolerates spaces and empty items in FEATURES', () => {
    expect(resolveFeatureDefaults(missingFile(), ' contacts , ,-users,  dashboard ,')).toEqual({ ...allOff(), contacts: true, dashboard: true });
  });

  it('a later FEATURES item wins over an earlier one', () => {
    expect(resolveFeatureDefaults(missingFile(), 'contacts,-contacts').contacts).toBe(false);
    expect(resolveFeatureDefaults(missingFile(), '-contacts,contacts').contacts).toBe(true);
  });

  it('an unknown key in the file throws, naming the file, the key and the known keys', () => {
    const file = featuresFile({ contacts: true, crm: true });
    expect(() => resolveFeatureDefaults(file, undefined)).toThrow(`${file}: unknown feature key "crm"`);
    expect(() => resolveFeatureDefaults(file, undefined)).toThrow(/known: users, contacts, .*visitors/);
  });

  it('a value in the file that is not a boolean throws', () => {
    const file = featuresFile({ contacts: 'yes' });
    expect(() => resolveFeatureDefaults(file, undefined)).toThrow(`${file}: "contacts" must be true or false`);
  });

  it('an unknown key in FEATURES throws, also when prefixed with -', () => {
    expect(() => resolveFeatureDefaults(missingFile(), 'contacts,crm')).toThrow('FEATURES names an unknown feature "crm"');
    expect(() => resolveFeatureDefaults(missingFile(), '-crm')).toThrow('FEATURES names an unknown feature "crm"');
    expect(() => resolveFeatureDefaults(missingFile(), 'Contacts')).toThrow(/unknown feature "Contacts" \(known: users, contacts/);
  });

  it("the repository's config/features.json is valid", () => {
    const defaults = resolveFeatureDefaults(join(__dirname, '../../../config/features.json'), undefined);
    expect(Object.keys(defaults).sort()).toEqual([...FEATURE_KEYS].sort());
    for (const key of FEATURE_KEYS) {
      if (defaults[key]) for (const required of FEATURE_CATALOG[key].requires) expect({ key, required, on: defaults[required] }).toEqual({ key, required, on: true });
    }
  });
});

describe('FEATURE_CATALOG', () => {
  it('has exactly one entry per key, under its own key', () => {
    expect(Object.keys(FEATURE_CATALOG).sort()).toEqual([...FEATURE_KEYS].sort());
    expect(new Set(FEATURE_KEYS).size).toBe(FEATURE_KEYS.length);
    for (const key of FEATURE_KEYS) {
      expect(FEATURE_CATALOG[key].key).toBe(key);
      expect(FEATURE_CATALOG[key].title.length).toBeGreaterThan(0);
    }
  });

  it('every requires names a known key other than itself', () => {
    for (const key of FEATURE_KEYS) {
      for (const required of FEATURE_CATALOG[key].requires) {
        expect({ key, required, known: isFeatureKey(required), self: required === key }).toEqual({ key, required, known: true, self: false });
      }
    }
  });

  it('has no dependency cycles', () => {
    const state = new Map<FeatureKey, 'visiting' | 'done'>();
    const cycles: string[] = [];
    const visit = (key: FeatureKey, path: FeatureKey[]) => {
      if (state.get(key) === 'done') return;
      if (state.get(key) === 'visiting') {
        cycles.push([...path, key].join(' -> '));
        return;
      }
      state.set(key, 'visiting');
      for (const required of FEATURE_CATALOG[key].requires) visit(required, [...path, key]);
      state.set(key, 'done');
    };
    for (const key of FEATURE_KEYS) visit(key, []);
    expect(cycles).toEqual([]);
  });

  it('the modules that depend on contacts', () => {
    expect(dependentsOf('contacts').sort()).toEqual(['client-portal', 'dashboard', 'invoicing', 'segments']);
    expect(dependentsOf('inventory')).toEqual([]);
  });

  it('dependentsOf is the exact inverse of requires', () => {
    for (const key of FEATURE_KEYS) {
      const expected = FEATURE_KEYS.filter((other) => FEATURE_CATALOG[other].requires.includes(key));
      expect(dependentsOf(key).sort()).toEqual([...expected].sort());
      for (const dependent of dependentsOf(key)) expect(FEATURE_CATALOG[dependent].requires).toContain(key);
    }
  });

  it('isFeatureKey accepts the catalogue keys only', () => {
    for (const key of FEATURE_KEYS) expect(isFeatureKey(key)).toBe(true);
    expect(isFeatureKey('core')).toBe(false);
    expect(isFeatureKey('')).toBe(false);
    expect(isFeatureKey('toString')).toBe(false);
  });
});
