import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Names are now refused when they hold control or invisible formatting characters; names stored
 * before are written as they would be accepted now, so that a form sending a record back
 * unchanged is not refused for a character nobody can see:
 *
 * - people's names (contacts, their accounts, pending sign-ups): a line break, tab or other
 *   control character becomes a space; invisible formatting characters (zero-width spaces,
 *   direction overrides) go, except the zero-width (non-)joiners Persian and Indic names use;
 * - segment names, role names, custom field labels and saved mapping names: control and
 *   formatting characters that are not white space go.
 *
 * A name that would be left empty, or (where names are unique) equal another one, stays as it
 * is: nothing is merged or blanked. Contacts whose names change get a new version, as any edit
 * gives them, so clients holding the old one learn of it.
 */
export class NamesWithoutInvisibleCharacters1765310000000 implements MigrationInterface {
  name = 'NamesWithoutInvisibleCharacters1765310000000';

  async up(db: QueryRunner): Promise<void> {
    // Worked out from the same Unicode categories the API's checks use (\p{Cc}, \p{Cf}).
    const lineBreaks = characterClass((char) => /[\p{Cc}\u2028\u2029]/u.test(char));
    const invisible = characterClass((char) => /\p{Cf}/u.test(char) && char !== '\u200c' && char !== '\u200d');
    const personName = (column: string) => `btrim(regexp_replace(regexp_replace(${column}, '${lineBreaks}+', ' ', 'g'), '${invisible}', '', 'g'))`;
    const needsCleaning = (column: string) => `(${column} ~ '${lineBreaks}' OR ${column} ~ '${invisible}')`;

    // An account follows its contact's names (contacts_sync_user), so accounts are written here too.
    await db.query(`
      UPDATE contacts c SET
          first_name = CASE WHEN cleaned.first_name <> '' THEN cleaned.first_name ELSE c.first_name END,
          last_name = cleaned.last_name, version = c.version + 1, updated_at = now()
        FROM (SELECT id, ${personName('first_name')} AS first_name, ${personName('last_name')} AS last_name
                FROM contacts WHERE ${needsCleaning('first_name')} OR ${needsCleaning('last_name')}) cleaned
       WHERE c.id = cleaned.id AND (c.first_name, c.last_name) IS DISTINCT FROM (CASE WHEN cleaned.first_name <> '' THEN cleaned.first_name ELSE c.first_name END, cleaned.last_name)
    `);
    await db.query(`
      UPDATE sign_up_requests r SET
          first_name = CASE WHEN cleaned.first_name <> '' THEN cleaned.first_name ELSE r.first_name END,
          last_name = cleaned.last_name
        FROM (SELECT id, ${personName('first_name')} AS first_name, ${personName('last_name')} AS last_name
                FROM sign_up_requests WHERE ${needsCleaning('first_name')} OR ${needsCleaning('last_name')}) cleaned
       WHERE r.id = cleaned.id
    `);

    const hidden = characterClass((char) => /[\p{Cc}\p{Cf}]/u.test(char) && !/\s/u.test(char));
    const visibleText = (column: string) => `btrim(regexp_replace(${column}, '${hidden}', '', 'g'))`;
    await db.query(`
      UPDATE custom_fields SET label = ${visibleText('label')}, updated_at = now()
       WHERE label ~ '${hidden}' AND ${visibleText('label')} <> ''
    `);
    // Unique names: one that would equal another is left, row by row.
    for (const [table, alsoSet] of [['segments', ', updated_at = now()'], ['roles', ', updated_at = now()'], ['contact_import_mappings', '']]) {
      await db.query(`
        DO $$
        DECLARE
          entry record;
        BEGIN
          FOR entry IN SELECT id, ${visibleText('name')} AS name FROM ${table} WHERE name ~ '${hidden}' LOOP
            CONTINUE WHEN entry.name = '';
            BEGIN
              UPDATE ${table} SET name = entry.name${alsoSet} WHERE id = entry.id;
            EXCEPTION WHEN unique_violation THEN
              NULL;
            END;
          END LOOP;
        END $$;
      `);
    }
  }

  async down(): Promise<void> {
    // The characters removed were invisible, and are not kept.
  }
}

/** A regular-expression bracket expression (PostgreSQL's syntax) of the code points `test` takes. */
function characterClass(test: (char: string) => boolean): string {
  const ranges: Array<[number, number]> = [];
  // From 1: text in PostgreSQL cannot hold U+0000. Surrogates are not characters on their own.
  for (let code = 1; code <= 0x10ffff; code += 1) {
    if (code >= 0xd800 && code <= 0xdfff) continue;
    if (!test(String.fromCodePoint(code))) continue;
    const last = ranges.at(-1);
    if (last && last[1] === code - 1) last[1] = code;
    else ranges.push([code, code]);
  }
  const escape = (code: number) => (code > 0xffff ? `\\U${code.toString(16).padStart(8, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`);
  return `[${ranges.map(([from, to]) => (from === to ? escape(from) : `${escape(from)}-${escape(to)}`)).join('')}]`;
}
