// The pure state machine: inputs in, actions out; the clock is a number passed in and
// the randomness a function, so every delay is known exactly.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { DEFAULTS, Lifecycle, StopReconnecting } from "../gateway-client.js";

const types = (actions) => actions.map((action) => action.type);
const waits = (actions) => actions.filter((action) => action.type === "wait");

/** A machine that is open (since `now`), with a fixed random value. */
function open({ random = () => 1, now = 0, ...options } = {}) {
  const machine = new Lifecycle({ random, ...options });
  assert.deepEqual(machine.start(), [{ type: "connect" }]);
  machine.opened(now);
  assert.equal(machine.state, "open");
  return machine;
}

/** Fail `count` attempts in a row (each closed before it opened); their waits. */
function failAttempts(machine, count, code = 1006) {
  const seen = [];
  for (let i = 0; i < count; i += 1) {
    const [wait] = waits(machine.closed({ code }, 0));
    seen.push(wait);
    assert.equal(machine.state, "waiting");
    assert.deepEqual(machine.due(), [{ type: "connect" }]);
  }
  return seen;
}

describe("backoff", () => {
  test("the ceiling grows by the factor up to the cap; full jitter scales it", () => {
    const ceilings = failAttempts(open(), 9).map((wait) => wait.delay);
    assert.deepEqual(ceilings, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
    const halves = failAttempts(open({ random: () => 0.5 }), 4).map((wait) => wait.delay);
    assert.deepEqual(halves, [250, 500, 1000, 2000]);
    const zero = failAttempts(open({ random: () => 0 }), 3).map((wait) => wait.delay);
    assert.deepEqual(zero, [0, 0, 0]); // full jitter: anywhere from 0 to the ceiling
  });

  test("attempts are numbered from 1 and the options are taken", () => {
    const machine = open({ backoff: { initial: 100, factor: 3, max: 1000 } });
    const seen = failAttempts(machine, 4);
    assert.deepEqual(seen.map((wait) => wait.attempt), [1, 2, 3, 4]);
    assert.deepEqual(seen.map((wait) => wait.delay), [100, 300, 900, 1000]);
  });

  test("a connection open for stableAfter starts the backoff again", () => {
    const machine = open();
    failAttempts(machine, 3);
    machine.opened(1000);
    const [again] = waits(machine.closed({ code: 1006 }, 1000 + DEFAULTS.backoff.stableAfter));
    assert.deepEqual(again, { type: "wait", attempt: 1, delay: 500 });
  });

  test("a server that accepts then closes at once is backed off, not hammered", () => {
    const machine = open();
    const delays = [];
    for (let i = 0; i < 5; i += 1) {
      const [wait] = waits(machine.closed({ code: 1000 }, i * 10 + 5));
      delays.push(wait.delay);
      machine.due();
      machine.opened(i * 10 + 10); // open, but closed again within stableAfter
    }
    assert.deepEqual(delays, [500, 1000, 2000, 4000, 8000]);
  });

  test("bad options are refused", () => {
    assert.throws(() => new Lifecycle({ backoff: { initial: -1 } }), RangeError);
    assert.throws(() => new Lifecycle({ backoff: { max: Number.NaN } }), RangeError);
    assert.throws(() => new Lifecycle({ closeCodes: { 4000: "later" } }), RangeError);
  });
});

describe("close codes", () => {
  for (const code of [1012, 1001]) {
    test(`${code}: back within drainJitter, uniformly`, () => {
      const machine = open({ random: () => 0.999 });
      assert.deepEqual(machine.closed({ code }, 10), [{ type: "wait", attempt: 1, delay: 499 }]);
      const low = open({ random: () => 0.25, backoff: { drainJitter: 800 } });
      assert.deepEqual(waits(low.closed({ code }, 10))[0].delay, 200);
    });
  }

  test("a second drain before the connection is stable gets backoff, not another rush", () => {
    const machine = open();
    assert.equal(waits(machine.closed({ code: 1012 }, 10))[0].delay, 500); // drainJitter
    machine.due();
    machine.opened(20);
    const [second] = waits(machine.closed({ code: 1012 }, 30)); // a rolling deploy
    assert.deepEqual(second, { type: "wait", attempt: 2, delay: 1000 }); // the backoff's 2nd
    machine.due();
    machine.opened(100);
    const [stable] = waits(machine.closed({ code: 1012 }, 100 + DEFAULTS.backoff.stableAfter));
    assert.deepEqual(stable, { type: "wait", attempt: 1, delay: 500 }); // soon again
  });

  test("1008 stops it for good, with the gateway's reason", () => {
    const machine = open();
    assert.deepEqual(machine.closed({ code: 1008, reason: "rate limit" }, 10), [{ type: "stop" }]);
    assert.equal(machine.state, "closed");
    assert.deepEqual(machine.stopped, { code: 1008, reason: "rate limit" });
    assert.deepEqual(machine.due(), []); // nothing brings it back but start()
    assert.deepEqual(machine.online(), []);
    assert.deepEqual(machine.closed({ code: 1006 }, 20), []);
  });

  test("every other gateway code backs off", () => {
    for (const code of [1000, 1006, 1007, 1009, 1011, 1013, 4000]) {
      const machine = open();
      assert.deepEqual(types(machine.closed({ code }, 10)), ["wait"], `code ${code}`);
      assert.equal(waits(machine.closed({ code }, 10)).length, 0); // already waiting: ignored
    }
  });

  test("an app's own codes: stop, soon or backoff, and a default changed", () => {
    const machine = open({ closeCodes: { 4401: "stop", 1000: "stop", 1012: "backoff" } });
    assert.deepEqual(types(machine.closed({ code: 1012 }, 10)), ["wait"]);
    assert.equal(waits(open({ closeCodes: { 1012: "backoff" }, random: () => 0.5 }).closed({ code: 1012 }, 1))[0].delay, 250);
    for (const code of [4401, 1000]) {
      const other = open({ closeCodes: { 4401: "stop", 1000: "stop" } });
      assert.deepEqual(other.closed({ code, reason: "kicked" }, 10), [{ type: "stop" }]);
      assert.deepEqual(other.stopped, { code, reason: "kicked" });
    }
  });

  test("a refused upgrade: 401 and 403 stop, 503 backs off (where the status is known)", () => {
    for (const status of [401, 403]) {
      const machine = new Lifecycle();
      machine.start();
      assert.deepEqual(machine.closed({ code: 1006, status }, 10), [{ type: "stop" }]);
      assert.deepEqual(machine.stopped, { code: 1006, reason: `HTTP ${status}` });
    }
    const busy = new Lifecycle();
    busy.start();
    assert.deepEqual(types(busy.closed({ code: 1006, status: 503 }, 10)), ["wait"]);
  });
});

describe("token()", () => {
  test("a failure backs off; StopReconnecting stops with its message", () => {
    const machine = new Lifecycle({ random: () => 1 });
    machine.start();
    assert.deepEqual(machine.failed(new Error("backend down")), [{ type: "wait", attempt: 1, delay: 500 }]);
    machine.due();
    assert.deepEqual(machine.failed(new StopReconnecting("logged out")), [{ type: "stop" }]);
    assert.deepEqual(machine.stopped, { code: null, reason: "logged out" });
  });

  test("a failure reported late (the attempt was abandoned) changes nothing", () => {
    const machine = open();
    assert.deepEqual(machine.failed(new Error("late")), []);
    assert.equal(machine.state, "open");
  });
});

describe("the app's calls", () => {
  test("close() drops a live connection, cancels a wait, and stops", () => {
    const live = open();
    assert.deepEqual(live.close(4001, "bye"), [{ type: "drop", code: 4001, reason: "bye" }, { type: "stop" }]);
    assert.deepEqual(live.stopped, { code: 4001, reason: "bye" });
    assert.deepEqual(live.close(), []);
    const waiting = open();
    waiting.closed({ code: 1006 }, 1);
    assert.deepEqual(waiting.close(), [{ type: "cancel" }, { type: "stop" }]);
    const idle = new Lifecycle();
    assert.deepEqual(idle.close(), [{ type: "stop" }]);
    assert.equal(idle.state, "closed");
  });

  test("start() again: a new connection at once, the backoff from the start", () => {
    const machine = open();
    failAttempts(machine, 4);
    assert.deepEqual(machine.start(), [{ type: "drop", code: 1000, reason: "reconnect" }, { type: "connect" }]);
    assert.equal(machine.failures, 0);
    machine.closed({ code: 1006 }, 1);
    assert.deepEqual(machine.start(), [{ type: "cancel" }, { type: "connect" }]);
    machine.closed({ code: 1008 }, 1);
    assert.equal(machine.state, "closed");
    assert.deepEqual(machine.start(), [{ type: "connect" }]);
    assert.equal(machine.stopped, null);
  });

  test("dropped(): this side gives up (a timeout) and backs off", () => {
    const machine = open();
    assert.deepEqual(machine.dropped("heartbeat timeout", 10), [
      { type: "drop", code: 4000, reason: "heartbeat timeout" },
      { type: "wait", attempt: 1, delay: 500 },
    ]);
    assert.deepEqual(machine.dropped("again", 20), []);
  });
});

describe("the page: offline and hidden", () => {
  test("offline drops the connection and waits for online, without counting", () => {
    const machine = open();
    assert.deepEqual(machine.offline(10), [{ type: "drop", code: 4000, reason: "offline" }]);
    assert.equal(machine.state, "paused");
    assert.equal(machine.failures, 0);
    assert.deepEqual(machine.due(), []);
    assert.deepEqual(machine.online(), [{ type: "connect" }]);
    assert.equal(machine.state, "connecting");
  });

  test("offline while waiting cancels the wait; online connects at once", () => {
    const machine = open();
    failAttempts(machine, 2);
    machine.closed({ code: 1006 }, 1);
    assert.deepEqual(machine.offline(2), [{ type: "cancel" }]);
    assert.deepEqual(machine.online(), [{ type: "connect" }]);
    assert.equal(machine.failures, 3); // a failure after this still backs off from where it was
  });

  test("a connection lost while offline (or started offline) waits for online", () => {
    const machine = new Lifecycle();
    assert.deepEqual(machine.offline(0), []);
    assert.deepEqual(machine.start(), []);
    assert.equal(machine.state, "paused");
    assert.deepEqual(machine.online(), [{ type: "connect" }]);
  });

  test("online while waiting (no offline seen) cuts the wait short", () => {
    const machine = open();
    machine.closed({ code: 1006 }, 1);
    assert.deepEqual(machine.online(), [{ type: "cancel" }, { type: "connect" }]);
  });

  test("hidden: nothing changes by default; visible cuts a wait short", () => {
    const machine = open();
    assert.deepEqual(machine.hidden(), []);
    assert.deepEqual(types(machine.closed({ code: 1006 }, 1)), ["wait"]);
    assert.deepEqual(machine.visible(), [{ type: "cancel" }, { type: "connect" }]);
  });

  test("pauseWhenHidden: a hidden page keeps its connection but does not reconnect", () => {
    const machine = open({ pauseWhenHidden: true });
    assert.deepEqual(machine.hidden(), []);
    assert.equal(machine.state, "open");
    assert.deepEqual(machine.closed({ code: 1006 }, 1), []);
    assert.equal(machine.state, "paused");
    assert.deepEqual(machine.visible(), [{ type: "connect" }]);
    machine.closed({ code: 1006 }, 2);
    assert.equal(machine.state, "waiting");
    assert.deepEqual(machine.hidden(), [{ type: "cancel" }]);
    assert.equal(machine.state, "paused");
  });

  test("hidden and offline: both must clear before it connects", () => {
    const machine = open({ pauseWhenHidden: true });
    machine.hidden();
    machine.offline(1);
    assert.deepEqual(machine.online(), []);
    assert.equal(machine.state, "paused");
    assert.deepEqual(machine.visible(), [{ type: "connect" }]);
  });
});
