/* HTTP calls to the web backend. Every reply is {code, msg, data}; a code other than
 * 0 becomes an ApiError carrying the code and the HTTP status, so callers can tell
 * "not logged in" (401) from "throttled" (429, with retryAfter in seconds) from a
 * network failure (status 0). Every call that is not a GET carries the page's CSRF
 * token (from /api/config), which the backend asks of forms and empty bodies.
 * The backend's words are Chinese, as the page's; an answer that is not the backend's
 * (a proxy's error page, a gateway timeout) is told in Chinese by its status. */

let csrfToken = "";
export function setCsrfToken(token) {
  csrfToken = token || "";
}

/* What a status means, for an answer without the backend's own words. */
export function statusText(status) {
  if (status === 413) return "文件太大，服务器拒绝接收";
  if (status === 429) return "请求太频繁，请稍后再试";
  if (status >= 500) return `服务器暂时无法处理（${status}），请稍后再试`;
  return `请求失败（${status}）`;
}

export class ApiError extends Error {
  constructor(message, code, status) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

export async function api(path, options = {}) {
  let response;
  const method = (options.method || "GET").toUpperCase();
  const headers = { ...options.headers };
  if (method !== "GET" && method !== "HEAD") headers["X-CSRF-Token"] = csrfToken;
  try {
    response = await fetch(path, { credentials: "same-origin", ...options, headers });
  } catch (error) {
    throw new ApiError("网络连接失败", -1, 0);
  }
  let body;
  try {
    body = await response.json();
  } catch {
    body = { code: response.status, msg: statusText(response.status) };
  }
  if (body.code !== 0) {
    const error = new ApiError(body.msg || `HTTP ${response.status}`, body.code, response.status);
    error.retryAfter = Number(response.headers.get("Retry-After")) || 0;
    throw error;
  }
  return body.data;
}

export function post(path, data = {}) {
  return api(path, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(data),
  });
}

export function postForm(path, form) {
  return api(path, { method: "POST", body: form });
}
