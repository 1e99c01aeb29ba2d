// gwctl console: the pages, drawn from the console's JSON API (same origin).
// Text from the gateways is only ever set as textContent, never as HTML.
'use strict';
const TOKEN = new URLSearchParams(location.search).get('token') || '';
const SVGNS = 'http://www.w3.org/2000/svg';
const POLL_MS = 5000;
let timer = null;
let config = null;

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'text') e.textContent = v; else if (k === 'cls') e.className = v; else e.setAttribute(k, v);
  }
  for (const k of kids) if (k !== null && k !== undefined) e.append(k);
  return e;
}
function svg(tag, attrs, text) {
  const e = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}
async function api(path) {
  const r = await fetch(path, { headers: { 'X-Console-Token': TOKEN } });
  return r.json();
}
async function post(path, body) {
  const r = await fetch(path, { method: 'POST', body: JSON.stringify(body),
    headers: { 'X-Console-Token': TOKEN, 'Content-Type': 'application/json' } });
  return r.json();
}
function errText(e) {
  if (!e) return '';
  return e.status + (e.reason ? ' ' + e.reason : '') + ': ' + e.message;
}
function errBox(e) {
  const msg = e.status === 'PERMISSION_DENIED'
    ? 'not allowed for your certificate (PERMISSION_DENIED: ' + e.message + ')' : errText(e);
  return el('div', { cls: 'error', text: msg });
}
function table(heads, rows) {
  const t = el('table', {}, el('tr', {}, ...heads.map(h => el('th', { text: h }))));
  for (const r of rows) t.append(r);
  return t;
}
function row(cells, cls) {
  const tr = el('tr', cls ? { cls } : {});
  for (const c of cells) tr.append(c instanceof Node ? el('td', {}, c) : el('td', { text: String(c) }));
  return tr;
}
function age(ms) { const s = Math.floor(Number(ms) / 1000); return s < 120 ? s + ' s' : Math.floor(s / 60) + ' min'; }
function page(title, ...kids) {
  const p = document.getElementById('page');
  p.replaceChildren(el('h2', { text: title }), ...kids.filter(k => k !== null && k !== undefined));
  return p;
}

// ---- Federation ------------------------------------------------------------
function fedAlarms(f) {
  const alarms = [];
  for (const r of f.regions) {
    if (r.health.error) alarms.push(r.region + ' unreachable: ' + errText(r.health.error));
    else if (r.health.status !== 'SERVING') alarms.push(r.region + ' is ' + r.health.status);
    if (r.forks.open > 0 && r.forks.source === 'metrics')
      alarms.push('FORK: ' + r.forks.open + ' unacknowledged forks of peers\' audit logs witnessed by ' + r.region + ' (from its /metrics)');
    if (r.forks.open > 0)
      for (const k of r.forks.forks.filter(x => !x.acknowledged))
        alarms.push('FORK: ' + k.region + "'s audit log forked (witnessed by " + r.region + ', fork ' + k.id + ')');
    if (r.indoubt.mixed > 0) alarms.push('HEURISTIC MISMATCH: ' + r.indoubt.mixed + ' HEURISTIC_MIXED legs at ' + r.region +
      (r.indoubt.source === 'metrics' ? ' (from its /metrics)' : ''));
  }
  const box = el('div', { id: 'alarms' });
  if (alarms.length === 0) box.append(el('div', { cls: 'calm', text: 'No open alarm (forks, heuristic mismatches, unreachable gateways) in what your certificate can read.' }));
  for (const a of alarms) box.append(el('div', { cls: 'alarm bad', text: a }));
  return box;
}
function cpText(cp) {
  if (!cp.verified && cp.why === 'no checkpoint yet') return el('span', { cls: 'muted', text: 'none yet (nothing logged)' });
  if (!cp.verified) return el('span', { cls: 'bad', text: 'DOES NOT VERIFY: ' + cp.why });
  return el('span', {}, el('span', { cls: 'ok', text: 'size ' + cp.size }),
    ' cosigned by ' + (cp.cosigners.length ? cp.cosigners.join(', ') : 'no peer yet'));
}
function fedCard(r) {
  const c = el('div', { cls: 'card region', 'data-region': r.region }, el('h3', { text: r.region + ' ' }));
  c.append(el('div', { cls: 'muted', text: r.address }));
  const h = r.health.error ? errBox(r.health.error)
    : el('span', { cls: r.health.status === 'SERVING' ? 'ok' : 'bad', text: r.health.status });
  c.querySelector('h3').append(h);
  if (r.checkpoint.error) c.append(el('div', { text: 'checkpoint: ' }, errBox(r.checkpoint.error)));
  else {
    c.append(el('div', { text: 'newest checkpoint: ' }, cpText(r.checkpoint.own)));
    const peers = r.checkpoint.peers.map(p => row([p.region, p.cosigned.verified ? p.cosigned.size : 'unverified']));
    c.append(el('div', { cls: 'muted', text: 'peers as ' + r.region + ' sees them (their newest checkpoint it cosigned):' }),
      table(['peer', 'cosigned size'], peers));
  }
  if (r.indoubt.error) c.append(el('div', { text: 'in doubt: ' }, errBox(r.indoubt.error)));
  else c.append(el('div', { text: 'legs in doubt: ' }, el('span', { cls: r.indoubt.count ? 'warn' : 'ok', text: String(r.indoubt.count) }),
    r.indoubt.mixed ? el('span', { cls: 'bad', text: ' (' + r.indoubt.mixed + ' HEURISTIC_MIXED)' }) : null,
    r.indoubt.source === 'metrics' ? el('span', { cls: 'muted', text: ' (from its /metrics: ListInDoubt is not allowed for your certificate)' }) : null));
  if (r.forks.error) c.append(el('div', { text: 'forks: ' }, errBox(r.forks.error)));
  else c.append(el('div', { text: 'forks witnessed, unacknowledged: ' }, el('span', { cls: r.forks.open ? 'bad' : 'ok', text: String(r.forks.open) }),
    r.forks.source === 'metrics' ? el('span', { cls: 'muted', text: ' (from its /metrics)' }) : null));
  return c;
}
async function showFederation() {
  const f = await api('/api/federation');
  if (f.error) { page('Federation', errBox(f.error)); return; }
  const cats = table(['region', 'version', 'status', 'unit', 'digest'],
    f.catalogs.map(k => row([k.region, k.version, k.status, k.unit, el('span', { cls: 'mono', text: k.digest })])));
  page('Federation', fedAlarms(f), el('div', { cls: 'cards', id: 'regions' }, ...f.regions.map(fedCard)),
    el('h2', { text: 'Catalogs (local files, as gwctl catalog)' }), cats,
    el('div', { cls: 'muted', text: 'Refreshed every 5 s; last ' + new Date().toISOString() }));
  timer = setTimeout(showFederation, POLL_MS);
}

// ---- In doubt ---------------------------------------------------------------
function resolveForm(region, leg) {
  const tid = leg.leg ? leg.leg.transfer_id : '';
  const action = el('select', { name: 'action' }, el('option', { value: 'commit', text: 'commit' }),
    el('option', { value: 'abort', text: 'abort' }), el('option', { value: 'compensate', text: 'compensate' }),
    el('option', { value: 'close', text: 'close' }));
  if (leg.state === 'HEURISTIC_MIXED') action.value = leg.heuristic_outcome === 'ORIGIN_DENIED' ? 'close' : 'compensate';
  const reason = el('input', { name: 'reason', placeholder: 'reason (10..512 bytes)', size: '24' });
  const confirm = el('input', { name: 'confirm', placeholder: 'type the transfer id to confirm', size: '34', cls: 'mono' });
  const out = el('span', { cls: 'result' });
  const form = el('form', { cls: 'inline resolve', 'data-transfer': tid }, action, reason, confirm, el('button', { type: 'submit', text: 'Resolve' }), out);
  form.addEventListener('submit', async ev => {
    ev.preventDefault();
    out.textContent = '...';
    const r = await post('/api/resolve', { region, transfer_id: tid, action: action.value, reason: reason.value, confirm: confirm.value });
    out.className = r.error ? 'result bad' : 'result ok';
    out.textContent = r.error ? errText(r.error) : 'applied ' + String(r.applied.applied).replace(/^DECISION_/, '') + ' to ' + r.applied.transfer_id;
  });
  return form;
}
async function showInDoubt() {
  const d = await api('/api/indoubt');
  const parts = [];
  for (const r of d.regions) {
    parts.push(el('h2', { text: r.region }));
    if (r.error) { parts.push(errBox(r.error)); continue; }
    if (r.legs.length === 0) { parts.push(el('div', { cls: 'calm', text: 'No leg in doubt at ' + r.region })); continue; }
    parts.push(table(['transfer', 'role', 'state', 'forced', 'age', 'known', 'attempts', 'resolve (same rules as gwctl resolve)'],
      r.legs.map(l => row([el('span', { cls: 'mono', text: l.leg ? l.leg.transfer_id : '-' }), l.role, l.state,
        l.heuristic || '-', age(l.age_ms), l.known, l.doubt_attempts || '0', resolveForm(r.region, l)],
        l.state === 'HEURISTIC_MIXED' ? 'bad' : ''))));
  }
  page('Legs in doubt', ...parts, el('div', { cls: 'muted', text: 'Resolving needs an operator certificate of that region; the gateway refuses a resolve before the leg expires and while its coordinator answers.' }));
}

// ---- Batches ----------------------------------------------------------------
async function showBatches(arg) {
  const regions = config.regions.map(r => r.region);
  const sel = (name, opts) => el('select', { name }, ...opts.map(o => el('option', { value: o, text: o })));
  const region = sel('region', regions), peer = sel('peer', regions.slice(1).concat(regions.slice(0, 1)));
  const dir = sel('direction', ['outgoing', 'incoming']);
  const out = el('div', { id: 'batch-result' });
  const list = el('button', { type: 'button', text: 'List batches' }), rec = el('button', { type: 'button', text: 'Reconcile' });
  // one page of at most 1000 batches (fewer where they outgrow a message) from batch number `from` (1: the first)
  const listFrom = async from => {
    const b = await api('/api/batches?region=' + region.value + '&peer=' + peer.value + '&incoming=' + (dir.value === 'incoming' ? 1 : 0) + '&from=' + from);
    if (b.error) { out.replaceChildren(errBox(b.error)); return; }
    const bs = b.batches || [];
    const nav = el('div', { text: bs.length ? 'batches ' + bs[0].batch_seq + ' to ' + bs[bs.length - 1].batch_seq + ' ' : 'no batch from ' + from });
    if (from > 1) { const prev = el('button', { type: 'button', text: 'previous 1000 numbers' }); prev.addEventListener('click', () => listFrom(Math.max(1, from - 1000))); nav.append(prev); }
    // the gateway says where the next page starts (next_from_seq): where the records outgrew one message, or after 1000 numbers
    const stop = Number(b.next_from_seq || 0);
    if (stop || bs.length === 1000) { const next = el('button', { type: 'button', text: 'next page' }); next.addEventListener('click', () => listFrom(stop || Number(bs[bs.length - 1].batch_seq) + 1)); nav.append(next); }
    out.replaceChildren(nav, table(['seq', 'from', 'to', 'legs', 'sum (g)', 'digest'],
      bs.map(x => row([x.batch_seq, x.source_region, x.destination_region, x.leg_count, x.sum_g, el('span', { cls: 'mono', text: x.digest })]))));
  };
  list.addEventListener('click', () => listFrom(1));
  // every batch, a page at a time (at most 1000 batches each, as gwctl reconcile), at most 1000 pages
  rec.addEventListener('click', async () => {
    let from = 1, pages = 0, batches = 0, legs = 0, undelivered = 0, leftOut = 0, next = 0;
    const ds = [];
    do {
      out.replaceChildren(el('div', { text: 'reconciling from batch ' + from + '...' }));
      const r = await api('/api/reconcile?region=' + region.value + '&peer=' + peer.value + '&from=' + from);
      if (r.error) { out.replaceChildren(errBox(r.error)); return; }
      batches += Number(r.batches_compared || 0); legs += Number(r.legs_compared || 0); undelivered += Number(r.batches_undelivered || 0);
      leftOut += Number(r.discrepancies_left_out || 0);
      ds.push(...(r.discrepancies || []));
      next = Number(r.next_from_seq || 0);
      from = next;
    } while (next !== 0 && ++pages < 1000);
    const cut = next !== 0 ? ' (stopped after 1000 pages: more remain from batch ' + next + ')' : '';
    out.replaceChildren(el('div', { cls: ds.length || leftOut || cut ? 'alarm bad' : 'calm', text: 'batches compared ' + batches +
      ', legs compared ' + legs + ', discrepancies ' + ds.length +
      (leftOut ? ', and ' + leftOut + ' more left out (more than an answer holds)' : '') + (undelivered ? ', undelivered (all aborted) ' + undelivered : '') + cut }),
      table(['stage', 'batch', 'transfer', 'field', 'here', 'peer'],
        ds.slice(0, 1000).map(x => row([x.stage, x.batch_seq, x.transfer_id || '-', x.field, x.local_value, x.peer_value], 'bad'))));
  });
  page('Settlement batches', el('form', { cls: 'inline' }, 'region', region, 'peer', peer, dir, list, rec), out);
  // #batches=REGION,PEER[,incoming|reconcile] selects them (reconcile is read-only)
  const [r0, p0, what] = (arg || '').split(',');
  if (regions.includes(r0)) region.value = r0;
  if (regions.includes(p0)) peer.value = p0;
  if (what === 'incoming') dir.value = 'incoming';
  (what === 'reconcile' ? rec : list).click();
}

// ---- Trace -------------------------------------------------------------------
function traceColor(v) { return v.startsWith('proof to') ? '#0b7a3e' : v.startsWith('pending') ? '#a15c00' : '#b3261e'; }
function drawTrace(t) {
  const regions = [...new Set(t.hops.map(h => h.region))].sort();
  const lane = 110, step = 170, w = Math.max(600, 130 + t.hops.length * step), hgt = 40 + regions.length * lane;
  const shown = Math.min(w, 1240); // wider paths are scaled down to the page
  const s = svg('svg', { width: shown, height: Math.round(hgt * shown / w), viewBox: '0 0 ' + w + ' ' + hgt, id: 'trace-svg', role: 'img' });
  s.append(svg('title', {}, 'path of ' + t.subject));
  regions.forEach((r, i) => {
    s.append(svg('text', { x: 8, y: 40 + i * lane + 34, 'font-weight': 'bold' }, r));
    s.append(svg('line', { x1: 70, y1: 40 + i * lane + 30, x2: w - 10, y2: 40 + i * lane + 30, stroke: '#e1e6eb' }));
  });
  const pos = t.hops.map((h, k) => [100 + k * step, 40 + regions.indexOf(h.region) * lane]);
  for (let k = 1; k < pos.length; k++)
    s.append(svg('line', { x1: pos[k - 1][0] + 150, y1: pos[k - 1][1] + 30, x2: pos[k][0], y2: pos[k][1] + 30, stroke: '#17324d', 'stroke-width': 2 }));
  t.hops.forEach((h, k) => {
    const [x, y] = pos[k], g = svg('g', { class: 'hop', 'data-region': h.region });
    g.append(svg('rect', { x, y, width: 150, height: 62, rx: 6, fill: '#fff', stroke: traceColor(h.verified), 'stroke-width': 2 }));
    g.append(svg('text', { x: x + 6, y: y + 14, 'font-weight': 'bold' }, h.region + ' #' + h.seq + ' ' + h.event));
    g.append(svg('text', { x: x + 6, y: y + 29 }, h.grams === '0' ? '-' : h.units + ' ' + h.unit + ' (' + h.grams + ' g)'));
    g.append(svg('text', { x: x + 6, y: y + 44, fill: traceColor(h.verified) }, h.verified));
    g.append(svg('text', { x: x + 6, y: y + 57, fill: '#667' }, new Date(Number(h.time_ms)).toISOString().slice(11, 23)));
    s.append(g);
  });
  return s;
}
async function showTrace(subject) {
  const input = el('input', { name: 'subject', size: '40', cls: 'mono', placeholder: 'transfer id (32 hex) or REGION:SERIAL', value: subject || '' });
  const form = el('form', { cls: 'inline' }, input, el('button', { type: 'submit', text: 'Trace' }));
  form.addEventListener('submit', ev => { ev.preventDefault(); location.hash = '#trace=' + input.value.trim(); });
  if (!subject) { page('Trace', form); return; }
  page('Trace ' + subject, form, el('p', { text: 'Tracing across every region...' }));
  const t = await api('/api/trace?subject=' + encodeURIComponent(subject));
  if (t.error) { page('Trace ' + subject, form, errBox(t.error)); return; }
  page('Trace ' + subject, form, traceVerdict(t), ...traceDetails(t));
}
// The trace's verdict from gwctl trace's exit code: only 0 is "verified".
function traceVerdict(t) {
  if (t.failures > 0) return el('div', { cls: 'alarm bad', text: t.failures + ' verification failures' });
  if (t.exit_code === 1 && t.hops.length === 0) return el('div', { cls: 'alarm bad', text: 'nothing found for this subject in the regions read' });
  if (t.exit_code !== 0) return el('div', { cls: 'alarm bad', text: t.hops.length + ' hops found, NOT verified: not every region could be read (gwctl trace exit ' + t.exit_code + ')' });
  return el('div', { cls: 'calm', text: t.hops.length + ' hops, every proof verified' + (t.pending ? ' (' + t.pending + ' pending)' : '') });
}
function traceDetails(t) {
  const cps = table(['region', 'checkpoint', 'size', 'cosigned by', 'required'], t.checkpoints.map(c =>
    row([c.region, c.verified ? 'verified' : 'DOES NOT VERIFY', c.size, c.cosigners.join(', ') || 'no peer', c.cosigners_required], c.verified ? '' : 'bad')));
  const hops = table(['time (UTC)', 'region', 'seq', 'event', 'amount', 'verified', 'ids'], t.hops.map(h =>
    row([new Date(Number(h.time_ms)).toISOString(), h.region, h.seq, h.event, h.grams === '0' ? '-' : h.units + ' ' + h.unit + ' (' + h.grams + ' g)', h.verified, el('span', { cls: 'mono', text: h.ids.join(', ') })],
      traceColor(h.verified) === '#b3261e' ? 'bad' : '')));
  const unread = t.unreachable_regions.length ? el('div', { cls: 'alarm', text: 'not read: ' + t.unreachable_regions.join(', ') }) : null;
  return [unread, drawTrace(t), el('h2', { text: 'Checkpoints' }), cps, el('h2', { text: 'Hops' }), hops];
}

// ---- Metrics -----------------------------------------------------------------
const samples = {};
function metricValue(m, name) { const v = m[name]; return v === undefined ? null : Number(v); }
function derive(prev, cur) {
  const dt = (cur.t - prev.t) / 1000, d = n => (metricValue(cur.m, n) ?? 0) - (metricValue(prev.m, n) ?? 0);
  const lc = d('carbon_settlement_latency_seconds_count'), bc = d('carbon_batch_legs_count');
  return { settled: d('carbon_transfers_total{outcome="committed"}') / dt,
    latency: lc > 0 ? 1000 * d('carbon_settlement_latency_seconds_sum') / lc : 0,
    batch: bc > 0 ? d('carbon_batch_legs_sum') / bc : 0, errors: d('carbon_store_errors_total') / dt,
    indoubt: metricValue(cur.m, 'carbon_legs_in_doubt') ?? 0 };
}
function chart(title, points) {
  const w = 300, h = 110, max = Math.max(1e-9, ...points), s = svg('svg', { width: w, height: h, class: 'chart' });
  s.append(svg('text', { x: 6, y: 14, 'font-weight': 'bold' }, title));
  s.append(svg('text', { x: w - 6, y: 14, 'text-anchor': 'end' }, points.length ? points[points.length - 1].toFixed(2) : '-'));
  const xy = points.map((p, i) => (10 + i * (w - 20) / Math.max(1, points.length - 1)).toFixed(1) + ',' + (h - 10 - p / max * (h - 35)).toFixed(1));
  s.append(svg('polyline', { points: xy.join(' '), fill: 'none', stroke: '#17324d', 'stroke-width': 2 }));
  for (const p of xy) { const [cx, cy] = p.split(','); s.append(svg('circle', { cx, cy, r: 2.5, fill: '#17324d' })); }
  s.append(svg('line', { x1: 10, y1: h - 10, x2: w - 10, y2: h - 10, stroke: '#d5dde5' }));
  return s;
}
async function showMetrics() {
  const parts = [];
  for (const r of config.regions) {
    parts.push(el('h2', { text: r.region }));
    if (!r.metrics) { parts.push(el('div', { cls: 'muted', text: 'no --metrics address given for ' + r.region })); continue; }
    const m = await api('/api/metrics?region=' + r.region);
    if (m.error) { parts.push(errBox(m.error)); continue; }
    const list = samples[r.region] = samples[r.region] || [];
    list.push({ t: Date.now(), m: m.metrics });
    if (list.length > 61) list.shift();
    const d = list.slice(1).map((c, i) => derive(list[i], c));
    parts.push(el('div', { cls: 'charts' }, chart('settled per second', d.map(x => x.settled)), chart('mean latency (ms)', d.map(x => x.latency)),
      chart('mean batch size (legs)', d.map(x => x.batch)), chart('store errors per second', d.map(x => x.errors)),
      chart('legs in doubt', d.map(x => x.indoubt))));
    const v = n => m.metrics[n] || '0', mean = (s, c) => Number(v(c)) > 0 ? (Number(v(s)) / Number(v(c))).toFixed(3) : '-';
    parts.push(table(['since the gateway started', 'value'], [
      row(['transfers committed', v('carbon_transfers_total{outcome="committed"}')]),
      row(['transfers aborted', v('carbon_transfers_total{outcome="aborted"}')]),
      row(['mean settlement latency (s)', mean('carbon_settlement_latency_seconds_sum', 'carbon_settlement_latency_seconds_count')]),
      row(['mean batch size (legs)', mean('carbon_batch_legs_sum', 'carbon_batch_legs_count')]),
      row(['legs in doubt now', v('carbon_legs_in_doubt')]),
      row(['HEURISTIC_MIXED legs now', v('carbon_legs_heuristic_mixed')], Number(v('carbon_legs_heuristic_mixed')) > 0 ? 'bad' : ''),
      row(['store errors', v('carbon_store_errors_total')], Number(v('carbon_store_errors_total')) > 0 ? 'bad' : ''),
      row(['gRPC calls (failed)', v('carbon_grpc_calls_total') + ' (' + v('carbon_grpc_calls_failed_total') + ')'])]));
    parts.push(el('div', { cls: 'muted', text: 'transfers committed: ' + v('carbon_transfers_total{outcome="committed"}') + '; ' + list.length + ' samples polled' }));
  }
  page('Metrics (polled from /metrics every 5 s, last 5 minutes)', ...parts);
  timer = setTimeout(showMetrics, POLL_MS);
}

// ---- routing -----------------------------------------------------------------
async function route() {
  clearTimeout(timer);
  const h = location.hash.slice(1) || 'federation';
  const [name, arg] = h.split('=');
  for (const a of document.querySelectorAll('nav a')) a.classList.toggle('active', a.id === 'nav-' + name);
  if (!config) {
    config = await api('/api/config');
    if (config.error) { page('Console', errBox(config.error)); config = null; return; }
    document.getElementById('identity').textContent = 'you are ' + config.identity.id + ' (certificate until ' + config.identity.expires + ')';
  }
  try {
    if (name === 'batches') await showBatches(arg ? decodeURIComponent(arg) : '');
    else if (name === 'indoubt') await showInDoubt();
    else if (name === 'trace') await showTrace(arg ? decodeURIComponent(arg) : '');
    else if (name === 'metrics') await showMetrics();
    else await showFederation();
  } catch (e) { page('Console', el('div', { cls: 'error', text: 'the console did not answer: ' + e })); }
  document.body.setAttribute('data-page-ready', name);
}
window.addEventListener('hashchange', route);
window.addEventListener('DOMContentLoaded', route);
