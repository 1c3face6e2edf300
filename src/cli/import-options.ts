import type { ImportMode } from '../modules/contacts/dto/import.dto';

/** What each of the service's modes does, in the words the help and the mapping summary use. */
export const MODES: Record<ImportMode, string> = {
  create: 'create new contacts only; rows whose email already exists are skipped',
  upsert: 'create or update: existing contacts (matched by email) are updated, the others created',
  update: 'update existing contacts only (matched by email); other rows are skipped',
};

/** Spellings accepted for --mode, mapped to the service's modes. */
export const MODE_WORDS: Record<string, ImportMode> = {
  create: 'create',
  'create-only': 'create',
  upsert: 'upsert',
  'create-or-update': 'upsert',
  update: 'update',
  'update-only': 'update',
};

/** What the import command was asked to do, checked before anything is loaded. */
export interface ImportOptions {
  file?: string;
  resume?: string;
  mode?: ImportMode;
  mapping?: string;
  overrides: Array<{ header: string; target: string; raw: string }>;
  dryRun: boolean;
  as?: string;
  rejected?: string;
  yes: boolean;
  progressEveryMs: number;
}
