/**
 * Tells watchers that a PostgreSQL database may have changed, from any host: every write transaction sends
 * NOTIFY on the database's channel with its revision (nothing more: a payload is limited to 8000 bytes, and the
 * watcher reads the changes themselves from the change log). One LISTEN connection per process, open while
 * anyone listens. When it drops it is opened again, and every listener is woken once it is back: the feed then
 * reads the change log from where it was, so notifications missed in between lose nothing.
 */
import type pg from 'pg';
import type { PgConnection } from './postgres-connection.js';
import { ChangeListeners } from './listeners.js';

/** Reconnection waits: doubling from the first, capped at the last. */
const RETRY_FIRST_MS = 50;
const RETRY_MAX_MS = 2000;
/** A poll while the connection is up, in case a notification is ever lost on the way (it should not be). */
const POLL_MS = 5000;

export class PostgresNotifier extends ChangeListeners {
  private client: pg.Client | null = null;
  private retry: NodeJS.Timeout | null = null;
  private poller: NodeJS.Timeout | null = null;
  private retryMs = RETRY_FIRST_MS;

  constructor(
    private readonly db: PgConnection,
    /** The channel: one per namespace, so schemas sharing a database do not wake each other's watchers. */
    private readonly channel: string,
  ) {
    super();
  }

  protected start(): void {
    void this.connect();
    // Not unref'd: while anyone listens (a `watch`), the process must stay up even with nothing else to do.
    this.poller = setInterval(() => this.notify(), POLL_MS);
  }

  private async connect(): Promise<void> {
    const client = this.db.dedicatedClient();
    this.client = client;
    const lost = () => {
      if (this.client !== client) return;
      this.client = null;
      client.end().catch(() => undefined);
      this.retry = setTimeout(() => {
        this.retry = null;
        if (this.listening) void this.connect();
      }, this.retryMs);
      this.retryMs = Math.min(RETRY_MAX_MS, this.retryMs * 2);
    };
    client.on('error', lost);
    client.on('end', lost);
    client.on('notification', () => this.notify());
    try {
      await client.connect();
      await client.query(`LISTEN ${this.channel}`);
      if (this.client !== client) return void client.end().catch(() => undefined);
      this.retryMs = RETRY_FIRST_MS;
      this.notify(); // catch up on whatever committed while not listening
    } catch {
      lost();
    }
  }

  protected stop(): void {
    if (this.retry) clearTimeout(this.retry);
    if (this.poller) clearInterval(this.poller);
    this.retry = null;
    this.poller = null;
    const client = this.client;
    this.client = null;
    client?.end().catch(() => undefined);
  }
}
