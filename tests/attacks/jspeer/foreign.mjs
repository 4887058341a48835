// A foreign libp2p peer (js-libp2p, pinned in package.json) that the attack tests point at a
// smallsocial node on 127.0.0.1. It is software we did not write: what it can do to a node,
// any stranger on the internet can.
//
//   node foreign.mjs CONFIG.json      -> one JSON line on stdout: the report
//
// CONFIG: {"mode": "dial" | "fuzz" | "flood" | "listen", "seed_hex": optional identity, "target": "/ip4/127.0.0.1/tcp/N/p2p/ID",
//          "encrypters": ["noise"|"plaintext"], "muxers": ["yamux"|"mplex"], "seed": 1, ...}
//  dial   connect, report whether it worked and the target's protocols (via identify)
//  fuzz   for each protocol the target advertises (and "extra_protocols"; or just "only"),
//         "rounds" times, with a fresh identity each time unless "same_identity", open
//         "frames" streams with one random frame each (several shapes); also answer the
//         target's own identify (with "identify": false) and pubsub streams with junk.
//  listen gossipsub: subscribe to "topic" (with "push_graft", also GRAFT the node) for
//         "listen_ms" and report what the node told and sent: topics, messages, mesh.
//  flood  gossipsub: subscribe to "topic" and publish "payloads" (hex), "repeat" times, for
//         at most "seconds", every "big_every"-th message replaced by "big_bytes" of junk.
//         With "dial": false, only start, wait "seconds" and stop (a measurement's control).
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { mplex } from '@libp2p/mplex'
import { plaintext } from '@libp2p/plaintext'
import { identify } from '@libp2p/identify'
import { gossipsub } from '@chainsafe/libp2p-gossipsub'
import { multiaddr } from '@multiformats/multiaddr'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { readFileSync } from 'node:fs'

// Node 20 lacks Promise.withResolvers, which js-libp2p 2.x's queues use.
if (typeof Promise.withResolvers !== 'function') {
  Promise.withResolvers = function () {
    let resolve, reject
    const promise = new Promise((res, rej) => { resolve = res; reject = rej })
    return { promise, resolve, reject }
  }
}

const cfg = JSON.parse(readFileSync(process.argv[2], 'utf8'))
const report = { mode: cfg.mode, ok: false, errors: [] }

// A small seeded PRNG (mulberry32) so that a failing fuzz run can be replayed.
let state = (cfg.seed ?? 1) >>> 0
function rand () {
  state = (state + 0x6D2B79F5) >>> 0
  let t = state
  t = Math.imul(t ^ (t >>> 15), t | 1)
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}
const randInt = (n) => Math.floor(rand() * n)
function randomBytes (n) {
  const b = new Uint8Array(n)
  for (let i = 0; i < n; i++) b[i] = randInt(256)
  return b
}
function varint (n) {
  const out = []
  while (n >= 0x80) { out.push((n & 0x7f) | 0x80); n = Math.floor(n / 128) }
  out.push(n)
  return Uint8Array.from(out)
}
function concat (...parts) {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0))
  let o = 0
  for (const p of parts) { out.set(p, o); o += p.length }
  return out
}
// Frames of the shapes that break decoders: random bytes behind a right length prefix,
// a length prefix that lies (too long, huge), raw bytes with no prefix, a truncated
// varint, protobuf-looking field tags with wrong wire types, msgpack-looking maps.
function frame (i) {
  const body = randomBytes(1 + randInt(cfg.max_frame ?? 300))
  switch (i % 7) {
    case 0: return concat(varint(body.length), body)
    case 1: return concat(varint(body.length + 1000), body)
    case 2: return concat(varint(0x7fffffff), body.slice(0, 8))
    case 3: return body
    case 4: return Uint8Array.from([0xff, 0xff, 0xff])
    case 5: { const pb = Uint8Array.from([0x0a, 0xff, 0x01, 0x12, 0x05, 0x1a, 0x80, 0x80, 0x80, 0x80, 0x10]); return concat(varint(pb.length + body.length), pb, body) }
    default: { const mp = Uint8Array.from([0xdf, 0xff, 0xff, 0xff, 0xff, 0xc1, 0xd9, 0xff]); return concat(varint(mp.length + body.length), mp, body) }
  }
}

const encrypters = (cfg.encrypters ?? ['noise']).map((e) => e === 'plaintext' ? plaintext() : noise())
const muxers = (cfg.muxers ?? ['yamux']).map((m) => m === 'mplex' ? mplex() : yamux())
const services = {}
if (cfg.identify !== false) services.identify = identify()
if (cfg.mode === 'flood' || cfg.mode === 'listen') {
  // Messages signed by this peer's libp2p key (gossipsub's default), as a real flooder's
  // would be; with "nosign", gossipsub's StrictNoSign: no from, seqno, key or signature.
  const globalSignaturePolicy = cfg.nosign ? 'StrictNoSign' : 'StrictSign'
  services.pubsub = gossipsub({ allowPublishToZeroTopicPeers: true, emitSelf: false, floodPublish: true, globalSignaturePolicy })
}

// With "seed_hex" (32 bytes) the peer has that Ed25519 identity: a test can make it a member.
const privateKey = cfg.seed_hex ? await generateKeyPairFromSeed('Ed25519', Uint8Array.from(Buffer.from(cfg.seed_hex, 'hex'))) : undefined

async function makeNode () {
  return await createLibp2p({
    privateKey,
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: encrypters,
    streamMuxers: muxers,
    services,
    connectionManager: { dialTimeout: 5000 }
  })
}

let node
try {
  node = await makeNode()
} catch (e) {
  report.errors.push(`start: ${e.message}`)
  console.log(JSON.stringify(report))
  process.exit(0)
}

const target = multiaddr(cfg.target)
const deadline = (ms) => AbortSignal.timeout(ms)

// One stream per frame, so that every frame meets the handler's decoder fresh (a frame
// after a bad one would only meet a closed stream).
async function fuzzStream (proto, frames) {
  const result = { proto, sent: 0, failed: 0 }
  for (let i = 0; i < frames; i++) {
    const chunk = frame(i + randInt(7))
    try {
      const stream = await node.dialProtocol(target, proto, { signal: deadline(5000) })
      await stream.sink((async function * () { yield chunk })())
      result.sent++
      await stream.close({ signal: deadline(1000) }).catch(() => {})
    } catch (e) {
      result.failed++
      result.error = e.code ?? e.name ?? String(e)
      if (!node.getConnections(target.getPeerId()).length) {
        try { await node.dial(target, { signal: deadline(5000) }) } catch { result.redial_failed = true; break }
      }
    }
  }
  return result
}

// Answer the node's own streams to us (identify, pubsub) with junk.
async function junkHandler ({ stream }) {
  try {
    await stream.sink((async function * () { for (let i = 0; i < 8; i++) yield frame(i) })())
  } catch {}
}

try {
  if (cfg.mode === 'fuzz') {
    for (const p of ['/ipfs/id/1.0.0', '/ipfs/id/push/1.0.0', '/meshsub/1.0.0', '/meshsub/1.1.0', '/meshsub/1.2.0', '/floodsub/1.0.0']) {
      if (p.startsWith('/ipfs/id') && cfg.identify !== false) continue
      await node.handle(p, junkHandler, { force: true }).catch(() => {})
    }
  }
  report.peer_id = node.peerId.toString()
  if (cfg.dial === false) {
    // A control for measurements: the same process, started and stopped, never dialing.
    await new Promise((resolve) => setTimeout(resolve, (cfg.seconds ?? 0) * 1000))
    Object.assign(report, { ok: true, published: 0, big: 0 })
    console.log(JSON.stringify(report))
    await Promise.race([node.stop(), new Promise((resolve) => setTimeout(resolve, 2000))])
    process.exit(0)
  }
  const conn = await node.dial(target, { signal: deadline(8000) })
  report.connected = true
  report.encryption = conn.encryption
  report.multiplexer = conn.multiplexer
  if (cfg.identify !== false) {
    // identify runs on connect; wait for the protocols to land in the peer store
    for (let i = 0; i < 50; i++) {
      const peer = await node.peerStore.get(conn.remotePeer).catch(() => null)
      if (peer && peer.protocols.length > 0) { report.protocols = peer.protocols; break }
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }
  if (cfg.mode === 'fuzz') {
    const protos = cfg.only ?? [...new Set([...(report.protocols ?? []), ...(cfg.extra_protocols ?? [])])]
    report.streams = []
    // A fresh identity for each protocol and round: the node graylists a peer after a
    // few bad frames, and every handler should meet the junk, not only the first ones.
    for (let round = 0; round < (cfg.rounds ?? 3); round++) {
      for (const p of protos) {
        if (!cfg.same_identity) {
          await node.stop()
          node = await makeNode()
          await node.dial(target, { signal: deadline(8000) })
        }
        report.streams.push(await fuzzStream(p, cfg.frames ?? 20))
      }
    }
    report.identities = cfg.same_identity ? 1 : 1 + (cfg.rounds ?? 3) * protos.length
  } else if (cfg.mode === 'listen') {
    // Subscribe to the topic, ask to be in the node's mesh, and count what arrives.
    const ps = node.services.pubsub
    report.received = 0
    ps.addEventListener('message', (evt) => {
      if (evt.detail.topic === cfg.topic) report.received++
    })
    ps.subscribe(cfg.topic)
    const id = target.getPeerId()
    for (let i = 0; i < (cfg.wait_told_ms ?? 3000) / 100 && ps.getSubscribers(cfg.topic).length === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    report.told_topic = ps.getSubscribers(cfg.topic).length > 0
    report.node_topics = [...ps.topics.entries()].filter(([, peers]) => peers.has(id)).map(([t]) => t)
    if (!report.told_topic && cfg.push_graft) {
      // Believe the node is in the topic anyway; the next heartbeats GRAFT it.
      ps.topics.set(cfg.topic, new Set([id]))
    }
    await new Promise((resolve) => setTimeout(resolve, cfg.listen_ms ?? 5000))
    report.in_mesh = (ps.mesh.get(cfg.topic) ?? new Set()).has(id)
  } else if (cfg.mode === 'flood') {
    const ps = node.services.pubsub
    ps.subscribe(cfg.topic)
    for (let i = 0; i < (cfg.wait_told_ms ?? 2000) / 100 && ps.getSubscribers(cfg.topic).length === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    // Was this stranger told the node is in the topic? A member node tells only members.
    report.told_topic = ps.getSubscribers(cfg.topic).length > 0
    const id = target.getPeerId()
    for (let i = 0; i < 50 && !ps.streamsOutbound.has(id); i++) {
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    // A stranger need not follow gossipsub's rules: believe the node subscribed, and push.
    ps.topics.set(cfg.topic, new Set([...(ps.topics.get(cfg.topic) ?? []), id]))
    report.subscribers = ps.getSubscribers(cfg.topic).length
    report.published = 0
    const payloads = (cfg.payloads ?? []).map((h) => Uint8Array.from(Buffer.from(h, 'hex')))
    const big = cfg.big_bytes ? randomBytes(cfg.big_bytes) : null
    report.big = 0
    const started = Date.now()
    let n = 0
    for (let r = 0; r < (cfg.repeat ?? 1); r++) {
      for (const p of payloads) {
        n++
        // every big_every-th message is big_bytes of junk (a fresh prefix: a new message id)
        const data = big && n % cfg.big_every === 0 ? concat(randomBytes(16), big) : p
        try {
          await ps.publish(cfg.topic, data)
          report.published++
          if (data !== p) report.big++
        } catch (e) { report.errors.push(`publish: ${e.message}`) }
        if (cfg.pause_ms) await new Promise((resolve) => setTimeout(resolve, cfg.pause_ms))
        if (cfg.seconds && Date.now() - started > cfg.seconds * 1000) break
      }
      if (cfg.seconds && Date.now() - started > cfg.seconds * 1000) break
    }
  }
  // Stay connected a while (the node's periodic checks run against this peer meanwhile).
  await new Promise((resolve) => setTimeout(resolve, cfg.linger_ms ?? (cfg.mode === 'flood' ? 500 : 0)))
  report.ok = true
} catch (e) {
  report.errors.push(`${e.code ?? e.name}: ${e.message}`)
}
report.errors = report.errors.slice(0, 20)
console.log(JSON.stringify(report))
await Promise.race([node.stop(), new Promise((resolve) => setTimeout(resolve, 2000))])
process.exit(0)
