import { Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { AppConfig } from '../../config/app-config';

const CHANNEL = 'maestro_cluster';

interface ClusterMessage {
  origin: string;
  topic: string;
  payload: unknown;
}

/**
 * Tells every process of a deployment that shared state changed (feature toggles, roles),
 * so in-memory caches are refreshed within a second. On PostgreSQL it rides LISTEN/NOTIFY,
 * which every process already has; the embedded database serves one process only, so
 * there it is a local emitter.
 */
@Injectable()
export class ClusterEventsService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('ClusterEvents');
  private readonly local = new EventEmitter();
  private readonly origin = randomUUID();
  private listener?: Client;
  private closing = false;

  constructor(
    private readonly config: AppConfig,
    @InjectDataSource() private readonly dataSource: DataSource,
  ) {
    this.local.setMaxListeners(100);
  }

  async onModuleInit(): Promise<void> {
    if (this.config.database.kind === 'postgres') await this.listen(this.config.database.url);
  }

  async onApplicationShutdown(): Promise<void> {
    this.closing = true;
    await this.listener?.end().catch(() => undefined);
  }

  on(topic: string, handler: (payload: unknown) => void): void {
    this.local.on(topic, handler);
  }

  /** Delivers to this process at once and to the others through the database. */
  async publish(topic: string, payload: unknown): Promise<void> {
    this.local.emit(topic, payload);
    if (this.config.database.kind !== 'postgres') return;
    const message: ClusterMessage = { origin: this.origin, topic, payload };
    await this.dataSource.query('SELECT pg_notify($1, $2)', [CHANNEL, JSON.stringify(message)]);
  }

  private async listen(url: string): Promise<void> {
    const client = new Client({ connectionString: url, application_name: 'maestro-crm-listener' });
    client.on('notification', (notification) => {
      if (!notification.payload) return;
      try {
        const message = JSON.parse(notification.payload) as ClusterMessage;
        if (message.origin !== this.origin) this.local.emit(message.topic, message.payload);
      } catch (error) {
        this.logger.warn(`Ignored a malformed cluster message: ${(error as Error).message}`);
      }
    });
    client.on('error', (error) => {
      this.logger.warn(`Cluster listener lost its connection: ${error.message}; reconnecting`);
      this.reconnect(url);
    });
    await client.connect();
    await client.query(`LISTEN ${CHANNEL}`);
    this.listener = client;
  }

  private reconnect(url: string): void {
    if (this.closing) return;
    void this.listener?.end().catch(() => undefined);
    this.listener = undefined;
    setTimeout(() => {
      if (this.closing) return;
      this.listen(url)
        .then(() => this.local.emit('cluster.reconnected', null))
        .catch((error: Error) => {
          this.logger.warn(`Cluster listener reconnect failed: ${error.message}`);
          this.reconnect(url);
        });
    }, 1000).unref();
  }
}
