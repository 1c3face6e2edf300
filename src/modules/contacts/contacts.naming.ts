/**
 * Names of statuses, tags, services and traffic sources are stored Title Cased: "social media" → "Social Media".
 * A first letter whose capital is several letters ("ß" → "SS") stays as it is: the name would
 * otherwise read differently and grow.
 */
export function titleCase(name: string): string {
  return (
    name
      // One form for one text: "é" typed as e + accent is the same name as "é".
      .normalize('NFC')
      .trim()
      .replace(/\s+/g, ' ')
      .toLowerCase()
      .replace(/(^|[\s\-/(])(\p{L})/gu, (_, separator: string, letter: string) => {
        const capital = letter.toUpperCase();
        return separator + ([...capital].length === 1 ? capital : letter);
      })
  );
}

/** The longest name a status, tag, service or traffic source may have, as stored. */
export const LOOKUP_NAME_MAX = 100;

/**
 * The name as stored, or why it cannot be: Title Casing can lengthen a name that passed the
 * request's length check ("İ" lower-cases to two characters). Counted in characters (code
 * points), as PostgreSQL's length() in the tables' CHECK counts them.
 */
export function storedLookupName(raw: string): { name: string; error?: string } {
  // Control and invisible formatting characters (zero-width spaces, direction overrides) make look-alike names.
  if (/[\p{Cc}\p{Cf}]/u.test(raw.replace(/\s+/g, ' '))) return { name: raw, error: 'must not contain control or invisible characters' };
  const name = titleCase(raw);
  const length = [...name].length;
  return length > LOOKUP_NAME_MAX ? { name, error: `is ${length} characters long once Title Cased; at most ${LOOKUP_NAME_MAX} are allowed` } : { name };
}

/**
 * Names that CSV files list several to a cell (tags, services, multi-select options) hold no
 * "," or ";": those separate them, so an export re-imports whole.
 */
export const LIST_ITEM = /^[^,;]*$/;
export const listItemMessage = (what: string) => `must not contain "," or ";" (they separate ${what} in CSV files)`;
export const TAG_NAME = LIST_ITEM;
export const TAG_NAME_MESSAGE = listItemMessage('tags');
