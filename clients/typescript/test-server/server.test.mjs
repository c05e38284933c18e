// Against a real linestream server (tests/apps/typescript_app.py under uvicorn), started by
// tests/test_typescript_client.py, which passes LINESTREAM_URL, the items the Python client received
// (LINESTREAM_EXPECTED) and the compiled generated client (LINESTREAM_GENERATED).
import assert from "node:assert/strict";
import { test } from "node:test";

import { events, HTTPError, request, stream, StreamError, StreamTruncated } from "../dist/index.js";

const base = process.env.LINESTREAM_URL;
const expected = JSON.parse(process.env.LINESTREAM_EXPECTED ?? "null");
assert.ok(base && expected, "run by tests/test_typescript_client.py (LINESTREAM_URL, LINESTREAM_EXPECTED)");
const FORMATS = ["jsonl", "ndjson", "json-seq", "sse", "json"];

async function failure(promise) {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail("expected a rejection");
}

async function collect(iterable, into) {
  for await (const item of iterable) into.push(item);
}

for (const format of FORMATS) {
  test(`${format}: the items the server sent, as the Python client received them`, async () => {
    for (const path of ["/items/stream", "/items/stream-no-async-no-annotation", "/test/ended", "/test/lookalikes"]) {
      const items = stream(`${base}${path}`, { format });
      assert.deepEqual(await items.toArray(), expected[path], path);
      assert.ok(items.response.ok);
    }
  });

  test(`${format}: a stream the server cut rejects with StreamTruncated after its items`, async () => {
    const received = [];
    const error = await failure(collect(stream(`${base}/test/cut`, { format }), received));
    assert.ok(error instanceof StreamTruncated, `${format}: ${error}`);
    assert.equal(error.itemsReceived, 3);
    assert.deepEqual(received, expected["/test/cut"]);
  });

  test(`${format}: an error record rejects with StreamError and its problem`, async () => {
    const received = [];
    const error = await failure(collect(stream(`${base}/test/record`, { format }), received));
    assert.ok(error instanceof StreamError, `${format}: ${error}`);
    assert.equal(error.problem.status, 409);
    assert.equal(error.problem.detail, "the job was cancelled");
    assert.equal(error.itemsReceived, 2);
    assert.equal(received.length, 2);
  });

  test(`${format}: kinds of event and the end record`, async () => {
    const chat = stream(`${base}/test/chat`, { format });
    const got = [];
    for await (const event of chat.events()) got.push(event);
    assert.deepEqual(got.map((event) => event.data), [
      { kind: "token", text: "Hel" },
      { kind: "token", text: "lo" },
      { kind: "usage", tokens: 2 },
    ]);
    if (format === "sse") assert.deepEqual(got.map((event) => event.event), ["token", "token", "usage"]);
    assert.equal(chat.ended, format !== "json"); // a JSON array's end is its ']'
  });
}

test("an error status before the first item rejects with HTTPError and the problem", async () => {
  const error = await failure(stream(`${base}/test/missing/3`).toArray());
  assert.ok(error instanceof HTTPError);
  assert.equal(error.status, 404);
  assert.equal(error.problem.detail, "no point 3");
  const invalid = await failure(stream(`${base}/test/missing/x`).toArray());
  assert.equal(invalid.status, 422);
  assert.deepEqual(invalid.problem.errors[0].loc, ["path", "n"]);
});

test("items upload as a streamed JSON Lines body", async () => {
  async function* points() {
    for (let n = 0; n < 50; n += 1) yield { n, label: `up ${n}` };
  }
  const answer = await request(`${base}/test/upload`, { method: "POST", items: points() });
  assert.equal(answer.count, 50);
  assert.equal(answer.labels[49], "up 49");
});

test("events() reads SSE with ids and stops at the end of a finite stream", async () => {
  const got = [];
  for await (const event of events(`${base}/test/ticks?until=5`, { lastEventId: "2" })) got.push(event);
  assert.deepEqual(got.map((event) => event.id), ["3", "4", "5"]);
  assert.deepEqual(got[0].data, { n: 3, label: "tick 3" });
});

test("an AbortSignal ends a live stream at once", async () => {
  const controller = new AbortController();
  const got = [];
  const error = await failure(
    (async () => {
      for await (const event of events(`${base}/test/ticks`, { signal: controller.signal })) {
        got.push(event);
        if (got.length === 3) controller.abort();
      }
    })(),
  );
  assert.equal(error.name, "AbortError");
  assert.equal(got.length, 3);
});

test("the generated client: typed calls of every kind", async () => {
  const { Client } = await import(process.env.LINESTREAM_GENERATED);
  const client = new Client(base, { headers: { "x-from": "generated" } });
  assert.deepEqual(await client.streamItems({ format: "sse" }).toArray(), expected["/items/stream"]);
  assert.deepEqual(await client.ended().toArray(), expected["/test/ended"]);
  const missing = await failure(client.missing({ path: { n: 2 } }).toArray());
  assert.equal(missing.status, 404);
  const ticks = [];
  for await (const event of client.ticksEvents({ query: { until: 3 }, header: { "last-event-id": 1 } })) ticks.push(event);
  assert.deepEqual(ticks.map((event) => event.data.n), [2, 3]);
  const placed = await client.placeOrder({ body: { item: "tea", quantity: 2 } });
  assert.equal(typeof placed.id, "string");
  const counted = await client.upload({ items: [{ n: 1, label: "a" }, { n: 2, label: "b" }] });
  assert.deepEqual(counted, { count: 2, labels: ["a", "b"] });
  const story = await client.story({ query: { delay: 0 } });
  assert.match(await story.text(), /\w/);
});
