// One gateway with --auth-secret and --rate-limit, on a port it keeps across restarts:
// a fresh token per attempt, the refusals that stop a client, a gateway killed and
// restarted (growing delays meanwhile, the send queue's bound held throughout).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { Peer, UNIT, closeAll, freePort, jwt, mean, missing, up } from "./cluster.mjs";

const SECRET = "a-js-client-test-secret-of-32-bytes-or-more";
const BACKOFF = { initial: 50, factor: 2, max: 1600 };

/** A token() that signs a fresh token each call (uid `${name}-${n}`) and records it. */
function issuer(name, secret = SECRET) {
  const issued = [];
  const token = async ({ attempt }) => {
    const uid = `${name}-${issued.length + 1}`;
    issued.push({ attempt, uid });
    return jwt(secret, { uid, exp: Math.floor(Date.now() / 1000) + 60 });
  };
  return { issued, token };
}

describe("one gateway, with tokens", { skip: missing }, () => {
  let cluster;
  let url;
  before(async () => {
    const port = await freePort();
    cluster = await up(
      ["--listen", `127.0.0.1:${port}`, "--gateways", "1", "--workers", "1", "--rate-limit", "100"],
      { GW_AUTH_SECRET: SECRET },
    );
    url = `ws://127.0.0.1:${port}/`;
  });
  after(async () => {
    closeAll();
    assert.equal(await cluster?.stop(), 0, cluster?.logs().slice(-3000));
  });

  test("token() is called before every attempt; each connection carries its fresh token", { timeout: 60 * UNIT }, async () => {
    const { issued, token } = issuer("fresh");
    const peer = new Peer(url, { token });
    const first = await peer.reply("welcome");
    assert.equal(await peer.call("get_uid_by_client_id", first), "fresh-1"); // the gateway bound its claim
    const mark = peer.events.length;
    peer.client.reconnect();
    const second = await peer.reply("welcome", mark);
    assert.notEqual(second, first);
    assert.equal(await peer.call("get_uid_by_client_id", second), "fresh-2");
    assert.deepEqual(issued, [{ attempt: 0, uid: "fresh-1" }, { attempt: 0, uid: "fresh-2" }]);
  });

  test("a token the gateway refuses (HTTP 401) stops the client, with the reason", { timeout: 60 * UNIT }, async () => {
    const { issued, token } = issuer("forged", "another-secret-of-32-bytes-or-more-!!");
    const peer = new Peer(url, { token, backoff: BACKOFF });
    await peer.when((e) => e.type === "state" && e.detail.state === "closed", { what: "closed" });
    assert.deepEqual(peer.client.stopped, { code: 1006, reason: "HTTP 401" });
    assert.deepEqual(peer.of("close").map((e) => e.detail), [{ code: 1006, reason: "", opened: false, reconnect: false }]);
    assert.deepEqual(peer.of("reconnecting"), []);
    assert.equal(issued.length, 1);
  });

  test("1008 (over --rate-limit) stops the client: it does not come back", { timeout: 60 * UNIT }, async () => {
    const { issued, token } = issuer("flood");
    const peer = new Peer(url, { token, backoff: BACKOFF });
    await peer.reply("welcome");
    for (let i = 0; i < 400; i += 1) peer.client.send(JSON.stringify({ session: { i } }));
    const closed = await peer.when((e) => e.type === "close", { what: "close" });
    assert.deepEqual(closed.detail, { code: 1008, reason: "rate limit", opened: true, reconnect: false });
    assert.equal(peer.client.state, "closed");
    assert.deepEqual(peer.client.stopped, { code: 1008, reason: "rate limit" });
    assert.equal(peer.client.send("{}"), false);
    assert.deepEqual(peer.of("reconnecting"), []);
    assert.equal(issued.length, 1);
  });

  test("a killed gateway: its clients back off with growing delays, come back once it restarts; the send queue holds its bound", { timeout: 120 * UNIT }, async (t) => {
    const COUNT = 12;
    const ATTEMPTS = 5; // failed attempts each client makes before the gateway may restart
    const tokens = Array.from({ length: COUNT }, (_, i) => issuer(`kill${i}`));
    const peers = tokens.map(({ token }) => new Peer(url, { token, backoff: BACKOFF, queue: 5 }));
    await Promise.all(peers.map((peer) => peer.reply("welcome")));
    const marks = peers.map((peer) => peer.events.length);
    const [gateway] = cluster.role("gateway");

    // hold the supervisor so that the gateway stays down until we have seen enough
    process.kill(cluster.pid, "SIGSTOP");
    try {
      process.kill(gateway.pid, "SIGKILL");
      await Promise.all(
        peers.map((peer, i) => peer.when((e) => e.type === "reconnecting" && e.detail.attempt === ATTEMPTS, {
          from: marks[i], timeout: 30 * UNIT, what: `attempt ${ATTEMPTS}`,
        })),
      );
      // while it is down: 5 messages kept, the rest refused
      const sends = Array.from({ length: 8 }, (_, i) =>
        peers[0].client.send(JSON.stringify({ call: "send_to_current_client", args: [`q${i}`], reply: false })));
      assert.deepEqual(sends, [true, true, true, true, true, false, false, false]);
      assert.equal(peers[0].client.queued, 5);
    } finally {
      process.kill(cluster.pid, "SIGCONT");
    }
    const restartedAt = performance.now();
    const log = await cluster.waitLog("gateway-0 restarted as pid");
    const pid = Number(/gateway-0 restarted as pid (\d+)/.exec(log)[1]);
    assert.notEqual(pid, gateway.pid);

    const reopened = await Promise.all(peers.map((peer, i) =>
      peer.when((e) => e.type === "open", { from: marks[i], timeout: 30 * UNIT, what: "open again" })));
    for (const [i, peer] of peers.entries()) {
      assert.ok(reopened[i].at > restartedAt);
      assert.deepEqual(reopened[i].detail, { reconnected: true });
      const waits = peer.events.slice(marks[i], peer.events.indexOf(reopened[i])).filter((e) => e.type === "reconnecting");
      assert.deepEqual(waits.map((e) => e.detail.attempt), waits.map((_, n) => n + 1)); // 1, 2, 3...
      for (const { detail } of waits) {
        const ceiling = Math.min(BACKOFF.max, BACKOFF.initial * BACKOFF.factor ** (detail.attempt - 1));
        assert.ok(detail.delay >= 0 && detail.delay < ceiling, `attempt ${detail.attempt}: ${detail.delay} ms`);
      }
      // one token per attempt: the first connection, then one per wait
      assert.deepEqual(tokens[i].issued.map((x) => x.attempt), [0, ...waits.map((e) => e.detail.attempt)]);
    }
    // the delays grow with the attempts (full jitter: compared on average over the clients)
    const at = (attempt) => mean(peers.map((peer) => peer.of("reconnecting").find((e) => e.detail.attempt === attempt).detail.delay));
    const means = [1, 3, 5].map(at);
    assert.ok(means[0] < means[1] && means[1] < means[2], `mean delays at attempts 1, 3, 5: ${means}`);

    // what was queued arrives once, in order, and nothing that was refused
    const mark = peers[0].events.length;
    peers[0].client.send(JSON.stringify({ pid: true }));
    await peers[0].reply("pid", mark);
    const after = peers[0].events.filter((e) => e.type === "message" && /^q\d$/.test(e.detail));
    assert.deepEqual(after.map((e) => e.detail), ["q0", "q1", "q2", "q3", "q4"]);
    assert.equal(peers[0].client.queued, 0);
    // the restarted gateway holds each client once, bound by the token of its last attempt
    const uids = (await peers[0].call("get_all_uid_list")).filter((uid) => uid.startsWith("kill"));
    assert.deepEqual(uids.sort(), tokens.map(({ issued }) => issued.at(-1).uid).sort());
    t.diagnostic(`killed gateway: ${COUNT} clients back ${Math.round(Math.max(...reopened.map((e) => e.at)) - restartedAt)} ms ` +
      `after the restart; mean delays at attempts 1, 3, 5: ${means.map(Math.round).join(", ")} ms`);
  });
});
