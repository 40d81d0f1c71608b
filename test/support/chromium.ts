import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser } from 'playwright-core';

interface TeardownRegistry {
  teardown(fn: () => unknown): void;
}

/** The system's headless Chromium, closed when the test ends; no background traffic of its own. */
export async function launchChromium(t: TeardownRegistry): Promise<Browser> {
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  t.teardown(() => browser.close());
  return browser;
}

export interface LandingServer {
  /** http://127.0.0.1:PORT */
  origin: string;
  /** The URLs landed on whose path `records` accepted, in order (Chromium also asks for /favicon.ico). */
  landed: URL[];
}

/**
 * A page on 127.0.0.1 a browser can really be redirected to (an app's redirect URI, a gateway's
 * callback): every path answers a small HTML page; closed when the test ends.
 */
export async function startLandingServer(t: TeardownRegistry, records: (url: URL) => boolean): Promise<LandingServer> {
  const landed: URL[] = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', origin);
    if (records(url)) landed.push(url);
    res.writeHead(200, { 'content-type': 'text/html' }).end(`<!doctype html><title>Landed</title><p>Landed</p>`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { origin, landed };
}
