// Unit tests of the runtime over a fake fetch: what a stream yields and how it fails, byte by byte.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  buildUrl,
  DecodeError,
  events,
  HTTPError,
  LinesDecoder,
  mergeOptions,
  request,
  SseDecoder,
  stream,
  StreamDecodeError,
  StreamError,
  StreamTruncated,
} from "../dist/index.js";

const encoder = new TextEncoder();

/** A Response whose body sends `chunks` (strings or bytes), then ends, or errors with `cut` if given. */
function response(chunks, { status = 200, headers = {}, cut } = {}) {
  const queue = [...chunks];
  const body = new ReadableStream({
    pull(controller) {
      const chunk = queue.shift();
      if (chunk !== undefined) controller.enqueue(typeof chunk === "string" ? encoder.encode(chunk) : chunk);
      else if (cut) controller.error(cut);
      else controller.close();
    },
  });
  return new Response(status === 204 ? null : body, { status, headers });
}

/** A fetch that answers each call with the next of `answers` and records the requests. */
function fakeFetch(...answers) {
  const calls = [];
  const fetch = async (url, init) => {
    calls.push({ url: String(url), init, headers: new Headers(init.headers) });
    const answer = answers.shift();
    if (answer === undefined) throw new Error("no more answers");
    if (answer instanceof Error) throw answer;
    return typeof answer === "function" ? answer() : answer;
  };
  return { fetch, calls };
}

const JSONL = { "content-type": "application/jsonl" };
const SSE = { "content-type": "text/event-stream; charset=utf-8" };

async function failure(promise) {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail("expected a rejection");
}

async function all(iterable) {
  const items = [];
  for await (const item of iterable) items.push(item);
  return items;
}

test("items are decoded across any split, with U+2028 and CRLF", async () => {
  const text = '{"a":"x\u2028y"}\r\n\n{"a":2}\n';
  const bytes = encoder.encode(text);
  for (let split = 0; split <= bytes.length; split += 1) {
    const { fetch } = fakeFetch(response([bytes.subarray(0, split), bytes.subarray(split)], { headers: JSONL }));
    assert.deepEqual(await stream("http://x/s", { fetch }).toArray(), [{ a: "x\u2028y" }, { a: 2 }]);
  }
});

test("the format asked for is the Accept header; without one any format is accepted", async () => {
  const { fetch, calls } = fakeFetch(response(["data: 1\n\n"], { headers: SSE }), response(["1\n"], { headers: JSONL }));
  assert.deepEqual(await stream("http://x/s", { fetch, format: "sse" }).toArray(), [1]);
  assert.deepEqual(await stream("http://x/s", { fetch }).toArray(), [1]);
  assert.equal(calls[0].headers.get("accept"), "text/event-stream");
  assert.match(calls[1].headers.get("accept"), /^application\/jsonl, .*text\/event-stream/);
});

test("a stream cut inside a line rejects with StreamTruncated and the count", async () => {
  const { fetch } = fakeFetch(response(['{"a":1}\n{"a":2}\n{"a":'], { headers: JSONL }));
  const received = [];
  const error = await failure(
    (async () => {
      for await (const item of stream("http://x/s", { fetch })) received.push(item);
    })(),
  );
  assert.ok(error instanceof StreamTruncated);
  assert.equal(error.itemsReceived, 2);
  assert.equal(received.length, 2);
});

test("a connection that fails mid-body rejects with StreamTruncated, not a clean end", async () => {
  const { fetch } = fakeFetch(response(['{"a":1}\n'], { headers: JSONL, cut: new TypeError("terminated") }));
  const error = await failure(stream("http://x/s", { fetch }).toArray());
  assert.ok(error instanceof StreamTruncated);
  assert.equal(error.itemsReceived, 1);
  assert.match(error.message, /terminated/);
});

test("an announced end record is required, and consumed", async () => {
  const headers = { ...JSONL, "stream-records": "end" };
  const complete = fakeFetch(response(['{"a":1}\n {"end":{"count":1}}\n'], { headers }));
  const finished = stream("http://x/s", { fetch: complete.fetch });
  assert.deepEqual(await finished.toArray(), [{ a: 1 }]);
  assert.equal(finished.ended, true);
  const cut = fakeFetch(response(['{"a":1}\n'], { headers }));
  const error = await failure(stream("http://x/s", { fetch: cut.fetch }).toArray());
  assert.ok(error instanceof StreamTruncated);
  assert.match(error.message, /without its end record/);
  // Without the announcement, an {"end": ...} item is an item.
  const plain = fakeFetch(response(['{"end":{"count":1}}\n'], { headers: JSONL }));
  assert.deepEqual(await stream("http://x/s", { fetch: plain.fetch }).toArray(), [{ end: { count: 1 } }]);
});

test("a record is told apart by its framing: items shaped like records are items, in every JSON format", async () => {
  // The server's records begin with a space; an item of any shape, {"end": ...} and {"error": ...} included,
  // does not, and is an item even where records are announced.
  const bodies = {
    "application/jsonl": ['{"end":{"line":3}}\n{"error":{"line":4}}\n {"end":{"count":2}}\n'],
    "application/x-ndjson": ['{"end":{"line":3}}\n{"error":{"line":4}}\n {"end":{"count":2}}\n'],
    "application/json-seq": ['\x1e{"end":{"line":3}}\n\x1e{"error":{"line":4}}\n\x1e {"end":{"count":2}}\n'],
    "application/json": ['[{"end":{"line":3}},{"error":{"line":4}}]'],
  };
  for (const [type, chunks] of Object.entries(bodies)) {
    const headers = { "content-type": type, "stream-records": "error, end" };
    const reply = fakeFetch(response(chunks, { headers }));
    const items = stream("http://x/s", { fetch: reply.fetch });
    assert.deepEqual(await items.toArray(), [{ end: { line: 3 } }, { error: { line: 4 } }], type);
    assert.equal(items.ended, type !== "application/json", type);
  }
  const spaced = fakeFetch(
    response(['[{"a":1}, {"error":{"status":500,"title":"Oops"}}]'], {
      headers: { "content-type": "application/json", "stream-records": "error" },
    }),
  );
  assert.ok((await failure(stream("http://x/s", { fetch: spaced.fetch }).toArray())) instanceof StreamError);
});

test("error records become StreamError, in JSON and in SSE", async () => {
  const json = fakeFetch(
    response(['{"a":1}\n {"error":{"status":409,"title":"Conflict"}}\n'], {
      headers: { ...JSONL, "stream-records": "error" },
    }),
  );
  const received = [];
  const error = await failure(
    (async () => {
      for await (const item of stream("http://x/s", { fetch: json.fetch })) received.push(item);
    })(),
  );
  assert.deepEqual(received, [{ a: 1 }]); // the item that came in the same chunk as the record is delivered
  assert.ok(error instanceof StreamError);
  assert.equal(error.problem.status, 409);
  assert.equal(error.itemsReceived, 1);
  const sse = fakeFetch(response(['data: 1\n\nevent: error\ndata: {"status":500,"title":"Oops"}\n\n'], { headers: SSE }));
  const sseError = await failure(stream("http://x/s", { fetch: sse.fetch }).toArray());
  assert.ok(sseError instanceof StreamError);
  assert.equal(sseError.problem.title, "Oops");
});

test("an error status rejects with HTTPError carrying the problem", async () => {
  const problem = { type: "about:blank", title: "Not Found", status: 404, detail: "no point 3" };
  const { fetch } = fakeFetch(
    response([JSON.stringify(problem)], { status: 404, headers: { "content-type": "application/problem+json" } }),
  );
  const error = await failure(stream("http://x/s", { fetch }).toArray());
  assert.ok(error instanceof HTTPError);
  assert.equal(error.status, 404);
  assert.deepEqual(error.problem, problem);
  assert.match(error.message, /no point 3/);
  const plain = fakeFetch(response(["upstream down"], { status: 502 }));
  const other = await failure(request("http://x/s", { fetch: plain.fetch }));
  assert.equal(other.problem, undefined);
  assert.match(other.message, /upstream down/);
});

test("a malformed line fails the stream after the good lines before it, even in the same chunk", async () => {
  const { fetch } = fakeFetch(response(['{"a":1}\n{"a":2}\n{"a":\n{"a":4}\n'], { headers: JSONL }));
  const received = [];
  const error = await failure(
    (async () => {
      for await (const item of stream("http://x/s", { fetch })) received.push(item);
    })(),
  );
  assert.deepEqual(received, [{ a: 1 }, { a: 2 }]);
  assert.ok(error instanceof StreamDecodeError);
  assert.equal(error.itemsReceived, 2);
  assert.match(error.message, /Line 3 is not valid JSON/);
});

test("a content type that is no stream format is a StreamDecodeError", async () => {
  const { fetch } = fakeFetch(response(["<html>"], { headers: { "content-type": "text/html" } }));
  const error = await failure(stream("http://x/s", { fetch }).toArray());
  assert.ok(error instanceof StreamDecodeError);
  assert.match(error.message, /text\/html/);
});

test("envelopes and SSE event names give each item its kind", async () => {
  const enveloped = fakeFetch(
    response(['{"event":"token","data":{"text":"a"}}\n'], { headers: { ...JSONL, "stream-envelope": "event" } }),
  );
  assert.deepEqual(await all(stream("http://x/s", { fetch: enveloped.fetch }).events()), [
    { data: { text: "a" }, event: "token" },
  ]);
  const sse = fakeFetch(response(['event: usage\nid: 7\ndata: {"tokens":2}\n\n'], { headers: SSE }));
  assert.deepEqual(await all(stream("http://x/s", { fetch: sse.fetch }).events()), [
    { data: { tokens: 2 }, event: "usage", id: "7" },
  ]);
});

test("validate turns values into items, and its errors name the item", async () => {
  const { fetch } = fakeFetch(response(['{"n":1}\n{"n":"x"}\n'], { headers: JSONL }));
  const validate = (value) => {
    if (typeof value.n !== "number") throw new TypeError("n must be a number");
    return { double: value.n * 2 };
  };
  const received = [];
  const error = await failure(
    (async () => {
      for await (const item of stream("http://x/s", { fetch, validate })) received.push(item);
    })(),
  );
  assert.deepEqual(received, [{ double: 2 }]);
  assert.ok(error instanceof StreamDecodeError);
  assert.match(error.message, /Item 2 is not valid: n must be a number/);
});

test("events() resumes a cut SSE stream with Last-Event-ID, waiting the server's retry", async () => {
  const { fetch, calls } = fakeFetch(
    response(["retry: 5\nid: 1\ndata: 1\n\nid: 2\ndata: 2\n\nid: 3\nda"], { headers: SSE }),
    new TypeError("connection refused"),
    response(["id: 3\ndata: 3\n\n"], { headers: SSE, cut: new TypeError("terminated") }),
    response([], { status: 204 }),
  );
  const got = await all(events("http://x/s", { fetch, retry: { backoff: 1 } }));
  assert.deepEqual(got.map((event) => event.data), [1, 2, 3]);
  assert.deepEqual(calls.map((call) => call.headers.get("last-event-id")), [null, "2", "2", "3"]);
  assert.equal(calls[0].headers.get("accept"), "text/event-stream");
});

test("events() stops at the end record, and takes a trailing retry as 'come back'", async () => {
  const { fetch, calls } = fakeFetch(
    response(["id: 1\ndata: 1\n\nretry: 1\n\n"], { headers: { ...SSE, "stream-records": "end" } }),
    response(["id: 2\ndata: 2\n\nevent: end\nid: linestream-end\ndata: {\"count\":1}\n\n"], {
      headers: { ...SSE, "stream-records": "end" },
    }),
  );
  const got = await all(events("http://x/s", { fetch }));
  assert.deepEqual(got.map((event) => event.data), [1, 2]);
  assert.equal(calls.length, 2);
  // stream() does not resume: a server asking to come back leaves the stream incomplete.
  const once = fakeFetch(response(["id: 1\ndata: 1\n\nretry: 1\n\n"], { headers: SSE }));
  const error = await failure(stream("http://x/s", { fetch: once.fetch }).toArray());
  assert.ok(error instanceof StreamTruncated);
  assert.match(error.message, /asking the client to reconnect/);
});

test("events() gives up after maxAttempts and raises the last error; 4xx is not retried", async () => {
  const refused = new TypeError("connection refused");
  const { fetch, calls } = fakeFetch(refused, refused, refused);
  const error = await failure(all(events("http://x/s", { fetch, retry: { maxAttempts: 2, backoff: 1 } })));
  assert.equal(error, refused);
  assert.equal(calls.length, 3);
  const missing = fakeFetch(response(["{}"], { status: 404 }));
  assert.ok((await failure(all(events("http://x/s", { fetch: missing.fetch })))) instanceof HTTPError);
  assert.equal(missing.calls.length, 1);
});

test("an AbortSignal stops events() while it waits to reconnect", async () => {
  const controller = new AbortController();
  const { fetch } = fakeFetch(new TypeError("refused"), new TypeError("refused"));
  setTimeout(() => controller.abort(new Error("stopped by the user")), 20);
  const error = await failure(
    all(events("http://x/s", { fetch, signal: controller.signal, retry: { backoff: 60_000 } })),
  );
  assert.equal(error.message, "stopped by the user");
});

test("leaving a stream early cancels its body", async () => {
  let cancelled = false;
  const body = new ReadableStream({
    pull(controller) {
      controller.enqueue(encoder.encode('{"a":1}\n'));
    },
    cancel() {
      cancelled = true;
    },
  });
  const { fetch } = fakeFetch(new Response(body, { headers: JSONL }));
  for await (const item of stream("http://x/s", { fetch })) {
    assert.deepEqual(item, { a: 1 });
    break;
  }
  assert.equal(cancelled, true);
});

test("a Stream is read once", async () => {
  const { fetch } = fakeFetch(response(["1\n"], { headers: JSONL }));
  const once = stream("http://x/s", { fetch });
  await once.toArray();
  await assert.rejects(once.toArray(), /read once/);
});

test("items upload as JSON Lines, streamed or buffered", async () => {
  async function* produce() {
    yield { n: 1 };
    yield { n: 2 };
  }
  const streamed = fakeFetch(new Response('{"count":2}', { headers: { "content-type": "application/json" } }));
  assert.deepEqual(await request("http://x/u", { fetch: streamed.fetch, method: "POST", items: produce() }), { count: 2 });
  const init = streamed.calls[0].init;
  assert.equal(init.duplex, "half");
  assert.equal(streamed.calls[0].headers.get("content-type"), "application/jsonl");
  assert.equal(await new Response(init.body).text(), '{"n":1}\n{"n":2}\n');
  const buffered = fakeFetch(new Response("", { status: 200 }));
  assert.equal(await request("http://x/u", { fetch: buffered.fetch, items: [1, 2], bufferItems: true }), undefined);
  assert.equal(buffered.calls[0].init.body, "1\n2\n");
});

test("buildUrl fills and encodes path and query parameters; mergeOptions layers headers", () => {
  const url = buildUrl("http://x/api/", "/items/{id}", { id: "a b/c" }, { q: ["1", 2], none: undefined, flag: false });
  assert.equal(url.href, "http://x/api/items/a%20b%2Fc?q=1&q=2&flag=false");
  assert.throws(() => buildUrl("http://x", "/items/{id}"), /missing path parameter 'id'/);
  const merged = mergeOptions(
    { headers: { authorization: "Bearer a", "x-a": "1" } },
    { headers: { "x-a": "2" } },
    { "x-b": 3, "x-none": undefined },
    { method: "POST" },
  );
  assert.equal(merged.method, "POST");
  assert.deepEqual(Object.fromEntries(merged.headers), { authorization: "Bearer a", "x-a": "2", "x-b": "3" });
});

test("decoders bound a frame's size and report truncation by name", () => {
  const lines = new LinesDecoder({ maxFrameSize: 8 });
  assert.throws(() => lines.feed(encoder.encode('{"a":"0123456789"}')), DecodeError);
  const sse = new SseDecoder();
  assert.deepEqual(sse.feed(encoder.encode("retry: 10\ndata: x\n\nretry: 20\n\n")), [
    { data: "x", event: "message", id: "", retry: 10 },
  ]);
  assert.equal(sse.pendingRetry, 20);
  sse.feed(encoder.encode("data: cut"));
  assert.throws(() => sse.end(), { name: "TruncatedError" });
});
