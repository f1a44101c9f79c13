/* The login / register card. Registering picks an avatar (a stock one or an upload);
 * logging in never sends one, so an account keeps the avatar it has. Errors are the
 * backend's own words: 401 wrong password, 409 nickname taken, 429 too many tries,
 * for which the button waits the seconds the backend said, counting them down. */

import { postForm } from "./api.js";
import { $, el, tooBig } from "./view.js";

let mode = "login";
let chosenAvatar = null;
let countdown = null;

/* 429: the button is off for the backend's Retry-After, the seconds counted down. */
function waitToRetry(seconds) {
  const button = $("#login-button");
  let left = Math.max(1, Math.ceil(seconds));
  const show = () => { $("#login-error").textContent = `尝试次数过多，请${left}秒后再试`; };
  button.disabled = true;
  show();
  clearInterval(countdown);
  countdown = setInterval(() => {
    left -= 1;
    if (left > 0) {
      show();
      return;
    }
    clearInterval(countdown);
    countdown = null;
    button.disabled = false;
    $("#login-error").textContent = "可以再试一次了";
  }, 1000);
}

function setMode(next) {
  mode = next;
  for (const tab of document.querySelectorAll(".mode-tabs [role=tab]")) {
    tab.setAttribute("aria-selected", String(tab.dataset.mode === next));
  }
  document.querySelector(".register-only").hidden = next !== "register";
  $("#login-button").textContent = next === "register" ? "注册并进入" : "登录";
  $("#password").autocomplete = next === "register" ? "new-password" : "current-password";
  $("#login-error").textContent = "";
}

/* The chosen avatar file, named in our words (none: the stock choice counts). */
function pickAvatarFile(maxBytes) {
  const input = $("#avatar-file");
  const file = input.files[0];
  if (file && file.size > maxBytes) {
    input.value = "";
    $("#login-error").textContent = tooBig(maxBytes);
  }
  const kept = input.files[0];
  $("#avatar-file-name").textContent = kept ? kept.name : "未选择文件";
  if (kept) $("#login-error").textContent = "";
}

function renderAvatarChoices(avatars) {
  const box = $("#avatar-choices");
  box.replaceChildren();
  chosenAvatar = avatars[0];
  for (const url of avatars) {
    const button = el("button", { type: "button", role: "radio", dataset: { avatar: url } },
      el("img", { src: url, alt: "" }));
    button.setAttribute("aria-checked", String(url === chosenAvatar));
    button.onclick = () => {
      chosenAvatar = url;
      $("#avatar-file").value = "";  // a stock avatar replaces a chosen file
      $("#avatar-file-name").textContent = "未选择文件";
      for (const b of box.children) b.setAttribute("aria-checked", String(b === button));
    };
    box.append(button);
  }
}

/* Wire the card; `signedIn(user)` runs after a successful login or registration. */
export function setupLogin(config, signedIn) {
  renderAvatarChoices(config.avatars);
  $("#avatar-file").onchange = () => pickAvatarFile(config.max_avatar);
  for (const tab of document.querySelectorAll(".mode-tabs [role=tab]")) {
    tab.onclick = () => setMode(tab.dataset.mode);
  }
  $("#login-form").onsubmit = async (event) => {
    event.preventDefault();
    const nickname = $("#nickname").value.trim();
    const password = $("#password").value;
    if (!nickname || !password) {
      $("#login-error").textContent = "请填写昵称和密码";
      return;
    }
    const form = new FormData();
    form.append("nickname", nickname);
    form.append("password", password);
    if (mode === "register") {
      const file = $("#avatar-file").files[0];
      if (file) form.append("avatar_file", file);
      else form.append("avatar", chosenAvatar);
    }
    $("#login-button").disabled = true;
    $("#login-error").textContent = "";
    try {
      const user = await postForm(mode === "register" ? "/api/register" : "/api/login", form);
      $("#password").value = "";
      signedIn(user);
    } catch (error) {
      $("#login-error").textContent = error.message;
      if (error.status === 429 && error.retryAfter) waitToRetry(error.retryAfter);
    } finally {
      if (!countdown) $("#login-button").disabled = false;
    }
  };
}

export function showLogin() {
  $("#app").hidden = true;
  $("#login").hidden = false;
  setMode(mode);
}
