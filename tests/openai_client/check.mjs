// Talks to `entroscope serve` with the official OpenAI Node.js client, unchanged,
// and checks what comes back. Usage: node check.mjs BASE_URL API_KEY
// (BASE_URL like http://127.0.0.1:8080/v1). Prints one line per check,
// "ok NAME" or "FAIL NAME: why", and exits 1 if any failed.
import OpenAI from "openai";

const [baseURL, apiKey] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 60000 });
let failed = 0;

async function check(name, fn) {
  try {
    await fn();
    console.log(`ok ${name}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e && e.message ? e.message : e}`);
  }
}

function expect(cond, what) {
  if (!cond) throw new Error(what);
}

await check("models.list", async () => {
  const page = await client.models.list();
  expect(page.data.length >= 1 && typeof page.data[0].id === "string", "no model listed");
});

let whole = null;
await check("completions.create", async () => {
  const r = await client.completions.create({
    model: "any-name", prompt: "Once upon a time", max_tokens: 8, temperature: 0, logprobs: 2,
  });
  expect(r.object === "text_completion", `object ${r.object}`);
  expect(typeof r.choices[0].text === "string", "no text");
  expect(r.usage.completion_tokens >= 1, "no completion tokens counted");
  expect(r.choices[0].logprobs.tokens.length === r.usage.completion_tokens, "logprobs do not cover the tokens");
  expect(Array.isArray(r.choices[0].entroscope.tokens), "no entroscope tokens");
  whole = r.choices[0].text;
});

await check("completions.create stream", async () => {
  const stream = await client.completions.create({
    model: "any-name", prompt: "Once upon a time", max_tokens: 8, temperature: 0, stream: true,
  });
  let text = "";
  for await (const chunk of stream) text += chunk.choices[0]?.text ?? "";
  expect(whole !== null && text === whole, `streamed ${JSON.stringify(text)} vs whole ${JSON.stringify(whole)}`);
});

let chat = null;
await check("chat.completions.create", async () => {
  const r = await client.chat.completions.create({
    model: "gpt-4o", messages: [{ role: "user", content: "Tell me a story." }], max_tokens: 8, temperature: 0,
    logprobs: true, top_logprobs: 2,
  });
  expect(r.object === "chat.completion", `object ${r.object}`);
  expect(r.choices[0].message.role === "assistant", "no assistant message");
  expect(r.choices[0].logprobs.content.length === r.usage.completion_tokens, "logprobs do not cover the tokens");
  chat = r.choices[0].message.content;
});

await check("chat.completions.create stream", async () => {
  const stream = await client.chat.completions.create({
    model: "gpt-4o", messages: [{ role: "user", content: "Tell me a story." }], max_tokens: 8, temperature: 0,
    stream: true,
  });
  let text = "";
  let entroscope = 0;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta?.content ?? "";
    if (chunk.choices[0]?.entroscope) entroscope++;
  }
  expect(chat !== null && text === chat, `streamed ${JSON.stringify(text)} vs whole ${JSON.stringify(chat)}`);
  expect(entroscope >= 1, "no entroscope object in the chunks");
});

await check("bad request is an APIError 400", async () => {
  try {
    await client.completions.create({ model: "x", prompt: "Hi", max_tokens: -3 });
  } catch (e) {
    expect(e instanceof OpenAI.APIError && e.status === 400, `got ${e.constructor.name} ${e.status}`);
    expect(typeof e.error?.message === "string" || typeof e.message === "string", "no message");
    return;
  }
  throw new Error("no error");
});

await check("wrong key is an AuthenticationError", async () => {
  const other = new OpenAI({ baseURL, apiKey: "wrong-key", maxRetries: 0 });
  try {
    await other.models.list();
  } catch (e) {
    expect(e instanceof OpenAI.AuthenticationError && e.status === 401, `got ${e.constructor.name} ${e.status}`);
    return;
  }
  throw new Error("no error");
});

process.exit(failed ? 1 : 0);
