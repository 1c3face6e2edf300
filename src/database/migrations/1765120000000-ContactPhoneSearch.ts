import { MigrationInterface, QueryRunner } from 'typeorm';

const VECTOR = (phone: string) => `
  to_tsvector('simple',
    coalesce(first_name, '') || ' ' || coalesce(last_name, '') || ' ' || coalesce(email, '') || ' ' ||
    ${phone} || ' ' || coalesce(company, ''))`;

/**
 * A contact is found by its phone number however the number is typed: the search column keeps,
 * besides the number as before (digits and +), its digits from the start of each group it was
 * written in. "+54 258 2517464" is found by "+54 258 2517464", "2582517464" (without the
 * country code) and "2517464" (its last group), each also as a prefix. Names, email and
 * company are indexed exactly as before.
 */
export class ContactPhoneSearch1765120000000 implements MigrationInterface {
  name = 'ContactPhoneSearch1765120000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE FUNCTION contact_phone_search_terms(phone text) RETURNS text
        LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
        RETURN regexp_replace(phone, '[^0-9+]', '', 'g') || ' ' || coalesce((
          SELECT string_agg(array_to_string(g.groups[i:], ''), ' ' ORDER BY i)
            FROM (SELECT regexp_split_to_array(btrim(regexp_replace(phone, '[^0-9]+', ' ', 'g')), ' ') AS groups) g,
                 generate_subscripts(g.groups, 1) AS i), '');

      ALTER TABLE contacts DROP COLUMN search;
      ALTER TABLE contacts ADD COLUMN search tsvector GENERATED ALWAYS AS (${VECTOR(`coalesce(contact_phone_search_terms(phone), '')`)}) STORED;
      CREATE INDEX contacts_search_idx ON contacts USING gin (search);
    `);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`
      ALTER TABLE contacts DROP COLUMN search;
      ALTER TABLE contacts ADD COLUMN search tsvector GENERATED ALWAYS AS (${VECTOR(`coalesce(regexp_replace(phone, '[^0-9+]', '', 'g'), '')`)}) STORED;
      CREATE INDEX contacts_search_idx ON contacts USING gin (search);
      DROP FUNCTION contact_phone_search_terms(text);
    `);
  }
}
