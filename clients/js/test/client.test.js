// The shell: a fake WebSocket, fake timers and a fake clock (node:test's mock.timers),
// a fake window and document; what the app sees, event by event.
import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, mock, test } from "node:test";

import { GatewayClient, StopReconnecting } from "../gateway-client.js";

const APIS = ["setTimeout", "setInterval", "Date"];
/** Why this Node cannot run these tests (its node:test cannot mock the clock), or false. */
const noClock = (() => {
  try {
    mock.timers.enable({ apis: APIS });
    mock.timers.reset();
    return false;
  } catch (error) {
    return `node:test cannot mock ${APIS.join(", ")} here (${error.message})`;
  }
})();
const suite = (name, body) => describe(name, { skip: noClock }, body);

beforeEach(() => noClock || mock.timers.enable({ apis: APIS, now: 1_000_000 }));
afterEach(() => noClock || mock.timers.reset());

/** A WebSocket class whose instances the test drives. */
function fakeSockets() {
  const made = [];
  class FakeSocket {
    constructor(url, protocols) {
      Object.assign(this, { url, protocols, sent: [], readyState: 0, closedWith: null });
      made.push(this);
    }
    send(data) {
      if (this.readyState !== 1) throw new Error("send() on a socket that is not open");
      this.sent.push(data);
    }
    close(code, reason) {
      this.closedWith = { code, reason };
      this.readyState = 3;
    }
    open() {
      this.readyState = 1;
      this.onopen?.({});
    }
    receive(data) {
      this.onmessage?.({ data });
    }
    serverClose(code, reason = "") {
      this.readyState = 3;
      this.onclose?.({ code, reason });
    }
    fail(message) {
      this.onerror?.({ message });
      this.serverClose(1006);
    }
  }
  return { WebSocket: FakeSocket, made };
}

/** Let promises run (token() is awaited); fake timers do not move. */
const settle = async () => {
  for (let i = 0; i < 5; i += 1) await Promise.resolve();
};

function record(client) {
  const log = [];
  for (const type of ["open", "message", "close", "reconnecting", "state", "error"]) {
    client.on(type, (detail) => log.push([type, detail]));
  }
  return log;
}

/** A client on fake sockets, started and, unless told, open; random 0.5. */
async function started({ opened = true, ...options } = {}) {
  const sockets = fakeSockets();
  const tokens = [];
  const client = new GatewayClient("ws://gw.test/app?room=1", {
    WebSocket: sockets.WebSocket,
    random: () => 0.5,
    token: async (info) => {
      tokens.push(info);
      return `t${tokens.length}`;
    },
    ...options,
  });
  const log = record(client);
  await settle();
  if (opened) sockets.made.at(-1).open();
  return { client, log, tokens, made: sockets.made, last: () => sockets.made.at(-1) };
}

const named = (log, type) => log.filter(([kind]) => kind === type).map(([, detail]) => detail);

suite("connecting", () => {
  test("token() before every attempt, in ?token=, the URL's own query kept", async () => {
    const { made, last, tokens, log } = await started();
    assert.equal(made[0].url, "ws://gw.test/app?room=1&token=t1");
    last().serverClose(1006);
    assert.deepEqual(named(log, "reconnecting"), [{ attempt: 1, delay: 250 }]);
    mock.timers.tick(249);
    await settle();
    assert.equal(made.length, 1);
    mock.timers.tick(1);
    await settle();
    assert.equal(made.length, 2);
    assert.equal(made[1].url, "ws://gw.test/app?room=1&token=t2");
    assert.deepEqual(tokens, [{ attempt: 0 }, { attempt: 1 }]);
  });

  test("a grant may name the URL; no token, no parameter; http(s) becomes ws(s)", async () => {
    const grants = [{ token: "x y", url: "https://other.test/ws" }, null];
    const { made, last } = await started({ token: async () => grants.shift() });
    assert.equal(made[0].url, "wss://other.test/ws?token=x+y");
    last().serverClose(1006);
    mock.timers.tick(250);
    await settle();
    assert.equal(made[1].url, "ws://gw.test/app?room=1");
  });

  test("the events, in order, and state as the app reads it", async () => {
    const { client, log, last } = await started({ opened: false });
    assert.equal(client.state, "connecting");
    last().open();
    last().receive("hello");
    last().serverClose(1006, "gone");
    assert.deepEqual(log, [
      ["state", { state: "connecting", previous: "idle" }],
      ["state", { state: "open", previous: "connecting" }],
      ["open", { reconnected: false }],
      ["message", "hello"],
      ["close", { code: 1006, reason: "gone", opened: true, reconnect: true }],
      ["state", { state: "waiting", previous: "open" }],
      ["reconnecting", { attempt: 1, delay: 250 }],
    ]);
    mock.timers.tick(250);
    await settle();
    last().open();
    assert.deepEqual(named(log, "open").at(-1), { reconnected: true });
  });

  test("a listener added right after construction sees the first event; on() returns off", async () => {
    const sockets = fakeSockets();
    const client = new GatewayClient("ws://gw.test/", { WebSocket: sockets.WebSocket });
    const states = [];
    const off = client.on("state", ({ state }) => states.push(state));
    await settle();
    assert.deepEqual(states, ["connecting"]);
    assert.equal(sockets.made[0].binaryType, "arraybuffer");
    off();
    sockets.made[0].open();
    assert.deepEqual(states, ["connecting"]);
    assert.throws(() => client.on("opened", () => {}), TypeError);
  });

  test("a state listener that closes the client on open: no open event, no timer left", async () => {
    const { client, log, last } = await started({ opened: false, heartbeat: { interval: 1000, message: "ping" } });
    client.send("queued");
    client.on("state", ({ state }) => state === "open" && client.close());
    last().open();
    assert.deepEqual(named(log, "open"), []);
    assert.equal(client.state, "closed");
    mock.timers.tick(5000);
    assert.deepEqual(last().sent, []);
  });

  test("no WebSocket, or a malformed URL: an error at once", () => {
    assert.throws(() => new GatewayClient("ws://gw.test/"), /pass one as options.WebSocket/);
    const { WebSocket } = fakeSockets();
    assert.throws(() => new GatewayClient("not a url", { WebSocket }), TypeError);
    assert.throws(() => new GatewayClient("ws://gw.test/", { WebSocket, queue: -1 }), RangeError);
  });

  test("a late event of a socket already given up is ignored", async () => {
    const { client, made, log } = await started();
    client.reconnect();
    await settle();
    assert.deepEqual(made[0].closedWith, { code: 1000, reason: "reconnect" });
    made[0].receive("stale");
    made[0].serverClose(1012);
    assert.equal(made.length, 2);
    assert.deepEqual(named(log, "message"), []);
    assert.deepEqual(named(log, "reconnecting"), []);
    assert.equal(client.state, "connecting");
  });
});

suite("close codes", () => {
  test("1012: back within drainJitter", async () => {
    const { made, last, log } = await started({ random: () => 0.9 });
    last().serverClose(1012, "draining");
    assert.deepEqual(named(log, "reconnecting"), [{ attempt: 1, delay: 450 }]);
    mock.timers.tick(450);
    await settle();
    assert.equal(made.length, 2);
  });

  test("1008 stops it for good: no socket ever again", async () => {
    const { client, made, last, log, tokens } = await started();
    last().serverClose(1008, "rate limit");
    assert.deepEqual(named(log, "close"), [{ code: 1008, reason: "rate limit", opened: true, reconnect: false }]);
    assert.equal(client.state, "closed");
    assert.deepEqual(client.stopped, { code: 1008, reason: "rate limit" });
    mock.timers.tick(3_600_000);
    await settle();
    assert.equal(made.length, 1);
    assert.equal(tokens.length, 1);
    assert.equal(client.send("x"), false);
  });

  test("an HTTP 401 the WebSocket shows (the ws package) stops; a 503 backs off", async () => {
    const refused = await started({ opened: false });
    refused.last().fail("Unexpected server response: 401");
    assert.equal(refused.client.state, "closed");
    assert.deepEqual(refused.client.stopped, { code: 1006, reason: "HTTP 401" });
    const busy = await started({ opened: false });
    busy.last().fail("Unexpected server response: 503");
    assert.equal(busy.client.state, "waiting");
  });

  test("a refused upgrade in a browser is a failed connection: backoff, fresh token", async () => {
    const { client, last, made, log } = await started({ opened: false });
    last().fail(undefined); // browsers: an error event with nothing in it, then 1006
    assert.deepEqual(named(log, "close"), [{ code: 1006, reason: "", opened: false, reconnect: true }]);
    assert.equal(client.state, "waiting");
    mock.timers.tick(250);
    await settle();
    assert.equal(made[1].url.endsWith("token=t2"), true);
  });
});

suite("send()", () => {
  test("queued while not open, up to the limit; sent after the open listeners, in order", async () => {
    const { client, last } = await started({ opened: false, queue: 3 });
    assert.deepEqual(["a", "b", "c", "d"].map((m) => client.send(m)), [true, true, true, false]);
    assert.equal(client.queued, 3);
    client.on("open", () => client.send("join"));
    last().open();
    assert.deepEqual(last().sent, ["join", "a", "b", "c"]);
    assert.equal(client.queued, 0);
    assert.equal(client.send("now"), true);
    assert.deepEqual(last().sent.at(-1), "now");
  });

  test("the queue is emptied by close(); send() after it refuses", async () => {
    const { client, last } = await started();
    last().serverClose(1006);
    assert.equal(client.send("later"), true);
    assert.equal(client.queued, 1);
    client.close();
    assert.equal(client.queued, 0);
    assert.equal(client.send("after"), false);
  });

  test("queue: 0 refuses every send while not open", async () => {
    const { client, last } = await started({ opened: false, queue: 0 });
    assert.equal(client.send("x"), false);
    last().open();
    assert.equal(client.send("y"), true);
    assert.deepEqual(last().sent, ["y"]);
  });
});

suite("token()", () => {
  test("a failure is an error event and a backoff; StopReconnecting closes with its message", async () => {
    const answers = [new Error("backend down"), new StopReconnecting("logged out")];
    const { client, log, made } = await started({
      opened: false,
      token: async () => {
        throw answers.shift();
      },
    });
    assert.equal(made.length, 0);
    assert.equal(named(log, "error")[0].message, "backend down");
    assert.deepEqual(named(log, "reconnecting"), [{ attempt: 1, delay: 250 }]);
    mock.timers.tick(250);
    await settle();
    assert.equal(client.state, "closed");
    assert.deepEqual(client.stopped, { code: null, reason: "logged out" });
  });

  test("close() while token() runs: no socket is made", async () => {
    let answer;
    const { client, made } = await started({ opened: false, token: () => new Promise((r) => (answer = r)) });
    client.close();
    answer("late");
    await settle();
    assert.equal(made.length, 0);
    assert.equal(client.state, "closed");
  });
});

suite("timeouts and heartbeat", () => {
  test("connectTimeout: a handshake that never ends, a token() that never answers", async () => {
    const { client, made, log } = await started({ opened: false, connectTimeout: 1000 });
    mock.timers.tick(999);
    assert.equal(client.state, "connecting");
    mock.timers.tick(1);
    assert.deepEqual(made[0].closedWith, { code: 4000, reason: "connect timeout" });
    assert.deepEqual(named(log, "close"), [{ code: 4000, reason: "connect timeout", opened: false, reconnect: true }]);
    const hung = await started({ opened: false, connectTimeout: 1000, token: () => new Promise(() => {}) });
    mock.timers.tick(1000);
    assert.match(named(hung.log, "error")[0].message, /token\(\) took longer than connectTimeout/);
    assert.equal(hung.client.state, "waiting");
  });

  test("heartbeat: a message every interval; silent past timeout: dropped, reconnected", async () => {
    const heartbeat = { interval: 1000, message: "ping", timeout: 2500, pingData: "tick" };
    const { client, last, log, made } = await started({ heartbeat });
    mock.timers.tick(1000);
    assert.deepEqual(last().sent, ["ping"]);
    last().receive("tick"); // the gateway's --ping-data: keeps it alive, not a message
    mock.timers.tick(2000);
    assert.deepEqual(last().sent, ["ping", "ping", "ping"]);
    assert.deepEqual(named(log, "message"), []);
    mock.timers.tick(1000); // 3000 ms since "tick" was heard
    assert.deepEqual(made[0].closedWith, { code: 4000, reason: "heartbeat timeout" });
    assert.equal(client.state, "waiting");
    mock.timers.tick(10_000);
    await settle();
    assert.equal(made.length, 2);
    assert.deepEqual(made[0].sent.length, 3); // the old socket's beat stopped
  });
});

suite("the page's events", () => {
  /** An EventTarget that counts its listeners. */
  class Target extends EventTarget {
    listening = 0;
    addEventListener(...args) {
      this.listening += 1;
      super.addEventListener(...args);
    }
    removeEventListener(...args) {
      this.listening -= 1;
      super.removeEventListener(...args);
    }
  }

  function page({ onLine = true, visibilityState = "visible" } = {}) {
    const window = Object.assign(new Target(), { navigator: { onLine } });
    const document = Object.assign(new Target(), { visibilityState });
    const fire = (target, type) => target.dispatchEvent(new Event(type));
    return { window, document, fire };
  }

  test("offline drops the connection and waits; online connects at once", async () => {
    const { window, document, fire } = page();
    const { client, made, log } = await started({ window, document });
    fire(window, "offline");
    assert.deepEqual(made[0].closedWith, { code: 4000, reason: "offline" });
    assert.equal(client.state, "paused");
    mock.timers.tick(3_600_000);
    await settle();
    assert.equal(made.length, 1);
    fire(window, "online");
    await settle();
    assert.equal(made.length, 2);
    assert.deepEqual(named(log, "reconnecting"), []); // never counted as a failure
  });

  test("started offline: nothing until online", async () => {
    const { window, document, fire } = page({ onLine: false });
    const { client, made } = await started({ window, document, opened: false });
    assert.equal(client.state, "paused");
    assert.equal(made.length, 0);
    fire(window, "online");
    await settle();
    assert.equal(made.length, 1);
  });

  test("visible again cuts a wait short", async () => {
    const { window, document, fire } = page();
    const { last, made } = await started({ window, document, backoff: { initial: 60_000 } });
    document.visibilityState = "hidden";
    fire(document, "visibilitychange");
    last().serverClose(1006);
    await settle();
    assert.equal(made.length, 1);
    document.visibilityState = "visible";
    fire(document, "visibilitychange");
    await settle();
    assert.equal(made.length, 2);
  });

  test("pauseWhenHidden: a hidden page's lost connection waits to be seen", async () => {
    const { window, document, fire } = page();
    const { client, last, made } = await started({ window, document, pauseWhenHidden: true });
    document.visibilityState = "hidden";
    fire(document, "visibilitychange");
    assert.equal(client.state, "open");
    last().serverClose(1006);
    mock.timers.tick(3_600_000);
    await settle();
    assert.equal(made.length, 1);
    assert.equal(client.state, "paused");
    document.visibilityState = "visible";
    fire(document, "visibilitychange");
    await settle();
    assert.equal(made.length, 2);
  });

  test("close() stops listening to the page; reconnect() listens again", async () => {
    const { window, document, fire } = page();
    const { client, made } = await started({ window, document });
    assert.deepEqual([window.listening, document.listening], [2, 1]);
    client.close();
    assert.deepEqual([window.listening, document.listening], [0, 0]);
    fire(window, "offline");
    fire(window, "online");
    await settle();
    assert.equal(made.length, 1);
    client.reconnect();
    await settle();
    assert.equal(made.length, 2);
    assert.deepEqual([window.listening, document.listening], [2, 1]);
    made[1].open();
    fire(window, "offline");
    assert.equal(client.state, "paused");
  });
});
