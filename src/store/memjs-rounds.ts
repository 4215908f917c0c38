/**
 * Rounds of GETs (a batch read's) and INCREMENTs (the hit/miss counters') on a memjs connection, sent and answered
 * without memjs's per-request and per-reply objects (docs/architecture.md, "memcached"). For each request memjs
 * builds a buffer from three others and a header object and queues a write with two closures; for each reply it
 * copies everything unread into a new zero-filled buffer, and makes a header object and four buffer views. In a
 * cache-hot batch that was a third of all allocation, and the garbage collector's work with it; in a one-shot `get`
 * memjs's increment (its promise wrapper, its request and reply code run for the first time) was ~2% of all the
 * instructions the process ran.
 *
 * Here a round's requests go out as ONE buffer in ONE write, and replies are read in place: this module takes over
 * the server's reply handler, answers the requests it sent from the frame itself, and hands every other frame,
 * whole, to memjs's own handler (add, set, SASL keep working as memjs wrote them). Everything else stays memjs's:
 * connecting, its per-request deadlines (one per round here: replies come back in request order, so the round's
 * deadline is released with its last reply), and failing what is pending when the connection drops.
 */
import type { Socket } from 'node:net';
import type memjs from 'memjs';

/** The parts of memjs's per-server object (not in its typings) the cache modules use. */
export interface MemjsServer {
  _socket?: Socket;
  /** Connects if not connected, then calls `go` with the socket (a connection failure goes to pending requests). */
  sock(sasl: boolean, go: (socket: Socket) => void): void;
  /** Sends one request (connecting first if needed), with memjs's per-request deadline. */
  write(request: Buffer): void;
  /** memjs's reply handler: the bytes the socket delivered. */
  responseHandler(data: Buffer): void;
  /** Where a connection failure goes for the request `seq`. */
  onError(seq: number, handle: (error: Error) => void): void;
  errorCallbacks: Record<number, unknown>;
  requestTimeouts: number[];
}

/** The parts of memjs's client (not in its typings) the cache modules use. */
interface MemjsClientInternals {
  servers: MemjsServer[];
  seq: number;
  incrSeq(): void;
}

/** memjs's internals of a client with exactly one server (MemcacheNode's). */
export function internals(client: memjs.Client): { client: MemjsClientInternals; server: MemjsServer } {
  const inner = client as unknown as MemjsClientInternals;
  return { client: inner, server: inner.servers[0]! };
}

/** One request's answer: its result, or an error (a refusal, a dropped connection). */
export type RoundDone<T> = (index: number, error: Error | null, result: T) => void;

/** A request kind this module sends and reads the reply of in place. */
interface Op<I, T> {
  opcode: number;
  /** memjs's word for it in errors ("MemJS GET: …"): memcache.ts tells a server's refusal by that form. */
  word: string;
  key(item: I): string;
  /** Bytes between the header and the key. */
  extrasBytes: number;
  writeExtras(item: I, request: Buffer, at: number): void;
  /** The result of a reply with status 0 (found, done), read from the frame. */
  read(bytes: Buffer, valueStart: number, end: number): T;
  /** The result of status 1 (not found), when that is an answer and not an error. */
  notFound?: T;
}

const HEADER_BYTES = 24;
const MAGIC_REQUEST = 0x80;
const STATUS_OK = 0;
const STATUS_NOT_FOUND = 1;
/**
 * What the statuses a server refuses with mean (the binary protocol's table; memjs keeps its own copy in
 * lib/memjs/protocol.js, worded a little differently, for the requests it answers itself).
 */
const REFUSALS: Record<number, string> = {
  1: 'key not found',
  2: 'key exists',
  3: 'value too large',
  4: 'invalid arguments',
  5: 'item not stored',
  6: 'incr/decr on a non-numeric value',
};

const GET: Op<string, Buffer | null> = {
  opcode: 0x00,
  word: 'GET',
  key: (key) => key,
  extrasBytes: 0,
  writeExtras: () => undefined,
  read: (bytes, valueStart, end) => bytes.subarray(valueStart, end),
  notFound: null,
};

/** An INCREMENT that creates a missing counter with `by` (expiration 0: it never expires). */
const INCREMENT: Op<{ key: string; by: number }, number> = {
  opcode: 0x05,
  word: 'INCREMENT',
  key: (item) => item.key,
  extrasBytes: 20, // delta (8), initial value (8), expiration (4)
  writeExtras: ({ by }, request, at) => {
    request.writeBigUInt64BE(BigInt(by), at);
    request.writeBigUInt64BE(BigInt(by), at + 8);
  },
  read: (bytes, valueStart) => Number(bytes.readBigUInt64BE(valueStart)),
};

/** A request this module waits for: which request of which round it answers. */
interface Waiting {
  round: SentRound;
  index: number;
}

/**
 * The requests sent in one write. memjs's deadline for that write, and the one error callback it holds for them
 * (under the first request's sequence number), are released when the last of them is answered.
 */
interface SentRound {
  op: Op<never, unknown>;
  seqs: number[];
  left: number;
  done: RoundDone<unknown>;
}

/** Per memjs server object: the requests sent through this module, by opaque (memjs's request sequence number). */
const waitingByServer = new WeakMap<MemjsServer, Map<number, Waiting>>();

/**
 * Sends a GET for every key in one write; `done` is called once per key, with the value or null. A key that cannot
 * be encoded (memjs would reject it too) is never given to this function: the cache keys are built by cache-aside.ts.
 */
export function sendGets(client: memjs.Client, keys: readonly string[], done: RoundDone<Buffer | null>): void {
  sendRound(client, GET, keys, done);
}

/** Sends an INCREMENT for every item in one write; `done` is called once per item, with the counter's new value. */
export function sendIncrements(client: memjs.Client, items: readonly { key: string; by: number }[], done: RoundDone<number>): void {
  sendRound(client, INCREMENT, items, done);
}

function sendRound<I, T>(client: memjs.Client, op: Op<I, T>, items: readonly I[], done: RoundDone<T>): void {
  if (items.length === 0) return;
  const { client: memjsClient, server } = internals(client);
  const waiting = waitingOn(server);
  const round: SentRound = { op: op as Op<never, unknown>, seqs: new Array<number>(items.length), left: items.length, done: done as RoundDone<unknown> };
  let bytes = 0;
  for (const item of items) bytes += HEADER_BYTES + op.extrasBytes + Buffer.byteLength(op.key(item));
  const request = Buffer.alloc(bytes);
  let offset = 0;
  items.forEach((item, index) => {
    memjsClient.incrSeq();
    const seq = memjsClient.seq >>> 0;
    const keyBytes = request.write(op.key(item), offset + HEADER_BYTES + op.extrasBytes);
    request[offset] = MAGIC_REQUEST;
    request[offset + 1] = op.opcode;
    request.writeUInt16BE(keyBytes, offset + 2);
    request[offset + 4] = op.extrasBytes;
    request.writeUInt32BE(op.extrasBytes + keyBytes, offset + 8); // the body: extras and key, no value
    request.writeUInt32BE(seq, offset + 12); // opaque: the reply carries it back
    op.writeExtras(item, request, offset + HEADER_BYTES);
    offset += HEADER_BYTES + op.extrasBytes + keyBytes;
    round.seqs[index] = seq;
    waiting.set(seq, { round, index });
  });
  // When the connection drops, memjs calls every error callback it still holds: the round's fails its requests not
  // yet answered.
  server.onError(round.seqs[0]!, (error) =>
    round.seqs.forEach((seq, index) => {
      if (waiting.delete(seq)) done(index, error, undefined as T);
    }),
  );
  server.write(request);
}

/** The server's map of waiting requests; the first call takes over its reply handler (module comment). */
function waitingOn(server: MemjsServer): Map<number, Waiting> {
  let waiting = waitingByServer.get(server);
  if (waiting) return waiting;
  const map = (waiting = new Map<number, Waiting>());
  waitingByServer.set(server, map);
  const memjsHandler = server.responseHandler;
  // Bytes of a frame cut by the end of a chunk wait, as a list, until the whole frame is there: a large value comes
  // in many chunks and is then joined once (memjs joined everything unread on every chunk).
  let chunks: Buffer[] = [];
  let have = 0;
  let need = HEADER_BYTES;
  let from: Socket | undefined;
  server.responseHandler = (data: Buffer) => {
    if (from !== server._socket) {
      // Never a frame made of two connections' bytes.
      chunks = [];
      have = 0;
      need = HEADER_BYTES;
      from = server._socket;
    }
    chunks.push(data);
    have += data.length;
    if (have < need) return;
    const bytes = chunks.length === 1 ? data : Buffer.concat(chunks, have);
    let offset = 0;
    while (bytes.length - offset >= HEADER_BYTES) {
      const end = offset + HEADER_BYTES + bytes.readUInt32BE(offset + 8);
      if (end > bytes.length) break;
      const seq = bytes.readUInt32BE(offset + 12);
      const wait = map.get(seq);
      if (wait) {
        map.delete(seq);
        answer(server, wait, bytes, offset, end);
      } else {
        memjsHandler.call(server, bytes.subarray(offset, end));
      }
      offset = end;
    }
    const rest = bytes.subarray(offset);
    chunks = rest.length > 0 ? [rest] : [];
    have = rest.length;
    need = have >= HEADER_BYTES ? HEADER_BYTES + rest.readUInt32BE(8) : HEADER_BYTES;
  };
  return map;
}

function answer(server: MemjsServer, { round, index }: Waiting, bytes: Buffer, offset: number, end: number): void {
  if (--round.left === 0) {
    server.requestTimeouts.shift(); // the round's one deadline (module comment)
    delete server.errorCallbacks[round.seqs[0]!];
  }
  const { op } = round;
  const status = bytes.readUInt16BE(offset + 6);
  if (status === STATUS_OK) {
    const valueStart = offset + HEADER_BYTES + bytes[offset + 4]! + bytes.readUInt16BE(offset + 2);
    round.done(index, null, op.read(bytes, valueStart, end));
  } else if (status === STATUS_NOT_FOUND && 'notFound' in op) round.done(index, null, op.notFound);
  // Anything else is the server refusing, worded as memjs words it (memcache.ts, answeredByServer).
  else round.done(index, new Error(`MemJS ${op.word}: ${REFUSALS[status] ?? `status ${status}`}`), undefined);
}
