import t from 'tap';
import { upstreamTlsSuite } from './upstream-tls-suite.js';

/** Issue 11, upstream.tls end to end through the http-proxy forwarder (see upstream-tls-suite.ts). */
upstreamTlsSuite(t, 'http-proxy');
