// The cluster's HTTP API from Node 18+ (gw api), with the built-in fetch: no package.
// Settings from the environment:
//   GW_API_URL  where gw api listens (default http://127.0.0.1:8790)
//   GW_API_KEY  its key (sent as "Authorization: Bearer <key>"; never log it)
//
//   import { gateway, batch } from "./gateway.mjs";
//   await gateway("send_to_uid", { uid: "10086", message: { type: "notice" } });
//   const { result: online, missing } = await gateway("get_all_client_id_count");
//
// fetch keeps connections alive between calls. Every call of GatewayWorker's Gateway
// class is here by its snake_case name, its arguments by name.

const base = (process.env.GW_API_URL ?? "http://127.0.0.1:8790").replace(/\/+$/, "");

export class GatewayError extends Error {
  constructor(message, status, code) {
    super(message);
    this.status = status; // the HTTP status
    this.code = code; // the API's error code, e.g. "invalid_argument"
  }
}

async function post(path, body) {
  const key = process.env.GW_API_KEY;
  if (!key) throw new GatewayError("GW_API_KEY is not set", 0, "config");
  const answer = await fetch(`${base}/api/v1/${path}`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${key}` },
    body: JSON.stringify(body),
  });
  const reply = await answer.json();
  if (!answer.ok) {
    throw new GatewayError(`${path}: ${reply.error.message}`, answer.status, reply.error.code);
  }
  return reply;
}

/** One call: its reply, {result} (and for a query to every gateway, missing). */
export async function gateway(call, args = {}) {
  return post(call, args);
}

/** Several calls in one request, done in order: one reply each ({result} or {error}). */
export async function batch(calls) {
  return post("batch", calls.map(([call, args]) => ({ call, args })));
}
