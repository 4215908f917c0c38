/**
 * Which of the server's connections are between requests, so a shutdown closes all of those at once.
 *
 * Node's `closeIdleConnections` leaves out a connection on which no request has begun yet: it counts it as
 * waiting for headers. Browsers open such connections ahead of need (Chromium keeps a spare one to the page's
 * host), so a shutdown waited for the browser's next request. An EventSource that had just been told to reconnect
 * sent it there a second later, got `503 shutting_down` on the old server, and per the SSE spec never tried again.
 * Here a connection is idle unless one of its responses is unfinished; one whose request headers are still arriving
 * is closed too: nothing of that request has run, so the client sees a closed connection, as it would a second later.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export interface Connections {
  /**
   * Counts this response against its connection until it finishes or the connection drops; once closing, the
   * response also tells the client the connection closes after it.
   */
  track(req: IncomingMessage, res: ServerResponse): void;
  /** Closes every idle connection now, and each other one as soon as its last response finishes. */
  closeIdle(): void;
}

export function trackConnections(server: Server): Connections {
  const unfinished = new Map<Socket, number>();
  let closing = false;
  server.on('connection', (socket: Socket) => {
    unfinished.set(socket, 0);
    socket.once('close', () => unfinished.delete(socket));
  });
  // A finished response's bytes are already with the socket; destroying it then drops nothing the client was sent.
  const closeIfIdle = (socket: Socket) => {
    if (unfinished.get(socket) === 0) socket.destroy();
  };
  return {
    track(req, res) {
      if (closing) res.setHeader('connection', 'close');
      const socket = req.socket;
      const count = unfinished.get(socket);
      if (count === undefined) return; // the connection has already closed
      unfinished.set(socket, count + 1);
      res.once('close', () => {
        if (!unfinished.has(socket)) return;
        unfinished.set(socket, unfinished.get(socket)! - 1);
        if (closing) setImmediate(() => closeIfIdle(socket));
      });
    },
    closeIdle() {
      closing = true;
      for (const socket of unfinished.keys()) closeIfIdle(socket);
    },
  };
}
