import type { ContactPreferencesDto, PreferredChannel, UpdateContactPreferencesDto } from './dto/contact-preferences.dto';

/** The preferences as stored on the contact (`preferences` jsonb): keys without a value are left out. */
export interface ContactPreferences {
  language?: string;
  preferredChannel?: PreferredChannel;
  newsletter?: boolean;
}

const PREFERENCE_KEYS = ['language', 'preferredChannel', 'newsletter'] as const;

/** The stored preferences with the sent keys applied; null removes a key. */
export function mergePreferences(stored: ContactPreferences, patch: UpdateContactPreferencesDto): ContactPreferences {
  const merged: Record<string, unknown> = {};
  for (const key of PREFERENCE_KEYS) {
    const value = patch[key] === undefined ? stored[key] : patch[key];
    if (value !== null && value !== undefined) merged[key] = value;
  }
  return merged as ContactPreferences;
}

export function samePreferences(a: ContactPreferences, b: ContactPreferences): boolean {
  return PREFERENCE_KEYS.every((key) => (a[key] ?? null) === (b[key] ?? null)) && Object.keys(b).every((key) => (PREFERENCE_KEYS as readonly string[]).includes(key));
}

export function toPreferencesDto(stored: ContactPreferences): ContactPreferencesDto {
  return { language: stored.language ?? null, preferredChannel: stored.preferredChannel ?? null, newsletter: stored.newsletter ?? null };
}
