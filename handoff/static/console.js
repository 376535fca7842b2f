// Agent console of the handoff service. Plain DOM, no dependencies. Every text that comes
// from a customer (or anyone) is written with textContent, never parsed as HTML.
//
// Login: the service sets an HttpOnly, SameSite=Strict session cookie (scripts never see the
// token), so every tab of the browser shares the login; logging out ends it in every tab
// (the server closes the session's live streams, and a BroadcastChannel tells the other
// tabs at once). Changes send the X-Handoff-Console header, which a cross-site form cannot.
//
// Live updates: server-sent events from /api/v1/stream (the browser reconnects by itself;
// after each reconnect the console catches up). While the stream is down it polls instead.
"use strict";

const API = "/api/v1";
const POLL_MS = 2000;          // only while the live stream is down
const REFRESH_MS = 30000;      // waiting times and agents online, also when live
const PRIORITY = { urgent: "紧急", high: "高", normal: "普通" };
const STATUS = { queued: "排队中", claimed: "处理中", resolved: "已解决", handed_back: "已转回机器人",
                 cancelled: "客户已取消", abandoned: "已过期（客户长时间未回复）" };
const EMOTION = { calm: "平静", upset: "不满", angry: "生气" };
const SENDER = { customer: "客户", bot: "机器人", agent: "客服" };
const CHANNEL = { rest: "接口（REST）", socketio: "网站聊天窗口", wechat: "微信", telegram: "Telegram" };
const BASE_TITLE = "人工客服工作台";

const state = { me: null, selected: null, handoff: null, lastId: 0, composing: false,
                timers: [], stream: null, live: false, online: 0, queueTimer: null,
                retryTimer: null };
const tabs = "BroadcastChannel" in window ? new BroadcastChannel("handoff-console") : null;

const $ = (id) => document.getElementById(id);

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

async function api(path, options = {}) {
  const headers = { "Content-Type": "application/json", "X-Handoff-Console": "1" };
  const response = await fetch(API + path, { ...options, headers, credentials: "same-origin" });
  let body = null;
  try { body = await response.json(); } catch (error) { body = null; }
  if (response.status === 401 && path !== "/auth/login") {
    showLogin();
    throw new Error("登录已过期，请重新登录");
  }
  if (!response.ok) throw new Error((body && body.message) || `请求失败（${response.status}）`);
  return body;
}

function showStatus(text, bad = false) {
  const line = $("d-status");
  line.textContent = text || "";
  line.classList.toggle("bad", bad);
}

function waited(seconds) {
  if (seconds < 60) return `${seconds} 秒`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} 分钟`;
  return `${Math.floor(minutes / 60)} 小时 ${minutes % 60} 分`;
}

function timeOf(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? "" : date.toLocaleTimeString("zh-CN", { hour12: false });
}

function strength(score) {
  const value = Number(score || 0);
  return value >= 0.8 ? "强烈" : value >= 0.5 ? "明显" : "轻微";
}

// --- login ----------------------------------------------------------------------------------

async function login(event) {
  event.preventDefault();
  $("login-error").textContent = "";
  try {
    await api("/auth/login", { method: "POST", body: JSON.stringify({
      username: $("username").value.trim(), password: $("password").value }) });
    $("password").value = "";
    if (tabs) tabs.postMessage("login");
    await start();
  } catch (error) {
    $("login-error").textContent = error.message;
  }
}

async function logout() {
  try { await api("/auth/logout", { method: "POST" }); } catch (error) { /* ended anyway */ }
  if (tabs) tabs.postMessage("logout");
  showLogin();
}

function stop() {
  state.timers.forEach(clearInterval);
  state.timers = [];
  clearTimeout(state.retryTimer);
  if (state.stream) state.stream.close();
  state.stream = null;
  state.live = false;
}

function showLogin() {
  stop();
  state.queueShape = null;
  state.me = null;
  $("desk-view").hidden = true;
  $("me").hidden = true;
  $("login-view").hidden = false;
  document.title = BASE_TITLE;
}

async function start() {
  const body = await api("/me");
  stop();
  state.me = body.agent;
  $("me-name").textContent = `${state.me.display_name}（${state.me.username}）`;
  $("reports-link").hidden = state.me.role !== "supervisor";  // the supervisors' reports page
  $("me").hidden = false;
  $("login-view").hidden = true;
  $("desk-view").hidden = false;
  await refreshQueue();
  connect();
  state.timers.push(setInterval(() => {
    if (state.live) return;
    refreshQueue().catch(() => showConnection());
    pollMessages().catch(() => {});
  }, POLL_MS));
  state.timers.push(setInterval(() => refreshQueue().catch(() => {}), REFRESH_MS));
}

// --- live stream ----------------------------------------------------------------------------

function showConnection() {
  const mode = state.live ? "实时更新" : "连接中断，正在重新连接（每 2 秒刷新）";
  $("online").textContent = `在线客服 ${state.online} 人 · ${mode}`;
  $("online").classList.toggle("bad", !state.live);
}

function connect() {
  if (!("EventSource" in window)) { showConnection(); return; }  // polling only
  const stream = new EventSource(`${API}/stream`);
  state.stream = stream;
  stream.addEventListener("open", () => {
    state.live = true;
    showConnection();
    // Whatever happened while the stream was down.
    refreshQueue().catch(() => {});
    pollMessages().catch(() => {});
  });
  stream.addEventListener("error", () => {
    state.live = false;
    showConnection();
    if (stream.readyState === EventSource.CLOSED && state.stream === stream) {
      // Refused (logged out, or the server answered something else): check, then retry.
      state.retryTimer = setTimeout(() => {
        api("/me").then(() => { if (state.me && state.stream === stream) connect(); }, () => {});
      }, POLL_MS);
    }
  });
  const changed = (event) => {
    let data = {};
    try { data = JSON.parse(event.data || "{}"); } catch (error) { data = {}; }
    if (data.handoff_id && data.handoff_id === state.selected) pollMessages().catch(() => {});
    if (event.type !== "message") scheduleQueueRefresh();
  };
  stream.addEventListener("message", changed);
  stream.addEventListener("queue", changed);
  stream.addEventListener("status", changed);
  stream.addEventListener("logout", () => showLogin());
}

function scheduleQueueRefresh() {
  clearTimeout(state.queueTimer);
  state.queueTimer = setTimeout(() => refreshQueue().catch(() => {}), 100);
}

// --- queue ----------------------------------------------------------------------------------

async function refreshQueue() {
  const body = await api("/handoffs?status=open");
  const list = $("queue");
  // Rebuilt only when the queue itself changed; otherwise the waiting times are updated in
  // place (an item under the agent's mouse is not replaced at every push).
  const shape = JSON.stringify(body.handoffs.map((h) => [h.id, h.status, h.position, h.priority, h.agent, h.reason_label, h.summary]));
  if (shape !== state.queueShape) {
    state.queueShape = shape;
    list.replaceChildren(...body.handoffs.map(queueItem));
  } else {
    body.handoffs.forEach((handoff, index) => {
      const wait = list.children[index] && list.children[index].querySelector(".wait");
      if (wait) wait.textContent = `等待 ${waited(handoff.waiting_seconds)}`;
    });
  }
  $("queue-count").textContent = String(body.handoffs.length);
  $("queue-empty").hidden = body.handoffs.length > 0;
  state.online = body.agents_online;
  showConnection();
  const waiting = body.handoffs.filter((h) => h.status === "queued").length;
  document.title = waiting ? `（${waiting}）${BASE_TITLE}` : BASE_TITLE;
}

function queueItem(handoff) {
  const item = el("li", "queue-item");
  item.tabIndex = 0;
  item.dataset.id = handoff.id;
  if (handoff.id === state.selected) item.classList.add("selected");
  const top = el("div", "row");
  const left = el("span", "labels");
  left.append(el("span", `badge ${handoff.priority}`, PRIORITY[handoff.priority] || "普通"));
  if (handoff.status === "claimed") {
    left.append(el("span", "badge claimed", `${handoff.agent || ""} 处理中`));
  } else {
    left.append(el("span", "badge", `第 ${handoff.position} 位`));
  }
  left.append(el("span", "reason", handoff.reason_label));
  top.append(left, el("span", "wait", `等待 ${waited(handoff.waiting_seconds)}`));
  item.append(top, el("div", "summary-line", handoff.summary));
  item.addEventListener("click", () => select(handoff.id));
  item.addEventListener("keydown", (event) => { if (event.key === "Enter") select(handoff.id); });
  return item;
}

// --- one conversation -----------------------------------------------------------------------

async function select(id) {
  state.selected = id;
  state.lastId = 0;
  document.querySelectorAll(".queue-item").forEach((node) =>
    node.classList.toggle("selected", node.dataset.id === id));
  const handoff = await api(`/handoffs/${encodeURIComponent(id)}`);
  $("transcript").replaceChildren();
  render(handoff);
  appendMessages(handoff.transcript);
  showStatus("");
}

function render(handoff) {
  state.handoff = handoff;
  $("detail-empty").hidden = true;
  $("detail").hidden = false;
  $("d-title").textContent = `会话 ${handoff.conversation_id}`;
  const who = handoff.agent ? ` · 客服：${handoff.agent}` : "";
  const channel = CHANNEL[handoff.channel] || (handoff.channel ? "其他渠道" : "未知");
  const unverified = handoff.customer_id && !handoff.customer_id_verified ? "（未验证，客户端提供）" : "";
  $("d-sub").textContent = `${STATUS[handoff.status] || "未知"}${who} · 渠道：${channel} · 客户：${handoff.customer_id || "未知"}${unverified} · 提交于 ${timeOf(handoff.created_at)}`;
  $("d-reason").textContent = handoff.reason_label;
  $("d-priority").textContent = PRIORITY[handoff.priority] || "普通";
  $("d-emotion").textContent = emotionText(handoff.emotion);
  $("d-topic").textContent = topicText(handoff);
  $("d-slots").textContent = detailsText(handoff.details);
  $("d-summary").textContent = handoff.summary || "（无）";
  const mine = handoff.status === "claimed" && state.me && handoff.agent_username === state.me.username;
  $("claim").disabled = handoff.status !== "queued";
  $("handback").disabled = !(handoff.status === "queued" || mine);
  $("resolve").disabled = !mine;
  $("reply").disabled = !mine;
  $("send").disabled = !mine;
}

function emotionText(emotion) {
  if (!emotion || !emotion.latest) return "未知";
  const label = (e) => e.label === "calm" ? "平静" : `${EMOTION[e.label] || "未知"}（${strength(e.score)}）`;
  const peak = emotion.peak && emotion.peak.label && emotion.peak.label !== "calm"
    ? `，最强烈时${label(emotion.peak)}` : "";
  return label(emotion.latest) + peak;
}

function topicText(handoff) {
  const topic = handoff.topic_label || "未知";
  return handoff.intent_label && handoff.intent_label !== topic ? `${topic} · ${handoff.intent_label}` : topic;
}

function detailsText(details) {
  return details && details.length ? details.map((d) => `${d.label}：${d.value}`).join("；") : "（无）";
}

function appendMessages(messages) {
  const list = $("transcript");
  const atBottom = list.scrollTop + list.clientHeight >= list.scrollHeight - 20;
  for (const message of messages) {
    if (message.id <= state.lastId) continue;
    state.lastId = message.id;
    const notice = message.source === "notice";
    const item = el("li", `msg ${notice ? "notice" : message.sender}${message.source === "live" ? " live" : ""}`);
    item.dataset.id = String(message.id);
    const label = notice ? "发给客户的系统消息" : message.sender === "agent" && message.agent ? `客服 ${message.agent}` : SENDER[message.sender] || "未知";
    item.append(el("div", "who", `${label} · ${timeOf(message.timestamp)}${message.source === "live" ? " · 新消息" : ""}`));
    item.append(el("div", "text", message.text));
    if (message.sender === "customer" && (message.intent_label || message.emotion)) {
      const emotion = message.emotion && message.emotion.label ? `情绪：${EMOTION[message.emotion.label] || "未知"}` : "";
      const tags = [message.intent_label || "", emotion].filter(Boolean).join(" · ");
      if (tags) item.append(el("div", "tags", tags));
    }
    list.append(item);
  }
  if (atBottom || messages.length) list.scrollTop = list.scrollHeight;
}

async function pollMessages() {
  if (!state.selected) return;
  const id = state.selected;
  const body = await api(`/handoffs/${encodeURIComponent(id)}/messages?after=${state.lastId}`);
  if (id !== state.selected) return;
  appendMessages(body.messages);
  if (state.handoff && (body.status !== state.handoff.status || body.agent !== state.handoff.agent)) {
    render(await api(`/handoffs/${encodeURIComponent(id)}`));
  }
}

async function act(action, done) {
  if (!state.selected) return;
  showStatus("处理中……");
  try {
    const handoff = await api(`/handoffs/${encodeURIComponent(state.selected)}/${action}`, { method: "POST" });
    render(handoff);
    showStatus(done);
    await pollMessages();
    await refreshQueue();
  } catch (error) {
    showStatus(error.message, true);
  }
}

async function sendReply(event) {
  if (event) event.preventDefault();
  const box = $("reply");
  const text = box.value.trim();
  if (!text || !state.selected) return;
  $("send").disabled = true;
  try {
    await api(`/handoffs/${encodeURIComponent(state.selected)}/messages`, { method: "POST", body: JSON.stringify({ text }) });
    box.value = "";
    showStatus("");
    await pollMessages();
  } catch (error) {
    showStatus(`发送失败：${error.message}`, true);
  } finally {
    $("send").disabled = false;
    box.focus();
  }
}

function onReplyKey(event) {
  if (event.key !== "Enter" || event.shiftKey) return;
  // Enter that confirms a pinyin candidate must not send the message.
  if (event.isComposing || state.composing || event.keyCode === 229) return;
  event.preventDefault();
  sendReply();
}

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", login);
  $("logout").addEventListener("click", () => logout());
  $("claim").addEventListener("click", () => act("claim", "已接入，客户会看到您加入了对话。"));
  $("handback").addEventListener("click", () => act("handback", "已转回机器人。"));
  $("resolve").addEventListener("click", () => act("resolve", "已结束本次服务。"));
  $("reply-form").addEventListener("submit", sendReply);
  const box = $("reply");
  box.addEventListener("compositionstart", () => { state.composing = true; });
  box.addEventListener("compositionend", () => { state.composing = false; });
  box.addEventListener("keydown", onReplyKey);
  if (tabs) {
    tabs.addEventListener("message", (event) => {
      if (event.data === "logout") showLogin();
      if (event.data === "login" && !state.me) start().catch(() => {});
    });
  }
  // Logged in already (this tab or another one)? The cookie says.
  start().catch(() => showLogin());
});
