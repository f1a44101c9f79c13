/** A WebSocket client for gatewayworker-py's gateways that reconnects well. */

/** What the client does after a close: come back within drainJitter, back off, or stop. */
export type Rule = "soon" | "backoff" | "stop";

export type State = "idle" | "connecting" | "open" | "waiting" | "paused" | "closed";

export interface BackoffOptions {
  /** ms: the ceiling of the first reconnect's delay (default 500). */
  initial?: number;
  /** ms: the ceiling never grows past this (default 30000). */
  max?: number;
  /** Each failed attempt multiplies the ceiling by this (default 2). */
  factor?: number;
  /** ms: after 1012 or 1001, come back within this, uniformly spread (default 500). */
  drainJitter?: number;
  /** ms open before the backoff starts again from `initial` (default 5000). */
  stableAfter?: number;
}

export type Data = string | ArrayBufferLike | Blob | ArrayBufferView;

export interface HeartbeatOptions {
  /** ms between beats: each sends `message` (if any) and checks `timeout` (if any). */
  interval: number;
  /** Sent every interval while open (what --ping-not-response-limit waits for). */
  message?: Data | (() => Data);
  /** ms without any message received after which the connection counts as dead. */
  timeout?: number;
  /** The gateway's --ping-data: such messages keep it alive but are not emitted. */
  pingData?: string;
}

/** What token() returns: the token, or the token and the URL of this attempt. */
export type Grant = string | { token?: string | null; url?: string | URL } | null | undefined;

/** What the client uses of a WebSocket (the browser's, undici's and the ws package's
 * have it; their event types differ, hence `any`). */
export interface WebSocketLike {
  binaryType: string;
  onopen: ((event: any) => void) | null;
  onmessage: ((event: any) => void) | null;
  onerror: ((event: any) => void) | null;
  onclose: ((event: any) => void) | null;
  send(data: any): void;
  close(code?: number, reason?: string): void;
}

export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

/** Where online/offline and visibilitychange are listened to. */
export interface EventSource {
  addEventListener(type: string, listener: () => void): void;
  removeEventListener(type: string, listener: () => void): void;
}

export interface LifecycleOptions {
  backoff?: BackoffOptions;
  /** Rules for close codes, added to (or replacing) CLOSE_CODES. */
  closeCodes?: Record<number, Rule>;
  /** A hidden page's lost connection waits until the page is visible (default false). */
  pauseWhenHidden?: boolean;
  /** Returns [0, 1): the jitter (default Math.random). */
  random?: () => number;
}

export interface GatewayClientOptions extends LifecycleOptions {
  /** Called before every attempt for a fresh token, put in ?token=. Throw
   * StopReconnecting to stop the client; any other error backs off. */
  token?: (info: { attempt: number }) => Grant | Promise<Grant>;
  heartbeat?: HeartbeatOptions | null;
  /** Messages send() keeps while not open (default 32; 0: refuse them). */
  queue?: number;
  /** ms from calling token() to the open event (default 10000). */
  connectTimeout?: number;
  protocols?: string | string[];
  /** Default "arraybuffer". */
  binaryType?: "arraybuffer" | "blob" | "nodebuffer";
  /** Default: the global WebSocket (browsers, Node 22+); in Node 20: the ws package's. */
  WebSocket?: WebSocketConstructor;
  /** Default: the global object if it has addEventListener (browsers); null: ignore. */
  window?: (EventSource & { navigator?: { onLine?: boolean } }) | null;
  /** Default: the global document; null: ignore. */
  document?: (EventSource & { visibilityState?: string }) | null;
}

export interface CloseEvent {
  code: number;
  reason: string;
  /** The connection had opened (false: the attempt failed). */
  opened: boolean;
  /** The client will connect again (false: it stopped; see `stopped`). */
  reconnect: boolean;
}

export interface Events {
  open: { reconnected: boolean };
  /** A string; binary: per binaryType (ArrayBuffer by default, Blob, or a Node Buffer). */
  message: string | ArrayBuffer | Blob | Uint8Array;
  close: CloseEvent;
  reconnecting: { attempt: number; delay: number };
  state: { state: State; previous: State };
  error: unknown;
}

export class GatewayClient {
  /** Connects at once (after the current task: listeners added now see every event). */
  constructor(url: string | URL, options?: GatewayClientOptions);
  readonly state: State;
  /** Messages waiting for the next connection. */
  readonly queued: number;
  /** Why the client stopped for good, or null while it is not closed. */
  readonly stopped: { code: number | null; reason: string } | null;
  /** Add a listener; returns a function that removes it. */
  on<K extends keyof Events>(type: K, listener: (detail: Events[K]) => void): () => void;
  off<K extends keyof Events>(type: K, listener: (detail: Events[K]) => void): void;
  /** Send now if open, else queue it (up to `queue`); false: refused (full, or closed). */
  send(data: Data): boolean;
  /** Close for good; the queue is emptied. */
  close(code?: number, reason?: string): void;
  /** Drop the current connection (if any) and connect now with a fresh token. */
  reconnect(): void;
}

export type Action =
  | { type: "connect" }
  | { type: "wait"; attempt: number; delay: number }
  | { type: "cancel" }
  | { type: "drop"; code: number; reason: string }
  | { type: "stop" };

/** The pure state machine behind GatewayClient: inputs return the actions to take. */
export class Lifecycle {
  constructor(options?: LifecycleOptions);
  readonly state: State;
  readonly failures: number;
  readonly stopped: { code: number | null; reason: string } | null;
  start(): Action[];
  opened(now: number): Action[];
  closed(close: { code: number; reason?: string; status?: number }, now: number): Action[];
  dropped(reason: string, now: number): Action[];
  failed(error: unknown): Action[];
  due(): Action[];
  close(code?: number, reason?: string): Action[];
  offline(now: number): Action[];
  online(): Action[];
  hidden(): Action[];
  visible(): Action[];
}

export class StopReconnecting extends Error {
  constructor(message?: string);
}

export const DEFAULTS: {
  readonly backoff: Readonly<Required<BackoffOptions>>;
  readonly connectTimeout: number;
  readonly queue: number;
};
export const CLOSE_CODES: Readonly<Record<number, Rule>>;
export const HTTP_STATUSES: Readonly<Record<number, Rule>>;
