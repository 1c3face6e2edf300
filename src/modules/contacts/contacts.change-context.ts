import type { EntityManager } from 'typeorm';

/** `revert` undoes an import: its changes put back what was, and convert nobody. */
export const CHANGE_SOURCES = ['api', 'bulk', 'import', 'revert', 'registration', 'account', 'lookup'] as const;
export type ChangeSource = (typeof CHANGE_SOURCES)[number];

/**
 * Tells the database triggers (status history) who is changing contacts and through what,
 * for the rest of the current transaction; an import's changes also name the import.
 */
export async function setChangeContext(manager: EntityManager, actorId: string | null, source: ChangeSource, importId?: string): Promise<void> {
  await manager.query(`SELECT set_config('maestro.actor_id', $1, true), set_config('maestro.change_source', $2, true), set_config('maestro.import_id', $3, true)`, [
    actorId ?? '',
    source,
    importId ?? '',
  ]);
}
