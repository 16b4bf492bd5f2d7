import {
  BackendUnavailableError,
  DimensionMismatchError,
  type Embedder,
  PermanentBackendError,
  TransientBackendError,
  ValidationError,
} from '@dualwrite/core';

/** Component name carried by this embedder's errors. */
export const OPENAI_EMBEDDER_COMPONENT = 'openai-embedder';

/** Options of {@link OpenAiEmbedder}. */
export interface OpenAiEmbedderOptions {
  /** Base URL of an OpenAI-compatible API, e.g. `https://api.openai.com/v1`; `/embeddings` is appended. */
  baseUrl: string;
  /** Model name sent as `model`. */
  model: string;
  /** Expected output dimension; every returned vector is checked against it. */
  dimension: number;
  /** Sent as `Authorization: Bearer <apiKey>` when given. Never appears in errors or logs. */
  apiKey?: string;
  /** Also send `dimensions` in the request (OpenAI `text-embedding-3-*`). Default `false`. */
  requestDimensions?: boolean;
  /** Per-call timeout, ms. Default 30,000. */
  timeoutMs?: number;
  /** Most texts per call. Default 64. */
  maxBatchSize?: number;
  /** `fetch` implementation (tests). Default the global `fetch`. */
  fetch?: typeof fetch;
}

/** Error codes of Node's network stack that mean "nobody answers there". */
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ECONNRESET',
  'EPIPE',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_SOCKET',
]);

/** `Retry-After` (delta seconds or HTTP date) → ms, if present and sane. */
export function parseRetryAfter(header: string | null, now = Date.now()): number | undefined {
  if (!header) return undefined;
  const trimmed = header.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

function networkCode(error: unknown): string | undefined {
  for (let e: unknown = error, depth = 0; e && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * An {@link Embedder} over an OpenAI-compatible `POST {baseUrl}/embeddings` endpoint (OpenAI, Azure-style
 * proxies, vLLM, Ollama, LocalAI, text-embeddings-inference...), using the global `fetch`.
 *
 * Errors (all with `component: 'openai-embedder'`):
 * - connection refused / DNS failure / reset → {@link BackendUnavailableError} (delivery pauses, uncharged);
 * - HTTP 429 and 5xx, and timeouts → {@link TransientBackendError} with `status` and `retryAfterMs` from
 *   `Retry-After`;
 * - other HTTP 4xx, or a 2xx body that is not an embeddings response → {@link PermanentBackendError};
 * - a returned vector of the wrong length → {@link DimensionMismatchError}.
 */
export class OpenAiEmbedder implements Embedder {
  readonly id: string;
  readonly dimension: number;
  readonly maxBatchSize: number;
  readonly #url: string;
  readonly #options: OpenAiEmbedderOptions;
  readonly #fetch: typeof fetch;
  readonly #timeoutMs: number;

  /** @throws {ValidationError} for a bad base URL, model or dimension. */
  constructor(options: OpenAiEmbedderOptions) {
    const component = OPENAI_EMBEDDER_COMPONENT;
    let url: URL;
    try {
      url = new URL(options.baseUrl);
    } catch {
      throw new ValidationError('baseUrl', `is not a URL: ${JSON.stringify(options.baseUrl)}`, { component });
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw new ValidationError('baseUrl', 'must be http(s)', { component });
    // fetch refuses a URL with credentials on every call, which delivery took for an outage for ever; and the
    // URL is shown in status output and errors.
    if (url.username !== '' || url.password !== '')
      throw new ValidationError('baseUrl', 'must not hold credentials (value not shown)', {
        component,
        limit: 'no user:password@ — pass the key as apiKey (OPENAI_API_KEY)',
      });
    if (!options.model) throw new ValidationError('model', 'is required', { component });
    if (!Number.isInteger(options.dimension) || options.dimension < 1)
      throw new ValidationError('dimension', `must be a positive integer, got ${options.dimension}`, {
        component,
      });
    this.#url = `${options.baseUrl.replace(/\/+$/, '')}/embeddings`;
    this.#options = options;
    this.#fetch = options.fetch ?? fetch;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    this.dimension = options.dimension;
    this.maxBatchSize = options.maxBatchSize ?? 64;
    this.id = `openai:${url.host}:${options.model}:${options.dimension}`;
  }

  async embed(texts: readonly string[]): Promise<number[][]> {
    if (texts.length === 0) return [];
    const out: number[][] = [];
    for (let i = 0; i < texts.length; i += this.maxBatchSize)
      out.push(...(await this.#call(texts.slice(i, i + this.maxBatchSize))));
    return out;
  }

  async #call(texts: readonly string[]): Promise<number[][]> {
    const component = OPENAI_EMBEDDER_COMPONENT;
    const body: Record<string, unknown> = { model: this.#options.model, input: texts };
    if (this.#options.requestDimensions) body.dimensions = this.dimension;
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      accept: 'application/json',
    };
    if (this.#options.apiKey) headers.authorization = `Bearer ${this.#options.apiKey}`;

    let response: Response;
    try {
      response = await this.#fetch(this.#url, {
        method: 'POST',
        headers,
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (error) {
      if ((error as Error)?.name === 'TimeoutError' || (error as Error)?.name === 'AbortError')
        throw new TransientBackendError(`POST ${this.#url} timed out after ${this.#timeoutMs} ms`, {
          component,
          cause: error,
        });
      const code = networkCode(error);
      if (code === undefined || UNREACHABLE_CODES.has(code))
        throw new BackendUnavailableError(`POST ${this.#url} failed: ${code ?? (error as Error)?.message}`, {
          component,
          cause: error,
        });
      throw new TransientBackendError(`POST ${this.#url} failed: ${code}`, { component, cause: error });
    }

    if (!response.ok) {
      const detail = await errorDetail(response);
      const message = `POST ${this.#url} → HTTP ${response.status}${detail ? `: ${detail}` : ''}`;
      const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'));
      if (response.status === 429 || response.status >= 500)
        throw new TransientBackendError(message, { component, status: response.status, retryAfterMs });
      throw new PermanentBackendError(message, { component, status: response.status });
    }

    let json: unknown;
    try {
      json = await response.json();
    } catch (error) {
      throw new PermanentBackendError(`POST ${this.#url} returned a body that is not JSON`, {
        component,
        cause: error,
        status: response.status,
      });
    }
    return this.#vectors(json, texts.length);
  }

  #vectors(json: unknown, expected: number): number[][] {
    const component = OPENAI_EMBEDDER_COMPONENT;
    const data = (json as { data?: unknown })?.data;
    if (!Array.isArray(data) || data.length !== expected)
      throw new PermanentBackendError(
        `POST ${this.#url} returned ${Array.isArray(data) ? data.length : 'no'} embeddings for ${expected} inputs`,
        { component },
      );
    const sorted = [...data].sort(
      (a, b) => ((a as { index?: number }).index ?? 0) - ((b as { index?: number }).index ?? 0),
    );
    return sorted.map((item, i) => {
      const embedding = (item as { embedding?: unknown }).embedding;
      if (!Array.isArray(embedding) || !embedding.every((x) => typeof x === 'number' && Number.isFinite(x)))
        throw new PermanentBackendError(
          `POST ${this.#url}: data[${i}].embedding is not an array of numbers`,
          {
            component,
          },
        );
      if (embedding.length !== this.dimension)
        throw new DimensionMismatchError(`data[${i}].embedding`, this.dimension, embedding.length, {
          component,
        });
      return embedding as number[];
    });
  }
}

async function errorDetail(response: Response): Promise<string> {
  try {
    const text = await response.text();
    try {
      const message = (JSON.parse(text) as { error?: { message?: unknown } | string })?.error;
      if (typeof message === 'string') return message.slice(0, 300);
      if (message && typeof message.message === 'string') return message.message.slice(0, 300);
    } catch {
      // not JSON
    }
    return text.slice(0, 300);
  } catch {
    return '';
  }
}
