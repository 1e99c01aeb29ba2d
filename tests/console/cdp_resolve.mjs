// cdp_resolve.mjs - resolves one in-doubt leg by hand in gwctl console's In
// doubt page, in headless chromium driven over the DevTools protocol (on
// --remote-debugging-pipe: file descriptors 3 and 4, each message ended by a
// NUL byte; no WebSocket, so Debian 12's Node.js 18 runs it), as a person
// would: first a wrong typed confirmation (the page must show NOT_CONFIRMED),
// then the right one. Prints the page's answer; exit 0 when the page says the
// decision was applied, 1 otherwise.
//   node cdp_resolve.mjs URL TRANSFER_ID REASON SCREENSHOT.png
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const [url, tid, reason, shot] = process.argv.slice(2);
const sleep = ms => new Promise(r => setTimeout(r, ms));
const say = text => fs.writeSync(1, text + '\n'); // synchronous: nothing lost at exit
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'console-cdp-'));
const chrome = spawn('/usr/bin/chromium', ['--headless', '--disable-gpu', '--no-sandbox', '--remote-debugging-pipe',
  '--user-data-dir=' + profile, '--window-size=1280,1000', 'about:blank'], { stdio: ['ignore', 'ignore', 'ignore', 'pipe', 'pipe'] });
const toChrome = chrome.stdio[3], fromChrome = chrome.stdio[4];
let next = 0, pending = Buffer.alloc(0);
const waiting = new Map();
fromChrome.on('data', chunk => { // answers to our calls; events are not used
  pending = Buffer.concat([pending, chunk]);
  for (let z = pending.indexOf(0); z >= 0; z = pending.indexOf(0)) {
    const m = JSON.parse(pending.subarray(0, z).toString('utf8'));
    pending = pending.subarray(z + 1);
    if (waiting.has(m.id)) { waiting.get(m.id)(m); waiting.delete(m.id); }
  }
});
const call = (method, params, sessionId) => new Promise(r => {
  const id = ++next;
  waiting.set(id, r);
  toChrome.write(JSON.stringify(sessionId ? { id, method, params, sessionId } : { id, method, params }) + '\0');
});
let rc = 1;
try {
  let page = null;
  for (let i = 0; i < 300 && !page; i++) {
    const t = await call('Target.getTargets', {});
    page = (t.result ? t.result.targetInfos : []).find(p => p.type === 'page');
    if (!page) await sleep(100);
  }
  if (!page) throw new Error('chromium shows no page');
  const attached = await call('Target.attachToTarget', { targetId: page.targetId, flatten: true });
  const session = attached.result.sessionId;
  const send = (method, params = {}) => call(method, params, session);
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
  toChrome.end();
  const ended = new Promise(r => chrome.once('exit', r));
  chrome.kill('SIGKILL');
  await ended;
  try { fs.rmSync(profile, { recursive: true, force: true }); } catch { /* left in the temp folder */ }
}
process.exit(rc);
