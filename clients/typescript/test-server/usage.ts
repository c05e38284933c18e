// Compiled with the generated client under tsc --strict by tests/test_typescript_client.py: the generated types
// are precise (each @ts-expect-error must be an error, or tsc fails).
import { Client, type Item, type Point, type Token, type Usage } from "./client.js";

export async function names(client: Client): Promise<string[]> {
  const result: string[] = [];
  for await (const item of client.streamItems({ format: "jsonl" })) {
    const typed: Item = item;
    result.push(typed.name.toUpperCase());
    // @ts-expect-error: Item has no field 'price'
    result.push(item.price);
  }
  return result;
}

export async function kinds(client: Client): Promise<number> {
  let tokens = 0;
  for await (const item of client.chat()) {
    const kind: Token | Usage = item;
    if (kind.kind === "usage") tokens += kind.tokens;
    // @ts-expect-error: a token has text, not tokens
    else tokens += kind.tokens;
  }
  return tokens;
}

export async function narrowed(client: Client): Promise<string> {
  // The tag is required in what the server sends, so each branch narrows to one kind: this compiles.
  let text = "";
  for await (const item of client.chat()) {
    if (item.kind === "token") text += item.text;
    else text += String(item.tokens);
  }
  return text;
}

export async function calls(client: Client): Promise<void> {
  const point: Point = { n: 1, label: "a" };
  await client.upload({ items: [point] });
  // @ts-expect-error: the path parameter is required
  client.missing({});
  // @ts-expect-error: n is an integer
  client.missing({ path: { n: "x" } });
  // @ts-expect-error: an order needs its item
  await client.placeOrder({ body: { quantity: 1 } });
  const placed = await client.placeOrder({ body: { item: "tea" } });
  placed.id.toUpperCase();
}
