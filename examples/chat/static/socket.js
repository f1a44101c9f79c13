/* The page's WebSocket to the gateway (design document 001's protocol).
 *
 * Before each connection the page asks the backend for a short-lived token
 * (POST /api/token, cookie-authenticated) and connects to ws://gateway/?token=...; the
 * gateway verifies it, binds our uid, and the worker puts the connection in the groups
 * of every room we belong to, then sends {action_type: "welcome"}. Only then are we
 * "online". The page also sends the document's join (mode 1): on a connection the
 * gateway did not authenticate, its reply comes without a welcome, and the page says
 * so instead of pretending to be online.
 *
 * A dropped connection is retried with backoff (0.5 s doubling to 30 s, jittered);
 * frames of a connection we replaced are ignored.
 */

export class Link {
  constructor(handlers) {
    this.h = handlers;  // token(), joinFrame(), onWelcome(ws, f), onFrame(ws, f), onLost(), onState(kind, text), onLoggedOut()
    this.ws = null;
    this.attempts = 0;
    this.connects = 0;  // welcomes received: one per successful (re)connection
    this.timer = null;
    this.stopped = true;
    this.welcomed = false;
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    const ws = this.ws;
    this.ws = null;
    if (ws) ws.close(1000);
  }

  /* Connect again at once (the network came back, or membership needs a fresh token). */
  reconnectNow() {
    if (this.stopped) return;
    const old = this.ws;
    this.ws = null;
    if (old) {
      old.close(1000);
      this.h.onLost();
    }
    this.attempts = 0;
    this.connect();
  }

  /* The network is gone (the browser says so): give up this connection now rather
   * than when TCP notices, and retry with backoff (the "online" event cuts it short). */
  drop() {
    const ws = this.ws;
    if (this.stopped || !ws) return;
    this.ws = null;
    this.welcomed = false;
    ws.close(4000, "offline");
    this.h.onLost();
    this.retry();
  }

  get online() {
    return this.ws !== null && this.welcomed;
  }

  async connect() {
    clearTimeout(this.timer);
    this.h.onState("connecting", "连接中…");
    let grant;
    try {
      grant = await this.h.token();
    } catch (error) {
      if (error.status === 401) this.h.onLoggedOut();
      else this.retry();
      return;
    }
    if (this.stopped || this.ws) return;
    const separator = grant.ws_url.includes("?") ? "&" : "?";
    const ws = new WebSocket(`${grant.ws_url}${separator}token=${encodeURIComponent(grant.token)}`);
    this.ws = ws;
    this.welcomed = false;
    ws.onopen = () => {
      if (ws === this.ws) ws.send(JSON.stringify(this.h.joinFrame()));
    };
    ws.onmessage = (event) => this.receive(ws, event.data);
    ws.onclose = (event) => {
      if (ws !== this.ws || this.stopped) return;  // replaced on purpose, or logged out
      this.ws = null;
      this.welcomed = false;
      this.h.onLost();
      // 1012: the gateway drains (a deploy): another one is up, come back at once;
      // the jitter spreads its clients out. Anything else: back off.
      if (event.code === 1012) this.reconnectSoon();
      else this.retry();
    };
  }

  reconnectSoon() {
    this.h.onState("connecting", "重新连接中…");
    this.timer = setTimeout(() => this.connect(), Math.random() * 1000);
  }

  retry() {
    if (this.stopped) return;
    const delay = Math.min(30000, 500 * 2 ** this.attempts) * (0.8 + Math.random() * 0.4);
    this.attempts += 1;
    this.h.onState("offline", `已断开，${Math.ceil(delay / 1000)} 秒后重连`);
    this.timer = setTimeout(() => this.connect(), delay);
  }

  receive(ws, text) {
    if (ws !== this.ws) return;
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    if (frame.action_type === "welcome") {
      this.welcomed = true;
      this.attempts = 0;
      this.connects += 1;
      this.h.onWelcome(ws, frame);
      return;
    }
    const data = frame.data || {};
    if (frame.code === 0 && data.event === "join" && Number(data.mode) === 1) {
      if (!this.welcomed) this.h.onState("error", "网关没有验证登录令牌：收不到私聊和房间消息");
      return;
    }
    this.h.onFrame(ws, frame);
  }
}
