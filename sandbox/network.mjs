// A local atproto network for relay's `dev` command and its tests.
//
//   node network.mjs plc   -> a PLC directory (in-memory) on PLC_PORT
//   node network.mjs pds   -> the reference PDS, configured by PDS_* variables
//
// Each runs in its own process so a test can stop and restart the PDS while the PLC
// directory (and the DIDs it holds) stays up. Both bind 127.0.0.1 only. The process
// prints "READY <port>" once it listens and shuts down cleanly on SIGTERM/SIGINT.
import http from 'node:http'

const role = process.argv[2]

// The servers call app.listen(port); make every listen in this process loopback-only.
const listen = http.Server.prototype.listen
http.Server.prototype.listen = function (...args) {
  if (typeof args[0] === 'number' && typeof args[1] !== 'string') {
    args.splice(1, 0, '127.0.0.1')
  }
  return listen.apply(this, args)
}

async function startPlc() {
  const plc = await import('@did-plc/server')
  const { PlcServer, Database } = plc.default ?? plc
  const port = Number(process.env.PLC_PORT)
  const server = PlcServer.create({ db: Database.mock(), port })
  await server.start()
  return { port, stop: () => server.destroy() }
}

async function startPds() {
  const pds = await import('@atproto/pds')
  const { PDS, envToCfg, envToSecrets, readEnv } = pds
  const env = readEnv()
  const server = await PDS.create(envToCfg(env), envToSecrets(env))
  await server.start()
  return { port: env.port, stop: () => server.destroy() }
}

const starters = { plc: startPlc, pds: startPds }
if (!starters[role]) {
  console.error(`usage: node network.mjs plc|pds (got ${role})`)
  process.exit(2)
}

const running = await starters[role]()
console.log(`READY ${running.port}`)

let stopping = false
const shutdown = async () => {
  if (stopping) return
  stopping = true
  try {
    await running.stop()
  } finally {
    process.exit(0)
  }
}
process.on('SIGTERM', shutdown)
process.on('SIGINT', shutdown)
