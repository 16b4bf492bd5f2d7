import type { DualWrite } from '@dualwrite/core';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type {
  FastifyBaseLogger,
  FastifyInstance,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerDefault,
} from 'fastify';
import type { Backends } from './backends/open-backends.js';
import type { ResolvedConfig } from './config/load.js';
import type { Telemetry } from './metrics/telemetry.js';
import type { SummaryService } from './summaries/summary-service.js';
import type { StoreKysely } from './summaries/table.js';

/** Everything a route needs, built once by `buildServer`. */
export interface AppContext {
  config: ResolvedConfig;
  dw: DualWrite<StoreKysely>;
  summaries: SummaryService;
  telemetry: Telemetry;
  backends: Backends;
}

/** The Fastify instance with TypeBox type inference for route schemas. */
export type App = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;
