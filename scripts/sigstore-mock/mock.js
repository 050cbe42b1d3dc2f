// mock.js — airsign's keyless test material, made at test time with @sigstore/mock
// (mock Fulcio CA + CT log, Rekor v1/v2 log, RFC 3161 TSA). Test code only.
//
//   node mock.js NODE_MODULES DIR
//
// NODE_MODULES is the `node_modules` that `npm ci` made from this directory's
// package-lock.json ($AIRSIGN_TEST_SIGSTORE_MOCK). On start it makes a fresh mock
// instance (new P-256 keys for the CA, the CT log, the Rekor log and the TSA), writes
// DIR/trusted_root.json and prints one JSON line {"ok":true,"trusted_root":PATH,...}.
// Then it answers requests, one JSON object a line on stdin, one JSON line each on
// stdout ({"ok":true,...} or {"ok":false,"error":MSG}); it exits at end of input.
// The Rust side is crates/test-support/src/sigstore_mock.rs, which documents the
// requests.
//
// Everything made is what a Sigstore client would get from the real services:
// the leaf certificate comes from the mock CA's issueCertificate (with an embedded
// SCT from the mock CT log), Rekor v1 entries from the mock log's log() (SET,
// inclusion proof, checkpoint), Rekor v2 entries from logV2(), timestamps from the
// mock TSA's timestamp(). This script only builds the requests (entry bodies,
// DSSE, in-toto statements) and assembles the bundle JSON.
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const readline = require('readline');
const { createRequire } = require('module');

const [nodeModules, dir] = process.argv.slice(2);
if (!nodeModules || !dir) {
  process.stderr.write('usage: node mock.js NODE_MODULES DIR\n');
  process.exit(2);
}
const req = createRequire(path.join(path.resolve(nodeModules), '..', 'package.json'));
const { initializeCA, initializeCTLog, initializeTLog, initializeTSA } = req('@sigstore/mock');

const OID_ISSUER_V1 = '1.3.6.1.4.1.57264.1.1'; // raw bytes (legacy)
const OID_ISSUER_V2 = '1.3.6.1.4.1.57264.1.8'; // DER UTF8String
const OID_SHA256 = '2.16.840.1.101.3.4.2.1';
const TSA_POLICY = '1.3.6.1.4.1.57264.2';
const REKOR_URL = 'https://rekor.sigstore.mock';
const REKOR_HOST = new URL(REKOR_URL).host;
// The mock's root certificates start at the moment they are made; the instance is
// made this far in the past so that material can be made "earlier" than now (an
// expired certificate: issued two hours ago, logged one hour ago).
const BACKDATE_MS = 24 * 3600 * 1000;

const b64 = (b) => Buffer.from(b).toString('base64');
const sha256 = (b) => crypto.createHash('sha256').update(b).digest();
const genKey = () => crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const spki = (pub) => pub.export({ format: 'der', type: 'spki' });
const pem = (der) =>
  `-----BEGIN CERTIFICATE-----\n${b64(der).match(/.{1,64}/g).join('\n')}\n-----END CERTIFICATE-----\n`;

// Runs f with `new Date()` / `Date.now()` moved `ms` into the past (the mock's root
// certificates read the real clock).
async function backdated(ms, f) {
  const Real = Date;
  class Past extends Real {
    constructor(...a) {
      if (a.length === 0) super(Real.now() - ms);
      else super(...a);
    }
    static now() {
      return Real.now() - ms;
    }
  }
  global.Date = Past;
  try {
    return await f();
  } finally {
    global.Date = Real;
  }
}

// ECDSA P-256 over a given SHA-256 digest (node's crypto cannot sign a prehashed
// digest): the message signature of an artifact known only by its digest.
const P = 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn;
const N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
const A = P - 3n;
const G = [
  0x6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296n,
  0x4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5n,
];
const mod = (a, m) => ((a % m) + m) % m;
function inv(a, m) {
  let [r0, r1, s0, s1] = [mod(a, m), m, 1n, 0n];
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    [s0, s1] = [s1, s0 - q * s1];
  }
  return mod(s0, m);
}
function add(p, q) {
  if (!p) return q;
  if (!q) return p;
  if (p[0] === q[0] && mod(p[1] + q[1], P) === 0n) return null;
  const l =
    p[0] === q[0]
      ? mod((3n * p[0] * p[0] + A) * inv(2n * p[1], P), P)
      : mod((q[1] - p[1]) * inv(q[0] - p[0], P), P);
  const x = mod(l * l - p[0] - q[0], P);
  return [x, mod(l * (p[0] - x) - p[1], P)];
}
function mul(k, p) {
  let r = null;
  for (; k > 0n; k >>= 1n, p = add(p, p)) if (k & 1n) r = add(r, p);
  return r;
}
const big = (buf) => BigInt('0x' + (Buffer.from(buf).toString('hex') || '0'));
function derInt(n) {
  let h = n.toString(16);
  if (h.length % 2) h = '0' + h;
  let b = Buffer.from(h, 'hex');
  if (b[0] & 0x80) b = Buffer.concat([Buffer.from([0]), b]);
  return Buffer.concat([Buffer.from([0x02, b.length]), b]);
}
function signPrehashed(privateKey, digest) {
  const d = big(Buffer.from(privateKey.export({ format: 'jwk' }).d, 'base64url'));
  const z = big(digest);
  for (;;) {
    const k = mod(big(crypto.randomBytes(40)), N);
    if (k === 0n) continue;
    const r = mod(mul(k, G)[0], N);
    const s = mod(inv(k, N) * (z + r * d), N);
    if (r === 0n || s === 0n) continue;
    const body = Buffer.concat([derInt(r), derInt(s)]);
    return Buffer.concat([Buffer.from([0x30, body.length]), body]);
  }
}

const pae = (type, payload) =>
  Buffer.concat([
    Buffer.from(`DSSEv1 ${Buffer.byteLength(type)} ${type} ${payload.length} `),
    payload,
  ]);

// `new Date(unix seconds)`, or now.
const at = (secs) => (secs == null ? new Date() : new Date(secs * 1000));
const iso = (d) => d.toISOString();

async function main() {
  fs.mkdirSync(dir, { recursive: true });
  const keys = { ca: genKey(), ct: genKey(), tlog: genKey(), tsa: genKey() };
  const epoch = new Date(Date.now() - BACKDATE_MS);
  const { caRoot, tsa } = await backdated(BACKDATE_MS, async () => {
    const ca = await initializeCA(keys.ca);
    const tsa = await initializeTSA(keys.tsa);
    return { caRoot: Buffer.from(ca.rootCertificate), tsa };
  });
  const tlogKeyId = sha256(spki(keys.tlog.publicKey));
  const ctKeyId = sha256(spki(keys.ct.publicKey));
  const validFor = { start: iso(epoch) };
  const trustedRoot = {
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    tlogs: [
      {
        baseUrl: REKOR_URL,
        hashAlgorithm: 'SHA2_256',
        publicKey: {
          rawBytes: b64(spki(keys.tlog.publicKey)),
          keyDetails: 'PKIX_ECDSA_P256_SHA_256',
          validFor,
        },
        logId: { keyId: b64(tlogKeyId) },
      },
    ],
    certificateAuthorities: [
      {
        subject: { organization: 'sigstore.mock', commonName: 'sigstore' },
        uri: 'https://fulcio.sigstore.mock',
        certChain: { certificates: [{ rawBytes: b64(caRoot) }] },
        validFor,
      },
    ],
    ctlogs: [
      {
        baseUrl: 'https://ctfe.sigstore.mock',
        hashAlgorithm: 'SHA2_256',
        publicKey: {
          rawBytes: b64(spki(keys.ct.publicKey)),
          keyDetails: 'PKIX_ECDSA_P256_SHA_256',
          validFor,
        },
        logId: { keyId: b64(ctKeyId) },
      },
    ],
    timestampAuthorities: [
      {
        subject: { organization: 'sigstore.mock', commonName: 'tsa' },
        uri: 'https://tsa.sigstore.mock',
        certChain: {
          certificates: [{ rawBytes: b64(tsa.intCertificate) }, { rawBytes: b64(tsa.rootCertificate) }],
        },
        validFor,
      },
    ],
  };
  const trustedRootPath = path.join(dir, 'trusted_root.json');
  fs.writeFileSync(trustedRootPath, JSON.stringify(trustedRoot, null, 2) + '\n');

  // A leaf certificate for `identity` (a URI SAN) and `issuer` at `when`, for the
  // ephemeral key `key`, with an SCT from the CT log at the same time.
  async function issue(key, identity, issuer, when) {
    const ctlog = await initializeCTLog(keys.ct, when);
    const ca = await initializeCA(keys.ca, ctlog, when); // same key and name as caRoot
    return Buffer.from(
      await ca.issueCertificate({
        publicKey: spki(key.publicKey),
        subjectAltName: identity,
        extensions: [
          { oid: OID_ISSUER_V1, value: issuer, legacy: true },
          { oid: OID_ISSUER_V2, value: issuer },
        ],
      })
    );
  }

  async function rekorV1(body, when) {
    const tlog = await initializeTLog(REKOR_URL, keys.tlog, when);
    const res = await tlog.log(body);
    return Object.values(res)[0];
  }

  function v1Entry(e, kind) {
    const p = e.verification.inclusionProof;
    return {
      logIndex: String(e.logIndex),
      logId: { keyId: b64(Buffer.from(e.logID, 'hex')) },
      kindVersion: { kind, version: '0.0.1' },
      integratedTime: String(e.integratedTime),
      inclusionPromise: { signedEntryTimestamp: e.verification.signedEntryTimestamp },
      inclusionProof: {
        logIndex: String(p.logIndex),
        rootHash: b64(Buffer.from(p.rootHash, 'hex')),
        treeSize: String(p.treeSize),
        hashes: p.hashes,
        checkpoint: { envelope: p.checkpoint },
      },
      canonicalizedBody: e.body,
    };
  }

  async function rekorV2(body, $case, when) {
    const tlog = await initializeTLog(REKOR_URL, keys.tlog, when);
    // logV2 canonicalizes what it is given (canonicalize honours toJSON) and reads
    // the kind from spec.$case: the body is the real Rekor v2 entry.
    const e = await tlog.logV2({ spec: { $case }, toJSON: () => body });
    // The mock's tree has one leaf (index 0, root = leaf hash); it reports a random
    // log index, with which that proof cannot verify, so the index is 0. Its
    // rootHash field is garbled (0.12.1 decodes the hex root hash as base64): the
    // root hash is the one its signed checkpoint names (the note's third line).
    // And its checkpoint is a Rekor v1 one (origin "HOST - TREEID", a Timestamp
    // line), where a Rekor v2 log's origin is its host (what airsign checks): the
    // note is signed again, with the same log key, as a Rekor v2 log writes it.
    const rootHash = e.inclusionProof.checkpoint.envelope.split('\n')[2];
    if (rootHash !== b64(sha256(Buffer.concat([Buffer.from([0]), e.canonicalizedBody])))) {
      throw new Error('the mock log checkpoint does not name the one-leaf tree of the entry');
    }
    const note = `${REKOR_HOST}\n1\n${rootHash}\n`;
    const noteSig = crypto.sign('sha256', Buffer.from(note), keys.tlog.privateKey);
    const hintAndSig = Buffer.concat([tlogKeyId.subarray(0, 4), noteSig]);
    const checkpoint = `${note}\n\u2014 ${REKOR_HOST} ${b64(hintAndSig)}\n`;
    return {
      logIndex: '0',
      logId: { keyId: b64(e.logId.keyId) },
      kindVersion: e.kindVersion,
      integratedTime: String(e.integratedTime),
      inclusionProof: {
        logIndex: '0',
        rootHash,
        treeSize: '1',
        hashes: [],
        checkpoint: { envelope: checkpoint },
      },
      canonicalizedBody: b64(e.canonicalizedBody),
    };
  }

  async function timestamp(signature, when) {
    tsa.getCurrentTime = () => when; // the TSA's own field: its certificates must stay
    const resp = await tsa.timestamp({
      artifactHash: sha256(signature),
      hashAlgorithmOID: OID_SHA256,
      nonce: crypto.randomInt(2 ** 31),
      policyOID: TSA_POLICY,
      certReq: true,
    });
    return { signedTimestamp: b64(resp) };
  }

  async function sign(r) {
    const certTime = at(r.cert_time);
    const logTime = r.log_time == null ? certTime : at(r.log_time);
    const rekor = r.rekor || 'v1';
    if (!['v1', 'v2', 'none'].includes(rekor)) throw new Error(`rekor: v1, v2 or none, not ${rekor}`);
    const key = genKey();
    const cert = await issue(key, r.identity, r.issuer, certTime);
    const certPem = pem(cert);
    let digest;
    if (r.path != null) digest = sha256(fs.readFileSync(r.path));
    else if (/^sha256:[0-9a-f]{64}$/.test(r.digest || '')) digest = Buffer.from(r.digest.slice(7), 'hex');
    else throw new Error('a request needs path or digest (sha256:<64 hex>)');
    const verifier = { keyDetails: 'PKIX_ECDSA_P256_SHA_256', x509Certificate: { rawBytes: b64(cert) } };
    const bundle = {
      mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
      verificationMaterial: { certificate: { rawBytes: b64(cert) }, tlogEntries: [] },
    };
    let sig;
    let v1Body;
    let v2Body;
    let $case;
    if ((r.content || 'message') === 'message') {
      sig = signPrehashed(key.privateKey, digest);
      bundle.messageSignature = {
        messageDigest: { algorithm: 'SHA2_256', digest: b64(digest) },
        signature: b64(sig),
      };
      v1Body = {
        apiVersion: '0.0.1',
        kind: 'hashedrekord',
        spec: {
          data: { hash: { algorithm: 'sha256', value: digest.toString('hex') } },
          signature: { content: b64(sig), publicKey: { content: b64(certPem) } },
        },
      };
      v2Body = {
        apiVersion: '0.0.2',
        kind: 'hashedrekord',
        spec: {
          hashedRekordV002: {
            data: { algorithm: 'SHA2_256', digest: b64(digest) },
            signature: { content: b64(sig), verifier },
          },
        },
      };
      $case = 'hashedRekordRequestV002';
    } else if (r.content === 'dsse') {
      const statement = {
        _type: 'https://in-toto.io/Statement/v1',
        subject: [{ digest: { sha256: digest.toString('hex') }, annotations: {} }],
        predicateType: 'https://sigstore.dev/cosign/sign/v1',
        predicate: {},
      };
      // cosign 3 writes no name (sigstore-python refuses a statement without one)
      if (r.subject_name != null) statement.subject[0] = { name: r.subject_name, ...statement.subject[0] };
      const payload = Buffer.from(JSON.stringify(statement));
      const payloadType = 'application/vnd.in-toto+json';
      sig = crypto.sign('sha256', pae(payloadType, payload), key.privateKey);
      const envelope = { payload: b64(payload), payloadType, signatures: [{ sig: b64(sig) }] };
      bundle.dsseEnvelope = envelope;
      v1Body = {
        apiVersion: '0.0.1',
        kind: 'dsse',
        spec: {
          envelopeHash: { algorithm: 'sha256', value: sha256(JSON.stringify(envelope)).toString('hex') },
          payloadHash: { algorithm: 'sha256', value: sha256(payload).toString('hex') },
          signatures: [{ signature: b64(sig), verifier: b64(certPem) }],
        },
      };
      v2Body = {
        apiVersion: '0.0.2',
        kind: 'dsse',
        spec: {
          dsseV002: {
            payloadHash: { algorithm: 'SHA2_256', digest: b64(sha256(payload)) },
            signatures: [{ content: b64(sig), verifier }],
          },
        },
      };
      $case = 'dsseRequestV002';
    } else {
      throw new Error(`content: message or dsse, not ${r.content}`);
    }
    const kind = v1Body.kind;
    if (rekor === 'v1') bundle.verificationMaterial.tlogEntries.push(v1Entry(await rekorV1(v1Body, logTime), kind));
    if (rekor === 'v2') bundle.verificationMaterial.tlogEntries.push(await rekorV2(v2Body, $case, logTime));
    if (r.tsa) {
      const tsaTime = r.tsa_time == null ? logTime : at(r.tsa_time);
      bundle.verificationMaterial.timestampVerificationData = {
        rfc3161Timestamps: [await timestamp(sig, tsaTime)],
      };
    }
    fs.writeFileSync(r.out, JSON.stringify(bundle, null, 2) + '\n');
    return { bundle: r.out, certificate: certPem };
  }

  // cosign 2's legacy `.sig` signature of an image: simple-signing payload, its
  // signature, the certificate and chain, the dev.sigstore.cosign/bundle annotation.
  async function legacy(r) {
    const certTime = at(r.cert_time);
    const logTime = r.log_time == null ? certTime : at(r.log_time);
    const key = genKey();
    const cert = await issue(key, r.identity, r.issuer, certTime);
    const certPem = pem(cert);
    // cosign's exact bytes (Go's json.Marshal of its SimpleContainerImage)
    const payload =
      `{"critical":{"identity":{"docker-reference":${JSON.stringify(r.reference)}},` +
      `"image":{"docker-manifest-digest":${JSON.stringify(r.digest)}},` +
      `"type":"cosign container image signature"},"optional":null}`;
    const sig = crypto.sign('sha256', Buffer.from(payload), key.privateKey);
    const e = await rekorV1(
      {
        apiVersion: '0.0.1',
        kind: 'hashedrekord',
        spec: {
          data: { hash: { algorithm: 'sha256', value: sha256(payload).toString('hex') } },
          signature: { content: b64(sig), publicKey: { content: b64(certPem) } },
        },
      },
      logTime
    );
    const annotation = JSON.stringify({
      SignedEntryTimestamp: e.verification.signedEntryTimestamp,
      Payload: { body: e.body, integratedTime: e.integratedTime, logIndex: e.logIndex, logID: e.logID },
    });
    return {
      payload,
      signature: b64(sig),
      certificate: certPem,
      chain: pem(caRoot),
      bundle_annotation: annotation,
    };
  }

  const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
  out({ ok: true, trusted_root: trustedRootPath, valid_from: Math.floor(epoch.getTime() / 1000) });
  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of rl) {
    if (!line.trim()) continue;
    try {
      const r = JSON.parse(line);
      if (r.op === 'sign') out({ ok: true, ...(await sign(r)) });
      else if (r.op === 'legacy') out({ ok: true, ...(await legacy(r)) });
      else throw new Error(`unknown op ${r.op}`);
    } catch (e) {
      out({ ok: false, error: String((e && e.stack) || e) });
    }
  }
}

main().catch((e) => {
  process.stderr.write(`mock.js: ${(e && e.stack) || e}\n`);
  process.exit(1);
});
