import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Role names are now refused when they hold control or invisible formatting characters that are
 * not white space, as segment names are; names stored before lose them, so that a form sending a
 * role back unchanged is not refused for a character nobody can see. A name that would be left
 * empty, or equal another role's (names are unique regardless of case), stays as it is.
 */
export class RoleNamesWithoutInvisibleCharacters1765315000000 implements MigrationInterface {
  name = 'RoleNamesWithoutInvisibleCharacters1765315000000';

  async up(db: QueryRunner): Promise<void> {
    // Worked out from the same Unicode categories the API's check uses (\p{Cc}, \p{Cf}).
    const hidden = characterClass((char) => /[\p{Cc}\p{Cf}]/u.test(char) && !/\s/u.test(char));
    const visibleText = (column: string) => `btrim(regexp_replace(${column}, '${hidden}', '', 'g'))`;
    await db.query(`
      DO $$
      DECLARE
        entry record;
      BEGIN
        FOR entry IN SELECT id, ${visibleText('name')} AS name FROM roles WHERE name ~ '${hidden}' LOOP
          CONTINUE WHEN entry.name = '';
          BEGIN
            UPDATE roles SET name = entry.name, updated_at = now() WHERE id = entry.id;
          EXCEPTION WHEN unique_violation THEN
            NULL;
          END;
        END LOOP;
      END $$;
    `);
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
