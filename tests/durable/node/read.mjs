// Reads a durable stream with the protocol's own TypeScript client (@durable-streams/client) until it closes,
// and prints its JSON items as one JSON array: node read.mjs <url> <live: long-poll | sse | false>
import { stream } from "@durable-streams/client"

const [url, mode] = process.argv.slice(2)
const res = await stream({ url, live: mode === "false" ? false : mode })
const items = []
for await (const item of res.jsonStream()) {
  items.push(item)
}
console.log(JSON.stringify(items))
