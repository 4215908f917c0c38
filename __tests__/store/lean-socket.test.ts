/**
 * The lean socket (store/lean-socket.ts) must behave as node:net's socket in everything memjs and the cache modules
 * rely on. Each scenario runs against a real TCP peer twice, once with net.connect and once with leanConnect, and
 * the two event logs (and what the peer received) must be the same.
 */
import { connect as netConnect, createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tcpBindings } from '../../src/bindings.js';
import { leanConnect, LeanSocket } from '../../src/store/lean-socket.js';

/** What both sockets offer: the part of net.Socket the lean one implements. */
type Client = Pick<Socket, 'write' | 'end' | 'destroy' | 'cork' | 'uncork' | 'setTimeout' | 'setKeepAlive' | 'on' | 'once'>;
type Connect = (port: number, host: string, listener?: () => void) => Client;

const viaNet: Connect = (port, host, listener) => netConnect(port, host, listener);
const viaLean: Connect = (port, host, listener) => {
  const socket = leanConnect(port, host, listener);
  if (!socket) throw new Error('leanConnect declined an IPv4 address');
  return socket as unknown as Client;
};

/** A peer: `onConnection` decides what it does; every byte it receives is kept, per connection, in order. */
async function peer(onConnection: (socket: Socket) => void = () => undefined): Promise<{ port: number; received: string[]; server: Server; close(): Promise<void> }> {
  const received: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    const index = received.push('') - 1;
    socket.on('data', (chunk) => (received[index] += chunk.toString()));
    socket.on('end', () => (received[index] += '<FIN>'));
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
    onConnection(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    received,
    server,
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** Records a client's events, each as a word; resolves once it has closed. */
function record(client: Client, log: string[]): Promise<void> {
  client.on('connect', () => log.push('connect'));
  client.on('data', (chunk: Buffer) => log.push(`data:${chunk.toString()}`));
  client.on('end', () => log.push('end'));
  client.on('timeout', () => log.push('timeout'));
  client.on('error', (error: NodeJS.ErrnoException) => log.push(`error:${error.code}:${error.message}`));
  return new Promise((resolve) => client.on('close', (hadError: boolean) => (log.push(`close:${hadError}`), resolve())));
}

const until = (check: () => boolean) =>
  new Promise<void>((resolve) => {
    const poll = setInterval(() => check() && (clearInterval(poll), resolve()), 2);
  });

/** Runs `scenario` with both sockets, each against its own peer made by `makePeer`; both results, net's first. */
async function both<T>(makePeer: () => ReturnType<typeof peer>, scenario: (connect: Connect, port: number, log: string[]) => Promise<T>) {
  const results = [];
  for (const connect of [viaNet, viaLean]) {
    const server = await makePeer();
    const log: string[] = [];
    try {
      const value = await scenario(connect, server.port, log);
      results.push({ log, received: [...server.received], value });
    } finally {
      await server.close();
    }
  }
  return results;
}

test('the bindings it needs are there on this Node (else one-shot commands fall back to node:net, and are slower)', () => {
  expect(tcpBindings()).not.toBeNull();
  expect(leanConnect(11211, 'localhost')).toBeNull(); // a name is node:net's to resolve
});

test('connect, a request and its answer, then end: the same events, and the peer sees the bytes and the FIN', async () => {
  const [net, lean] = await both(
    () => peer((socket) => socket.on('data', (chunk) => socket.write(`echo ${chunk}`))),
    async (connect, port, log) => {
      const client = connect(port, '127.0.0.1', () => log.push('listener'));
      const closed = record(client, log);
      client.write('ping'); // before the connection is up: held until it is
      await until(() => log.some((entry) => entry.startsWith('data:')));
      client.end();
      await closed;
    },
  );
  expect(lean!.log).toEqual(net!.log);
  expect(net!.log).toEqual(['listener', 'connect', 'data:echo ping', 'end', 'close:false']);
  expect(lean!.received).toEqual(net!.received);
  expect(lean!.received).toEqual(['ping<FIN>']);
});

test('nothing listening: the same error (code and message) and close', async () => {
  const [net, lean] = await both(
    async () => {
      const gone = await peer();
      await gone.close();
      return { ...gone, close: async () => undefined };
    },
    async (connect, port, log) => {
      await record(connect(port, '127.0.0.1'), log);
      return port;
    },
  );
  expect(lean!.log).toEqual([`error:ECONNREFUSED:connect ECONNREFUSED 127.0.0.1:${lean!.value}`, 'close:true']);
  expect(net!.log).toEqual([`error:ECONNREFUSED:connect ECONNREFUSED 127.0.0.1:${net!.value}`, 'close:true']);
});

test('the peer answers and closes: data, end, close', async () => {
  const [net, lean] = await both(
    () => peer((socket) => socket.end('bye')),
    async (connect, port, log) => record(connect(port, '127.0.0.1'), log),
  );
  expect(lean!.log).toEqual(net!.log);
  expect(net!.log).toEqual(['connect', 'data:bye', 'end', 'close:false']);
});

test('the peer resets the connection: the same read error, then close', async () => {
  const [net, lean] = await both(
    () => peer((socket) => socket.on('data', () => socket.resetAndDestroy())),
    async (connect, port, log) => {
      const client = connect(port, '127.0.0.1');
      const closed = record(client, log);
      client.write('x');
      await closed;
    },
  );
  expect(lean!.log).toEqual(net!.log);
  expect(net!.log).toEqual(['connect', 'error:ECONNRESET:read ECONNRESET', 'close:true']);
});

test('an idle timeout: "timeout" without closing; activity restarts it; 0 turns it off and removes its listener', async () => {
  const [net, lean] = await both(
    () => peer((socket) => socket.on('data', (chunk) => chunk.toString() === 'later' && setTimeout(() => socket.write('answer'), 30))),
    async (connect, port, log) => {
      const client = connect(port, '127.0.0.1');
      const closed = record(client, log);
      let fired = 0;
      await new Promise<void>((resolve) => client.once('connect', () => resolve()));
      client.setTimeout(60, () => (fired++, client.write('later')));
      await until(() => log.includes('timeout'));
      await until(() => log.includes('data:answer')); // the answer came 30 ms later: the timer restarted, has not fired
      log.push(`fired:${fired}`);
      await until(() => log.filter((entry) => entry === 'timeout').length === 2); // idle again after the answer
      const listener = () => log.push('removed listener ran');
      client.setTimeout(30, listener);
      client.setTimeout(0, listener);
      await new Promise((resolve) => setTimeout(resolve, 80));
      client.destroy();
      await closed;
      return fired;
    },
  );
  expect(lean!.log).toEqual(net!.log);
  expect(net!.log).toEqual(['connect', 'timeout', 'data:answer', 'fired:1', 'timeout', 'close:false']);
});

test('destroy with an error: error, then close(true); nothing after', async () => {
  const [net, lean] = await both(
    () => peer(),
    async (connect, port, log) => {
      const client = connect(port, '127.0.0.1', () => client.destroy(new Error('given up')));
      await record(client, log);
      // After close: a timeout never fires, a write is refused without an event.
      client.setTimeout(10, () => log.push('timeout after close'));
      log.push(`write after close:${client.write('x')}`);
      await new Promise((resolve) => setTimeout(resolve, 40));
    },
  );
  expect(lean!.log).toEqual(net!.log);
  expect(net!.log).toEqual(['connect', 'error:undefined:given up', 'close:true', 'write after close:false']);
});

test('a write after end destroys the socket with an error, told after the write returned', async () => {
  const [net, lean] = await both(
    () => peer(),
    async (connect, port, log) => {
      const client = connect(port, '127.0.0.1');
      const closed = record(client, log);
      await new Promise<void>((resolve) => client.once('connect', () => resolve()));
      client.end();
      const returned = client.write('late');
      log.push(`returned:${returned}`);
      await closed;
    },
  );
  expect(lean!.log).toEqual(net!.log);
  expect(net!.log).toEqual(['connect', 'returned:false', 'error:ERR_STREAM_WRITE_AFTER_END:write after end', 'close:true']);
});

test('corked writes go out together on uncork, in order; keep-alive is accepted', async () => {
  const [net, lean] = await both(
    () => peer((socket) => socket.on('data', (chunk) => socket.write(`[${chunk}]`))),
    async (connect, port, log) => {
      const client = connect(port, '127.0.0.1');
      client.setKeepAlive(true, 1000);
      const closed = record(client, log);
      await new Promise<void>((resolve) => client.once('connect', () => resolve()));
      client.cork();
      for (const part of ['a', 'b', 'c']) client.write(part);
      client.uncork();
      await until(() => log.some((entry) => entry.startsWith('data:')));
      client.end();
      await closed;
    },
  );
  expect(lean!.log).toEqual(net!.log);
  expect(net!.log).toEqual(['connect', 'data:[abc]', 'end', 'close:false']);
  expect(lean!.received).toEqual(['abc<FIN>']);
});

test('a large write (8 MiB, more than the kernel takes at once) arrives whole and in order', async () => {
  const payload = Buffer.alloc(8 * 1024 * 1024);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 7) & 0xff;
  let got = Buffer.alloc(0);
  const server = await peer((socket) => {
    const chunks: Buffer[] = [];
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('end', () => (got = Buffer.concat(chunks)));
  });
  try {
    const client = leanConnect(server.port, '127.0.0.1')!;
    expect(client).toBeInstanceOf(LeanSocket);
    const closed = new Promise((resolve) => client.on('close', resolve));
    client.write(payload);
    client.end();
    await closed;
    await until(() => got.length > 0);
    expect(got.equals(payload)).toBe(true);
  } finally {
    await server.close();
  }
});
