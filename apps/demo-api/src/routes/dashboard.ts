import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { App } from '../app-context.js';

/**
 * The dashboard's own files. Resolved from the package root so the same path works when running the
 * TypeScript sources (`src/routes`) and the build (`dist/routes`): both are two levels below it.
 */
export const DASHBOARD_DIR = fileURLToPath(new URL('../../src/dashboard/', import.meta.url));

/** Directory of Chart.js's prebuilt bundles inside `node_modules` (served as is, no CDN). */
export const CHART_JS_DIR = dirname(createRequire(import.meta.url).resolve('chart.js'));

/** URL prefix of the dashboard's static assets (open without the bearer token). */
export const ASSETS_PREFIX = '/assets/';

/**
 * `GET /` serves the sync dashboard; `/assets/*` its script and stylesheet; `/assets/vendor/chart.umd.min.js`
 * Chart.js from `node_modules`. The page calls the JSON API with the token the operator enters (kept in
 * `sessionStorage`) when one is configured.
 */
export async function dashboardRoutes(app: App): Promise<void> {
  await app.register(fastifyStatic, {
    root: DASHBOARD_DIR,
    prefix: ASSETS_PREFIX,
    wildcard: false,
    index: false,
    cacheControl: true,
    maxAge: 60_000,
  });

  app.get('/', { config: { public: true }, schema: { hide: true } }, (_request, reply) =>
    reply.type('text/html; charset=utf-8').sendFile('index.html', DASHBOARD_DIR, { maxAge: 0 }),
  );

  app.get(
    `${ASSETS_PREFIX}vendor/chart.umd.min.js`,
    { config: { public: true }, schema: { hide: true } },
    (_request, reply) => reply.sendFile('chart.umd.min.js', CHART_JS_DIR),
  );
}
