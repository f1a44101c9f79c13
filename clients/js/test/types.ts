// Compiled by `tsc -p tsconfig.json` (test/types.test.js): the declarations match the
// documented API, through the package's own "exports" (a self-reference by name).
import {
  type CloseEvent,
  type State,
  CLOSE_CODES,
  DEFAULTS,
  GatewayClient,
  Lifecycle,
  StopReconnecting,
} from "@gatewayworker-py/client";

const client = new GatewayClient("wss://gateway.example/", {
  token: async ({ attempt }) => (attempt > 5 ? { token: "t", url: new URL("wss://other.example/") } : "t"),
  backoff: { initial: 250, max: 10_000, drainJitter: 300 },
  heartbeat: { interval: 25_000, message: () => JSON.stringify({ type: "ping" }), timeout: 60_000 },
  closeCodes: { 4401: "stop" },
  queue: 10,
  WebSocket, // the browser's (lib "dom") fits
  window: null,
});
const off: () => void = client.on("close", (event: CloseEvent) => {
  const code: number = event.code;
  const again: boolean = event.reconnect;
  void [code, again, event.reason, event.opened];
});
client.on("message", (data) => {
  if (typeof data === "string") data.toUpperCase();
});
client.on("reconnecting", ({ attempt, delay }) => void (attempt + delay));
client.on("state", ({ state, previous }) => void [state satisfies State, previous]);
// @ts-expect-error: no such event
client.on("opened", () => {});
const sent: boolean = client.send(new Uint8Array([1, 2]));
const queued: number = client.queued;
const reason: string | undefined = client.stopped?.reason;
client.reconnect();
client.close(4000, "bye");
off();

const machine = new Lifecycle({ random: () => 0.5, pauseWhenHidden: true });
for (const action of machine.start()) {
  if (action.type === "wait") void (action.delay + action.attempt);
}
// @ts-expect-error: not a rule
new Lifecycle({ closeCodes: { 4001: "later" } });
const stop: Error = new StopReconnecting("logged out");
const drain: number = DEFAULTS.backoff.drainJitter;
void [sent, queued, reason, stop, drain, CLOSE_CODES[1012]];
