/**
 * Every MemcachePool case again, with memjs connecting through the lean socket (store/lean-socket.ts) as it does
 * in a one-shot command: in the bundle, memjs's require('net') is store/memjs-net.ts (scripts/bundle.js); here it
 * is replaced the same way before memjs loads. A connect the lean socket would not take fails the test instead of
 * falling back to node:net.
 */
import { jest } from '@jest/globals';
import { leanConnect, LeanSocket } from '../../src/store/lean-socket.js';

const made: LeanSocket[] = [];
jest.mock('net', () => ({
  connect(port: number, host: string, listener?: () => void) {
    const socket = leanConnect(Number(port), host, listener);
    if (!socket) throw new Error(`no lean socket for ${host}:${port}`);
    made.push(socket);
    return socket;
  },
}));

const { describeMemcachePool } = await import('../helpers/memcache-pool-cases.js');
describeMemcachePool('lean socket');

afterAll(() => {
  // The cases ran on lean sockets, not on a fallback.
  expect(made.length).toBeGreaterThan(10);
  expect(made.every((socket) => socket instanceof LeanSocket)).toBe(true);
});
