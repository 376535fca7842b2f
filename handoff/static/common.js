// Shared by the agent console (console.js) and the reports page (reports.js), loaded before
// either: the API's address, the DOM helpers, API calls with the console's session and the
// login form. Texts are written with textContent, never parsed as HTML.
//
// The login is the service's HttpOnly, SameSite=Strict session cookie (scripts never see the
// token); changes send the X-Handoff-Console header, which a cross-site form cannot.
"use strict";

const API = "/api/v1";
const CHANNEL = { rest: "接口（REST）", socketio: "网站聊天窗口", wechat: "微信", telegram: "Telegram",
                  unknown: "未知" };

const $ = (id) => document.getElementById(id);

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

// The JSON body of an API call; a failure throws an Error with the service's message (in
// Chinese) and the HTTP `status`.
async function request(path, options = {}) {
  const headers = { "Content-Type": "application/json", "X-Handoff-Console": "1" };
  const response = await fetch(API + path, { ...options, headers, credentials: "same-origin" });
  let body = null;
  try { body = await response.json(); } catch (error) { body = null; }
  if (!response.ok) {
    const error = new Error((body && body.message) || `请求失败（${response.status}）`);
    error.status = response.status;
    throw error;
  }
  return body;
}

// The login form (#login-form, #username, #password, #login-error): logs in, clears the
// password, then runs `loggedIn`; a refusal is shown under the form.
function wireLogin(loggedIn) {
  $("login-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("login-error").textContent = "";
    try {
      await request("/auth/login", { method: "POST", body: JSON.stringify({
        username: $("username").value.trim(), password: $("password").value }) });
      $("password").value = "";
      await loggedIn();
    } catch (error) {
      $("login-error").textContent = error.message;
    }
  });
}

// Ends the session (in every tab: the server closes its live streams); an expired one is fine.
async function logOut() {
  try { await request("/auth/logout", { method: "POST" }); } catch (error) { /* ended anyway */ }
}
