#!/usr/bin/env node
// registry_interop.js - drives the carbon.v1 Registry service of a running
// federation with an independent gRPC implementation (@grpc/grpc-js and
// @grpc/proto-loader, loading the project's own .proto files), over mutual
// TLS with the development PKI.
//
// Environment (set by run-interop.sh):
//   INTEROP_PKI_DIR   folder made by certs/make-dev-pki.sh (ca.crt, REGION-ROLE.crt/.key)
//   INTEROP_CN_TJ     HOST:PORT of the CN-TJ gateway
//   INTEROP_CN_BJ     HOST:PORT of the CN-BJ gateway
//   INTEROP_PROTO_DIR optional, defaults to ../../proto from this file
//
// Prints one line per step; exits 0 when every step passed, 1 otherwise.
// Account and request ids are random, so it can run again on the same stores.
'use strict';

const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const CALL_TIMEOUT_MS = 10000;
const ARRIVAL_TIMEOUT_MS = 15000;

function env(name) {
  const v = process.env[name];
  if (!v) throw new Error(`environment variable ${name} is not set`);
  return v;
}

const PKI = env('INTEROP_PKI_DIR');
const TARGET = { 'CN-TJ': env('INTEROP_CN_TJ'), 'CN-BJ': env('INTEROP_CN_BJ') };
const PROTO_DIR = process.env.INTEROP_PROTO_DIR || path.resolve(__dirname, '..', '..', 'proto');

const packageDefinition = protoLoader.loadSync(
  ['carbon/v1/carbon.proto', 'grpc/health/v1/health.proto'],
  { includeDirs: [PROTO_DIR], keepCase: true, longs: String, enums: String, defaults: true });
const proto = grpc.loadPackageDefinition(packageDefinition);
const Registry = proto.carbon.v1.Registry;
const Health = proto.grpc.health.v1.Health;
const Operations = proto.carbon.v1.Operations;

const ca = fs.readFileSync(path.join(PKI, 'ca.crt'));

// Client credentials with PKI file NAME.crt/.key ("CN-TJ-registry"), or none.
function credentialsFile(name) {
  if (name === null) return grpc.credentials.createSsl(ca); // no client certificate
  return grpc.credentials.createSsl(
    ca,
    fs.readFileSync(path.join(PKI, `${name}.key`)),
    fs.readFileSync(path.join(PKI, `${name}.crt`)));
}
const credentials = (region, role) => credentialsFile(role === null ? null : `${region}-${role}`);

// Every client gets its own subchannel pool, so a connection made with one
// certificate is never reused for a call that should present another. The
// gateways' development certificates name DNS:localhost and IP:127.0.0.1;
// the name checked (and sent as SNI, which may not be an IP address) is
// localhost.
const channelOptions = {
  'grpc.use_local_subchannel_pool': 1,
  'grpc.ssl_target_name_override': 'localhost',
};
const clients = [];

function client(Service, target, creds) {
  const c = new Service(target, creds, channelOptions);
  clients.push(c);
  return c;
}

// Promise of one unary call; rejects with the grpc-js error (code, details, metadata).
function call(c, method, request) {
  return new Promise((resolve, reject) => {
    c[method](request, { deadline: Date.now() + CALL_TIMEOUT_MS }, (err, resp) => {
      if (err) reject(err); else resolve(resp);
    });
  });
}

// Asserts that a call fails with status `code` (and, if given, carbon-reason `reason`).
async function refused(c, method, request, code, reason) {
  let err = null;
  try {
    await call(c, method, request);
  } catch (e) {
    err = e;
  }
  assert.ok(err !== null, `${method} should have failed with ${grpc.status[code]}`);
  assert.equal(err.code, code,
    `${method}: expected ${grpc.status[code]}, got ${grpc.status[err.code]} (${err.details})`);
  if (reason !== undefined) {
    const got = err.metadata ? err.metadata.get('carbon-reason') : [];
    assert.deepEqual(got.map(String), [reason], `${method}: trailing metadata carbon-reason`);
    assert.ok(String(err.details).startsWith(`${reason}: `),
      `${method}: status message should start with "${reason}: ", got "${err.details}"`);
  }
  return err;
}

const hex128 = () => crypto.randomBytes(16).toString('hex');
const grams = (b) => BigInt(b.serial_end) - BigInt(b.serial_start) + 1n;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let stepsPassed = 0;
async function step(name, fn) {
  const t0 = Date.now();
  try {
    const note = await fn();
    stepsPassed++;
    console.log(`ok   ${name}${note ? ` - ${note}` : ''} (${Date.now() - t0} ms)`);
  } catch (e) {
    console.log(`FAIL ${name}: ${e.message}`);
    throw e;
  }
}

async function main() {
  const tj = client(Registry, TARGET['CN-TJ'], credentials('CN-TJ', 'registry'));
  const bj = client(Registry, TARGET['CN-BJ'], credentials('CN-BJ', 'registry'));
  const tjAccount = `interop-tj-${hex128()}`;
  const bjAccount = `interop-bj-${hex128()}`;
  let issued; // CreditBlock of the issuance
  let transferId;

  await step('Health.Check on CN-TJ and CN-BJ with a registry certificate', async () => {
    for (const region of ['CN-TJ', 'CN-BJ']) {
      const h = client(Health, TARGET[region], credentials(region, 'registry'));
      const r = await call(h, 'Check', { service: '' });
      assert.equal(r.status, 'SERVING', `${region} health`);
    }
  });

  await step('OpenAccount in CN-TJ and CN-BJ', async () => {
    const a = await call(tj, 'OpenAccount', { account_id: tjAccount, holder_kind: 'personal' });
    assert.equal(a.account, `CN-TJ/${tjAccount}`);
    assert.equal(a.created, true);
    const b = await call(bj, 'OpenAccount', { account_id: bjAccount, holder_kind: 'personal' });
    assert.equal(b.account, `CN-BJ/${bjAccount}`);
    assert.equal(b.created, true);
    const again = await call(tj, 'OpenAccount', { account_id: tjAccount, holder_kind: 'personal' });
    assert.equal(again.created, false, 'OpenAccount is idempotent');
    return `${a.account}, ${b.account}`;
  });

  await step('Issue in CN-TJ: 420 km of TJ-GT-01 at 95/2 g/km = 19950 g', async () => {
    const req = {
      issuance_id: hex128(), account_id: tjAccount, methodology_id: 'TJ-GT-01',
      vintage_year: 2026, quantity_milli: '420000', activity_fingerprint: `interop-${hex128()}`,
    };
    const r = await call(tj, 'Issue', req);
    issued = r.block;
    assert.equal(issued.origin_region, 'CN-TJ');
    assert.equal(issued.methodology_id, 'TJ-GT-01');
    assert.equal(issued.vintage_year, 2026);
    assert.equal(grams(issued), 19950n, 'block size in grams');
    assert.deepEqual(
      { grams: r.amount.grams, units: r.amount.units, remainder_g: r.amount.remainder_g,
        unit: r.amount.unit, unit_g: r.amount.unit_g },
      { grams: '19950', units: '19', remainder_g: '950', unit: 'kg', unit_g: '1000' });
    assert.match(r.catalog_digest, /^[0-9a-f]{64}$/);
    const replay = await call(tj, 'Issue', req);
    assert.deepEqual(replay.block, issued, 'a replayed Issue returns the recorded block');
    return `CN-TJ:TJ-GT-01:2026:${issued.serial_start}-${issued.serial_end}`;
  });

  await step('Quote CN-TJ -> CN-BJ: 15 kg of TJ-GT-01 at 9/10', async () => {
    const { quote: q } = await call(tj, 'Quote', {
      from_account_id: tjAccount, to_region: 'CN-BJ', methodology_id: 'TJ-GT-01', amount_units: '15',
    });
    assert.deepEqual(
      { requested_g: q.requested_g, credited_g: q.credited_g, debited_g: q.debited_g,
        discount_g: q.discount_g, remainder_g: q.remainder_g, ratio_num: q.ratio_num,
        ratio_den: q.ratio_den, destination_methodology_id: q.destination_methodology_id },
      { requested_g: '15000', credited_g: '13500', debited_g: '15000', discount_g: '1500',
        remainder_g: '0', ratio_num: '9', ratio_den: '10', destination_methodology_id: 'BJ-GT-02' });
    assert.equal(q.credited.unit, 'point');
    assert.equal(q.credited.units, '1350');
    assert.equal(q.debited.unit, 'kg');
    assert.equal(q.debited.units, '15');
    assert.match(q.source_catalog_digest, /^[0-9a-f]{64}$/);
    assert.match(q.destination_catalog_digest, /^[0-9a-f]{64}$/);
    return 'credited 13500 g, debited 15000 g, discount 1500 g';
  });

  await step('Transfer CN-TJ -> CN-BJ is COMMITTED', async () => {
    transferId = hex128();
    const req = {
      transfer_id: transferId, from_account_id: tjAccount, to_region: 'CN-BJ',
      to_account_id: bjAccount, methodology_id: 'TJ-GT-01', vintage_year: 0, amount_units: '15',
      expected_credited_g: '13500',
    };
    const { transfer: t } = await call(tj, 'Transfer', req);
    assert.equal(t.transfer_id, transferId);
    assert.equal(t.outcome, 'TRANSFER_OUTCOME_COMMITTED', `outcome (reason "${t.reason}")`);
    assert.equal(t.from_account, `CN-TJ/${tjAccount}`);
    assert.equal(t.to_account, `CN-BJ/${bjAccount}`);
    assert.equal(t.arrival, false);
    assert.equal(t.quote.credited_g, '13500');
    assert.equal(t.quote.debited_g, '15000');
    assert.equal(t.blocks.reduce((s, b) => s + grams(b), 0n), 15000n, 'debited blocks sum');
    assert.equal(t.blocks[0].serial_start, issued.serial_start, 'oldest serials move first');
    const { transfer: stored } = await call(tj, 'GetTransfer', { transfer_id: transferId });
    assert.equal(stored.outcome, 'TRANSFER_OUTCOME_COMMITTED', 'GetTransfer outcome');
    assert.notEqual(stored.decided_unix_ms, '0', 'GetTransfer decided_unix_ms');
    assert.equal(t.decided_unix_ms, stored.decided_unix_ms,
      'Transfer answer decided_unix_ms (proto: 0 only while pending) vs GetTransfer');
    const replay = await call(tj, 'Transfer', req);
    assert.equal(replay.transfer.outcome, 'TRANSFER_OUTCOME_COMMITTED', 'a replay answers the record');
    const acct = await call(tj, 'GetAccount', { account_id: tjAccount, blocks_limit: 0 });
    assert.equal(acct.total.grams, '4950', 'CN-TJ account keeps the remainder');
    return transferId;
  });

  await step('ListTransfers(arrivals_only) at CN-BJ shows the arrival COMMITTED', async () => {
    // The source answers at its commit point; the destination applies the
    // decision right after (Decide), so poll briefly.
    const until = Date.now() + ARRIVAL_TIMEOUT_MS;
    let found = null;
    for (;;) {
      found = null;
      let cursor = '0';
      for (;;) {
        const r = await call(bj, 'ListTransfers', { after_cursor: cursor, limit: 1000, arrivals_only: true });
        for (const t of r.transfers) {
          assert.equal(t.arrival, true, 'arrivals_only lists arrivals only');
          if (t.transfer_id === transferId) found = t;
        }
        if (r.next_cursor === cursor) break; // nothing more yet
        cursor = r.next_cursor;
      }
      if (found && found.outcome === 'TRANSFER_OUTCOME_COMMITTED') break;
      if (Date.now() > until) {
        assert.fail(found ? `arrival still ${found.outcome}` : 'arrival not listed at CN-BJ');
      }
      await sleep(100);
    }
    assert.equal(found.from_account, `CN-TJ/${tjAccount}`);
    assert.equal(found.to_account, `CN-BJ/${bjAccount}`);
    assert.equal(found.quote.credited_g, '13500');
    assert.equal(found.quote.discount_g, '1500');
    return `cursor ${found.cursor}`;
  });

  await step('GetAccount at CN-BJ holds 13500 g of TJ-GT-01', async () => {
    const a = await call(bj, 'GetAccount', { account_id: bjAccount, blocks_limit: 0 });
    assert.equal(a.account, `CN-BJ/${bjAccount}`);
    assert.equal(a.total.grams, '13500');
    assert.equal(a.total.units, '1350');
    assert.equal(a.total.unit, 'point');
    assert.equal(a.pending.grams, '0');
    assert.equal(a.balances.length, 1);
    assert.deepEqual(
      { origin_region: a.balances[0].origin_region, methodology_id: a.balances[0].methodology_id,
        vintage_year: a.balances[0].vintage_year, grams: a.balances[0].amount.grams },
      { origin_region: 'CN-TJ', methodology_id: 'TJ-GT-01', vintage_year: 2026, grams: '13500' });
    assert.equal(a.blocks.reduce((s, b) => s + grams(b), 0n), 13500n);
    assert.equal(a.blocks[0].serial_start, issued.serial_start, 'the credited serials are the first ones');
    return `${a.total.units} ${a.total.unit}`;
  });

  await step('Retire 1000 points of TJ-GT-01 in CN-BJ', async () => {
    const retirementId = hex128();
    const r = await call(bj, 'Retire', {
      retirement_id: retirementId, account_id: bjAccount, methodology_id: 'TJ-GT-01',
      vintage_year: 0, amount_units: '1000', purpose: 'RETIREMENT_PURPOSE_VOLUNTARY_NEUTRALITY',
      beneficiary: 'interop test household',
    });
    assert.equal(r.retirement_id, retirementId);
    assert.equal(r.amount.grams, '10000');
    assert.equal(r.amount.units, '1000');
    assert.equal(r.amount.unit, 'point');
    assert.equal(r.blocks.length, 1);
    const b = r.blocks[0];
    assert.deepEqual(
      { origin_region: b.origin_region, methodology_id: b.methodology_id, vintage_year: b.vintage_year,
        serial_start: b.serial_start, serial_end: b.serial_end },
      { origin_region: 'CN-TJ', methodology_id: 'TJ-GT-01', vintage_year: 2026,
        serial_start: issued.serial_start,
        serial_end: String(BigInt(issued.serial_start) + 9999n) });
    const a = await call(bj, 'GetAccount', { account_id: bjAccount, blocks_limit: 0 });
    assert.equal(a.total.grams, '3500', 'CN-BJ account after retirement');
    return `CN-TJ:TJ-GT-01:2026:${b.serial_start}-${b.serial_end}`;
  });

  await step('refused: no client certificate fails the handshake (UNAVAILABLE)', async () => {
    const anon = client(Registry, TARGET['CN-TJ'], credentials('CN-TJ', null));
    const err = await refused(anon, 'GetAccount', { account_id: tjAccount }, grpc.status.UNAVAILABLE);
    return err.details;
  });

  await step('refused: untrusted-CA, expired and revoked certificates fail the handshake', async () => {
    for (const name of ['untrusted-registry', 'expired-registry', 'revoked-registry']) {
      const c = client(Registry, TARGET['CN-TJ'], credentialsFile(name));
      await refused(c, 'GetAccount', { account_id: tjAccount }, grpc.status.UNAVAILABLE);
    }
  });

  await step('refused: a CN-BJ registry certificate on CN-TJ Registry (PERMISSION_DENIED)', async () => {
    const foreign = client(Registry, TARGET['CN-TJ'], credentials('CN-BJ', 'registry'));
    await refused(foreign, 'GetAccount', { account_id: tjAccount }, grpc.status.PERMISSION_DENIED,
      'NOT_AUTHORIZED');
    await refused(foreign, 'Transfer', {
      transfer_id: hex128(), from_account_id: tjAccount, to_region: 'CN-BJ',
      to_account_id: bjAccount, methodology_id: 'TJ-GT-01', amount_units: '1',
    }, grpc.status.PERMISSION_DENIED, 'NOT_AUTHORIZED');
  });

  await step('refused: a malformed transfer_id (INVALID_ARGUMENT, carbon-reason BAD_ID)', async () => {
    await refused(tj, 'Transfer', {
      transfer_id: 'not-a-128-bit-hex-id', from_account_id: tjAccount, to_region: 'CN-BJ',
      to_account_id: bjAccount, methodology_id: 'TJ-GT-01', amount_units: '1',
    }, grpc.status.INVALID_ARGUMENT, 'BAD_ID');
    await refused(tj, 'GetTransfer', { transfer_id: transferId.toUpperCase() },
      grpc.status.INVALID_ARGUMENT, 'BAD_ID');
    const a = await call(tj, 'GetAccount', { account_id: tjAccount, blocks_limit: 0 });
    assert.equal(a.total.grams, '4950', 'a refused request changes nothing');
    assert.equal(a.held.grams, '0');
  });

  await step('the same 12 rides issued at once in CN-TJ and CN-BJ are issued once each', async () => {
    const run = `${hex128().slice(0, 8)}`;
    const issue = (c, account, meth, fp) => call(c, 'Issue', {
      issuance_id: hex128(), account_id: account, methodology_id: meth, vintage_year: 2026,
      quantity_milli: '10000', activity_fingerprint: fp,
    }).then(() => 'OK', (e) => e);
    const rides = [];
    for (let i = 0; i < 12; i++) {
      // one ride, spelt as each region's platform reports it (normalised alike)
      // (sent in turn first from either side)
      const atTj = () => issue(tj, tjAccount, 'TJ-GT-01', `Card-${run}-${i} 2026-11-30`);
      const atBj = () => issue(bj, bjAccount, 'BJ-GT-02', `  card-${run}-${i}   2026-11-30 `);
      if (i % 2 === 0) { const a = atTj(); rides.push(Promise.all([a, atBj()])); }
      else { const b = atBj(); rides.push(Promise.all([atTj(), b])); }
    }
    let tjWon = 0;
    for (const [i, [a, b]] of (await Promise.all(rides)).entries()) {
      assert.ok((a === 'OK') !== (b === 'OK'), `ride ${i}: exactly one issuance (CN-TJ ${a.details || a}, CN-BJ ${b.details || b})`);
      const lost = a === 'OK' ? b : a;
      const winner = a === 'OK' ? 'CN-TJ' : 'CN-BJ';
      assert.equal(lost.code, grpc.status.ALREADY_EXISTS, `ride ${i}: ${lost.details}`);
      assert.deepEqual(lost.metadata.get('carbon-reason').map(String), ['DUPLICATE_ISSUANCE']);
      assert.ok(lost.details.includes(winner), `ride ${i} names ${winner}: ${lost.details}`);
      tjWon += a === 'OK';
    }
    return `CN-TJ issued ${tjWon}, CN-BJ ${12 - tjWon}`;
  });

  await step('a compliance offset past its quota at CN-BJ is refused QUOTA_EXCEEDED with the room left', async () => {
    const ops = client(Operations, TARGET['CN-BJ'], credentials('CN-BJ', 'operator'));
    const beneficiary = `Interop Steel ${hex128().slice(0, 8)}`;
    const o = await call(ops, 'RegisterObligation', { beneficiary, compliance_year: 2026, obligation_g: '100000' });
    assert.equal(o.room_g, '5000', 'share 5/100 of 100000 g');
    const retire = (points) => call(bj, 'Retire', {
      retirement_id: hex128(), account_id: bjAccount, methodology_id: 'BJ-GT-02', amount_units: String(points),
      purpose: 'RETIREMENT_PURPOSE_COMPLIANCE_OFFSET', beneficiary, compliance_year: 2026,
    });
    await call(bj, 'Issue', {
      issuance_id: hex128(), account_id: bjAccount, methodology_id: 'BJ-GT-02', vintage_year: 2026,
      quantity_milli: '200000', activity_fingerprint: `interop-${hex128()}`,
    }); // 200 km at 53 g/km: 10600 g
    await retire(400); // 4000 g of Beijing's own credits
    const before = await call(bj, 'GetAccount', { account_id: bjAccount, blocks_limit: 0 });
    const e = await refused(bj, 'Retire', {
      retirement_id: hex128(), account_id: bjAccount, methodology_id: 'BJ-GT-02', amount_units: '200',
      purpose: 'RETIREMENT_PURPOSE_COMPLIANCE_OFFSET', beneficiary, compliance_year: 2026,
    }, grpc.status.FAILED_PRECONDITION, 'QUOTA_EXCEEDED');
    assert.ok(e.details.includes('room left 100 point (1000 g)'), e.details);
    const after = await call(bj, 'GetAccount', { account_id: bjAccount, blocks_limit: 0 });
    assert.equal(after.total.grams, before.total.grams, 'a refused retirement changes nothing');
    await retire(100); // exactly the room left
    return e.details;
  });
}

const t0 = Date.now();
main().then(
  () => {
    console.log(`interop: ${stepsPassed} steps passed in ${Date.now() - t0} ms`);
    process.exitCode = 0;
  },
  (e) => {
    // Assertion failures and gRPC errors were printed by step(); anything else
    // (a bug in this file, a missing module) gets its stack.
    if (!(e instanceof assert.AssertionError) && e.code === undefined) console.log(e.stack || String(e));
    console.log(`interop: FAILED after ${stepsPassed} steps`);
    process.exitCode = 1;
  },
).finally(() => {
  for (const c of clients) c.close();
});
