// The official JavaScript clients of two LLM protocols, reading linestream.llm's streams (tests/llm):
//   node clients.mjs ui <base-url> <prompt>       the AI SDK's DefaultChatTransport + readUIMessageStream (useChat's path)
//   node clients.mjs ui-leave <base-url> <prompt> the same, aborted after three chunks (a user who stops the answer)
//   node clients.mjs ui-resume <base-url> <prompt> the same, aborted after three chunks (a reload), then resumed by
//                                                 the transport's reconnectToStream (GET <api>/<chat id>/stream), twice
//   node clients.mjs openai <base-url> <prompt>   the openai package's chat.completions.create({stream: true})
// An optional last argument is the chat's path (/api/chat by default). Prints one JSON object: what the client assembled, or the error it raised.
import { DefaultChatTransport, readUIMessageStream } from "ai";
import OpenAI from "openai";

const [command, base, prompt, api = "/api/chat"] = process.argv.slice(2);
const userMessage = { id: "u1", role: "user", parts: [{ type: "text", text: prompt }] };

async function ui(leave) {
  const transport = new DefaultChatTransport({ api: `${base}${api}` });
  const abort = new AbortController();
  const chunks = await transport.sendMessages({
    chatId: "chat-1",
    messages: [userMessage],
    trigger: "submit-message",
    messageId: undefined,
    abortSignal: abort.signal,
  });
  const seen = [];
  const errors = [];
  const counted = chunks.pipeThrough(
    new TransformStream({
      transform(chunk, controller) {
        seen.push(chunk.type);
        if (leave && seen.length === 3) abort.abort();
        controller.enqueue(chunk);
      },
    }),
  );
  let last = null;
  try {
    for await (const message of readUIMessageStream({ stream: counted, onError: (e) => errors.push(String(e)) })) {
      last = message;
    }
  } catch (error) {
    errors.push(`${error.name}: ${error.message}`);
  }
  return { chunks: seen, message: last, errors };
}

async function messageOf(stream) {
  let last = null;
  for await (const message of readUIMessageStream({ stream })) last = message;
  return last;
}

async function uiResume() {
  const left = await ui(true);
  const transport = new DefaultChatTransport({ api: `${base}${api}` });
  const resumed = await transport.reconnectToStream({ chatId: "chat-1" });
  const message = resumed === null ? null : await messageOf(resumed);
  const again = await transport.reconnectToStream({ chatId: "chat-1" });
  return { left: left.message, resumed: message, again: again === null ? null : "a stream" };
}

async function openai() {
  const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: "test", maxRetries: 0 });
  let text = "";
  const calls = {};
  let finish = null;
  let usage = null;
  try {
    const stream = await client.chat.completions.create({
      model: "stand-in-js",
      messages: [{ role: "user", content: prompt }],
      stream: true,
      stream_options: { include_usage: true },
    });
    for await (const chunk of stream) {
      if (chunk.usage) usage = chunk.usage;
      for (const choice of chunk.choices) {
        text += choice.delta.content ?? "";
        for (const call of choice.delta.tool_calls ?? []) {
          const entry = (calls[call.index] ??= { id: call.id, name: call.function?.name, arguments: "" });
          entry.arguments += call.function?.arguments ?? "";
        }
        finish = choice.finish_reason ?? finish;
      }
    }
  } catch (error) {
    return { text, error: { name: error.constructor.name, message: error.message, status: error.status ?? null } };
  }
  return { text, calls: Object.values(calls), finish, usage };
}

const commands = { openai, ui: () => ui(false), "ui-leave": () => ui(true), "ui-resume": uiResume };
const result = await commands[command]();
process.stdout.write(JSON.stringify(result));
