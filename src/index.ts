/** Process wrapper: real streams in, exit status out. Kept apart from cli.ts so tests can call main() directly. */
import { main } from './cli.js';
import { IO } from './io.js';

const io = IO.fromProcess();
const code = await main(process.argv.slice(2), io, process.env);
// Exit explicitly once output is flushed: nothing left open (a wedged socket, a stdin listener) may keep us alive.
await io.flush();
process.exit(code);
