// Real clusters for the JavaScript client's tests: `gw up` started here, its ready line
// read as tests/harness.py reads it, stopped (and its exit code checked) at the end.
//
// Environment: GW_PYTHON (the interpreter with the project installed; default
// .venv/bin/python), GW_TEST_SCALE (multiplies every timeout, as in the Python tests).
import { spawn } from "node:child_process";
import { createHmac } from "node:crypto";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";

import { GatewayClient } from "../../clients/js/gateway-client.js";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const UNIT = 1000 * Number(process.env.GW_TEST_SCALE ?? "1"); // ms
const PYTHON = process.env.GW_PYTHON ?? `${ROOT}.venv/bin/python`;
export const PROBE = "tests.cluster.apps.probe";

/** The ws package, a devDependency of clients/js (Node 20 has no global WebSocket). */
export const WebSocket = (() => {
  try {
    return createRequire(new URL("../../clients/js/package.json", import.meta.url))("ws");
  } catch {
    return null;
  }
})();

/** Why these tests cannot run here, or false. */
export const missing = !WebSocket
  ? "the ws package is not installed (make node, or npm ci in clients/js)"
  : !existsSync(PYTHON) && `no Python at ${PYTHON} (make install, or set GW_PYTHON)`;

function gwCommand(args, env = {}) {
  return spawn(PYTHON, ["-m", "common.cli", ...args], {
    cwd: ROOT,
    env: { ...process.env, PYTHONUNBUFFERED: "1", PYTHONPATH: ROOT, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
}

/** `gw up` with the probe app on loopback (ports chosen by the OS unless `args` says). */
export async function up(args, env = {}) {
  const child = gwCommand(
    ["up", "--app", PROBE, "--register-listen", "127.0.0.1:0", "--start-port", "0", "--heartbeat", "0.2", ...args],
    env,
  );
  let logs = "";
  const logWaiters = new Set();
  child.stderr.setEncoding("utf8").on("data", (chunk) => {
    logs += chunk;
    for (const waiter of logWaiters) waiter();
  });
  const exited = new Promise((resolve) => child.on("exit", (code, signal) => resolve(code ?? signal)));
  process.once("exit", () => child.kill("SIGTERM")); // a crashed test leaves nothing behind
  const info = await new Promise((resolve, reject) => {
    let buffer = "";
    const timer = setTimeout(() => reject(new Error(`gw up not ready within ${30 * UNIT} ms:\n${logs}`)), 30 * UNIT);
    child.stdout.setEncoding("utf8").on("data", (chunk) => {
      buffer += chunk;
      for (const line of buffer.split("\n").slice(0, -1)) {
        if (line.startsWith("GW-READY ")) {
          clearTimeout(timer);
          resolve(JSON.parse(line.slice("GW-READY ".length)));
        }
      }
      buffer = buffer.slice(buffer.lastIndexOf("\n") + 1);
    });
    exited.then((code) => reject(new Error(`gw up exited (${code}) before ready:\n${logs}`)));
  });
  return {
    info,
    pid: child.pid,
    role: (role) => info.processes.filter((p) => p.role === role),
    logs: () => logs,
    /** Resolves once `text` is in the cluster's log. */
    waitLog: (text, timeout = 20 * UNIT) =>
      new Promise((resolve, reject) => {
        const check = () => {
          if (!logs.includes(text)) return;
          logWaiters.delete(check);
          clearTimeout(timer);
          resolve(logs);
        };
        const timer = setTimeout(() => {
          logWaiters.delete(check);
          reject(new Error(`${JSON.stringify(text)} never logged:\n${logs.slice(-3000)}`));
        }, timeout);
        logWaiters.add(check);
        check();
      }),
    /** SIGTERM (after SIGCONT, in case a test stopped it); resolves to the exit code. */
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGCONT");
        child.kill("SIGTERM");
      }
      const timer = setTimeout(() => child.kill("SIGKILL"), 60 * UNIT);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** Run one gw command to its end: {code, stdout, stderr}. */
export function gw(...args) {
  const child = gwCommand(args);
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (chunk) => (stdout += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk) => (stderr += chunk));
  return new Promise((resolve) => child.on("exit", (code) => resolve({ code, stdout, stderr })));
}

/** A loopback port free now (for a gateway that must come back on the same one). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** An HS256 JWT, as the gateway's --auth-secret verifies. */
export function jwt(secret, claims) {
  const part = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const body = `${part({ alg: "HS256", typ: "JWT" })}.${part(claims)}`;
  return `${body}.${createHmac("sha256", secret).update(body).digest("base64url")}`;
}

const TYPES = ["open", "message", "close", "reconnecting", "state", "error"];

/** A GatewayClient on the ws package, every event recorded with its time (ms). */
export class Peer {
  static all = new Set(); // closed by closeAll(): a client left reconnecting keeps node alive
  events = [];
  #waiters = new Set();

  constructor(url, options = {}) {
    this.client = new GatewayClient(url, { WebSocket, window: null, document: null, ...options });
    Peer.all.add(this);
    for (const type of TYPES) {
      this.client.on(type, (detail) => {
        const data = type === "message" && typeof detail === "string" ? parse(detail) : detail;
        this.events.push({ type, detail: data, at: performance.now() });
        for (const waiter of this.#waiters) waiter();
      });
    }
  }

  of(type) {
    return this.events.filter((event) => event.type === type);
  }

  /** The first event (from index `from`) that `test` accepts; waits for it. */
  when(test, { from = 0, timeout = 20 * UNIT, what = String(test) } = {}) {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.events.slice(from).find(test);
        if (!found) return;
        this.#waiters.delete(check);
        clearTimeout(timer);
        resolve(found);
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        const seen = this.events.map((e) => `${e.type} ${JSON.stringify(e.detail)}`).join("\n");
        reject(new Error(`never saw ${what} within ${timeout} ms; saw:\n${seen}`));
      }, timeout);
      this.#waiters.add(check);
      check();
    });
  }

  /** The next message with `key` (after index `from`): its value. */
  async reply(key, from = 0) {
    const event = await this.when((e) => e.type === "message" && e.detail?.[key] !== undefined, { from, what: key });
    return event.detail[key];
  }

  /** Ask the probe app for an API call's result. */
  async call(name, ...args) {
    const from = this.events.length;
    this.client.send(JSON.stringify({ call: name, args }));
    return this.reply("result", from);
  }
}

/** Close every client made so far (in `after`, before the cluster stops). */
export function closeAll() {
  for (const peer of Peer.all) peer.client.close();
  Peer.all.clear();
}

function parse(text) {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export const mean = (values) => values.reduce((sum, value) => sum + value, 0) / values.length;
