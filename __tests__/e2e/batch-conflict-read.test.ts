/**
 * Regression (found by properties/model-batch.test.ts): inside one batch group, a read between a failed
 * conditional write of a key and a later write of the same key is answered by the key's state as the failed write
 * left it — which the store had read without its value (a key-only read, as no write of the group compared values):
 * `get` printed an empty value with the right revision. The real value must come back, on either store.
 */
import { runTbase } from '../helpers/tbase.js';
import { storeKinds } from '../helpers/stores.js';
import { testServers } from '../helpers/temp.js';

describe.each(storeKinds())('%s store', (kind) => {
  test('a get after a failed --if-… write, with a later write of its key in the same group, shows the stored value', async () => {
    const db = await kind.location();
    const batch = (input: string) => runTbase(['--db', db, '--servers', testServers(), '--json'], { stdin: input });
    expect((await batch('set k v1\nset "other key" w\n')).code).toBe(0);
    // One input, one group: each get is answered by the failed write before it (a later write of its key follows).
    const r = await batch(
      ['set --if-absent k x', 'get k', 'set --if-revision 5 k y', 'delete "other key" --if-revision 9', 'get "other key"', 'set --if-revision 7 "other key" z', 'get k', 'get "other key"'].join('\n'),
    );
    const answers = r.out.trim().split('\n').map((line) => JSON.parse(line) as { command: string; value?: string; revision?: number; error?: string });
    expect(answers.map((a) => (a.command === 'get' ? a.value : a.error))).toEqual(['conflict', 'v1', 'conflict', 'conflict', 'w', 'conflict', 'v1', 'w']);
    expect(answers[1]).toMatchObject({ revision: 1, version: 1 });
    expect(r.code).toBe(0);
  });
});
