import type { EntityManager } from 'typeorm';
import { AccountReferences } from './account-references';

describe('AccountReferences', () => {
  const manager = {} as EntityManager;

  it('holds every kind for the account, in name order whatever the order registered', async () => {
    const references = new AccountReferences();
    const held: string[] = [];
    for (const kind of ['segments', 'contact_imports', 'mappings']) {
      references.register(kind, async (given, userId) => {
        expect(given).toBe(manager);
        held.push(`${kind}:${userId}`);
      });
    }
    await references.hold(manager, 'u1');
    expect(held).toEqual(['contact_imports:u1', 'mappings:u1', 'segments:u1']);
  });

  it('takes one kind after another, never two at once', async () => {
    const references = new AccountReferences();
    const events: string[] = [];
    references.register('a', async () => {
      events.push('a started');
      await new Promise((resolve) => setTimeout(resolve, 5));
      events.push('a done');
    });
    references.register('b', async () => {
      events.push('b started');
    });
    await references.hold(manager, 'u1');
    expect(events).toEqual(['a started', 'a done', 'b started']);
  });

  it('refuses a kind registered twice', () => {
    const references = new AccountReferences();
    references.register('segments', async () => undefined);
    expect(() => references.register('segments', async () => undefined)).toThrow('registered twice');
  });
});
