// Baseline process for row 1b: the least a one-shot cache hit can do in Node, with none of tbase's own code. It
// checks whether stdout is a terminal, loads sqlite3's addon, runs one SQLite query (the outbox's, which the protocol
// runs before a cache read; run by exec, so its rows are not handed back to JavaScript), sends one binary-protocol
// GET and prints the value (its reply assumed to come in one read: a few bytes on loopback). Like tbase, it uses
// Node's TCP handle and terminal check directly (src/bindings.ts), without node:net and node:tty, which cost
// more to load and run the first time than all of this.
// No options, no config, no pool or namespace, no deadlines, no error handling beyond failing loudly.
// Usage: node bench/least-get.cjs <addon> <db> <host:port> <key>          (the measured run: prints the cached value)
//        node bench/least-get.cjs <addon> <db> <host:port> <key> <value>  (stores the value instead, with a binary SET)
// <addon> is sqlite3's node_sqlite3.node, found by the caller (resolving it here would cost more than the rest).
'use strict';
const { EventEmitter } = require('node:events');
const { writeSync } = require('node:fs');

const [addonPath, db, address, key, value] = process.argv.slice(2);
const [host, port] = address.split(':');
process.binding('tty_wrap').isTTY(1);
const { TCP, TCPConnectWrap, constants } = process.binding('tcp_wrap');
const { WriteWrap, streamBaseState, kReadBytesOrError, kArrayBufferOffset } = process.binding('stream_wrap');

const addon = { exports: {} };
process.dlopen(addon, addonPath);
const { Database, OPEN_READONLY } = addon.exports;
// The addon reports events through emit(), which the sqlite3 package's JavaScript adds; this is all of it needed here.
Object.setPrototypeOf(Database.prototype, EventEmitter.prototype);

/** A binary-protocol request: 24-byte header, extras, key, value. */
function request(opcode, extras, body) {
  const keyBytes = Buffer.from(key);
  const header = Buffer.alloc(24);
  header[0] = 0x80;
  header[1] = opcode;
  header.writeUInt16BE(keyBytes.length, 2);
  header[4] = extras.length;
  header.writeUInt32BE(extras.length + keyBytes.length + body.length, 8);
  return Buffer.concat([header, extras, keyBytes, body]);
}

const socket = new TCP(constants.SOCKET);
let connected = false;
let queried = false;
const connecting = new TCPConnectWrap();
connecting.oncomplete = (status) => {
  if (status !== 0) throw new Error(`connect failed: ${status}`);
  connected = true;
  if (queried) send();
};
socket.connect(connecting, host, Number(port));

function send() {
  socket.onread = (buffer) => {
    const reply = Buffer.from(buffer, streamBaseState[kArrayBufferOffset], streamBaseState[kReadBytesOrError]);
    const status = reply.readUInt16BE(6);
    if (status !== 0) throw new Error(`memcached answered status ${status}`);
    const start = 24 + reply[4] + reply.readUInt16BE(2);
    if (value === undefined) writeSync(1, Buffer.concat([reply.subarray(start, 24 + reply.readUInt32BE(8)), Buffer.from('\n')]));
    socket.close(() => undefined);
    sqlite.close(() => undefined);
  };
  socket.readStart();
  const write = new WriteWrap();
  write.handle = socket;
  write.oncomplete = () => undefined;
  // SET: extras are flags (4) and expiration (4), both 0. GET: no extras.
  socket.writeBuffer(write, value === undefined ? request(0x00, Buffer.alloc(0), Buffer.alloc(0)) : request(0x01, Buffer.alloc(8), Buffer.from(value)));
}

// The GET goes out only once the outbox query has answered (the protocol's order), and the connection is up.
const sqlite = new Database(db, OPEN_READONLY, (error) => {
  if (error) throw error;
  sqlite.exec('SELECT id, key FROM outbox ORDER BY id LIMIT 256', (error) => {
    if (error) throw error;
    queried = true;
    if (connected) send();
  });
});
