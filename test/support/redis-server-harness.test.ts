import t from 'tap';
import { existsSync } from 'node:fs';
import { Redis } from 'ioredis';
import { startRedisServer, startRedisServerFor } from './redis-server.js';

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function configValue(url: string, name: string): Promise<string | undefined> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0 });
  try {
    await client.connect();
    const reply = (await client.config('GET', name)) as string[];
    return reply[1];
  } finally {
    client.disconnect();
  }
}

t.test('a private, non-persistent server on its own port and dir', async (t) => {
  const server = await startRedisServerFor(t);
  t.not(server.port, 6379, 'never the machine Redis');
  t.equal(server.url, `redis://127.0.0.1:${server.port}/0`);
  t.ok(isAlive(server.pid));
  t.ok(existsSync(server.dir));
  t.equal(await configValue(server.url, 'dir'), server.dir);
  t.equal(await configValue(server.url, 'save'), '');
  t.equal(await configValue(server.url, 'appendonly'), 'no');
});

t.test('kill, then restart on the same port and dir', async (t) => {
  const server = await startRedisServerFor(t, { appendonly: true });
  t.equal(await configValue(server.url, 'appendfsync'), 'always');
  const firstPid = server.pid;
  await server.kill();
  t.notOk(isAlive(firstPid), 'killed');
  t.ok(existsSync(server.dir), 'the dir survives a crash');
  await server.restart();
  t.not(server.pid, firstPid);
  t.equal(await configValue(server.url, 'dir'), server.dir);
  t.equal(await configValue(server.url, 'appendonly'), 'yes');
});

t.test('stop ends the process and removes the dir, twice is harmless', async (t) => {
  const server = await startRedisServer();
  const pid = server.pid;
  await server.stop();
  t.notOk(isAlive(pid));
  t.notOk(existsSync(server.dir));
  await server.stop();
  await t.rejects(server.restart(), /stopped/);
});
