/** Misbehaving memcached stand-ins, for the faults a real server cannot be made to show on demand. */
import { createServer, type Server, type Socket } from 'node:net';

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
  return listen((socket) => {
    let pending = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 24 && pending.length >= 24 + pending.readUInt32BE(8)) {
        const request = pending.subarray(0, 24 + pending.readUInt32BE(8));
        pending = pending.subarray(request.length);
        const refuse = state.increments++ === 0;
        const reply = Buffer.alloc(refuse ? 24 : 32);
        reply[0] = 0x81; // response magic
        reply[1] = request[1]!; // the request's opcode
        reply.writeUInt16BE(refuse ? 5 : 0, 6);
        reply.writeUInt32BE(refuse ? 0 : 8, 8);
        request.copy(reply, 12, 12, 16); // opaque: memjs matches replies by it
        if (!refuse) reply.writeBigUInt64BE(value, 24);
        socket.write(reply);
      }
    });
  }).then((server) => ({ ...server, seen: state }));
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
