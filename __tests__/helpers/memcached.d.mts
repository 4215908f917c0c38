import type { ChildProcess } from 'node:child_process';

export interface MemcachedServer {
  address: string;
  port: number;
  process: ChildProcess;
  stop(): Promise<void>;
}
export function memcachedBinary(): string;
export function freePort(): Promise<number>;
export function startMemcached(port?: number): Promise<MemcachedServer>;
