// Reads a durable answer (POST /chat of tests/apps/durable_app.py) with events() and prints each token's
// index, one per line; the test cuts the connection meanwhile. Exits 0 after the answer's end, 1 with the error.
import { events } from "../dist/index.js";

try {
  for await (const event of events(`${process.env.LINESTREAM_URL}/chat?tokens=12&delay=0.05`, {
    method: "POST",
    retry: { maxAttempts: 10, backoff: 50, maxBackoff: 200 },
  })) {
    process.stdout.write(`${event.data.index}\n`);
  }
} catch (error) {
  process.stdout.write(`error ${error}\n`);
  process.exit(1);
}
