export default async function globalTeardown() {
  const daemon = globalThis.__redisDaemon;
  if (!daemon) return;
  await new Promise((resolve) => {
    daemon.once('exit', resolve);
    daemon.stdin.end();
  });
}
