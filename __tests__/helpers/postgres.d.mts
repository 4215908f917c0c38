export interface PostgresOptions {
  /** Database the url names; created after start unless it is 'postgres'. Default 'tbase'. */
  database?: string;
  /** Extra `-c name=value` settings, e.g. { fsync: 'off' } for speed where durability is not under test. */
  settings?: Record<string, string | number | boolean>;
}
export interface PostgresServer {
  url: string;
  port: number;
  dataDir: string;
  /** The current postmaster's pid (changes on restart). */
  readonly pid: number;
  log(): string;
  /** Fast shutdown (SIGINT), waits for exit, removes the data dir. */
  stop(): Promise<void>;
  /** SIGKILL to the whole process group, as a crash; restart() then runs crash recovery. */
  kill(): Promise<void>;
  /** Stops and starts again on the same port and data dir. */
  restart(): Promise<void>;
  /** SIGSTOP to the postmaster and all its backends; resolves once they have all stopped. */
  pause(): Promise<void>;
  /** SIGCONT to the same process group. */
  resume(): void;
}
export function postgresBinary(name: string): string;
export function postgresAvailable(): boolean;
export function makeTemplate(dir: string): Promise<void>;
export function startPostgres(options?: PostgresOptions): Promise<PostgresServer>;
