// The I/O-free core of the client: bytes of a streamed response -> events, errors and reconnect decisions.
import {
  DECODERS,
  DecodeError,
  type Decoder,
  Marked,
  type MediaType,
  SseDecoder,
  type SseEvent,
  TruncatedError,
} from "./decoders.js";
import { type Problem, StreamDecodeError, StreamError, StreamTruncated } from "./errors.js";

/** One item of a stream, with its SSE fields (`id` and `retry` only in SSE; `event` names the item's kind). */
export interface StreamEvent<T> {
  data: T;
  event?: string;
  id?: string;
  retry?: number;
}

/** Turns each decoded value into an item: a schema validator (zod, valibot...) or a cast. */
export type Validate<T> = (value: unknown, event: string | undefined) => T;

export interface ReaderOptions<T> {
  maxFrameSize?: number | undefined;
  /** The caller reconnects with Last-Event-ID (events() does): a `retry:` at the end is not a truncation. */
  resumable?: boolean | undefined;
  validate?: Validate<T> | undefined;
}

export class StreamReader<T> {
  count = 0;
  /** Whether the end record arrived (streams that announce `Stream-Records: end`). */
  ended = false;
  lastEventId: string | undefined = undefined;
  readonly mediaType: MediaType;
  private readonly decoder: Decoder<unknown>;
  private readonly records: ReadonlySet<string>;
  private readonly envelope: boolean;
  private readonly options: ReaderOptions<T>;
  private failure: unknown = undefined;

  constructor(headers: Headers, options: ReaderOptions<T> = {}) {
    const contentType = (headers.get("content-type") ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
    if (!(contentType in DECODERS)) {
      throw new StreamDecodeError(
        `The response's content type '${contentType}' is not a stream format (${Object.keys(DECODERS).join(", ")}).`,
        0,
      );
    }
    this.mediaType = contentType as MediaType;
    const records = headers.get("stream-records") ?? "";
    this.records = new Set(records.split(",").map((part) => part.trim()).filter(Boolean));
    // Records are told apart by their framing (their JSON begins with a space), only where they are announced.
    this.decoder = new DECODERS[this.mediaType]({ maxFrameSize: options.maxFrameSize, marks: this.records.size > 0 });
    this.envelope = headers.get("stream-envelope") === "event" && !this.isSse;
    this.options = options;
  }

  get isSse(): boolean {
    return this.decoder instanceof SseDecoder;
  }

  /** The reconnection time (ms) the SSE stream set last. */
  get retry(): number | undefined {
    return this.decoder instanceof SseDecoder ? this.decoder.retry : undefined;
  }

  /** Whether the SSE stream ended by asking the client to come back (a `retry:` after its last event). */
  get reconnectRequested(): boolean {
    return this.decoder instanceof SseDecoder && !this.ended && this.decoder.pendingRetry !== undefined;
  }

  feed(chunk: Uint8Array): StreamEvent<T>[] {
    return this.events(() => this.decoder.feed(chunk));
  }

  end(): StreamEvent<T>[] {
    const events = this.events(() => this.decoder.end());
    if (this.reconnectRequested && !this.options.resumable) throw this.incomplete();
    if (this.records.has("end") && !this.ended && this.mediaType !== "application/json" && !this.reconnectRequested) {
      throw new StreamTruncated(
        `The stream ended after ${this.count} item(s) without its end record: it was cut (by a proxy, or a ` +
          "connection that closed cleanly), so it may be incomplete.",
        this.count,
      );
    }
    return events;
  }

  /** The error for a body the connection cut. */
  truncated(cause: unknown): StreamTruncated {
    const reason = cause instanceof Error ? cause.message : String(cause);
    return new StreamTruncated(`The stream was cut after ${this.count} item(s): ${reason}`, this.count, { cause });
  }

  incomplete(): StreamTruncated {
    return new StreamTruncated(
      `The server ended the stream after ${this.count} item(s) asking the client to reconnect (it is shutting ` +
        "down): the stream is not complete. events() resumes such streams.",
      this.count,
    );
  }

  private events(decode: () => unknown[]): StreamEvent<T>[] {
    if (this.failure !== undefined) throw this.failure;
    let frames: unknown[];
    let bad: DecodeError | undefined;
    try {
      frames = decode();
    } catch (error) {
      if (error instanceof TruncatedError) throw new StreamTruncated(error.message, this.count, { cause: error });
      if (!(error instanceof DecodeError)) throw error;
      frames = error.values; // the good frames before the bad one, delivered first
      bad = error;
    }
    const events: StreamEvent<T>[] = [];
    // Items that came before an error in the same chunk are delivered first; the error comes with the next call.
    const fail = (error: unknown): StreamEvent<T>[] => {
      if (events.length === 0) throw error;
      this.failure = error;
      return events;
    };
    for (const frame of frames) {
      let event: StreamEvent<T> | undefined;
      try {
        event = this.isSse ? this.sseEvent(frame as SseEvent) : this.jsonEvent(frame);
      } catch (error) {
        return fail(error);
      }
      if (event !== undefined) {
        this.count += 1;
        events.push(event);
      }
    }
    if (bad !== undefined) return fail(new StreamDecodeError(bad.message, this.count, { cause: bad }));
    return events;
  }

  private sseEvent(frame: SseEvent): StreamEvent<T> | undefined {
    if (frame.id !== "") this.lastEventId = frame.id;
    const name = frame.event;
    if (name === "error") throw new StreamError(problem(frame.data), this.count);
    if (name === "gap") return undefined;
    if (name === "end" && this.records.has("end")) {
      this.ended = true;
      return undefined;
    }
    const event: StreamEvent<T> = { data: this.item(this.parse(frame.data), name === "message" ? undefined : name) };
    if (name !== "message") event.event = name;
    if (frame.id !== "") event.id = frame.id;
    if (frame.retry !== undefined) event.retry = frame.retry;
    return event;
  }

  private jsonEvent(frame: unknown): StreamEvent<T> | undefined {
    let value = frame;
    if (frame instanceof Marked) {
      value = frame.value;
      const [key] = isRecord(value) ? Object.keys(value) : [];
      const body = key === undefined || !isRecord(value) ? undefined : value[key];
      if (isRecord(value) && Object.keys(value).length === 1 && isRecord(body)) {
        if (key === "error" && this.records.has("error")) throw new StreamError(body as Problem, this.count);
        if (key === "end" && this.records.has("end")) {
          this.ended = true;
          return undefined;
        }
      }
    }
    if (this.envelope) {
      if (!isRecord(value) || typeof value["event"] !== "string" || !("data" in value)) {
        throw new StreamDecodeError(`Item ${this.count + 1} is not an envelope {"event": kind, "data": item}.`, this.count);
      }
      return { data: this.item(value["data"], value["event"]), event: value["event"] };
    }
    return { data: this.item(value, undefined) };
  }

  private parse(data: string): unknown {
    try {
      return JSON.parse(data) as unknown;
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new StreamDecodeError(`Item ${this.count + 1} is not valid JSON: ${reason}`, this.count);
    }
  }

  private item(value: unknown, event: string | undefined): T {
    const validate = this.options.validate;
    if (validate === undefined) return value as T;
    try {
      return validate(value, event);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new StreamDecodeError(`Item ${this.count + 1} is not valid: ${reason}`, this.count, { cause: error });
    }
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function problem(data: string): Problem {
  try {
    const value = JSON.parse(data) as unknown;
    return isRecord(value) ? (value as Problem) : { title: "Stream error", detail: value };
  } catch {
    return { title: "Stream error", detail: data };
  }
}

/** When and how often events() reconnects (sending Last-Event-ID). It reconnects after a cut stream or a
 * connection error, and after a clean end if the server sent a `retry:` on that connection (its way to say
 * "come back", as linestream servers do when they shut down). It waits the server's retry if it gave one, else `backoff` ms doubled on each consecutive
 * failure up to `maxBackoff`; after `maxAttempts` consecutive attempts that brought no event it gives up. */
export interface RetryPolicy {
  maxAttempts?: number;
  backoff?: number;
  maxBackoff?: number;
}

export class Reconnection {
  failures = 0;
  lastEventId: string | undefined;
  private readonly maxAttempts: number;
  private readonly backoff: number;
  private readonly maxBackoff: number;

  constructor(policy: RetryPolicy = {}, lastEventId?: string) {
    this.maxAttempts = policy.maxAttempts ?? 5;
    this.backoff = policy.backoff ?? 500;
    this.maxBackoff = policy.maxBackoff ?? 30_000;
    this.lastEventId = lastEventId;
  }

  onEvent(event: StreamEvent<unknown>): void {
    this.failures = 0;
    if (event.id !== undefined) this.lastEventId = event.id;
  }

  /** Milliseconds to wait before reconnecting, or undefined to stop. */
  nextDelay(reader: StreamReader<unknown> | undefined, error: unknown): number | undefined {
    if (reader?.lastEventId !== undefined) this.lastEventId = reader.lastEventId;
    if (reader?.ended) return undefined;
    const serverRetry = reader?.retry;
    if (error === undefined && serverRetry === undefined) return undefined; // a clean end, no "come back"
    this.failures += 1;
    if (this.failures > this.maxAttempts) return undefined;
    if (serverRetry !== undefined) return serverRetry;
    return Math.min(this.backoff * 2 ** (this.failures - 1), this.maxBackoff);
  }
}
