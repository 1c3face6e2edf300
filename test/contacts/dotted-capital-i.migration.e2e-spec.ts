import type { PGlite } from '@electric-sql/pglite';
import type { MigrationInterface, QueryRunner } from 'typeorm';
import { titleCase } from '../../src/modules/contacts/contacts.naming';
import { beforeMigration } from '../support/migrations';

/** Lookup names stored with "I"/"i" and a combining dot are written as names are Title Cased now. */
describe('migration: the dotted capital I is stored as one letter (PGlite)', () => {
  let db: PGlite;
  let runner: QueryRunner;
  let target: MigrationInterface;

  beforeAll(async () => {
    ({ db, runner, target } = await beforeMigration('1765210000000-DottedCapitalIStoredAsOneLetter.ts'));
  });
  afterAll(() => db?.close());

  it('rewrites old spellings in every lookup list, and leaves one that would equal another name', async () => {
    const old = { istanbul: 'I\u0307stanbul', kim: 'Ki\u0307m', plain: 'Plain' };
    await db.query(`INSERT INTO tags (name) VALUES ($1), ($2), ('Kim'), ($3)`, [old.istanbul, old.kim, old.plain]);
    await db.query(`INSERT INTO services (name) VALUES ($1)`, [old.kim]);
    await db.query(`INSERT INTO traffic_sources (name) VALUES ($1)`, [old.istanbul]);
    await db.query(`INSERT INTO contact_statuses (name, stage) VALUES ($1, 'lead')`, [old.istanbul]);
    await target.up(runner);
    const names = async (table: string) => (await db.query<{ name: string }>(`SELECT name FROM ${table} ORDER BY name`)).rows.map((row) => row.name);
    // "Kim" was already there: the old spelling beside it stays, so neither name is lost.
    expect(await names('tags')).toEqual(['Kim', old.kim, 'Plain', 'İstanbul'].sort());
    expect(await names('services')).toEqual(['Kim']);
    expect(await names('traffic_sources')).toEqual(['İstanbul']);
    expect(await names('contact_statuses')).toEqual(['İstanbul']);
    // What the migration writes is what Title Casing writes for the same words now.
    expect([titleCase('İSTANBUL'), titleCase('KİM')]).toEqual(['İstanbul', 'Kim']);
  });
});
