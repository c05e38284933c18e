// The Durable Streams conformance suite (@durable-streams/server-conformance-tests), against the server at
// CONFORMANCE_TEST_URL; tests/durable/test_conformance.py starts that server and reads vitest's JSON report.
import { runConformanceTests } from "@durable-streams/server-conformance-tests"

runConformanceTests({
  baseUrl: process.env.CONFORMANCE_TEST_URL,
  longPollTimeoutMs: Number(process.env.LONG_POLL_TIMEOUT_MS ?? 20000),
})
