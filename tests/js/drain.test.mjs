// A gateway drains (gw drain: 1012): its clients come back at once, each within a
// second, spread out by the client's jitter, on the gateway that is left.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { Peer, UNIT, closeAll, gw, missing, up } from "./cluster.mjs";

const CLIENTS = 40;
const DRAIN_JITTER = 500; // ms: the client's default

describe("a drained gateway's clients", { skip: missing }, () => {
  let cluster;
  before(async () => {
    cluster = await up(["--listen", "127.0.0.1:0", "--gateways", "2", "--workers", "1", "--drain-time", "1"]);
  });
  after(async () => {
    closeAll();
    assert.equal(await cluster?.stop(), 0, cluster?.logs().slice(-3000));
  });

  test("come back within a second, spread out, to the other gateway", { timeout: 120 * UNIT }, async (t) => {
    const [gateway] = cluster.role("gateway");
    const peers = Array.from({ length: CLIENTS }, () => new Peer(`ws://${gateway.websocket}/`));
    // the probe app tells each client which gateway (internal address) it is on
    const where = await Promise.all(peers.map((peer) => peer.reply("ws_connect").then((info) => info.current_gateway)));
    const byGateway = new Map();
    where.forEach((address, index) => byGateway.set(address, [...(byGateway.get(address) ?? []), index]));
    assert.equal(byGateway.size, 2, `the kernel spread ${CLIENTS} clients over the two gateways: ${[...byGateway.keys()]}`);
    const [drained, staying] = [...byGateway.entries()].sort((a, b) => b[1].length - a[1].length);
    const [address, moved] = drained;
    const marks = peers.map((peer) => peer.events.length);

    const drain = await gw("drain", "--gateway", address);
    assert.equal(drain.code, 0, drain.stderr);
    assert.match(drain.stdout, /drained and gone/);

    const back = await Promise.all(
      moved.map(async (index) => {
        const peer = peers[index];
        const closed = await peer.when((e) => e.type === "close", { from: marks[index], what: "its close" });
        const reconnecting = await peer.when((e) => e.type === "reconnecting", { from: marks[index] });
        const opened = await peer.when((e) => e.type === "open", { from: marks[index], what: "open again" });
        const info = await peer.when((e) => e.type === "message" && e.detail?.ws_connect, { from: marks[index] });
        return { closed, reconnecting, opened, gateway: info.detail.ws_connect.current_gateway, peer };
      }),
    );
    for (const { closed, reconnecting, opened, gateway: now, peer } of back) {
      assert.deepEqual(closed.detail, { code: 1012, reason: "", opened: true, reconnect: true });
      assert.equal(reconnecting.detail.attempt, 1);
      assert.ok(reconnecting.detail.delay < DRAIN_JITTER, `delay ${reconnecting.detail.delay}`);
      assert.ok(opened.at - closed.at < 1 * UNIT, `back after ${opened.at - closed.at} ms`);
      assert.notEqual(now, address);
      assert.equal(peer.of("reconnecting").length, 1); // one attempt was enough
    }
    // spread out: the delays the clients chose cover the jitter window, and no 50 ms
    // slice holds more than half of the moments they set out to reconnect (all at once, it
    // would). The moments, not the handshakes: a busy machine bunches those up.
    const delays = back.map((b) => b.reconnecting.detail.delay).sort((a, b) => a - b);
    assert.ok(delays.at(-1) - delays[0] >= DRAIN_JITTER / 2, `delays ${delays}`);
    const starts = back.map((b) => b.reconnecting.at + b.reconnecting.detail.delay).sort((a, b) => a - b);
    const crowd = Math.max(...starts.map((at) => starts.filter((other) => other >= at && other < at + 50).length));
    assert.ok(crowd <= moved.length / 2, `${crowd} of ${moved.length} reconnections set out within 50 ms`);
    // the clients of the other gateway never noticed
    for (const index of staying[1]) {
      assert.deepEqual(peers[index].of("close"), []);
      assert.equal(peers[index].client.state, "open");
    }
    // gw up restarts the drained gateway: let it finish before the cluster is stopped
    const { name } = cluster.role("gateway").find((g) => g.internal === address);
    await cluster.waitLog(`${name} restarted as pid`);
    const times = back.map((b) => Math.round(b.opened.at - b.closed.at)).sort((a, b) => a - b);
    t.diagnostic(`drained ${moved.length} of ${CLIENTS} clients: back after ${times[0]}-${times.at(-1)} ms ` +
      `(median ${times[times.length >> 1]}), their delays ${delays[0]}-${delays.at(-1)} ms, ` +
      `at most ${crowd} set out in 50 ms`);
  });
});
