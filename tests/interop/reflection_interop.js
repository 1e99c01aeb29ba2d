#!/usr/bin/env node
// reflection_interop.js - explores a running gateway through gRPC server
// reflection with independent clients: grpc-js-reflection-client (npm) for
// what registries' tools do (list services, describe a service, build a
// client from the reflected descriptor and call Registry/GetAccount with it),
// and @grpc/grpc-js with the reflection .proto shipped in that npm package for
// the protocol itself (several requests on one stream, errors, limits).
// No project .proto file is loaded here: everything about carbon.v1 comes
// from the gateway.
//
// Environment (set by run-interop.sh):
//   INTEROP_PKI_DIR   folder made by certs/make-dev-pki.sh (ca.crt, REGION-ROLE.crt/.key)
//   INTEROP_CN_TJ     HOST:PORT of the CN-TJ gateway
//   INTEROP_CN_HE     HOST:PORT of the CN-HE gateway, and INTEROP_CN_HE_PID its
//                     process id: the last step stops it (SIGTERM) with a
//                     reflection stream open; run-interop.sh then checks
//                     that it exited with status 0
//
// Prints one line per step; exits 0 when every step passed, 1 otherwise.
'use strict';

const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const { GrpcReflection } = require('grpc-js-reflection-client');

const CALL_TIMEOUT_MS = 10000;
const REQUESTS_MAX = 256; // gateway/reflection.h REFLECTION_REQUESTS_MAX
const NAME_MAX = 256;     // gateway/reflection.h REFLECTION_NAME_MAX
const STREAMS_MAX = 256;  // gateway/server.h SERVER_STREAMS_MAX

function env(name) {
  const v = process.env[name];
  if (!v) throw new Error(`environment variable ${name} is not set`);
  return v;
}

const PKI = env('INTEROP_PKI_DIR');
const TARGET = env('INTEROP_CN_TJ');
const TARGET_HE = env('INTEROP_CN_HE');
const PID_HE = Number(env('INTEROP_CN_HE_PID'));
const ca = fs.readFileSync(path.join(PKI, 'ca.crt'));

// Client credentials with PKI file NAME.crt/.key ("CN-TJ-registry"), or none.
function credentialsFile(name) {
  if (name === null) return grpc.credentials.createSsl(ca);
  return grpc.credentials.createSsl(
    ca,
    fs.readFileSync(path.join(PKI, `${name}.key`)),
    fs.readFileSync(path.join(PKI, `${name}.crt`)));
}

// As in registry_interop.js: a subchannel pool per client, so a connection
// made with one certificate never serves a call that should present another.
const channelOptions = {
  'grpc.use_local_subchannel_pool': 1,
  'grpc.ssl_target_name_override': 'localhost',
};
const closers = [];
function reflector(certName, version) {
  const r = new GrpcReflection(TARGET, credentialsFile(certName), channelOptions, version);
  closers.push(() => r.client.close());
  return r;
}
const deadline = () => ({ deadline: Date.now() + CALL_TIMEOUT_MS });

// The reflection protocol by hand: the reflection .proto that the npm client
// ships (grpc.reflection.v1 and v1alpha, the same messages).
const REFLECTION_PROTO_DIR = path.join(path.dirname(require.resolve('grpc-js-reflection-client/package.json')), 'proto');
function rawReflectionClient(version, certName, target = TARGET) {
  const def = protoLoader.loadSync(path.join(REFLECTION_PROTO_DIR, `${version}.proto`),
    { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
  const Service = grpc.loadPackageDefinition(def).grpc.reflection[version].ServerReflection;
  const c = new Service(target, credentialsFile(certName), channelOptions);
  closers.push(() => c.close());
  return c;
}

// Sends every request on one stream, half-closes, and collects the
// responses and the final status (resolves in both cases).
function converse(c, requests, options = deadline()) {
  return new Promise((resolve) => {
    const responses = [];
    const call = c.ServerReflectionInfo(options);
    call.on('data', (d) => responses.push(d));
    call.on('error', (err) => resolve({ responses, status: err }));
    call.on('status', (st) => { if (st.code === grpc.status.OK) resolve({ responses, status: st }); });
    for (const r of requests) call.write(r);
    call.end();
  });
}

const EXPECTED_SERVICES = [
  'carbon.v1.Audit', 'carbon.v1.Federation', 'carbon.v1.Operations', 'carbon.v1.Registry',
  'grpc.health.v1.Health', 'grpc.reflection.v1.ServerReflection',
  'grpc.reflection.v1alpha.ServerReflection',
];
const REGISTRY_METHODS = ['GetAccount', 'GetTransfer', 'Issue', 'ListTransfers', 'OpenAccount',
  'Quote', 'Retire', 'Transfer'];

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

async function rejects(promise) {
  try {
    await promise;
  } catch (e) {
    return e;
  }
  assert.fail('should have failed');
}

async function main() {
  await step('list services (grpc-js-reflection-client, v1 and v1alpha)', async () => {
    for (const version of ['v1', 'v1alpha']) {
      const services = await reflector('CN-TJ-registry', version).listServices('*', deadline());
      assert.deepEqual([...services].sort(), EXPECTED_SERVICES, `${version} list_services`);
    }
    return EXPECTED_SERVICES.join(' ');
  });

  let registryDescriptor;
  await step('describe carbon.v1.Registry: its methods and their types', async () => {
    const r = reflector('CN-TJ-registry', 'v1');
    const methods = await r.listMethods('carbon.v1.Registry', deadline());
    assert.deepEqual(methods.map((m) => m.name).sort(), REGISTRY_METHODS);
    const get = methods.find((m) => m.name === 'GetAccount').definition;
    assert.equal(get.path, '/carbon.v1.Registry/GetAccount');
    assert.equal(get.requestStream, false);
    assert.equal(get.responseStream, false);
    registryDescriptor = await r.getDescriptorBySymbol('carbon.v1.Registry', deadline());
    const root = registryDescriptor.getProtobufJsRoot();
    const req = root.lookupType('carbon.v1.GetAccountRequest');
    // (protobufjs names fields in camelCase when it reads a descriptor)
    assert.deepEqual(req.fieldsArray.map((f) => [f.id, f.type]), [[1, 'string'], [2, 'uint32']]);
    assert.equal(root.lookupType('carbon.v1.GetAccountResponse').fields.total.resolve().resolvedType.fullName, '.carbon.v1.Amount');
    return `${methods.length} methods`;
  });

  await step('OpenAccount and GetAccount through a client built from the reflected descriptor', async () => {
    const pkg = registryDescriptor.getPackageObject(
      { keepCase: true, longs: String, enums: String, defaults: true });
    const Registry = pkg.carbon.v1.Registry;
    const c = new Registry(TARGET, credentialsFile('CN-TJ-registry'), channelOptions);
    closers.push(() => c.close());
    const unary = (method, request) => new Promise((resolve, reject) => {
      c[method](request, deadline(), (err, resp) => (err ? reject(err) : resolve(resp)));
    });
    const id = `reflect-${crypto.randomBytes(8).toString('hex')}`;
    const opened = await unary('OpenAccount', { account_id: id, holder_kind: 'personal' });
    assert.equal(opened.account, `CN-TJ/${id}`);
    assert.equal(opened.created, true);
    const a = await unary('GetAccount', { account_id: id, blocks_limit: 0 });
    assert.equal(a.account, `CN-TJ/${id}`);
    assert.equal(a.holder_kind, 'personal');
    assert.equal(a.total.grams, '0');
    assert.deepEqual(a.blocks, []);
    return a.account;
  });

  await step('one v1 stream: seven questions, seven answers in order, then OK', async () => {
    const c = rawReflectionClient('v1', 'CN-TJ-registry');
    const { responses, status } = await converse(c, [
      { host: 'h', list_services: '' },
      { file_by_filename: 'carbon/v1/carbon.proto' },
      { file_containing_symbol: 'carbon.v1.Registry.GetAccount' },
      { file_containing_symbol: 'carbon.v1.GetAccountRequest.account_id' },
      { file_containing_symbol: 'grpc.reflection.v1alpha.ServerReflection' },
      { file_containing_symbol: 'carbon.v1.NoSuchThing' },
      { file_by_filename: 'no/such.proto' },
    ]);
    assert.equal(status.code, grpc.status.OK, status.details);
    assert.equal(responses.length, 7);
    assert.equal(responses[0].valid_host, 'h');
    assert.equal(responses[0].original_request.list_services, '');
    assert.deepEqual(responses[0].list_services_response.service.map((s) => s.name).sort(),
      EXPECTED_SERVICES);
    const fileOf = (r) => {
      assert.equal(r.message_response, 'file_descriptor_response', JSON.stringify(r.error_response));
      const files = r.file_descriptor_response.file_descriptor_proto;
      assert.equal(files.length, 1, 'no imports: one file');
      const fd = /** FileDescriptorProto */ require('protobufjs/ext/descriptor').FileDescriptorProto.decode(files[0]);
      return fd.name;
    };
    assert.equal(fileOf(responses[1]), 'carbon/v1/carbon.proto');
    assert.equal(fileOf(responses[2]), 'carbon/v1/carbon.proto');
    assert.equal(fileOf(responses[3]), 'carbon/v1/carbon.proto');
    assert.equal(fileOf(responses[4]), 'grpc/reflection/v1alpha/reflection.proto');
    for (const i of [5, 6]) {
      assert.equal(responses[i].message_response, 'error_response');
      assert.equal(responses[i].error_response.error_code, grpc.status.NOT_FOUND);
    }
    assert.equal(responses[5].original_request.file_containing_symbol, 'carbon.v1.NoSuchThing');
    return responses[5].error_response.error_message;
  });

  await step('extensions: none declared, so NOT_FOUND or an empty list', async () => {
    const c = rawReflectionClient('v1alpha', 'CN-TJ-registry');
    const { responses, status } = await converse(c, [
      { all_extension_numbers_of_type: 'carbon.v1.GetAccountRequest' },
      { all_extension_numbers_of_type: 'carbon.v1.NoSuchThing' },
      { file_containing_extension: { containing_type: 'carbon.v1.GetAccountRequest', extension_number: 100 } },
      { host: 'no question at all' },
    ]);
    assert.equal(status.code, grpc.status.OK, status.details);
    assert.equal(responses.length, 4);
    assert.equal(responses[0].all_extension_numbers_response.base_type_name, 'carbon.v1.GetAccountRequest');
    assert.deepEqual(responses[0].all_extension_numbers_response.extension_number, []);
    assert.equal(responses[1].error_response.error_code, grpc.status.NOT_FOUND);
    assert.equal(responses[2].error_response.error_code, grpc.status.NOT_FOUND);
    assert.equal(responses[3].error_response.error_code, grpc.status.INVALID_ARGUMENT);
  });

  await step(`limits: a name over ${NAME_MAX - 1} bytes, more than ${REQUESTS_MAX} requests on a stream`, async () => {
    const c = rawReflectionClient('v1', 'CN-TJ-registry');
    const long = await converse(c, [{ file_containing_symbol: 'a'.repeat(NAME_MAX) }]);
    assert.equal(long.status.code, grpc.status.OK);
    assert.equal(long.responses[0].error_response.error_code, grpc.status.INVALID_ARGUMENT);
    const many = Array.from({ length: REQUESTS_MAX + 1 }, () => ({ list_services: '' }));
    const { responses, status } = await converse(c, many);
    assert.equal(responses.length, REQUESTS_MAX);
    assert.equal(status.code, grpc.status.RESOURCE_EXHAUSTED, status.details);
    assert.deepEqual(status.metadata.get('carbon-reason').map(String), ['TOO_MANY_REQUESTS']);
    return status.details;
  });

  await step('bytes that are no ServerReflectionRequest: INVALID_ARGUMENT (MALFORMED)', async () => {
    const c = new grpc.Client(TARGET, credentialsFile('CN-TJ-registry'), channelOptions);
    closers.push(() => c.close());
    const status = await new Promise((resolve) => {
      const call = c.makeBidiStreamRequest('/grpc.reflection.v1.ServerReflection/ServerReflectionInfo',
        (b) => b, (b) => b, deadline());
      call.on('data', () => {});
      call.on('error', resolve);
      call.on('status', (st) => { if (st.code === grpc.status.OK) resolve(st); });
      call.write(Buffer.from([0x1a, 0x05, 0x41])); // field 3, length 5, one byte
      call.end();
    });
    assert.equal(status.code, grpc.status.INVALID_ARGUMENT, status.details);
    assert.deepEqual(status.metadata.get('carbon-reason').map(String), ['MALFORMED']);
  });

  await step(`idle streams hold no worker; at most ${STREAMS_MAX} open (RESOURCE_EXHAUSTED)`, async () => {
    const c = rawReflectionClient('v1', 'CN-TJ-operator');
    const idle = [];
    for (let i = 0; i < STREAMS_MAX; i++) {
      // one question answered, then neither another nor the half-close
      const answered = new Promise((resolve) => {
        const call = c.ServerReflectionInfo({ deadline: Date.now() + 60000 });
        call.on('data', () => resolve(call));
        call.on('error', () => {});
        call.write({ list_services: '' });
      });
      idle.push(await answered);
    }
    const t0 = Date.now();
    const over = await converse(c, [{ list_services: '' }]);
    const ms = Date.now() - t0;
    assert.equal(over.status.code, grpc.status.RESOURCE_EXHAUSTED, over.status.details);
    assert.deepEqual(over.status.metadata.get('carbon-reason').map(String), ['TOO_MANY_STREAMS']);
    // unary calls go on meanwhile: the workers are free
    const registry = registryDescriptor.getPackageObject({ keepCase: true }).carbon.v1.Registry;
    const r = new registry(TARGET, credentialsFile('CN-TJ-registry'), channelOptions);
    closers.push(() => r.close());
    await new Promise((resolve, reject) => r.GetAccount({ account_id: 'no-such-account' }, deadline(),
      (err) => (err && err.code === grpc.status.NOT_FOUND ? resolve() : reject(err || new Error('found')))));
    for (const call of idle) call.cancel();
    // once the cancels have reached the server, streams are welcome again
    let again;
    for (const t1 = Date.now(); Date.now() - t1 < 5000;) {
      again = await converse(c, [{ list_services: '' }]);
      if (again.status.code !== grpc.status.RESOURCE_EXHAUSTED) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.equal(again.status.code, grpc.status.OK, again.status.details);
    assert.equal(again.responses.length, 1);
    // A client deadline ends an idle stream: DEADLINE_EXCEEDED.
    const late = await new Promise((resolve) => {
      const call = c.ServerReflectionInfo({ deadline: Date.now() + 300 });
      call.on('data', () => {});
      call.on('error', resolve);
    });
    assert.equal(late.code, grpc.status.DEADLINE_EXCEEDED);
    return `refused in ${ms} ms`;
  });

  await step('any role with a certificate of the CA may reflect', async () => {
    for (const name of ['CN-TJ-operator', 'CN-BJ-auditor', 'CN-BJ-gateway', 'CN-BJ-registry']) {
      const services = await reflector(name, 'v1').listServices('*', deadline());
      assert.equal(services.length, EXPECTED_SERVICES.length, name);
    }
  });

  await step('refused: no client certificate or an untrusted one fails the handshake (UNAVAILABLE)', async () => {
    let last;
    for (const name of [null, 'untrusted-registry', 'expired-registry']) {
      const c = rawReflectionClient('v1', name);
      const { responses, status } = await converse(c, [{ list_services: '' }]);
      c.close(); // or grpc-js keeps reconnecting with it
      assert.equal(responses.length, 0, `${name}: no answer`);
      assert.equal(status.code, grpc.status.UNAVAILABLE, `${name}: ${status.details}`);
      last = status.details;
    }
    const anon = reflector(null, 'v1');
    const e = await rejects(anon.listServices('*', deadline()));
    anon.client.close();
    assert.match(String(e.message), /UNAVAILABLE|14/);
    return last;
  });

  await step('SIGTERM with a reflection stream open: CN-HE stops at once (its exit status: run-interop.sh)', async () => {
    const c = rawReflectionClient('v1', 'CN-TJ-registry', TARGET_HE);
    const call = c.ServerReflectionInfo(); // no deadline: only the gateway can end it
    const ended = new Promise((resolve) => call.on('error', resolve));
    await new Promise((resolve) => {
      call.on('data', resolve);
      call.write({ list_services: '' });
    });
    const t0 = Date.now();
    process.kill(PID_HE, 'SIGTERM');
    const err = await ended;
    assert.equal(err.code, grpc.status.UNAVAILABLE, err.details);
    const alive = () => { try { process.kill(PID_HE, 0); return true; } catch { return false; } };
    while (alive() && Date.now() - t0 < 8000) await new Promise((r) => setTimeout(r, 50));
    const ms = Date.now() - t0;
    assert.ok(!alive(), 'CN-HE still runs 8 s after SIGTERM (its stop grace is 10 s)');
    assert.ok(ms < 5000, `CN-HE took ${ms} ms to stop`);
    return `stopped in ${ms} ms`;
  });
}

const t0 = Date.now();
main().then(
  () => {
    console.log(`reflection interop: ${stepsPassed} steps passed in ${Date.now() - t0} ms`);
    process.exitCode = 0;
  },
  (e) => {
    if (!(e instanceof assert.AssertionError) && e.code === undefined) console.log(e.stack || String(e));
    console.log(`reflection interop: FAILED after ${stepsPassed} steps`);
    process.exitCode = 1;
  },
).finally(() => {
  for (const close of closers) close();
});
