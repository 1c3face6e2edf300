/** Names of statuses, tags, services and traffic sources are stored Title Cased: "social media" → "Social Media". */
export function titleCase(name: string): string {
  return name
    .trim()
    .replace(/\s+/g, ' ')
    .toLowerCase()
    .replace(/(^|[\s\-/(])(\p{L})/gu, (_, separator: string, letter: string) => separator + letter.toUpperCase());
}
