import type { Forwarder } from './forwarder.js';
import type { GatewayMetrics } from '../process/metrics.js';

/**
 * Feeds `fhirgw_upstream_duration_seconds`: for `forward`, from sending the request to the end
 * of the response to the client (the forwarders resolve on finish/close); for `send`, from
 * sending to the end of the upstream body. Failures (unreachable, timeout) are timed too, so a
 * slow failing upstream shows in the histogram.
 */
export function instrumentForwarder(forwarder: Forwarder, metrics: GatewayMetrics): Forwarder {
  return {
    async forward(req, res, request) {
      const end = metrics.upstreamDuration.startTimer();
      try {
        return await forwarder.forward(req, res, request);
      } finally {
        end();
      }
    },
    async send(request) {
      const end = metrics.upstreamDuration.startTimer();
      let response;
      try {
        response = await forwarder.send(request);
      } catch (err) {
        end();
        throw err;
      }
      let ended = false;
      const done = () => {
        if (ended) return;
        ended = true;
        end();
      };
      response.body.once('end', done);
      response.body.once('close', done);
      response.body.once('error', done);
      return response;
    },
    close: () => forwarder.close(),
  };
}
