import type { FastifyInstance } from 'fastify';
import { ApiError } from './api-error.js';

/** Methods a browser sends cross-origin without a CORS preflight when the body is form-like or absent. */
const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Host names that only this machine reaches. */
const LOOPBACK = /^(localhost|127(?:\.\d{1,3}){3}|\[::1\])$/i;

/** The host name of a `Host` header (`name`, `name:port`, `[v6]:port`). */
function hostName(header: string): string {
  return header.startsWith('[') ? header.slice(0, header.indexOf(']') + 1) : (header.split(':')[0] ?? '');
}

/**
 * Refuses, with a typed 403, what a web page of another origin could make a browser send to this service:
 * - a state-changing request (`POST`, `PUT`, `PATCH`, `DELETE`) whose `Origin` is not this service's own, or that
 *   the browser marks `Sec-Fetch-Site: cross-site` — a body-less `POST /sync/pause` is a "simple" request a page
 *   can send without a preflight (a break-it round paused delivery from another origin in headless Chromium);
 *   clients that are not browsers send no `Origin` and are unaffected (OWASP CSRF cheat sheet, "Verifying Origin
 *   with standard headers");
 * - while the service listens on a loopback address, any request whose `Host` is not a loopback name: a DNS
 *   rebinding page resolves its own name to 127.0.0.1 and reads the API as same-origin.
 */
export function refuseCrossOrigin(app: FastifyInstance, listenHost: string): void {
  const loopbackOnly = LOOPBACK.test(listenHost) || listenHost === '::1';
  app.addHook('onRequest', async (request) => {
    const host = request.headers.host ?? '';
    if (loopbackOnly && !LOOPBACK.test(hostName(host)))
      throw new ApiError(
        403,
        'FORBIDDEN',
        `Host ${JSON.stringify(host)} is not this service's: it listens on loopback only`,
      );
    if (!UNSAFE.has(request.method)) return;
    const origin = request.headers.origin;
    const site = request.headers['sec-fetch-site'];
    let sameOrigin = origin === undefined;
    if (origin !== undefined)
      try {
        sameOrigin = new URL(origin).host === host;
      } catch {
        sameOrigin = false;
      }
    if (!sameOrigin || site === 'cross-site')
      throw new ApiError(
        403,
        'FORBIDDEN',
        `a ${request.method} from another origin (${origin ?? site}) is refused: this API takes no cross-origin writes`,
      );
  });
}
