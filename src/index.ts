/** Process wrapper: real streams in, exit status out. Kept apart from cli.ts so tests can call main() directly. */
import { main } from './cli.js';
import { IO } from './io.js';

const io = IO.fromProcess();
// No top-level await: the bundle (scripts/bundle.js) is CommonJS.
void main(process.argv.slice(2), io, process.env, { processExits: true }).then(async (code) => {
  // Exit explicitly once output is flushed: nothing left open (a wedged socket, a stdin listener) may keep us alive.
  await io.flush();
  process.exit(code);
});
