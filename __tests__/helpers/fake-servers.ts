/** Misbehaving memcached stand-ins, for the faults a real server cannot be made to show on demand. */
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface FakeServer {
  address: string;
  close(): Promise<void>;
}

/** Accepts connections and reads requests, but never answers. `onConnection` counts connections, for tests that care. */
export function silentServer(onConnection: () => void = () => undefined): Promise<FakeServer> {
  return listen((socket) => {
    onConnection();
    socket.on('data', () => undefined);
  });
}

/** Accepts a connection and closes it as soon as a request arrives (mid-request). */
export function closingServer(): Promise<FakeServer> {
  return listen((socket) => socket.on('data', () => socket.destroy()));
}

/**
 * Answers binary-protocol INCREMENT requests only: the first with status 5 ("item not stored", what memcached says
 * to the second of two processes creating one counter at the same moment), every later one with `value`.
 */
export function racedCounterServer(value: bigint): Promise<FakeServer & { seen: { increments: number } }> {
  const state = { increments: 0 };
  return listen((socket) =>
    onRequests(socket, (request) => {
      const refuse = state.increments++ === 0;
      const reply = Buffer.alloc(refuse ? 24 : 32);
      reply[0] = 0x81; // response magic
      reply[1] = request[1]!; // the request's opcode
      reply.writeUInt16BE(refuse ? 5 : 0, 6);
      reply.writeUInt32BE(refuse ? 0 : 8, 8);
      request.copy(reply, 12, 12, 16); // opaque: memjs matches replies by it
      if (!refuse) reply.writeBigUInt64BE(value, 24);
      socket.write(reply);
    }),
  ).then((server) => ({ ...server, seen: state }));
}

/**
 * Between a client and a real memcached: requests pass as they are, replies are cut into pieces of `pieceBytes`
 * (in turn) written one timer tick apart, so the client reads frames split at every kind of boundary.
 */
export function rechunkingProxy(target: string, pieceBytes: readonly number[]): Promise<FakeServer> {
  const [host, port] = [target.slice(0, target.lastIndexOf(':')), Number(target.slice(target.lastIndexOf(':') + 1))];
  return listen((client) => {
    const upstream = connect(port, host);
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    client.on('data', (chunk) => upstream.write(chunk));
    let queue: Promise<void> = Promise.resolve();
    let turn = 0;
    upstream.on('data', (chunk: Buffer) => {
      queue = queue.then(async () => {
        for (let at = 0; at < chunk.length && !client.destroyed; ) {
          const size = pieceBytes[turn++ % pieceBytes.length]!;
          client.write(chunk.subarray(at, at + size));
          at += size;
          await new Promise((resolve) => setTimeout(resolve, 0));
        }
      });
    });
  });
}

/**
 * Answers binary-protocol GETs itself: on its first connection with half of a reply frame and then a close (a
 * connection dropped mid-reply), on every later one with `value` for every key.
 */
export function halfReplyServer(value: Buffer): Promise<FakeServer> {
  let connections = 0;
  return listen((socket) => {
    const first = connections++ === 0;
    onRequests(socket, (request) => {
      const reply = Buffer.alloc(28 + value.length);
      reply[0] = 0x81; // response magic
      reply[4] = 4; // extras: the flags
      reply.writeUInt32BE(4 + value.length, 8);
      request.copy(reply, 12, 12, 16); // opaque
      value.copy(reply, 28);
      if (first) socket.end(reply.subarray(0, 24 + Math.floor(value.length / 2)));
      else socket.write(reply);
    });
  });
}

/** Calls `handle` with every whole binary-protocol request frame the socket receives, in order, until it ends. */
function onRequests(socket: Socket, handle: (request: Buffer) => void): void {
  let pending = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    while (!socket.writableEnded && pending.length >= 24 && pending.length >= 24 + pending.readUInt32BE(8)) {
      const request = pending.subarray(0, 24 + pending.readUInt32BE(8));
      pending = pending.subarray(request.length);
      handle(request);
    }
  });
}

function listen(onConnection: (socket: Socket) => void): Promise<FakeServer> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    onConnection(socket);
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      resolve({
        address: `127.0.0.1:${port}`,
        close: () =>
          new Promise<void>((done) => {
            for (const socket of sockets) socket.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}
