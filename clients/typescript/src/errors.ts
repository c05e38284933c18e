// The errors a stream or a call can end with. Every one is a LineStreamError.

/** An RFC 9457 problem object, as linestream answers errors (`application/problem+json`). */
export interface Problem {
  type?: string;
  title?: string;
  status?: number;
  detail?: unknown;
  instance?: string;
  errors?: unknown[];
  [member: string]: unknown;
}

export class LineStreamError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The server answered with a non-2xx status. `problem` is its problem-JSON body (undefined if not JSON). */
export class HTTPError extends LineStreamError {
  readonly status: number;
  readonly problem: Problem | undefined;
  readonly response: Response;

  constructor(response: Response, problem: Problem | undefined, text: string) {
    const detail = problem?.detail ?? problem?.title ?? (text.slice(0, 200) || response.statusText);
    super(`${response.status} ${response.statusText} for ${response.url}: ${String(detail)}`);
    this.status = response.status;
    this.problem = problem;
    this.response = response;
  }
}

/** The stream stopped before its end: cut mid-frame, cut by the connection, without its announced end record,
 * or ended by a server that asked the client to come back. `itemsReceived` counts the items before the cut. */
export class StreamTruncated extends LineStreamError {
  readonly itemsReceived: number;

  constructor(message: string, itemsReceived: number, options?: { cause?: unknown }) {
    super(message, options);
    this.itemsReceived = itemsReceived;
  }
}

/** The server ended the stream with an in-band error record (`stream_errors="record"`). */
export class StreamError extends LineStreamError {
  readonly problem: Problem;
  readonly itemsReceived: number;

  constructor(problem: Problem, itemsReceived: number) {
    super(`The stream failed after ${itemsReceived} item(s): ${String(problem.detail ?? problem.title ?? "error")}`);
    this.problem = problem;
    this.itemsReceived = itemsReceived;
  }
}

/** The bytes received are not a valid frame of the stream's format, or its content type is no stream format. */
export class StreamDecodeError extends LineStreamError {
  readonly itemsReceived: number;

  constructor(message: string, itemsReceived: number, options?: { cause?: unknown }) {
    super(message, options);
    this.itemsReceived = itemsReceived;
  }
}
