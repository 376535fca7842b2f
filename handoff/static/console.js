// Agent console of the handoff service. Plain DOM, no dependencies. Every text that comes
// from a customer (or anyone) is written with textContent, never parsed as HTML.
"use strict";

const API = "/api/v1";
const TOKEN_KEY = "handoff-console-token";
const QUEUE_POLL_MS = 2000;
const MESSAGES_POLL_MS = 1500;
const PRIORITY = { urgent: "紧急", high: "高", normal: "普通" };
const STATUS = { queued: "排队中", claimed: "处理中", resolved: "已解决", handed_back: "已转回机器人", cancelled: "客户已取消" };
const EMOTION = { calm: "平静", upset: "不满", angry: "生气" };
const SENDER = { customer: "客户", bot: "机器人", agent: "客服" };
const TOPIC = { greeting: "问候", order_status: "订单与物流", order_change: "修改/取消订单",
                delivery_issue: "配送异常", payment: "支付与扣款", refund: "退款", after_sales: "退换货与维修",
                invoice: "发票", account: "账号", promotion: "优惠与会员", product: "商品咨询",
                complaint: "投诉", human: "转人工", out_of_scope: "无关问题" };

const state = { token: sessionStorage.getItem(TOKEN_KEY), me: null, selected: null,
                handoff: null, lastId: 0, composing: false, timers: [] };

const $ = (id) => document.getElementById(id);

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

async function api(path, options = {}) {
  const headers = { "Content-Type": "application/json" };
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  const response = await fetch(API + path, { ...options, headers });
  let body = null;
  try { body = await response.json(); } catch (error) { body = null; }
  if (response.status === 401 && path !== "/auth/login") {
    logout(false);
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

function minutesSince(seconds) {
  if (seconds < 60) return `${seconds} 秒`;
  return `${Math.floor(seconds / 60)} 分钟`;
}

function timeOf(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? "" : date.toLocaleTimeString("zh-CN", { hour12: false });
}

// --- login ----------------------------------------------------------------------------------

async function login(event) {
  event.preventDefault();
  $("login-error").textContent = "";
  try {
    const body = await api("/auth/login", { method: "POST", body: JSON.stringify({
      username: $("username").value.trim(), password: $("password").value }) });
    state.token = body.token;
    sessionStorage.setItem(TOKEN_KEY, body.token);
    $("password").value = "";
    await start();
  } catch (error) {
    $("login-error").textContent = error.message;
  }
}

function logout(callServer = true) {
  if (callServer && state.token) api("/auth/logout", { method: "POST" }).catch(() => {});
  state.token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  state.timers.forEach(clearInterval);
  state.timers = [];
  $("desk-view").hidden = true;
  $("me").hidden = true;
  $("login-view").hidden = false;
}

async function start() {
  const body = await api("/me");
  state.me = body.agent;
  $("me-name").textContent = `${state.me.display_name}（${state.me.username}）`;
  $("me").hidden = false;
  $("login-view").hidden = true;
  $("desk-view").hidden = false;
  await refreshQueue();
  state.timers.push(setInterval(() => refreshQueue().catch(() => {
    $("online").textContent = "连接中断，正在重试……";
  }), QUEUE_POLL_MS));
  state.timers.push(setInterval(() => pollMessages().catch(() => {}), MESSAGES_POLL_MS));
}

// --- queue ----------------------------------------------------------------------------------

async function refreshQueue() {
  const body = await api("/handoffs?status=open");
  const list = $("queue");
  list.replaceChildren(...body.handoffs.map(queueItem));
  $("queue-count").textContent = String(body.handoffs.length);
  $("queue-empty").hidden = body.handoffs.length > 0;
  $("online").textContent = `在线客服 ${body.agents_online} 人`;
}

function queueItem(handoff) {
  const item = el("li", "queue-item");
  item.tabIndex = 0;
  item.dataset.id = handoff.id;
  if (handoff.id === state.selected) item.classList.add("selected");
  const top = el("div", "row");
  const left = el("span");
  left.append(el("span", `badge ${handoff.priority}`, PRIORITY[handoff.priority] || handoff.priority));
  if (handoff.status === "claimed") {
    left.append(el("span", "badge claimed", `${handoff.agent || ""} 处理中`));
  } else {
    left.append(el("span", "badge", `第 ${handoff.position} 位`));
  }
  left.append(el("span", "", handoff.reason_label));
  top.append(left, el("span", "muted small", `等待 ${minutesSince(handoff.waiting_seconds)}`));
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
  $("d-sub").textContent = `${STATUS[handoff.status] || handoff.status}${who} · 渠道：${handoff.channel || "未知"} · 客户：${handoff.customer_id || "未知"}${handoff.customer_id && !handoff.customer_id_verified ? "（未验证，客户端提供）" : ""} · 提交于 ${timeOf(handoff.created_at)}`;
  $("d-reason").textContent = handoff.reason_label;
  $("d-priority").textContent = PRIORITY[handoff.priority] || handoff.priority;
  $("d-emotion").textContent = emotionText(handoff.emotion);
  $("d-topic").textContent = topicText(handoff);
  $("d-slots").textContent = slotsText(handoff.slots);
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
  const latest = `${EMOTION[emotion.latest.label] || emotion.latest.label}（${Number(emotion.latest.score || 0).toFixed(2)}）`;
  const peak = emotion.peak && emotion.peak.label && emotion.peak.label !== "calm"
    ? `，最强烈：${EMOTION[emotion.peak.label] || emotion.peak.label}（${Number(emotion.peak.score || 0).toFixed(2)}）` : "";
  return latest + peak;
}

function topicText(handoff) {
  const intent = handoff.intent || {};
  const confidence = intent.confidence ? `（${Math.round(intent.confidence * 100)}%）` : "";
  return `${TOPIC[handoff.topic] || handoff.topic || "未知"} / ${intent.name || "未知"}${confidence}`;
}

function slotsText(slots) {
  const entries = Object.entries(slots || {});
  return entries.length ? entries.map(([k, v]) => `${k}：${typeof v === "string" ? v : JSON.stringify(v)}`).join("；") : "（无）";
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
    const label = notice ? "系统通知" : message.sender === "agent" && message.agent ? `客服 ${message.agent}` : SENDER[message.sender] || message.sender;
    item.append(el("div", "who", `${label} · ${timeOf(message.timestamp)}${message.source === "live" ? " · 新消息" : ""}`));
    item.append(el("div", "text", message.text));
    if (message.sender === "customer" && (message.intent || message.emotion)) {
      const intent = message.intent && message.intent.name ? `意图 ${message.intent.name}` : "";
      const emotion = message.emotion && message.emotion.label ? `情绪 ${EMOTION[message.emotion.label] || message.emotion.label}` : "";
      item.append(el("div", "tags", [intent, emotion].filter(Boolean).join(" · ")));
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
  $("logout").addEventListener("click", () => logout(true));
  $("claim").addEventListener("click", () => act("claim", "已接入，客户会看到您加入了对话。"));
  $("handback").addEventListener("click", () => act("handback", "已转回机器人。"));
  $("resolve").addEventListener("click", () => act("resolve", "已结束本次服务。"));
  $("reply-form").addEventListener("submit", sendReply);
  const box = $("reply");
  box.addEventListener("compositionstart", () => { state.composing = true; });
  box.addEventListener("compositionend", () => { state.composing = false; });
  box.addEventListener("keydown", onReplyKey);
  if (state.token) {
    start().catch(() => logout(false));
  } else {
    $("login-view").hidden = false;
  }
});
