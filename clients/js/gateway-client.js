/* A WebSocket client for gatewayworker-py's gateways that reconnects well.
 *
 * One ES module, no dependencies, no build step: browsers, and Node with the global
 * WebSocket (Node 22+) or one passed in (the `ws` package's).
 *
 * Two parts. `Lifecycle` is pure: the states, the backoff and what each close code
 * means, driven by inputs (start, opened, closed, failed, due, offline, online,
 * hidden, visible, close) that return the actions to take; it reads no clock and
 * sets no timer, so it is tested with plain numbers. `GatewayClient` is the shell
 * around it: it calls token(), opens the WebSocket, runs the timers, listens to the
 * page's online/offline and visibility events, and emits events to the app.
 *
 * States: idle -> connecting -> open; after a close, waiting (a reconnect is due
 * after a delay) or paused (offline, or hidden with pauseWhenHidden) or closed (for
 * good: close(), a code that means "do not come back", StopReconnecting from token()).
 */

export const DEFAULTS = Object.freeze({
  backoff: Object.freeze({
    initial: 500, // ms: the ceiling of the first reconnect's delay
    max: 30000, // ms: the ceiling never grows past this
    factor: 2, // each failed attempt multiplies the ceiling by this
    drainJitter: 500, // ms: after 1012/1001 come back within this (uniformly spread)
    stableAfter: 5000, // ms open before the backoff starts again from `initial`
  }),
  connectTimeout: 10000, // ms from calling token() to the open event
  queue: 32, // messages send() keeps while not open (0: refuse them)
});

/** What a close code from the gateway makes the client do (any other code: "backoff"). */
export const CLOSE_CODES = Object.freeze({
  1001: "soon", // going away (a gateway stopping with --drain-time 0): another one is up
  1008: "stop", // policy (--rate-limit, a control-frame flood): coming back would repeat it
  1012: "soon", // the gateway drains (gw drain, SIGTERM, a deploy): reconnect elsewhere
});

/** HTTP refusals of the upgrade, where the WebSocket implementation shows the status
 * (the `ws` package does; browsers never do: they report a failed connection, 1006). */
export const HTTP_STATUSES = Object.freeze({
  401: "stop", // --auth-secret refused a token that token() has just made
  403: "stop", // --allowed-origins, or --auth-hook said no
});

const RULES = new Set(["soon", "backoff", "stop"]);
const LOCAL_CLOSE = 4000; // the code this client closes with when it gives a connection up

/** Throw this from token() to stop the client for good (e.g. the user is logged out). */
export class StopReconnecting extends Error {
  constructor(message = "stopped by token()") {
    super(message);
    this.name = "StopReconnecting";
  }
}

/** The pure state machine: every input returns the actions the shell must take, in order:
 * {type: "connect"}, {type: "wait", attempt, delay}, {type: "cancel"} (the pending wait),
 * {type: "drop", code, reason} (close the current connection), {type: "stop"}. */
export class Lifecycle {
  state = "idle";
  failures = 0; // attempts since the last stable connection; the next wait's attempt number
  stopped = null; // {code, reason} once closed
  #backoff;
  #codes;
  #pauseWhenHidden;
  #random;
  #openedAt = 0;
  #offline = false;
  #hidden = false;

  constructor({ backoff = {}, closeCodes = {}, pauseWhenHidden = false, random = Math.random } = {}) {
    this.#backoff = { ...DEFAULTS.backoff, ...backoff };
    for (const [name, value] of Object.entries(this.#backoff)) {
      if (!(Number.isFinite(value) && value >= 0)) throw new RangeError(`backoff.${name}: ${value}`);
    }
    for (const [code, rule] of Object.entries(closeCodes)) {
      if (!RULES.has(rule)) throw new RangeError(`closeCodes[${code}]: "${rule}" is not soon, backoff or stop`);
    }
    this.#codes = { ...CLOSE_CODES, ...closeCodes };
    this.#pauseWhenHidden = pauseWhenHidden;
    this.#random = random;
  }

  get #live() {
    return this.state === "open" || this.state === "connecting";
  }

  get #paused() {
    return this.#offline || (this.#hidden && this.#pauseWhenHidden);
  }

  /** Connect now (the first time, or again: reconnect() and after close() alike). */
  start() {
    const actions = this.#live ? [{ type: "drop", code: 1000, reason: "reconnect" }] : [];
    if (this.state === "waiting") actions.push({ type: "cancel" });
    this.failures = 0;
    this.stopped = null;
    return [...actions, ...this.#attempt()];
  }

  opened(now) {
    if (this.state !== "connecting") return [];
    this.state = "open";
    this.#openedAt = now;
    return [];
  }

  /** The connection closed: `code` from the close event, `status` the HTTP status of a
   * refused upgrade where the WebSocket implementation shows it. */
  closed({ code, reason = "", status }, now) {
    if (!this.#live) return [];
    const rule = HTTP_STATUSES[status] ?? this.#codes[code] ?? "backoff";
    if (rule === "stop") return this.#stop(code, status ? `HTTP ${status}` : reason);
    return this.#lost(now, rule === "soon");
  }

  /** This side gave the connection up (heartbeat or connect timeout): drop it, retry. */
  dropped(reason, now) {
    if (!this.#live) return [];
    return [{ type: "drop", code: LOCAL_CLOSE, reason }, ...this.#lost(now, false)];
  }

  /** token() threw (or never answered) before a WebSocket was made. */
  failed(error) {
    if (this.state !== "connecting") return [];
    if (error instanceof StopReconnecting) return this.#stop(null, error.message);
    return this.#retry(false);
  }

  /** The wait is over. */
  due() {
    return this.state === "waiting" ? this.#attempt() : [];
  }

  close(code = 1000, reason = "") {
    if (this.state === "closed") return [];
    const actions = this.#live ? [{ type: "drop", code, reason }] : [];
    if (this.state === "waiting") actions.push({ type: "cancel" });
    return [...actions, ...this.#stop(code, reason)];
  }

  /** The browser says the network is gone: give the connection up now rather than when
   * TCP notices, and do not try again until it is back. */
  offline(now) {
    this.#offline = true;
    if (this.#live) return [{ type: "drop", code: LOCAL_CLOSE, reason: "offline" }, ...this.#lost(now, false)];
    return this.#pause();
  }

  online() {
    this.#offline = false;
    return this.#resume();
  }

  /** The page is hidden: with pauseWhenHidden, a lost connection waits until it is seen
   * again (an open one stays open). */
  hidden() {
    this.#hidden = true;
    return this.#pauseWhenHidden ? this.#pause() : [];
  }

  visible() {
    this.#hidden = false;
    return this.#resume();
  }

  #attempt() {
    if (this.#paused) {
      this.state = "paused";
      return [];
    }
    this.state = "connecting";
    return [{ type: "connect" }];
  }

  #lost(now, soon) {
    if (this.state === "open" && now - this.#openedAt >= this.#backoff.stableAfter) this.failures = 0;
    // "soon" once per stable connection: a gateway that drains its clients again and
    // again as soon as they come (a rolling deploy) gets backoff, not a stampede
    return this.#retry(soon && this.failures === 0);
  }

  #retry(soon) {
    if (this.#paused) {
      this.state = "paused"; // not counted: the network or the page, not the gateway
      return [];
    }
    this.failures += 1;
    const { initial, factor, max, drainJitter } = this.#backoff;
    const ceiling = soon ? drainJitter : Math.min(max, initial * factor ** (this.failures - 1));
    this.state = "waiting";
    return [{ type: "wait", attempt: this.failures, delay: Math.floor(this.#random() * ceiling) }];
  }

  #pause() {
    if (this.state !== "waiting" || !this.#paused) return [];
    this.state = "paused";
    return [{ type: "cancel" }];
  }

  #resume() {
    if (this.#paused) return [];
    if (this.state === "paused") return this.#attempt();
    // the network is back, or the user looks at the page: do not make them wait
    if (this.state === "waiting") return [{ type: "cancel" }, ...this.#attempt()];
    return [];
  }

  #stop(code, reason) {
    this.state = "closed";
    this.stopped = { code, reason };
    return [{ type: "stop" }];
  }
}

/** The status of a refused upgrade, from the `ws` package's error ("Unexpected server
 * response: 401"); browsers and undici do not tell. */
function httpStatus(event) {
  const text = String(event?.message ?? event?.error?.message ?? "");
  const found = /Unexpected server response: (\d{3})/.exec(text);
  return found ? Number(found[1]) : undefined;
}

/** The URL of one attempt: `url` resolved against the page, ws(s)://, ?token= set. */
function attemptUrl(url, token) {
  const base = globalThis.location?.href;
  const resolved = base ? new URL(url, base) : new URL(url);
  if (resolved.protocol === "http:") resolved.protocol = "ws:";
  if (resolved.protocol === "https:") resolved.protocol = "wss:";
  if (token !== undefined && token !== null) resolved.searchParams.set("token", String(token));
  return resolved.href;
}

function report(error) {
  // a listener's exception must not break the client: report it as the platform does
  queueMicrotask(() => {
    throw error;
  });
}

const EVENTS = ["open", "message", "close", "reconnecting", "state", "error"];

export class GatewayClient {
  #url;
  #options;
  #WebSocket;
  #machine;
  #listeners = new Map(EVENTS.map((type) => [type, new Set()]));
  #queue = [];
  #ws = null;
  #opened = false; // the current WebSocket has opened
  #everOpened = false;
  #generation = 0; // bumped whenever an attempt is abandoned: late answers are ignored
  #waitTimer = null;
  #connectTimer = null;
  #heartbeatTimer = null;
  #lastSeen = 0;
  #unwatch = null;

  /** Connects at once (after the current task, so listeners added now see every event). */
  constructor(url, options = {}) {
    this.#WebSocket = options.WebSocket ?? globalThis.WebSocket;
    if (typeof this.#WebSocket !== "function") {
      throw new TypeError("no global WebSocket here: pass one as options.WebSocket (Node < 22: the ws package's)");
    }
    const queue = options.queue ?? DEFAULTS.queue;
    if (!(Number.isInteger(queue) && queue >= 0)) throw new RangeError(`queue: ${queue}`);
    const heartbeat = options.heartbeat ?? null;
    if (heartbeat && !(heartbeat.interval > 0)) throw new RangeError("heartbeat.interval: a positive number of ms");
    this.#url = String(url);
    attemptUrl(this.#url); // a malformed URL throws here, not on every attempt
    this.#options = { connectTimeout: DEFAULTS.connectTimeout, binaryType: "arraybuffer", ...options, queue, heartbeat };
    this.#machine = new Lifecycle(options);
    queueMicrotask(() => {
      if (this.#machine.state === "idle") this.#start();
    });
  }

  /** "idle" | "connecting" | "open" | "waiting" | "paused" | "closed" */
  get state() {
    return this.#machine.state;
  }

  /** Messages waiting for the next connection. */
  get queued() {
    return this.#queue.length;
  }

  /** Why the client stopped for good ({code, reason}), or null while it is not closed. */
  get stopped() {
    return this.#machine.stopped;
  }

  /** Add a listener; returns a function that removes it. */
  on(type, listener) {
    const set = this.#listeners.get(type);
    if (!set) throw new TypeError(`no "${type}" event: ${EVENTS.join(", ")}`);
    set.add(listener);
    return () => set.delete(listener);
  }

  off(type, listener) {
    this.#listeners.get(type)?.delete(listener);
  }

  /** Send now if open; else keep it for the next connection, up to `queue` messages.
   * Returns false (and keeps nothing) when the queue is full or the client closed. */
  send(data) {
    if (this.#machine.state === "open") {
      this.#ws.send(data);
      return true;
    }
    if (this.#machine.state === "closed" || this.#queue.length >= this.#options.queue) return false;
    this.#queue.push(data);
    return true;
  }

  /** Close for good (reconnect() starts it again); the queue is emptied. */
  close(code = 1000, reason = "") {
    this.#input((m) => m.close(code, reason));
  }

  /** Drop the current connection (if any) and connect now with a fresh token; also
   * starts a closed client again. */
  reconnect() {
    if (this.#machine.state === "closed" || this.#machine.state === "idle") this.#start();
    else this.#input((m) => m.start());
  }

  #start() {
    this.#watchEnvironment();
    this.#input((m) => m.start());
  }

  #emit(type, detail) {
    for (const listener of [...this.#listeners.get(type)]) {
      try {
        listener(detail);
      } catch (error) {
        report(error);
      }
    }
  }

  /** Feed the machine one input and carry out its actions; `closing` is the close event
   * of a connection that just ended (emitted once the machine knows what comes next). */
  #input(step, closing = null) {
    const previous = this.#machine.state;
    const actions = step(this.#machine);
    if (closing) this.#emit("close", { ...closing, reconnect: this.#machine.state !== "closed" });
    let announced = false;
    const announce = () => {
      if (announced || this.#machine.state === previous) return;
      announced = true;
      this.#emit("state", { state: this.#machine.state, previous });
    };
    for (const action of actions) {
      if (action.type === "drop") this.#drop(action.code, action.reason);
      else if (action.type === "cancel") clearTimeout(this.#waitTimer);
      else {
        announce();
        if (action.type === "connect") this.#connect();
        else if (action.type === "wait") this.#wait(action);
        else if (action.type === "stop") this.#cleanup();
      }
    }
    announce();
  }

  #wait({ attempt, delay }) {
    this.#waitTimer = setTimeout(() => this.#input((m) => m.due()), delay);
    this.#emit("reconnecting", { attempt, delay });
  }

  async #connect() {
    const generation = ++this.#generation;
    const { token, connectTimeout } = this.#options;
    this.#connectTimer = setTimeout(() => this.#timedOut(generation), connectTimeout);
    let url;
    try {
      let grant = token ? await token({ attempt: this.#machine.failures }) : undefined;
      if (typeof grant !== "object" || grant === null) grant = { token: grant };
      url = attemptUrl(grant.url ?? this.#url, grant.token);
    } catch (error) {
      if (generation === this.#generation) this.#failed(error);
      return;
    }
    if (generation !== this.#generation) return; // abandoned while token() ran
    let ws;
    try {
      ws = new this.#WebSocket(url, this.#options.protocols);
    } catch (error) {
      this.#failed(new StopReconnecting(`cannot open ${url}: ${error.message}`));
      return;
    }
    ws.binaryType = this.#options.binaryType;
    this.#ws = ws;
    this.#opened = false;
    let status;
    ws.onopen = () => ws === this.#ws && this.#onOpen(ws);
    ws.onerror = (event) => {
      status = httpStatus(event) ?? status;
    };
    ws.onmessage = (event) => ws === this.#ws && this.#onMessage(event.data);
    ws.onclose = (event) => {
      if (ws !== this.#ws) return;
      const closing = { code: event.code, reason: event.reason, opened: this.#opened };
      this.#release();
      this.#input((m) => m.closed({ code: event.code, reason: event.reason, status }, Date.now()), closing);
    };
  }

  #failed(error) {
    clearTimeout(this.#connectTimer);
    this.#emit("error", error);
    this.#input((m) => m.failed(error));
  }

  #timedOut(generation) {
    if (generation !== this.#generation || this.#machine.state !== "connecting") return;
    if (this.#ws) this.#input((m) => m.dropped("connect timeout", Date.now()));
    else {
      this.#generation += 1; // token() is still running: its answer comes too late
      this.#failed(new Error(`token() took longer than connectTimeout (${this.#options.connectTimeout} ms)`));
    }
  }

  #onOpen(ws) {
    clearTimeout(this.#connectTimer);
    this.#opened = true;
    this.#lastSeen = Date.now();
    this.#input((m) => m.opened(Date.now()));
    if (ws !== this.#ws) return; // a state listener closed or replaced it
    const { heartbeat } = this.#options;
    if (heartbeat) this.#heartbeatTimer = setInterval(() => this.#beat(ws), heartbeat.interval);
    const reconnected = this.#everOpened;
    this.#everOpened = true;
    this.#emit("open", { reconnected });
    // what was queued goes after whatever the open listeners sent (a join, a resume)
    while (this.#queue.length && ws === this.#ws && this.#machine.state === "open") {
      ws.send(this.#queue.shift());
    }
  }

  #onMessage(data) {
    this.#lastSeen = Date.now();
    const ping = this.#options.heartbeat?.pingData;
    if (ping !== undefined && data === ping) return;
    this.#emit("message", data);
  }

  #beat(ws) {
    if (ws !== this.#ws || this.#machine.state !== "open") return;
    const { timeout, message } = this.#options.heartbeat;
    if (timeout && Date.now() - this.#lastSeen >= timeout) {
      this.#input((m) => m.dropped("heartbeat timeout", Date.now()));
    } else if (message !== undefined) {
      ws.send(typeof message === "function" ? message() : message);
    }
  }

  /** Forget the current WebSocket (its late events are ignored) and its timers. */
  #release() {
    const ws = this.#ws;
    this.#ws = null;
    this.#generation += 1;
    clearTimeout(this.#connectTimer);
    clearInterval(this.#heartbeatTimer);
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = null;
      ws.onerror = () => {}; // the ws package throws an error event nobody listens to
    }
    return ws;
  }

  #drop(code, reason) {
    const opened = this.#opened;
    const ws = this.#release();
    if (!ws) return; // token() was running: nothing to close
    try {
      ws.close(code, reason);
    } catch {
      ws.close(); // a code this WebSocket does not take
    }
    this.#emit("close", { code, reason, opened, reconnect: this.#machine.state !== "closed" });
  }

  #cleanup() {
    clearTimeout(this.#waitTimer);
    this.#release();
    this.#queue = [];
    this.#unwatch?.();
    this.#unwatch = null;
  }

  /** The page's online/offline and visibility events (browsers; `window`/`document`
   * options for other environments and tests, null to ignore them). */
  #watchEnvironment() {
    if (this.#unwatch) return;
    const { window: win = "addEventListener" in globalThis ? globalThis : null } = this.#options;
    const { document: doc = globalThis.document ?? null } = this.#options;
    const handlers = [];
    const listen = (target, type, handler) => {
      target.addEventListener(type, handler);
      handlers.push(() => target.removeEventListener(type, handler));
    };
    if (win) {
      if (win.navigator?.onLine === false) this.#machine.offline(Date.now());
      else this.#machine.online(); // a client started again: forget an old state
      listen(win, "offline", () => this.#input((m) => m.offline(Date.now())));
      listen(win, "online", () => this.#input((m) => m.online()));
    }
    if (doc) {
      const seen = () => this.#input((m) => (doc.visibilityState === "hidden" ? m.hidden() : m.visible()));
      if (doc.visibilityState === "hidden") this.#machine.hidden();
      else this.#machine.visible();
      listen(doc, "visibilitychange", seen);
    }
    this.#unwatch = () => handlers.forEach((remove) => remove());
  }
}
