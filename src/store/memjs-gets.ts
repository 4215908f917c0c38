/**
 * A batch read's GETs on a memjs connection, sent and answered without memjs's per-request and per-reply objects
 * (docs/architecture.md, "memcached"). For each request memjs builds a buffer from three others and a header object
 * and queues a write with two closures; for each reply it copies everything unread into a new zero-filled buffer,
 * and makes a header object and four buffer views. In a cache-hot batch that was a third of all allocation, and
 * the garbage collector's work with it.
 *
 * Here a round's GETs go out as ONE buffer in ONE write, and replies are read in place: this module takes over the
 * server's reply handler, answers the GETs it sent from the frame itself, and hands every other frame, whole, to
 * memjs's own handler (add, set, increment, SASL keep working as memjs wrote them). Everything else stays memjs's:
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

/** One GET's answer: the value, null when memcached has no such key, or an error (a refusal, a dropped connection). */
export type GetDone = (index: number, error: Error | null, value: Buffer | null) => void;

const HEADER_BYTES = 24;
const MAGIC_REQUEST = 0x80;
const OPCODE_GET = 0x00;
const STATUS_FOUND = 0;
const STATUS_NOT_FOUND = 1;

/** A reply this module waits for: which GET of which round it answers. */
interface Waiting {
  round: GetRound;
  index: number;
}

/**
 * The GETs sent in one write. memjs's deadline for that write, and the one error callback it holds for them (under
 * the first GET's sequence number), are released when the last of them is answered.
 */
interface GetRound {
  seqs: number[];
  left: number;
  done: GetDone;
}

/** Per memjs server object: the GETs sent through this module, by opaque (memjs's request sequence number). */
const waitingByServer = new WeakMap<MemjsServer, Map<number, Waiting>>();

/**
 * Sends a GET for every key in one write; `done` is called once per key. A key that cannot be encoded (memjs
 * would reject it too) is never given to this function: the cache keys are built by cache-aside.ts.
 */
export function sendGets(client: memjs.Client, keys: readonly string[], done: GetDone): void {
  if (keys.length === 0) return;
  const { client: memjsClient, server } = internals(client);
  const waiting = waitingOn(server);
  const round: GetRound = { seqs: new Array<number>(keys.length), left: keys.length, done };
  let bytes = 0;
  for (const key of keys) bytes += HEADER_BYTES + Buffer.byteLength(key);
  const request = Buffer.alloc(bytes);
  let offset = 0;
  keys.forEach((key, index) => {
    memjsClient.incrSeq();
    const seq = memjsClient.seq >>> 0;
    const keyBytes = request.write(key, offset + HEADER_BYTES);
    request[offset] = MAGIC_REQUEST;
    request[offset + 1] = OPCODE_GET;
    request.writeUInt16BE(keyBytes, offset + 2);
    request.writeUInt32BE(keyBytes, offset + 8); // the body is the key alone
    request.writeUInt32BE(seq, offset + 12); // opaque: the reply carries it back
    offset += HEADER_BYTES + keyBytes;
    round.seqs[index] = seq;
    waiting.set(seq, { round, index });
  });
  // When the connection drops, memjs calls every error callback it still holds: the round's fails its GETs not yet answered.
  server.onError(round.seqs[0]!, (error) =>
    round.seqs.forEach((seq, index) => {
      if (waiting.delete(seq)) done(index, error, null);
    }),
  );
  server.write(request);
}

/** The server's map of waiting GETs; the first call takes over its reply handler (module comment). */
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
  const status = bytes.readUInt16BE(offset + 6);
  // 0 found, 1 not found; anything else is the server refusing, worded as memjs words it (memcache.ts, answeredByServer).
  if (status === STATUS_FOUND) {
    const valueStart = offset + HEADER_BYTES + bytes[offset + 4]! + bytes.readUInt16BE(offset + 2);
    round.done(index, null, bytes.subarray(valueStart, end));
  } else if (status === STATUS_NOT_FOUND) round.done(index, null, null);
  else round.done(index, new Error(`MemJS GET: status ${status}`), null);
}
