import { VISIBLE_TEXT, VISIBLE_TEXT_MESSAGE } from '../../core/http/formats';

/**
 * Names of statuses, tags, services and traffic sources are stored Title Cased: "social media" → "Social Media".
 * A first letter whose capital is several letters ("ß" → "SS") stays as it is: the name would
 * otherwise read differently and grow. "İ" is the capital of a plain "i", as in the languages
 * that write it ("İSTANBUL" → "İstanbul", "KİM" → "Kim"): lower-cased by Unicode's default it
 * would become i and a combining dot, one character longer and matched apart by PostgreSQL's
 * lower().
 */
export function titleCase(name: string): string {
  // One form for one text: "é" typed as e + accent is the same name as "é".
  const text = name.normalize('NFC').trim().replace(/\s+/g, ' ');
  // Past "İ", lower-casing keeps every character's length, so offsets in `lower` are offsets in `text`.
  const lower = text.replace(/İ/g, 'i').toLowerCase();
  return lower
    .replace(/(^|[\s\-/(])(\p{L})/gu, (_, separator: string, letter: string, offset: number) => {
      if (text.startsWith('İ', offset + separator.length)) return `${separator}İ`;
      const capital = letter.toUpperCase();
      return separator + ([...capital].length === 1 ? capital : letter);
    })
    .normalize('NFC');
}

/**
 * A stored name as its list's unique key reads it (PostgreSQL's lower()), where JavaScript's
 * toLowerCase() differs: it turns "İ" into i and a combining dot, PostgreSQL into a plain i.
 */
export function nameKey(name: string): string {
  return name.replace(/İ/g, 'i').toLowerCase();
}

/** The longest name a status, tag, service or traffic source may have, as stored. */
export const LOOKUP_NAME_MAX = 100;

/**
 * The name as stored, or why it cannot be: an import's cells have no length check of their
 * own. Counted in characters (code points), as PostgreSQL's length() in the tables' CHECK
 * counts them.
 */
export function storedLookupName(raw: string): { name: string; error?: string } {
  if (!VISIBLE_TEXT.test(raw)) return { name: raw, error: VISIBLE_TEXT_MESSAGE };
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
