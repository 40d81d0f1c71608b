/**
 * (b) The baseline: what a user would write in 20 lines -- http-proxy with a keep-alive agent in
 * front of the upstream, no authentication at all.
 *
 *   node --import tsx bench/servers/bare-proxy.ts --upstream http://127.0.0.1:PORT
 */
import { Agent, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import httpProxy from 'http-proxy';
import { arg, serveChild } from './child-protocol.js';

const target = arg('upstream');
const agent = new Agent({ keepAlive: true });
const proxy = httpProxy.createProxyServer({ target, agent, changeOrigin: true });
proxy.on('error', (_err, _req, res) => {
  if ('writeHead' in res && !res.headersSent) res.writeHead(502);
  res.end();
});
const server = createServer((req, res) => proxy.web(req, res));
server.keepAliveTimeout = 65_000;
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));

const { port } = server.address() as AddressInfo;
serveChild(`http://127.0.0.1:${port}`, {}, async () => {
  server.close();
  server.closeAllConnections();
  proxy.close();
  agent.destroy();
});
