import type { Context, Next } from 'koa';
import type { Logger } from 'pino';

/**
 * One JSON line per request. Only the path is logged, never the query string (search
 * parameters carry patient data), headers, tokens or bodies.
 */
export function requestLog(log: Logger) {
  return async (ctx: Context, next: Next) => {
    const started = process.hrtime.bigint();
    let finished = false;
    const done = () => {
      if (finished) return;
      finished = true;
      const claims = ctx.state.claims as { client_id?: string; sub?: string } | undefined;
      const status = ctx.respond === false ? ctx.res.statusCode : ctx.status;
      log.info(
        {
          req_id: ctx.state.requestId,
          method: ctx.method,
          path: ctx.path,
          status,
          ms: Number(process.hrtime.bigint() - started) / 1e6,
          client_id: claims?.client_id,
          upstream_error: ctx.state.upstreamError,
        },
        'request',
      );
    };
    ctx.res.once('finish', done);
    ctx.res.once('close', done);
    await next();
  };
}
