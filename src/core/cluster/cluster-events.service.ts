import { Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { AppConfig } from '../../config/app-config';

const CHANNEL = 'maestro_cluster';

/**
 * How often the listener proves it still hears notices, and how long it waits for its own.
 * Read when the service starts; specs shorten it before starting an app.
 */
export const CLUSTER_HEARTBEAT = { everyMs: 10_000, timeoutMs: 3_000 };

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
 *
 * A listening connection can stop delivering without any error (an idle TCP connection
 * dropped by a NAT or load balancer, a transaction-mode pooler), so the listener sends
 * itself a notice every few seconds and reconnects when it does not hear it back;
 * 'cluster.reconnected' then tells the caches that they may have missed a change.
 */
@Injectable()
export class ClusterEventsService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('ClusterEvents');
  private readonly local = new EventEmitter();
  private readonly origin = randomUUID();
  /** Private to this process, so no other process's heartbeats reach it. */
  private readonly heartbeatChannel = `maestro_cluster_beat_${this.origin.replace(/-/g, '')}`;
  private listener?: Client;
  private closing = false;
  private reconnecting = false;
  private heartbeat?: NodeJS.Timeout;
  private beating = false;
  private beats = 0;
  private awaitedBeat?: { token: string; heard: () => void };

  constructor(
    private readonly config: AppConfig,
    @InjectDataSource() private readonly dataSource: DataSource,
  ) {
    this.local.setMaxListeners(100);
  }

  async onModuleInit(): Promise<void> {
    if (this.config.database.kind !== 'postgres') return;
    const url = this.config.database.url;
    await this.listen(url);
    const { everyMs, timeoutMs } = CLUSTER_HEARTBEAT;
    this.heartbeat = setInterval(() => void this.beat(url, timeoutMs), everyMs);
    this.heartbeat.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    this.closing = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
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
    // Keepalive lets the operating system notice a peer that is gone; the heartbeat covers the rest.
    const client = new Client({ connectionString: url, application_name: 'maestro-crm-listener', keepAlive: true, keepAliveInitialDelayMillis: 10_000 });
    client.on('notification', (notification) => {
      if (notification.channel === this.heartbeatChannel) {
        if (this.awaitedBeat && notification.payload === this.awaitedBeat.token) this.awaitedBeat.heard();
        return;
      }
      if (!notification.payload) return;
      try {
        const message = JSON.parse(notification.payload) as ClusterMessage;
        if (message.origin !== this.origin) this.local.emit(message.topic, message.payload);
      } catch (error) {
        this.logger.warn(`Ignored a malformed cluster message: ${(error as Error).message}`);
      }
    });
    // Only the current listener reconnects: a replaced one may still report its end much later.
    client.on('error', (error) => {
      if (this.listener !== client) return;
      this.logger.warn(`Cluster listener lost its connection: ${error.message}; reconnecting`);
      this.reconnect(url);
    });
    client.on('end', () => {
      if (this.listener !== client || this.closing) return;
      this.logger.warn('Cluster listener connection ended; reconnecting');
      this.reconnect(url);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANNEL}`);
      await client.query(`LISTEN ${this.heartbeatChannel}`);
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
    this.listener = client;
  }

  /**
   * Sends a notice to this listener through its own connection: hearing it back proves the
   * connection answers and that LISTEN still delivers on it.
   */
  private async beat(url: string, timeoutMs: number): Promise<void> {
    const client = this.listener;
    if (!client || this.beating || this.closing) return;
    this.beating = true;
    this.beats += 1;
    const token = String(this.beats);
    let timer: NodeJS.Timeout | undefined;
    try {
      const heard = new Promise<void>((resolve) => (this.awaitedBeat = { token, heard: resolve }));
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no heartbeat within ${timeoutMs} ms`)), timeoutMs);
        timer.unref();
      });
      await Promise.race([Promise.all([client.query('SELECT pg_notify($1, $2)', [this.heartbeatChannel, token]), heard]), late]);
    } catch (error) {
      if (this.listener === client && !this.closing) {
        this.logger.warn(`Cluster listener stopped hearing notices (${(error as Error).message}); reconnecting`);
        this.reconnect(url);
      }
    } finally {
      clearTimeout(timer);
      this.awaitedBeat = undefined;
      this.beating = false;
    }
  }

  private reconnect(url: string): void {
    if (this.closing || this.reconnecting) return;
    this.reconnecting = true;
    const previous = this.listener;
    this.listener = undefined;
    void previous?.end().catch(() => undefined);
    const attempt = () =>
      setTimeout(() => {
        if (this.closing) return;
        this.listen(url)
          .then(() => {
            this.reconnecting = false;
            if (this.closing) return void this.listener?.end().catch(() => undefined);
            this.local.emit('cluster.reconnected', null);
          })
          .catch((error: Error) => {
            this.logger.warn(`Cluster listener reconnect failed: ${error.message}`);
            attempt();
          });
      }, 1000).unref();
    attempt();
  }
}
