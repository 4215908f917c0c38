export default async function globalTeardown() {
  await globalThis.__memcached?.stop();
}
