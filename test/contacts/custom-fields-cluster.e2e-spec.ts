import { register } from '../support/actors';
import { withTwoApps } from '../support/test-app';

/** Definitions are kept in memory by every API process; a change on one must reach the others at once. */
describe('a custom field changed on one API process', () => {
  it('is known to another process on the same database within a second, and forgotten when removed', async () => {
    await withTwoApps(async (first, second) => {
      const admin = await register(first, 'admin');
      const createOn = (app: typeof first, customFields: Record<string, unknown>) =>
        app.http.post('/api/v1/contacts').set(admin.auth).send({ firstName: 'Clustered', customFields });
      // The second process reads (and keeps) the definitions before the field exists.
      expect((await createOn(second, { shoe_size: 42 })).status).toBe(400);

      const field = (await first.http.post('/api/v1/custom-fields').set(admin.auth).send({ key: 'shoe_size', label: 'Shoe size', type: 'number' }).expect(201)).body;
      const untilStatus = async (expected: number, customFields: Record<string, unknown>) => {
        const started = Date.now();
        let status = 0;
        while (Date.now() - started < 1000) {
          status = (await createOn(second, customFields)).status;
          if (status === expected) break;
          await new Promise((resolve) => setTimeout(resolve, 25));
        }
        return { status, ms: Date.now() - started };
      };
      const known = await untilStatus(201, { shoe_size: 43 });
      expect(known.status).toBe(201);
      expect(known.ms).toBeLessThan(1000);

      await first.http.delete(`/api/v1/custom-fields/${field.id}`).set(admin.auth).expect(204);
      const forgotten = await untilStatus(400, { shoe_size: 44 });
      expect(forgotten.status).toBe(400);
      expect(forgotten.ms).toBeLessThan(1000);
    });
  });
});
