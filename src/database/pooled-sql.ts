import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { createHash } from 'node:crypto';
import { Pool } from 'pg';
import { DataSource, EntityManager, QueryFailedError } from 'typeorm';
import { AppConfig } from '../config/app-config';
import type { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver';

interface Queryable {
  query(statement: string | { name: string; text: string; values?: unknown[] }, params?: unknown[]): Promise<{ rows: unknown[] }>;
}

/**
 * How many statement texts a process names. Every pooled session keeps the ones it has run
 * parsed and planned for its lifetime (PostgreSQL cannot be told to forget them from here
 * without reaching into `pg`'s internals), ~0.13 MB of a session's memory for a list page's
 * statement with its plan, so the number is capped: at most ~13 MB per session, and texts
 * beyond it (filter shapes seen late) run unnamed, planned each time.
 */
export const MAX_NAMED_STATEMENTS = 100;

/** The name a statement text is prepared under: the same in every process, so a server and its baseline share it. */
export function statementName(sql: string): string {
  return `m_${createHash('sha1').update(sql).digest('hex').slice(0, 24)}`;
}

/**
 * Runs one statement straight on the connection pool (the `pg` pool, or the embedded
 * database's, which hands its single session to one caller at a time).
 *
 * `DataSource.query` builds a query runner, checks a connection out, broadcasts events and
 * wraps the result for every statement: about 0.1 ms of CPU, a sixth of a contacts list
 * request. The hot read paths that run hand-written SQL outside a transaction use this
 * instead; anything inside a transaction keeps its EntityManager. Errors are TypeORM's
 * `QueryFailedError`, as from `DataSource.query`, so they map to the same HTTP answers.
 */
@Injectable()
export class PooledSql {
  private readonly pool: Queryable;
  /**
   * Statement names by text (null: run unnamed from now on). Only `pg` sessions keep named
   * statements; the embedded database parses each time.
   */
  private readonly names: Map<string, string | null> | undefined;

  constructor(@InjectDataSource() dataSource: DataSource, config: AppConfig) {
    this.pool = (dataSource.driver as PostgresDriver).master as Queryable;
    const preparing = config.database.kind === 'postgres' && config.database.preparedStatements && this.pool instanceof Pool;
    this.names = preparing ? new Map() : undefined;
  }

  async query<T>(sql: string, params?: unknown[]): Promise<T[]> {
    try {
      return (await this.pool.query(sql, params)).rows as T[];
    } catch (error) {
      throw new QueryFailedError(sql, params, error as Error);
    }
  }

  /**
   * {@link query} for a statement whose best plan does not depend on its parameters (a row
   * by id, a page without a filter): each pooled session parses and plans it once and then
   * only binds and runs it. Planning such a statement costs PostgreSQL more than running it
   * (a contact's row: 0.3 ms planning, 0.09 ms running), so a profile answers in a third of
   * the database time. Not for statements whose plan should follow their values (a search
   * term, a rarely or often used tag): a session may settle on one generic plan for them.
   */
  async prepared<T>(sql: string, params?: unknown[]): Promise<T[]> {
    const name = this.nameOf(sql);
    if (!name) return this.query(sql, params);
    try {
      return (await this.pool.query({ name, text: sql, values: params })).rows as T[];
    } catch (error) {
      // A migration from a newer release changed the type of a column the statement returns:
      // the sessions' prepared copies cannot run again, the statement itself still can.
      if (isStalePlan(error)) {
        this.names!.set(sql, null);
        return this.query(sql, params);
      }
      throw new QueryFailedError(sql, params, error as Error);
    }
  }

  /**
   * Queries on `manager` when it belongs to a query runner (a transaction), on the pool
   * otherwise; `prepare` as for {@link prepared}, on the pool only.
   */
  through(manager: EntityManager, prepare = false): <T>(sql: string, params?: unknown[]) => Promise<T[]> {
    if (manager.queryRunner) return (sql, params) => manager.query(sql, params);
    return prepare ? (sql, params) => this.prepared(sql, params) : (sql, params) => this.query(sql, params);
  }

  private nameOf(sql: string): string | undefined {
    if (!this.names) return undefined;
    let name = this.names.get(sql);
    if (name === undefined && this.names.size < MAX_NAMED_STATEMENTS) {
      name = statementName(sql);
      this.names.set(sql, name);
    }
    return name ?? undefined;
  }
}

/** PostgreSQL's answer to a prepared statement whose result columns changed type since it was prepared. */
function isStalePlan(error: unknown): boolean {
  const { code, message } = error as { code?: string; message?: string };
  return code === '0A000' && /cached plan must not change result type/.test(message ?? '');
}
