/**
 * TLS towards the upstream, from `upstream.tls` and the PEM files config/upstream-files.ts read:
 * options for undici (`new Pool(origin, { connect: tls.connect })`) and for node's https.Agent,
 * and a second set for the token endpoints the credentials call; plus the sentence that says
 * which certificate problem a failed handshake had.
 *
 * Certificate verification is never switched off except by `allow_insecure`, which is logged.
 */
import { rootCertificates } from 'node:tls';
import type { AgentOptions } from 'node:https';
import { buildConnector } from 'undici';
import type { UpstreamTlsConfig } from '../../config/types.js';
import type { UpstreamTlsFiles } from '../../config/upstream-files.js';

/** The node TLS options the gateway sets (a subset of tls.ConnectionOptions, accepted by undici's `connect`). */
export interface TlsConnectOptions {
  ca?: string | string[];
  cert?: string;
  key?: string;
  servername?: string;
  rejectUnauthorized: boolean;
}

export interface UpstreamTls {
  /** For undici towards the upstream: `new Pool(upstreamOrigin, { connect: tls.connect })`. */
  connect: TlsConnectOptions;
  /** For node's `new https.Agent({ ...tls.agentOptions, keepAlive, maxSockets })` towards the upstream. */
  agentOptions: AgentOptions;
  /**
   * For token endpoints and discovery, which are usually other hosts: the system's CAs plus
   * ca_file (a private IdP and a public one both verify), the client certificate (RFC 8705), and
   * no server_name (that name is the upstream's).
   */
  tokenEndpointConnect: TlsConnectOptions;
  /** allow_insecure: no verification at all. */
  insecure: boolean;
}

export interface TlsLog {
  warn(obj: object, msg: string): void;
}

/** Builds the options once at start; with allow_insecure it logs the one warning. */
export function upstreamTls(config: UpstreamTlsConfig | undefined, files: UpstreamTlsFiles, log?: TlsLog): UpstreamTls {
  const insecure = config?.allow_insecure === true;
  if (insecure) {
    log?.warn(
      { setting: 'upstream.tls.allow_insecure' },
      'upstream TLS certificates are NOT verified (upstream.tls.allow_insecure: true): anyone on the network path can impersonate the upstream; for tests only',
    );
  }
  const clientCertificate = files.cert !== undefined && files.key !== undefined ? { cert: files.cert, key: files.key } : {};
  const connect: TlsConnectOptions = {
    rejectUnauthorized: !insecure,
    ...(files.ca !== undefined ? { ca: files.ca } : {}),
    ...clientCertificate,
    ...(config?.server_name !== undefined ? { servername: config.server_name } : {}),
  };
  const tokenEndpointConnect: TlsConnectOptions = {
    rejectUnauthorized: !insecure,
    // node's `ca` replaces the system roots; a public IdP must still verify.
    ...(files.ca !== undefined ? { ca: [...rootCertificates, files.ca] } : {}),
    ...clientCertificate,
  };
  return { connect, agentOptions: { ...connect }, tokenEndpointConnect, insecure };
}

/**
 * An undici connector (`new Pool(origin, { connect: tlsConnector(tls.connect) })`) that makes a
 * request fail with the TLS alert the server sent, not with the end of stream after it.
 *
 * With TLS 1.3 the server checks the client certificate after the client considers the
 * handshake done, so a refused (or missing) client certificate arrives as an alert while the
 * first request is in flight. undici keeps that error aside and then fails the request with
 * "other side closed" when the stream ends, losing the reason. An alert is fatal to the
 * connection (RFC 8446 §6.2), so the socket is destroyed at once: undici then fails the request
 * with the alert itself, and describeTlsFailure can name it.
 */
export function tlsConnector(options: TlsConnectOptions & { timeout?: number }): buildConnector.connector {
  const connect = buildConnector({ ...options });
  return (connectOptions, callback) =>
    connect(connectOptions, (err, socket) => {
      if (socket) {
        socket.prependListener('error', (error: Error & { code?: string }) => {
          if (typeof error.code === 'string' && error.code.startsWith('ERR_SSL_')) socket.destroy();
        });
      }
      (callback as (...args: unknown[]) => void)(err, socket);
    });
}

// ---------------------------------------------------------------------------------------
// Handshake failures
// ---------------------------------------------------------------------------------------

export type TlsProblem = 'unknown_ca' | 'expired' | 'not_yet_valid' | 'name_mismatch' | 'client_certificate_refused' | 'handshake_failed';

export interface TlsFailure {
  problem: TlsProblem;
  /** One sentence for the OperationOutcome and the log line: the problem and the setting that addresses it. */
  message: string;
  /** The OpenSSL / node code it was read from. */
  code: string;
}

const UNKNOWN_CA = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'INVALID_CA',
]);

/** Alerts the server sends when it does not accept the client certificate (or got none). */
const CLIENT_CERTIFICATE_ALERTS = new Set([
  'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED',
  'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE',
  'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA',
  'ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED',
  'ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN',
  'ERR_SSL_SSLV3_ALERT_CERTIFICATE_REVOKED',
  'ERR_SSL_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE',
  'ERR_SSL_TLSV1_ALERT_ACCESS_DENIED',
]);

/**
 * What went wrong in a TLS handshake, from an error of node's tls, https or undici (the code
 * may sit on a `cause`); undefined when the error is not a TLS failure. `peer` names the server
 * in the sentence ("the upstream", "the token endpoint").
 */
export function describeTlsFailure(err: unknown, peer = 'the upstream'): TlsFailure | undefined {
  for (const failure of causes(err)) {
    const code = (failure as { code?: unknown }).code;
    if (typeof code !== 'string') continue;
    if (UNKNOWN_CA.has(code)) {
      return { problem: 'unknown_ca', code, message: `${peer}'s certificate is not signed by a trusted CA (unknown CA, ${code}); set upstream.tls.ca_file to the CA that issued it` };
    }
    if (code === 'CERT_HAS_EXPIRED') {
      return { problem: 'expired', code, message: `${peer}'s certificate has expired (${code})` };
    }
    if (code === 'CERT_NOT_YET_VALID') {
      return { problem: 'not_yet_valid', code, message: `${peer}'s certificate is not valid yet (${code}); check the clocks` };
    }
    if (code === 'ERR_TLS_CERT_ALTNAME_INVALID' || code === 'HOSTNAME_MISMATCH') {
      const reason = (failure as { reason?: unknown }).reason;
      return {
        problem: 'name_mismatch',
        code,
        message: `${peer}'s certificate does not match its name (name mismatch${typeof reason === 'string' ? `: ${reason}` : ''}); set upstream.tls.server_name to a name the certificate holds`,
      };
    }
    if (CLIENT_CERTIFICATE_ALERTS.has(code)) {
      return {
        problem: 'client_certificate_refused',
        code,
        message: `${peer} refused the gateway's client certificate (client certificate refused, ${code}); check upstream.tls.cert_file and key_file`,
      };
    }
    if (code === 'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE' || code.startsWith('ERR_SSL_')) {
      return {
        problem: 'handshake_failed',
        code,
        message: `the TLS handshake with ${peer} failed (${code}); it may require a client certificate (upstream.tls.cert_file) or other TLS settings`,
      };
    }
  }
  return undefined;
}

function* causes(err: unknown): Generator<object> {
  let current: unknown = err;
  for (let depth = 0; depth < 5 && current !== null && typeof current === 'object'; depth++) {
    yield current;
    current = (current as { cause?: unknown }).cause;
  }
}
