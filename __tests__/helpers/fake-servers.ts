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
