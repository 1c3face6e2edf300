import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Lookup names Title Cased before "İ" was read as the capital of a plain i hold "I" or "i"
 * followed by a combining dot: written again as names are Title Cased now ("İstanbul",
 * "Kim"). A name that would then equal another one, ignoring case, is left as it is rather
 * than merged: the two stay apart, as they were.
 */
export class DottedCapitalIStoredAsOneLetter1765210000000 implements MigrationInterface {
  name = 'DottedCapitalIStoredAsOneLetter1765210000000';

  async up(db: QueryRunner): Promise<void> {
    for (const table of ['contact_statuses', 'tags', 'services', 'traffic_sources']) {
      await db.query(`
        DO $$
        DECLARE
          entry record;
        BEGIN
          FOR entry IN SELECT id, name FROM ${table} WHERE name ~ '[Ii]\u0307' LOOP
            BEGIN
              UPDATE ${table} SET name = replace(replace(entry.name, 'I' || U&'\\0307', U&'\\0130'), 'i' || U&'\\0307', 'i')
                WHERE id = entry.id;
            EXCEPTION WHEN unique_violation THEN
              NULL;
            END;
          END LOOP;
        END $$;
      `);
    }
  }

  async down(): Promise<void> {
    // The old spelling was the same name, one character longer.
  }
}
