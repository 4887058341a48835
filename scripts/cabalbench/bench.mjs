// cabal-core catch-up baseline: a returning peer replicates N 400-byte messages over loopback TCP.
//
//   node bench.mjs N [--storage disk|memory] [--dir BASE] [--timeout SECONDS]
//
// Two processes, like smallsocial's catch-up benchmark (a holder and a returning member):
// a child process ("source") opens cabal A on disk, publishes N messages of 400-byte text to
// one channel, waits until A's own views are built, then listens on 127.0.0.1 (port 0). This
// process opens cabal B with A's key (empty, on disk), connects, and pipes cabal.replicate()
// both ways over the socket. Timed from B's TCP connect:
//   replicated_s  B holds all N blocks of A's feed (hypercore bitfield count);
//   indexed_s     B's messages view has indexed all N (its "message" events; checked
//                 afterwards with cabal.messages.read(channel)).
// write_s is A's N sequential cabal.publish() calls. --storage disk (the default), as
// cabal-client stores a cabal: hypercores in files under a temp directory (random-access-file)
// and the views in LevelDB there (level 6); --storage memory, as cabal-client's temp mode:
// random-access-memory and cabal-core's default in-memory level-mem.
// Prints one JSON line on stdout; on failure, one sentence on stderr and a non-zero exit. The
// whole run is bounded by --timeout (default 120 s); the source dies with this process.

import { spawn } from 'node:child_process'
import fs from 'node:fs'
import { createRequire } from 'node:module'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import readline from 'node:readline'
import { fileURLToPath } from 'node:url'

const require = createRequire(import.meta.url)
const Cabal = require('cabal-core')
const level = require('level')
const pump = require('pump')
const ram = require('random-access-memory')
const CABAL_VERSION = require('cabal-core/package.json').version

const CHANNEL = 'catchup'
const PAYLOAD_BYTES = 400
const SELF = fileURLToPath(import.meta.url)

function fail (sentence, code = 1) {
  process.stderr.write(`cabalbench: ${sentence}\n`)
  process.exit(code)
}

function parseArgs (argv) {
  const opts = { n: NaN, storage: 'disk', dir: os.tmpdir(), timeout: 120, source: false }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--storage') opts.storage = argv[++i]
    else if (a === '--dir') opts.dir = argv[++i]
    else if (a === '--timeout') opts.timeout = Number(argv[++i])
    else if (a === '--source') opts.source = true
    else opts.n = Number(a)
  }
  if (!Number.isInteger(opts.n) || opts.n < 1) fail('usage: node bench.mjs N [--storage disk|memory] [--dir BASE] [--timeout SECONDS] (N a positive integer)', 2)
  if (!['disk', 'memory'].includes(opts.storage)) fail(`--storage must be disk or memory, not ${opts.storage}`, 2)
  if (!(opts.timeout > 0)) fail('--timeout must be a positive number of seconds', 2)
  return opts
}

function text (i) {
  const head = JSON.stringify({ p: 'catchup', i, ts: Date.now() / 1000 })
  return head + ' ' + 'x'.repeat(Math.max(0, PAYLOAD_BYTES - head.length - 1))
}

function openCabal (dir, key, storage) {
  let cabal
  if (storage === 'disk') {
    fs.mkdirSync(dir, { recursive: true })
    cabal = Cabal(path.join(dir, 'feeds'), key, { db: level(path.join(dir, 'views')) })
  } else {
    cabal = Cabal(ram, key)
  }
  return new Promise((resolve, reject) => {
    cabal.on('error', reject)
    cabal.ready(() => cabal.feed(feed => resolve({ cabal, feed })))
  })
}

const call = (fn) => new Promise((resolve, reject) => fn((err, v) => err ? reject(err) : resolve(v)))

// The child: cabal A with N messages, serving replication on 127.0.0.1 until stdin closes.
async function source (opts, dir) {
  process.stdin.on('end', () => process.exit(0)).resume()
  const { cabal, feed } = await openCabal(dir, null, opts.storage)
  const t0 = performance.now()
  for (let i = 0; i < opts.n; i++) {
    await call(cb => cabal.publish({ type: 'chat/text', content: { channel: CHANNEL, text: text(i) } }, cb))
  }
  const writeS = (performance.now() - t0) / 1000
  await new Promise(resolve => cabal.kcore.ready(resolve))
  const builtS = (performance.now() - t0) / 1000
  const server = net.createServer(socket => {
    pump(socket, cabal.replicate(false), socket, () => {})
  })
  server.listen(0, '127.0.0.1', () => {
    const ready = { port: server.address().port, key: cabal.key, feed: feed.key.toString('hex'), length: feed.length, write_s: writeS, source_indexed_s: builtS }
    process.stdout.write(JSON.stringify(ready) + '\n')
  })
}

function startSource (opts, dir) {
  const args = [SELF, String(opts.n), '--source', '--storage', opts.storage, '--dir', dir]
  const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] })
  const ready = new Promise((resolve, reject) => {
    const lines = readline.createInterface({ input: child.stdout })
    lines.once('line', line => {
      try { resolve(JSON.parse(line)) } catch (err) { reject(new Error(`the source printed ${line.slice(0, 200)}`)) }
    })
    child.once('exit', code => reject(new Error(`the source process exited (${code}) before it was ready`)))
  })
  return { child, ready }
}

// B replicates from A: resolves with the seconds from TCP connect to all N blocks held and indexed.
function catchUp (b, src, n) {
  return new Promise((resolve, reject) => {
    const t = { connect: null, replicated: null, indexed: null }
    let downloads = 0
    let indexed = 0
    const since = () => (performance.now() - t.connect) / 1000
    const maybeDone = () => { if (t.replicated !== null && t.indexed !== null) resolve(t) }
    const watch = (feed) => {
      if (feed.key.toString('hex') !== src.feed) return
      feed.on('download', () => {
        if (++downloads >= n && t.replicated === null && feed.downloaded(0, n) >= n) {
          t.replicated = since()
          maybeDone()
        }
      })
    }
    b.kcore.feeds().forEach(watch)
    b.kcore._logs.on('feed', watch)
    b.messages.events.on(CHANNEL, () => {
      if (++indexed >= n && t.indexed === null) {
        t.indexed = since()
        maybeDone()
      }
    })
    const socket = net.connect(src.port, '127.0.0.1')
    socket.once('connect', () => {
      t.connect = performance.now()
      pump(socket, b.replicate(true), socket, (err) => {
        if (t.indexed === null) reject(new Error(`the replication stream ended early (${err ? err.message : 'closed'})`))
      })
    })
    socket.once('error', err => reject(new Error(`the TCP connection failed: ${err.message}`)))
  })
}

function countIndexed (b) {
  return new Promise((resolve, reject) => {
    let count = 0
    b.messages.read(CHANNEL).on('data', () => count++).on('end', () => resolve(count)).on('error', reject)
  })
}

async function main (opts) {
  const base = fs.mkdtempSync(path.join(opts.dir, 'cabalbench-'))
  const { child, ready } = startSource(opts, path.join(base, 'a'))
  const cleanup = () => {
    try { child.kill('SIGKILL') } catch {}
    fs.rmSync(base, { recursive: true, force: true })
  }
  const timer = setTimeout(() => {
    cleanup()
    fail(`no result within the ${opts.timeout} s timeout (${opts.n} messages)`, 3)
  }, opts.timeout * 1000)
  try {
    const src = await ready
    if (src.length !== opts.n) throw new Error(`A's feed holds ${src.length} messages, not ${opts.n}`)
    const t0 = performance.now()
    const { cabal: b } = await openCabal(path.join(base, 'b'), src.key, opts.storage)
    const openS = (performance.now() - t0) / 1000
    const cpu0 = process.cpuUsage()
    const t = await catchUp(b, src, opts.n)
    const cpu = process.cpuUsage(cpu0)
    const held = b.kcore.feed(src.feed).downloaded(0, opts.n)
    const listed = await countIndexed(b)
    if (held !== opts.n || listed !== opts.n) throw new Error(`B holds ${held} and lists ${listed} of ${opts.n} messages`)
    const r = (x) => Math.round(x * 1000) / 1000
    const result = {
      n: opts.n,
      replicated_s: r(t.replicated),
      indexed_s: r(t.indexed),
      write_s: r(src.write_s),
      source_indexed_s: r(src.source_indexed_s),
      open_s: r(openS),
      catchup_cpu_s: r((cpu.user + cpu.system) / 1e6),
      storage: opts.storage,
      payload_bytes: PAYLOAD_BYTES,
      cabal_core: CABAL_VERSION,
      node: process.versions.node
    }
    process.stdout.write(JSON.stringify(result) + '\n')
  } catch (err) {
    cleanup()
    fail(`the catch-up of ${opts.n} messages failed: ${err.message}`)
  }
  clearTimeout(timer)
  cleanup()
  process.exit(0)
}

process.on('uncaughtException', err => fail(`unexpected error: ${err.message}`))
process.on('unhandledRejection', err => fail(`unexpected error: ${err && err.message}`))

const opts = parseArgs(process.argv.slice(2))
if (opts.source) source(opts, opts.dir)
else main(opts)
