// node proxy-variants.mjs <variant> <upstreamOrigin> ; prints port; reports cpu on SIGUSR2 to stdout
import { createServer, Agent } from 'node:http';
import { Pool } from 'undici';
import httpProxy from 'http-proxy';
const [variant, origin] = process.argv.slice(2);
let handler;
if (variant === 'http-proxy') {
  const agent = new Agent({ keepAlive: true });
  const proxy = httpProxy.createProxyServer({ target: origin, agent, changeOrigin: true });
  handler = (req, res) => proxy.web(req, res);
} else {
  const pool = new Pool(origin, { connections: 256, pipelining: 1, keepAliveTimeout: 30000 });
  if (variant === 'stream') {
    handler = (req, res) => {
      pool.stream({ path: req.url, method: req.method, headers: { accept: req.headers.accept ?? '*/*' }, body: null }, ({ statusCode, headers }) => {
        res.writeHead(statusCode, headers);
        return res;
      }).catch(() => res.destroy());
    };
  } else {
    class Handler {
      constructor(res) { this.res = res; this.resume = null; }
      onConnect() {}
      onHeaders(statusCode, rawHeaders, resume) {
        const flat = [];
        for (let i = 0; i < rawHeaders.length; i += 2) flat.push(rawHeaders[i].toString('latin1'), rawHeaders[i + 1].toString('latin1'));
        this.res.writeHead(statusCode, flat);
        this.resume = resume;
        return true;
      }
      onData(chunk) {
        const ok = this.res.write(chunk);
        if (!ok) { this.res.once('drain', this.resume); }
        return ok;
      }
      onComplete() { this.res.end(); }
      onError() { this.res.destroy(); }
    }
    handler = (req, res) => { pool.dispatch({ path: req.url, method: req.method, headers: { accept: req.headers.accept ?? '*/*' }, body: null }, new Handler(res)); };
  }
}
const server = createServer(handler);
server.keepAliveTimeout = 65000;
server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: server.address().port })));
process.on('message', (m) => { if (m === 'cpu') process.send(process.cpuUsage()); });
process.on('SIGINT', () => process.exit(0));
