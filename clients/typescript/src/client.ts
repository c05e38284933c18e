// The I/O of the client: fetch, read the body as it arrives, hand the bytes to a StreamReader.
import type { MediaType } from "./decoders.js";
import { HTTPError, type Problem } from "./errors.js";
import {
  type ReaderOptions,
  Reconnection,
  type RetryPolicy,
  type StreamEvent,
  StreamReader,
  type Validate,
} from "./reader.js";

/** The stream formats, by the names the server and the CLI use. */
export type Format = "jsonl" | "ndjson" | "json-seq" | "sse" | "json";

export const MEDIA_TYPES: Readonly<Record<Format, MediaType>> = {
  jsonl: "application/jsonl",
  ndjson: "application/x-ndjson",
  "json-seq": "application/json-seq",
  sse: "text/event-stream",
  json: "application/json",
};

/** Without a format, any is accepted, JSON Lines first. */
const ANY_FORMAT =
  "application/jsonl, application/x-ndjson;q=0.9, application/json-seq;q=0.8, text/event-stream;q=0.7, " +
  "application/json;q=0.5";

export interface RequestOptions {
  method?: string | undefined;
  headers?: HeadersInit | undefined;
  signal?: AbortSignal | undefined;
  /** A JSON request body (sent as `application/json`). */
  json?: unknown;
  /** A streamed request body: each item is sent as a JSON Lines line as the iterable produces it. Needs a
   * runtime that streams request bodies (Node 20+, Chromium over HTTP/2); `bufferItems: true` sends them in one
   * body instead. */
  items?: AsyncIterable<unknown> | Iterable<unknown> | undefined;
  bufferItems?: boolean | undefined;
  /** Any other body (FormData, URLSearchParams, a string...), sent as is. */
  body?: BodyInit | undefined;
  /** The fetch to use (default: the global one). */
  fetch?: typeof globalThis.fetch | undefined;
  /** Anything else fetch takes (credentials, mode, cache...). */
  init?: RequestInit | undefined;
}

export interface StreamOptions<T> extends RequestOptions {
  /** Ask the server for this format (default: any, JSON Lines first). */
  format?: Format | undefined;
  maxFrameSize?: number | undefined;
  /** Turns each value into an item (a schema validator); by default items are the parsed JSON, typed as T. */
  validate?: Validate<T> | undefined;
}

export interface EventsOptions<T> extends Omit<StreamOptions<T>, "format"> {
  /** Resume after this event id (sent as Last-Event-ID on the first request too). */
  lastEventId?: string | undefined;
  retry?: RetryPolicy | undefined;
}

const encoder = new TextEncoder();

function lines(items: AsyncIterable<unknown> | Iterable<unknown>): ReadableStream<Uint8Array> {
  const iterator =
    Symbol.asyncIterator in items
      ? (items as AsyncIterable<unknown>)[Symbol.asyncIterator]()
      : (items as Iterable<unknown>)[Symbol.iterator]();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await iterator.next();
      if (next.done === true) controller.close();
      else controller.enqueue(encoder.encode(JSON.stringify(next.value) + "\n"));
    },
    async cancel() {
      await iterator.return?.();
    },
  });
}

async function collect(items: AsyncIterable<unknown> | Iterable<unknown>): Promise<string> {
  const parts: string[] = [];
  for await (const item of items) parts.push(JSON.stringify(item) + "\n");
  return parts.join("");
}

async function send(url: string | URL, options: RequestOptions, accept: string): Promise<Response> {
  const headers = new Headers(options.init?.headers);
  new Headers(options.headers).forEach((value, name) => headers.set(name, value));
  if (!headers.has("accept")) headers.set("accept", accept);
  const init: RequestInit & { duplex?: "half" } = { ...options.init, method: options.method ?? "GET", headers };
  if (options.signal !== undefined) init.signal = options.signal;
  if (options.json !== undefined) {
    headers.set("content-type", "application/json");
    init.body = JSON.stringify(options.json);
  } else if (options.items !== undefined) {
    headers.set("content-type", "application/jsonl");
    if (options.bufferItems === true) init.body = await collect(options.items);
    else {
      init.body = lines(options.items);
      init.duplex = "half";
    }
  } else if (options.body !== undefined) init.body = options.body;
  const response = await (options.fetch ?? globalThis.fetch)(url, init);
  if (!response.ok) throw await httpError(response);
  return response;
}

/** The HTTPError for a response with an error status, its problem-JSON body read. */
export async function httpError(response: Response): Promise<HTTPError> {
  const text = await response.text().catch(() => "");
  let problem: Problem | undefined;
  try {
    const value = JSON.parse(text) as unknown;
    if (typeof value === "object" && value !== null && !Array.isArray(value)) problem = value as Problem;
  } catch {
    problem = undefined;
  }
  return new HTTPError(response, problem, text);
}

/** Reads a response's body through a reader, yielding events as their bytes arrive. */
async function* readBody<T>(
  response: Response,
  reader: StreamReader<T>,
  signal: AbortSignal | undefined,
): AsyncGenerator<StreamEvent<T>> {
  if (response.body === null) {
    yield* reader.end();
    return;
  }
  const body = response.body.getReader();
  let finished = false;
  try {
    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await body.read();
      } catch (error) {
        if (signal?.aborted === true) throw signal.reason;
        throw reader.truncated(error);
      }
      if (chunk.done) break;
      yield* reader.feed(chunk.value);
    }
    finished = true;
    yield* reader.end();
  } finally {
    if (!finished) await body.cancel().catch(() => undefined);
    body.releaseLock();
  }
}

/** A stream of items from one request, made when it is first iterated. Iterate it for the items, or iterate
 * `events()` for the items with their SSE fields and kinds. */
export class Stream<T> implements AsyncIterable<T> {
  /** The response, once the stream started. */
  response: Response | undefined = undefined;
  private reader: StreamReader<T> | undefined = undefined;
  private started = false;

  constructor(
    readonly url: string | URL,
    private readonly options: StreamOptions<T> = {},
  ) {}

  /** The items received so far. */
  get count(): number {
    return this.reader?.count ?? 0;
  }

  /** Whether the stream's end record arrived (routes with `stream_end=True`). */
  get ended(): boolean {
    return this.reader?.ended ?? false;
  }

  async *events(): AsyncGenerator<StreamEvent<T>> {
    if (this.started) throw new Error("A Stream is read once: make a new one to read it again.");
    this.started = true;
    const options = this.options;
    const accept = options.format === undefined ? ANY_FORMAT : MEDIA_TYPES[options.format];
    const response = (this.response = await send(this.url, options, accept));
    if (response.status === 204) return;
    const reader = (this.reader = new StreamReader<T>(response.headers, readerOptions(options)));
    yield* readBody(response, reader, options.signal);
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T> {
    for await (const event of this.events()) yield event.data;
  }

  /** All the items, once the stream is complete. */
  async toArray(): Promise<T[]> {
    const items: T[] = [];
    for await (const item of this) items.push(item);
    return items;
  }
}

function readerOptions<T>(options: StreamOptions<T>, resumable = false): ReaderOptions<T> {
  return { resumable, maxFrameSize: options.maxFrameSize, validate: options.validate };
}

/** A stream of items: `for await (const item of stream<Item>(url)) ...`. A stream cut before its end throws
 * StreamTruncated, an error status HTTPError, an in-band error record StreamError. */
export function stream<T = unknown>(url: string | URL, options: StreamOptions<T> = {}): Stream<T> {
  return new Stream<T>(url, options);
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(signal.reason as Error);
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", abort);
      resolve();
    }, ms);
    const abort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    signal?.addEventListener("abort", abort, { once: true });
  });
}

/** Server-Sent Events that resume: after a cut stream, a connection error or a server asking to come back, it
 * reconnects with Last-Event-ID (waiting the server's retry, else a bounded backoff) and goes on where it
 * stopped; it stops at the end record or a 204. Abort it with `signal`. */
export async function* events<T = unknown>(
  url: string | URL,
  options: EventsOptions<T> = {},
): AsyncGenerator<StreamEvent<T>> {
  const reconnection = new Reconnection(options.retry, options.lastEventId);
  for (;;) {
    let reader: StreamReader<T> | undefined;
    let failure: unknown = undefined;
    try {
      const headers = new Headers(options.headers);
      if (reconnection.lastEventId !== undefined) headers.set("last-event-id", reconnection.lastEventId);
      const response = await send(url, { ...options, headers }, MEDIA_TYPES.sse);
      if (response.status === 204) return;
      reader = new StreamReader<T>(response.headers, readerOptions(options, true));
      for await (const event of readBody(response, reader, options.signal)) {
        reconnection.onEvent(event);
        yield event;
      }
    } catch (error) {
      if (options.signal?.aborted === true) throw error;
      if (error instanceof HTTPError && error.status < 500 && error.status !== 429) throw error;
      if (error instanceof Error && error.name === "StreamError") throw error;
      failure = error;
    }
    const delay = reconnection.nextDelay(reader as StreamReader<unknown> | undefined, failure);
    if (delay === undefined) {
      if (failure !== undefined) throw failure;
      if (reader?.reconnectRequested === true) throw reader.incomplete();
      return;
    }
    await sleep(delay, options.signal);
  }
}

/** An ordinary call: the JSON answer (undefined for an empty body), HTTPError for an error status. */
export async function request<T = unknown>(url: string | URL, options: RequestOptions = {}): Promise<T> {
  const response = await send(url, options, "application/json");
  const text = await response.text();
  return (text === "" ? undefined : JSON.parse(text)) as T;
}

/** A raw call: the Response (for bytes, text and other bodies), HTTPError for an error status. */
export function fetchResponse(url: string | URL, options: RequestOptions = {}): Promise<Response> {
  return send(url, options, "*/*");
}

export type QueryValue = string | number | boolean | null | undefined | readonly (string | number | boolean)[];

/** A URL from a base, a path template (`/items/{item_id}`), its path parameters and query parameters. */
export function buildUrl(
  base: string | URL,
  template: string,
  path: Readonly<Record<string, string | number | boolean>> = {},
  query: Readonly<Record<string, QueryValue>> = {},
): URL {
  const filled = template.replace(/\{([^}]+)\}/g, (_, name: string) => {
    const value = path[name];
    if (value === undefined) throw new TypeError(`missing path parameter '${name}'`);
    return encodeURIComponent(String(value));
  });
  const root = String(base).replace(/\/+$/, "");
  const url = new URL(root + filled);
  for (const [name, value] of Object.entries(query)) {
    if (value === undefined || value === null) continue;
    for (const one of Array.isArray(value) ? value : [value]) url.searchParams.append(name, String(one));
  }
  return url;
}

/** Header values as parameters give them: scalars, converted to strings; undefined and null are left out. */
export type HeaderValues = Readonly<Record<string, string | number | boolean | null | undefined>>;

/** The options of one call: a client's defaults, then the call's options, then its header parameters and what the
 * operation sets (method, body); headers are merged, later ones win. Used by generated clients. */
export function mergeOptions<O extends RequestOptions>(
  defaults: RequestOptions,
  options: O,
  headers: HeaderValues | undefined,
  extra: RequestOptions,
): O {
  const merged = new Headers(defaults.headers);
  new Headers(options.headers).forEach((value, name) => merged.set(name, value));
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (value !== undefined && value !== null) merged.set(name, String(value));
  }
  return { ...defaults, ...options, ...extra, headers: merged };
}
