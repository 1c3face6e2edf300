import { PortalSectionProvider, PortalSectionsRegistry } from './portal-sections';

const provider = (key: string, feature: PortalSectionProvider['feature'] = 'invoicing'): PortalSectionProvider => ({
  feature,
  key,
  load: async () => ({ title: key, openCount: 0, data: {} }),
});

describe('PortalSectionsRegistry', () => {
  it('lists registered providers in key order, whatever the order they came in', () => {
    const registry = new PortalSectionsRegistry();
    registry.register(provider('visits', 'visitors'));
    registry.register(provider('invoices'));
    expect(registry.all().map((p) => p.key)).toEqual(['invoices', 'visits']);
  });

  it('refuses a second provider for the same key', () => {
    const registry = new PortalSectionsRegistry();
    registry.register(provider('invoices'));
    expect(() => registry.register(provider('invoices', 'visitors'))).toThrow('A portal section "invoices" is already registered');
    expect(registry.all()).toHaveLength(1);
  });

  it('refuses features that have no portal section and keys a front end could not rely on', () => {
    const registry = new PortalSectionsRegistry();
    expect(() => registry.register(provider('stock', 'inventory' as never))).toThrow(/invoicing or visitors/);
    expect(() => registry.register(provider('Not A Key'))).toThrow(/Invalid portal section key/);
    expect(registry.all()).toEqual([]);
  });

  it('removes a provider through the function register returns, and only that one', () => {
    const registry = new PortalSectionsRegistry();
    const first = provider('invoices');
    const remove = registry.register(first);
    remove();
    expect(registry.all()).toEqual([]);
    const second = provider('invoices');
    registry.register(second);
    // A stale remover must not take out the provider registered after it.
    remove();
    expect(registry.all()).toEqual([second]);
  });
});
