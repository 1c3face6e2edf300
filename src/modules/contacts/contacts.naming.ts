/** Names of statuses, tags, services and traffic sources are stored Title Cased: "social media" → "Social Media". */
export function titleCase(name: string): string {
  return name
    .trim()
    .replace(/\s+/g, ' ')
    .toLowerCase()
    .replace(/(^|[\s\-/(])(\p{L})/gu, (_, separator: string, letter: string) => separator + letter.toUpperCase());
}

/** Tag names hold no "," or ";": CSV files list a contact's tags in one cell, separated by them. */
export const TAG_NAME = /^[^,;]*$/;
export const TAG_NAME_MESSAGE = 'must not contain "," or ";" (they separate tags in CSV files)';
