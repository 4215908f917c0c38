// `npm run dev`: runs the TypeScript sources as they are, through ts-node's ESM loader (registered with Node's
// module.register, as `--loader` is deprecated). Transpile only: `npm run typecheck` (tsc) is the type check.
import { register } from 'node:module';
import { pathToFileURL } from 'node:url';

process.env.TS_NODE_TRANSPILE_ONLY ??= 'true';
register('ts-node/esm', pathToFileURL('./'));
