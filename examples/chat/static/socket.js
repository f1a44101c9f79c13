/* The page's connection to the gateway (design document 001's protocol): the chat's
 * side of clients/js/gateway-client.js, which does the connecting.
 *
 * The library asks for a fresh token before every attempt (here: POST /api/token,
 * cookie-authenticated, which also names the gateway's URL), backs off with full jitter
 * after a loss, comes back at once (within half a second) after a drain (1012), gives
 * the connection up when the browser goes offline and connects again when it is back.
 * A 401 from /api/token means the session is gone: the library stops and the page
 * shows the login card.
 *
 * What is the chat's own, here: the gateway verifies the token, binds our uid, and the
 * worker puts the connection in the groups of every room we belong to, then sends
 * {action_type: "welcome"}. Only then are we "online". The page also sends the
 * document's join (mode 1) on open: on a connection the gateway did not authenticate,
 * its reply comes without a welcome, and the page says so instead of pretending to be
 * online. `current` names the connection of the moment (an object per connection, null
 * between two): what was started for one connection stops when it is no longer current.
 */

import { CLOSE_CODES, GatewayClient, StopReconnecting } from "./gateway-client.js";

export class Link {
  constructor(url, handlers) {
    this.url = url;     // the gateway's, from /api/config (each token names it again)
    this.h = handlers;  // token(), joinFrame(), onWelcome(current, f), onFrame(current, f), onLost(), onState(kind, text), onLoggedOut()
    this.client = null;  // the GatewayClient
    this.current = null;
    this.connects = 0;  // welcomes received: one per successful (re)connection
    this.welcomed = false;
    this.closeCode = null;  // of the connection that just ended, until the next attempt
  }

  start() {
    let loggedOut = false;
    const client = new GatewayClient(this.url, {
      token: async () => {
        try {
          const grant = await this.h.token();
          return { token: grant.token, url: grant.ws_url };
        } catch (error) {
          if (error.status !== 401) throw error;  // retried, backing off
          loggedOut = true;
          throw new StopReconnecting("logged out");
        }
      },
      queue: 0,  // the page sends only its join, on open: nothing waits for a connection
    });
    client.on("open", () => {
      this.current = {};
      this.welcomed = false;
      client.send(JSON.stringify(this.h.joinFrame()));
    });
    client.on("message", (data) => this.receive(data));
    client.on("close", ({ code }) => {
      this.closeCode = code;
      if (!this.current) return;  // an attempt that never opened
      this.current = null;
      this.welcomed = false;
      this.h.onLost();
    });
    client.on("state", ({ state }) => {
      if (this.client !== client) return;  // stopped by the page (logout)
      if (state === "connecting") {
        this.closeCode = null;
        this.h.onState("connecting", "连接中…");
      } else if (state === "paused") {
        this.h.onState("offline", "网络已断开");  // until the browser's online event
      } else if (state === "closed" && loggedOut) {
        this.h.onLoggedOut();
      } else if (state === "closed") {  // a close code that means "do not come back" (1008)
        const { code } = client.stopped;
        this.h.onState("error", code ? `连接被服务器关闭（${code}），请刷新页面` : "无法连接网关，请刷新页面");
      }
    });
    client.on("reconnecting", ({ attempt, delay }) => {
      // The library comes back "soon" after a drain (1012) or 1001, on the first retry
      // after a stable connection: a gateway going away, not an outage to show.
      if (attempt === 1 && CLOSE_CODES[this.closeCode] === "soon") {
        this.h.onState("connecting", "重新连接中…");
      } else {
        this.h.onState("offline", `已断开，${Math.max(1, Math.ceil(delay / 1000))} 秒后重连`);
      }
    });
    this.client = client;
  }

  stop() {
    const client = this.client;
    this.client = null;
    this.current = null;
    client?.close(1000, "logout");
  }

  /* Connect again at once with a fresh token (membership changed since this one). */
  reconnectNow() {
    this.client?.reconnect();
  }

  receive(text) {
    const current = this.current;
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    if (frame.action_type === "welcome") {
      this.welcomed = true;
      this.connects += 1;
      this.h.onWelcome(current, frame);
      return;
    }
    const data = frame.data || {};
    if (frame.code === 0 && data.event === "join" && Number(data.mode) === 1) {
      if (!this.welcomed) this.h.onState("error", "网关没有验证登录令牌：收不到私聊和房间消息");
      return;
    }
    this.h.onFrame(current, frame);
  }
}
