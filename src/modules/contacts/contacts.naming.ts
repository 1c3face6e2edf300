/** Names of statuses, tags, services and traffic sources are stored Title Cased: "social media" → "Social Media". */
export function titleCase(name: string): string {
  return name
    .trim()
    .replace(/\s+/g, ' ')
    .toLowerCase()
    .replace(/(^|[\s\-/(])(\p{L})/gu, (_, separator: string, letter: string) => separator + letter.toUpperCase());
}

/**
 * Names that CSV files list several to a cell (tags, services, multi-select options) hold no
 * "," or ";": those separate them, so an export re-imports whole.
 */
export const LIST_ITEM = /^[^,;]*$/;
export const listItemMessage = (what: string) => `must not contain "," or ";" (they separate ${what} in CSV files)`;
export const TAG_NAME = LIST_ITEM;
export const TAG_NAME_MESSAGE = listItemMessage('tags');
