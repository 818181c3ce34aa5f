// Drives Debian's chromium over the Chrome DevTools Protocol (no npm
// packages: Node's built-in WebSocket) through a real use of the chat page:
// set the bearer token, send "add buy milk", wait until the task list shows
// the task, take a screenshot.
//
//   node --experimental-websocket ci/screenshot/drive.mjs <page url> <out.png>
//   (token from $KUBEGATE_SCREENSHOT_TOKEN, so it is not on the command line)
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync, existsSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [pageUrl, out] = process.argv.slice(2);
const token = process.env.KUBEGATE_SCREENSHOT_TOKEN;
const message = process.env.KUBEGATE_SCREENSHOT_MESSAGE || "add buy milk";
if (!pageUrl || !out || !token) {
  console.error("usage: KUBEGATE_SCREENSHOT_TOKEN=... node --experimental-websocket drive.mjs <page url> <out.png>");
  process.exit(2);
}
const chromium = process.env.CHROMIUM || "/usr/bin/chromium";
const profile = mkdtempSync(join(tmpdir(), "kubegate-chromium-"));
const browser = spawn(chromium, [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
  "--disable-dev-shm-usage", "--hide-scrollbars", `--user-data-dir=${profile}`,
  "--remote-debugging-port=0", "--window-size=1200,760", "about:blank",
], { stdio: ["ignore", "ignore", "pipe"] });
let browserLog = "";
browser.stderr.on("data", (d) => { browserLog += d; });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function fail(why) {
  console.error(`screenshot: ${why}`);
  if (browserLog) console.error("--- chromium stderr (tail) ---\n" + browserLog.split("\n").slice(-15).join("\n"));
  cleanup();
  process.exit(1);
}
function cleanup() {
  try { browser.kill("SIGTERM"); } catch (_) {}
  try { rmSync(profile, { recursive: true, force: true }); } catch (_) {}
}
setTimeout(() => fail("gave up after 60 s"), 60000).unref();

// Chromium writes its port and browser target to DevToolsActivePort.
let port;
for (let i = 0; i < 200 && !port; i++) {
  const f = join(profile, "DevToolsActivePort");
  if (existsSync(f)) port = readFileSync(f, "utf8").split("\n")[0].trim();
  else await sleep(100);
}
if (!port) fail("chromium did not open its DevTools port");

const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
const page = targets.find((t) => t.type === "page");
if (!page) fail("no page target");
const ws = new WebSocket(page.webSocketDebuggerUrl);
await new Promise((ok, err) => { ws.onopen = ok; ws.onerror = () => err(new Error("websocket")); });
let nextId = 1;
const pending = new Map();
const listeners = [];
ws.onmessage = (ev) => {
  const msg = JSON.parse(ev.data);
  if (msg.id && pending.has(msg.id)) {
    const { ok, err } = pending.get(msg.id);
    pending.delete(msg.id);
    msg.error ? err(new Error(JSON.stringify(msg.error))) : ok(msg.result);
  } else if (msg.method) {
    for (const l of listeners) l(msg);
  }
};
const send = (method, params = {}) => new Promise((ok, err) => {
  const id = nextId++;
  pending.set(id, { ok, err });
  ws.send(JSON.stringify({ id, method, params }));
});
const evaluate = async (expression) => {
  const r = await send("Runtime.evaluate", { expression, awaitPromise: true, returnByValue: true });
  if (r.exceptionDetails) throw new Error(`page script failed: ${JSON.stringify(r.exceptionDetails)}`);
  return r.result.value;
};
const waitFor = async (what, expression, ms = 15000) => {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await evaluate(expression)) return;
    await sleep(100);
  }
  fail(`timed out waiting for ${what}`);
};

await send("Page.enable");
await send("Runtime.enable");
await send("Emulation.setDeviceMetricsOverride", { width: 1200, height: 760, deviceScaleFactor: 1, mobile: false });
const loaded = new Promise((ok) => listeners.push((m) => m.method === "Page.loadEventFired" && ok()));
await send("Page.navigate", { url: pageUrl });
await loaded;
await waitFor("the chat form", "!!document.getElementById('chat')");

// Use the page as a person would: type into the fields and submit the forms.
const type = (id, text) => `(() => { const el = document.getElementById(${JSON.stringify(id)});
  el.focus(); el.value = ${JSON.stringify(text)}; el.dispatchEvent(new Event('input', { bubbles: true })); return true; })()`;
await evaluate(type("token", token));
await evaluate("document.getElementById('login').requestSubmit(), true");
await waitFor("the token to be accepted", "document.getElementById('who').textContent === 'token set'");
await evaluate(type("message", message));
await evaluate("document.getElementById('chat').requestSubmit(), true");
await waitFor("the bot's answer", "document.querySelectorAll('#messages li.bot').length >= 2");
await waitFor("the task in the list", "[...document.querySelectorAll('#tasks .title')].some(e => e.textContent.includes('buy milk'))");
await sleep(300); // let the layout settle after the last render

const shot = await send("Page.captureScreenshot", { format: "png" });
writeFileSync(out, Buffer.from(shot.data, "base64"));
const summary = await evaluate(`JSON.stringify({
  tasks: [...document.querySelectorAll('#tasks .title')].map(e => e.textContent),
  reply: [...document.querySelectorAll('#messages li.bot')].pop().textContent })`);
console.log(`screenshot: ${out} ${summary}`);
ws.close();
cleanup();
process.exit(0);
