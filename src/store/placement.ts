/**
 * Which server of a pool holds a key: rendezvous (highest random weight) hashing. Each server scores every key;
 * the highest score wins. Adding a server to N moves only the keys the new server now wins, about 1/(N+1) of
 * them (modulo hashing moved N/(N+1)), and the order of the server list does not matter: every process that has
 * the same set places every key on the same server.
 */

/** FNV-1a, 32 bits, over UTF-16 code units, from a seed. */
function fnv1a(text: string, seed = 0x811c9dc5): number {
  let hash = seed;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return hash >>> 0;
}

/** murmur3's finaliser: every input bit moves every output bit, so scores of one key on two servers are unrelated. */
function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Precomputed per-server weights for placing keys on `servers` (canonical names, any order). */
export class Placement {
  private readonly seeds: number[];

  constructor(readonly servers: readonly string[]) {
    this.seeds = servers.map((server) => fnv1a(server));
  }

  /** Index into `servers` of the server that holds `key`. */
  indexOf(key: string): number {
    if (this.seeds.length === 1) return 0;
    const keyHash = fnv1a(key);
    let best = 0;
    let bestScore = -1;
    for (let i = 0; i < this.seeds.length; i++) {
      const score = mix(keyHash ^ this.seeds[i]!);
      // Ties (one in 2^32) go to the smaller name, so they too are the same in every process.
      if (score > bestScore || (score === bestScore && this.servers[i]! < this.servers[best]!)) {
        best = i;
        bestScore = score;
      }
    }
    return best;
  }
}
