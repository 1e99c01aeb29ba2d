// cdp_resolve.mjs - resolves one in-doubt leg by hand in gwctl console's In
// doubt page, in headless chromium driven over the DevTools protocol (Node's
// WebSocket: run with node --experimental-websocket), as a person would:
// first a wrong typed confirmation (the page must show NOT_CONFIRMED), then
// the right one. Prints the page's answer; exit 0 when the page says the
// decision was applied, 1 otherwise.
//   node --experimental-websocket cdp_resolve.mjs URL TRANSFER_ID REASON SCREENSHOT.png
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const [url, tid, reason, shot] = process.argv.slice(2);
const sleep = ms => new Promise(r => setTimeout(r, ms));
const say = text => fs.writeSync(1, text + '\n'); // synchronous: nothing lost at exit
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'console-cdp-'));
const chrome = spawn('/usr/bin/chromium', ['--headless', '--disable-gpu', '--no-sandbox', '--remote-debugging-port=0',
  '--user-data-dir=' + profile, '--window-size=1280,1000', 'about:blank'], { stdio: 'ignore' });
let rc = 1;
let ws = null;
try {
  let port = '';
  for (let i = 0; i < 300 && !port; i++) {
    try { port = fs.readFileSync(path.join(profile, 'DevToolsActivePort'), 'utf8').split('\n')[0]; } catch { await sleep(100); }
  }
  const pages = await (await fetch('http://127.0.0.1:' + port + '/json/list')).json();
  ws = new WebSocket(pages.find(p => p.type === 'page').webSocketDebuggerUrl);
  await new Promise((ok, no) => { ws.onopen = ok; ws.onerror = no; });
  let next = 0;
  const waiting = new Map();
  ws.onmessage = ev => { const m = JSON.parse(ev.data); if (waiting.has(m.id)) { waiting.get(m.id)(m); waiting.delete(m.id); } };
  const send = (method, params = {}) => new Promise(r => { const id = ++next; waiting.set(id, r); ws.send(JSON.stringify({ id, method, params })); });
  const js = async expr => (await send('Runtime.evaluate', { expression: expr, awaitPromise: true, returnByValue: true })).result.result.value;
  const until = async (expr, ms) => { for (const end = Date.now() + ms; Date.now() < end; await sleep(100)) { const v = await js(expr); if (v) return v; } return null; };
  const form = 'document.querySelector(\'form.resolve[data-transfer="' + tid + '"]\')';
  const fill = confirm => js('(() => { const f = ' + form + '; f.querySelector("[name=action]").value = "abort"; ' +
    'f.querySelector("[name=reason]").value = ' + JSON.stringify(reason) + '; f.querySelector("[name=confirm]").value = ' +
    JSON.stringify(confirm) + '; f.querySelector(".result").textContent = ""; f.querySelector("button").click(); return true; })()');
  const answer = 'document.querySelector(\'form.resolve[data-transfer="' + tid + '"] .result\').textContent.replace(/^\\.\\.\\.$/, "")';
  await send('Page.navigate', { url });
  if (!await until('!!' + form, 30000)) throw new Error('the In doubt page does not list ' + tid);
  await fill(tid.slice(0, 31));
  const refused = await until(answer, 30000);
  say('wrong confirmation: ' + refused);
  if (!refused || !refused.includes('NOT_CONFIRMED')) throw new Error('a wrong confirmation was not refused');
  await fill(tid);
  const applied = await until(answer, 30000);
  say('right confirmation: ' + applied);
  const png = await send('Page.captureScreenshot', { format: 'png' });
  fs.writeFileSync(shot, Buffer.from(png.result.data, 'base64'));
  rc = applied && applied.startsWith('applied ABORT') ? 0 : 1;
} catch (e) {
  say('error: ' + e.message);
} finally {
  if (ws) ws.close();
  const ended = new Promise(r => chrome.once('exit', r));
  chrome.kill('SIGKILL');
  await ended;
  try { fs.rmSync(profile, { recursive: true, force: true }); } catch { /* left in the temp folder */ }
}
process.exit(rc);
