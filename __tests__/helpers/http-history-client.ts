/**
 * An HTTP client of `tbase serve` for the linearizability checker (linearizability.ts), beside the CLI clients of
 * history-clients.ts: each call is one request, `call` taken just before it is sent and `ret` when the whole
 * answer has arrived, on this process's clock. Several of these on one server are concurrent HTTP clients whose
 * requests the server coalesces into shared rounds (src/serve/rounds.ts) — the thing under test.
 *
 * The HTTP API has no `--if-value` and no `incr`: drive() draws again when the workload picks one of those.
 */
import { performance } from 'node:perf_hooks';
import { remember, type History, type Recorded, type Workload } from './history-clients.js';
import type { Input, Output } from './linearizability.js';

/** An answer no client should wait longer for: past it the op is recorded as unknown. */
const ANSWER_TIMEOUT_MS = 15_000;

export const HTTP_KINDS: Input['f'][] = ['get', 'set', 'set-if-absent', 'set-if-revision', 'delete', 'delete-if-revision'];

export class HttpHistoryClient {
  /** Answers that were neither a documented success nor a documented refusal (status and body), for the report. */
  readonly oddities: string[] = [];

  constructor(
    readonly name: string,
    private readonly baseUrl: string,
  ) {}

  async run(key: string, input: Input): Promise<Recorded> {
    const { method, headers, body } = requestOf(input);
    const path = `/keys/${encodeURIComponent(key)}${input.f === 'get' ? '?format=json' : ''}`;
    const call = performance.now();
    let status: number;
    let text: string;
    let etag: string | null;
    let revisionHeader: string | null;
    try {
      const res = await fetch(`${this.baseUrl}${path}`, { method, headers, body, signal: AbortSignal.timeout(ANSWER_TIMEOUT_MS) });
      text = await res.text();
      status = res.status;
      etag = res.headers.get('etag');
      revisionHeader = res.headers.get('x-tbase-revision');
    } catch {
      // No answer (timeout, connection reset): whether a write happened is unknown, and it may still happen.
      return { op: { client: this.name, key, call, ret: null, input, output: null } };
    }
    const ret = performance.now();
    const output = outputOf(input, status, text, etag, revisionHeader);
    if (output.kind === 'error') this.oddities.push(`${input.f} ${key}: ${status} ${text.trim()}`);
    const answer = parseJson(text);
    return { op: { client: this.name, key, call, ret, input, output }, source: answer?.source as Recorded['source'], error: answer?.error as string | undefined };
  }

  /** Runs the workload's HTTP-capable operations one after another until the deadline. */
  async drive(workload: Workload, history: History, deadline: number): Promise<void> {
    const memory: Parameters<typeof remember>[0] = new Map();
    while (performance.now() < deadline) {
      const { key, input } = workload.next(this.name, memory);
      if (!HTTP_KINDS.includes(input.f)) continue;
      const recorded = await this.run(key, input);
      history.add(recorded);
      remember(memory, recorded);
    }
  }
}

function requestOf(input: Input): { method: string; headers: Record<string, string>; body?: string } {
  switch (input.f) {
    case 'get':
      return { method: 'GET', headers: {} };
    case 'set':
      return { method: 'PUT', headers: {}, body: input.value };
    case 'set-if-absent':
      return { method: 'PUT', headers: { 'if-none-match': '*' }, body: input.value };
    case 'set-if-revision':
      // Revision 0 means "must be absent", which HTTP spells If-None-Match: *.
      return { method: 'PUT', headers: input.expect === 0 ? { 'if-none-match': '*' } : { 'if-match': `"${input.expect}"` }, body: input.value };
    case 'delete':
      return { method: 'DELETE', headers: {} };
    case 'delete-if-revision':
      return { method: 'DELETE', headers: input.expect === 0 ? { 'if-none-match': '*' } : { 'if-match': `"${input.expect}"` } };
    default:
      throw new Error(`the HTTP API has no ${input.f}`);
  }
}

/** What the checker makes of an answer; anything undocumented is 'error' (the op may or may not have happened). */
function outputOf(input: Input, status: number, text: string, etag: string | null, revisionHeader: string | null): Output {
  const answer = parseJson(text);
  if (status === 404) return { kind: 'not-found' };
  if (status === 412) return typeof answer?.revision === 'number' ? { kind: 'conflict', revision: answer.revision } : { kind: 'error' };
  if (input.f === 'get') {
    return status === 200 && typeof answer?.value === 'string' && typeof answer.revision === 'number'
      ? { kind: 'value', value: answer.value, revision: answer.revision }
      : { kind: 'error' };
  }
  const written = input.f === 'delete' || input.f === 'delete-if-revision' ? revisionHeader : etag?.replace(/"/g, '');
  if ((status === 201 || status === 204) && written && /^\d+$/.test(written)) return { kind: 'written', revision: Number(written) };
  return { kind: 'error' };
}

function parseJson(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return value && typeof value === 'object' ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
