// Reads /test/ticks with events() and prints each event's id, one per line, until LINESTREAM_UNTIL; the test
// restarts the server meanwhile. Exits 0 after the last id, 1 with the error otherwise.
import { events } from "../dist/index.js";

const until = Number(process.env.LINESTREAM_UNTIL);
try {
  for await (const event of events(`${process.env.LINESTREAM_URL}/test/ticks`, {
    retry: { maxAttempts: 100, backoff: 100, maxBackoff: 400 },
  })) {
    process.stdout.write(`${event.id}\n`);
    if (Number(event.id) >= until) break;
  }
} catch (error) {
  process.stdout.write(`error ${error}\n`);
  process.exit(1);
}
