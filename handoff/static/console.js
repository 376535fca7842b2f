// Agent console of the handoff service. Plain DOM, no dependencies; common.js (loaded first)
// has the helpers shared with the reports page. Every text that comes from a customer (or
// anyone) is written with textContent, never parsed as HTML.
//
// Login: the service sets an HttpOnly, SameSite=Strict session cookie (scripts never see the
// token), so every tab of the browser shares the login; logging out ends it in every tab
// (the server closes the session's live streams, and a BroadcastChannel tells the other
// tabs at once). Changes send the X-Handoff-Console header, which a cross-site form cannot.
//
// Live updates: server-sent events from /api/v1/stream (the browser reconnects by itself;
// after each reconnect the console catches up). While the stream is down it polls instead.
"use strict";

const POLL_MS = 2000;          // only while the live stream is down
const REFRESH_MS = 30000;      // waiting times and agents online, also when live
const PRIORITY = { urgent: "紧急", high: "高", normal: "普通" };
const STATUS = { queued: "排队中", claimed: "处理中", resolved: "已解决", handed_back: "已转回机器人",
                 cancelled: "客户已取消", abandoned: "已过期（客户长时间未回复）" };
const EMOTION = { calm: "平静", upset: "不满", angry: "生气" };
const SENDER = { customer: "客户", bot: "机器人", agent: "客服" };
const BASE_TITLE = "人工客服工作台";

const state = { me: null, selected: null, handoff: null, lastId: 0, composing: false,
                timers: [], stream: null, live: false, online: 0, queueTimer: null,
                retryTimer: null, canned: [], desk: null, context: null, queuedTotal: 0,
                unseen: 0, sounds: 0, audio: null };
const tabs = "BroadcastChannel" in window ? new BroadcastChannel("handoff-console") : null;

// An API call (common.js); an expired session shows the login form.
async function api(path, options = {}) {
  try {
    return await request(path, options);
  } catch (error) {
    if (error.status !== 401) throw error;
    showLogin();
    throw new Error("登录已过期，请重新登录");
  }
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

// "12月6日 18:27": a tracking event's day matters (a parcel stuck for days).
function dayTimeOf(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getMonth() + 1}月${date.getDate()}日 ${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

function strength(score) {
  const value = Number(score || 0);
  return value >= 0.8 ? "强烈" : value >= 0.5 ? "明显" : "轻微";
}

// --- login ----------------------------------------------------------------------------------

async function loggedIn() {
  if (tabs) tabs.postMessage("login");
  await start();
}

async function logout() {
  await logOut();
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
  await loadDesk();
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
  stream.addEventListener("queue", (event) => { alertNew(); changed(event); });
  stream.addEventListener("status", changed);
  stream.addEventListener("logout", () => showLogin());
}

function scheduleQueueRefresh() {
  clearTimeout(state.queueTimer);
  state.queueTimer = setTimeout(() => refreshQueue().catch(() => {}), 100);
}

// --- queue ----------------------------------------------------------------------------------

async function refreshQueue() {
  const body = await api(`/handoffs?${filterQuery()}`);
  const list = $("queue");
  // Rebuilt only when the queue itself changed; otherwise the waiting times are updated in
  // place (an item under the agent's mouse is not replaced at every push).
  const shape = JSON.stringify(body.handoffs.map((h) => [h.id, h.status, h.position, h.priority, h.agent, h.reason_label, h.summary, h.tags, h.group]));
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
  state.queuedTotal = body.queued_total;
  showTitle();
}

function showTitle() {
  const waiting = state.queuedTotal ? `（${state.queuedTotal}）` : "";
  const fresh = state.unseen ? `【${state.unseen} 个新会话】` : "";
  document.title = `${fresh}${waiting}${BASE_TITLE}`;
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
  if (handoff.group) left.append(el("span", "badge group", handoff.group.label));
  left.append(el("span", "reason", handoff.reason_label));
  top.append(left, el("span", "wait", `等待 ${waited(handoff.waiting_seconds)}`));
  item.append(top, el("div", "summary-line", handoff.summary));
  if (handoff.tags && handoff.tags.length) {
    const tags = el("div", "tag-line");
    handoff.tags.forEach((tag) => tags.append(el("span", "tag", tag)));
    item.append(tags);
  }
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
  await loadContext(id);
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
  const mine = handoff.status === "claimed" && state.me && handoff.agent_username === state.me.username;
  $("claim").disabled = handoff.status !== "queued";
  $("handback").disabled = !(handoff.status === "queued" || mine);
  $("resolve").disabled = !mine;
  const noting = $("note-mode").checked;
  $("reply").disabled = !(mine || noting);
  $("send").disabled = !(mine || noting);
  $("canned").disabled = !mine;
  $("transfer").disabled = !(handoff.status === "queued" || mine);
  if (handoff.tags) renderTags(handoff.tags);
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
    const note = message.source === "note";
    const kind = notice ? "notice" : note ? "note" : message.sender;
    const item = el("li", `msg ${kind}${message.source === "live" ? " live" : ""}`);
    item.dataset.id = String(message.id);
    const label = notice ? "发给客户的系统消息"
      : note ? `内部备注 · ${message.agent || "客服"}（客户看不到）`
      : message.sender === "agent" && message.agent ? `客服 ${message.agent}` : SENDER[message.sender] || "未知";
    item.append(el("div", "who", `${label} · ${timeOf(message.timestamp)}${message.source === "live" ? " · 新消息" : ""}`));
    item.append(el("div", "text", message.text));
    if (message.image_id && /^[0-9a-f]{32}$/.test(message.image_id) && state.selected) {
      // A photo the customer sent (served by this service after it checked the handoff).
      const src = `${API}/handoffs/${encodeURIComponent(state.selected)}/images/${message.image_id}`;
      const link = el("a", "photo-link");
      link.href = src;
      link.target = "_blank";
      link.rel = "noopener noreferrer";
      const img = el("img", "photo");
      img.src = src;
      img.alt = "客户发来的图片";
      img.addEventListener("load", () => { list.scrollTop = list.scrollHeight; });
      link.append(img);
      item.append(link);
    }
    if (message.sender === "customer" && !message.image_id && (message.intent_label || message.emotion)) {
      const emotion = message.emotion && message.emotion.label ? `情绪：${EMOTION[message.emotion.label] || "未知"}` : "";
      const tags = [message.intent_label || "", emotion].filter(Boolean).join(" · ");
      if (tags) item.append(el("div", "tags", tags));
    }
    list.append(item);
    if (message.sender === "customer" && message.source !== "note") state.unread = true;
  }
  if (atBottom || messages.length) list.scrollTop = list.scrollHeight;
  if (state.unread && holding() && !document.hidden) {
    state.unread = false;
    markRead();
  }
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
    if (action === "claim") markRead();
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
    const noting = $("note-mode").checked;
    if (!noting) typingStopped();
    await api(`/handoffs/${encodeURIComponent(state.selected)}/${noting ? "notes" : "messages"}`,
              { method: "POST", body: JSON.stringify({ text }) });
    box.value = "";
    showStatus("");
    await pollMessages();
  } catch (error) {
    showStatus(`发送失败：${error.message}`, true);
  } finally {
    if (state.handoff) render(state.handoff);
    box.focus();
  }
}

// --- workbench: filters, alerts, context, canned replies, notes, tags, transfer -------------

function option(value, label) {
  const node = el("option", "", label);
  node.value = value;
  return node;
}

async function loadDesk() {
  const [desk, canned] = await Promise.all([api("/agents"), api("/canned-replies")]);
  state.desk = desk;
  state.canned = canned.canned_replies;
  const keep = (select, first, options) => {
    const value = select.value;
    select.replaceChildren(first, ...options);
    select.value = value;
  };
  keep($("f-reason"), option("", "全部原因"), desk.reasons.map((r) => option(r.name, r.label)));
  keep($("f-group"), option("", "全部分组"), desk.groups.map((g) => option(g.name, `${g.label}组`)));
  keep($("f-tag"), option("", "全部标签"), desk.tags.map((t) => option(t, t)));
  $("canned").replaceChildren(option("", "快捷回复……"),
    ...state.canned.map((r) => option(String(r.id), r.title)));
  const others = desk.agents.filter((a) => !state.me || a.username !== state.me.username);
  $("transfer-to").replaceChildren(
    ...desk.groups.map((g) => option(`group:${g.name}`, `${g.label}组（回到队列）`)),
    ...others.map((a) => option(`agent:${a.username}`, `客服 ${a.display_name}`)));
}

function filterQuery() {
  const params = new URLSearchParams();
  params.set("status", $("f-status").value || "open");
  for (const [id, name] of [["f-priority", "priority"], ["f-reason", "reason"], ["f-channel", "channel"],
                            ["f-group", "group"], ["f-tag", "tag"]]) {
    if ($(id).value) params.set(name, $(id).value);
  }
  const text = $("f-q").value.trim();
  if (text) params.set("q", text);
  const day = $("f-date").value;  // the agent's own day, from local midnight to midnight
  if (day) {
    const start = new Date(`${day}T00:00:00`);
    if (!Number.isNaN(start.getTime())) {
      params.set("since", start.toISOString());
      params.set("until", new Date(start.getTime() + 86400000).toISOString());
    }
  }
  return params.toString();
}

function filtersChanged() {
  state.queueShape = null;
  const active = ["f-q", "f-priority", "f-reason", "f-channel", "f-group", "f-tag", "f-date"]
    .some((id) => $(id).value) || $("f-status").value !== "open";
  $("queue-note").textContent = active ? "已筛选 · 按优先级、等待时间排序" : "按优先级、等待时间排序";
  scheduleQueueRefresh();
}

// A new conversation in the queue: a short chime and the count in the tab title until the
// agent comes back to the page.
function alertNew() {
  state.unseen += 1;
  state.sounds += 1;
  showTitle();
  try {
    const Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return;
    state.audio = state.audio || new Context();
    const now = state.audio.currentTime;
    [880, 1320].forEach((pitch, index) => {
      const tone = state.audio.createOscillator();
      const gain = state.audio.createGain();
      tone.frequency.value = pitch;
      gain.gain.setValueAtTime(0.0001, now + index * 0.18);
      gain.gain.exponentialRampToValueAtTime(0.2, now + index * 0.18 + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, now + index * 0.18 + 0.16);
      tone.connect(gain).connect(state.audio.destination);
      tone.start(now + index * 0.18);
      tone.stop(now + index * 0.18 + 0.17);
    });
  } catch (error) { /* no sound: the title still tells */ }
}

function seen() {
  if (state.unread && holding() && !document.hidden) {
    state.unread = false;
    markRead();
  }
  if (!state.unseen || document.hidden) return;
  state.unseen = 0;
  showTitle();
}

async function loadContext(id) {
  $("context").hidden = false;
  $("c-orders").replaceChildren();
  $("c-orders-note").textContent = "正在查询订单……";
  try {
    const context = await api(`/handoffs/${encodeURIComponent(id)}/context`);
    if (id !== state.selected) return;
    state.context = context;
    renderContext(context);
  } catch (error) {
    $("c-orders-note").textContent = `客户信息加载失败：${error.message}`;
  }
}

function renderContext(context) {
  const identity = $("c-identity");
  identity.textContent = `客户 ${context.customer.id || "未知"} · ${context.customer.label}`;
  identity.classList.toggle("verified", context.customer.verified);
  $("d-summary").textContent = context.summary || "（无）";
  const trend = $("c-emotion");
  trend.replaceChildren(...context.emotion.points.map((point) => {
    const dot = el("span", `dot ${point.label}`);
    dot.style.height = `${8 + Math.round(point.level * 14)}px`;
    dot.title = `${timeOf(point.timestamp * 1000)} ${point.label_text}`;
    return dot;
  }));
  $("c-emotion-text").textContent = context.emotion.direction;
  $("c-orders-note").textContent = context.orders_error || context.orders_hint
    || (context.customer.verified ? "" : "身份未验证：透露订单详情前，请先核对收货人姓名或手机号后四位。");
  $("c-orders").replaceChildren(...context.orders.map(orderCard));
  renderTags(context.tags);
}

function orderCard(order) {
  const card = el("li", `order-card${order.named_by_customer ? " named" : ""}`);
  card.dataset.orderId = order.order_id;
  const head = el("div", "order-head");
  head.append(el("span", "order-id", `订单 ${order.order_id}`), el("span", `state ${order.state}`, order.state_label));
  card.append(head);
  if (order.named_by_customer) card.append(el("div", "muted small", "客户在对话中提到的订单"));
  const items = el("ul", "items");
  order.items.forEach((item) => items.append(el("li", "", `${item.name} × ${item.qty}`)));
  card.append(items);
  card.append(el("div", "amount", `实付 ¥${order.amount} · ${order.payment_label}`));
  if (order.tracking_number) {
    card.append(el("div", "tracking", `${order.carrier || "快递"} ${order.tracking_number}`));
  }
  if (order.tracking_latest) {
    const latest = order.tracking_latest;
    card.append(el("div", "muted small", `${dayTimeOf(latest.time)} ${latest.location || ""} ${latest.description || ""}`));
  }
  return card;
}

function renderTags(tags) {
  state.tags = tags || [];
  $("tag-list").replaceChildren(...state.tags.map((tag) => {
    const chip = el("span", "tag", tag);
    const remove = el("button", "tag-remove", "×");
    remove.type = "button";
    remove.setAttribute("aria-label", `删除标签 ${tag}`);
    remove.addEventListener("click", () => saveTags(state.tags.filter((t) => t !== tag)));
    chip.append(remove);
    return chip;
  }));
}

async function saveTags(tags) {
  if (!state.selected) return;
  try {
    const body = await api(`/handoffs/${encodeURIComponent(state.selected)}/tags`,
                           { method: "PUT", body: JSON.stringify({ tags }) });
    renderTags(body.tags);
    loadDesk().catch(() => {});
    scheduleQueueRefresh();
  } catch (error) {
    showStatus(`标签没有保存：${error.message}`, true);
  }
}

// {客户称呼}, {订单号}, {客服}: filled from the conversation's context; a placeholder that is
// not known stays, and the agent is told to fill it in.
function fillPlaceholders(text) {
  const values = (state.context && state.context.placeholders) || {};
  return text.replace(/\{([^{}]{1,16})\}/g, (whole, name) =>
    Object.prototype.hasOwnProperty.call(values, name) ? values[name] : whole);
}

function useCanned() {
  const reply = state.canned.find((r) => String(r.id) === $("canned").value);
  $("canned").value = "";
  if (!reply) return;
  const box = $("reply");
  const text = fillPlaceholders(reply.text);
  box.value = box.value ? `${box.value}${text}` : text;
  const missing = text.match(/\{[^{}]{1,16}\}/g);
  showStatus(missing ? `请先把 ${missing.join("、")} 改成实际内容再发送。` : "");
  box.focus();
}

async function transfer() {
  const [kind, name] = ($("transfer-to").value || "").split(":");
  if (!state.selected || !name) return;
  showStatus("转接中……");
  try {
    const handoff = await api(`/handoffs/${encodeURIComponent(state.selected)}/transfer`,
                              { method: "POST", body: JSON.stringify({ [kind]: name }) });
    render(handoff);
    showStatus(kind === "group" ? `已转到${handoff.group ? handoff.group.label : ""}组的队列。`
      : `已转接给客服 ${handoff.agent}。`);
    await pollMessages();
    await refreshQueue();
  } catch (error) {
    showStatus(`转接失败：${error.message}`, true);
  }
}

// The customer's widget shows 「客服正在输入…」 while the agent types, and 「已读」 under the
// messages the agent has seen (website chat only; best effort).
const TYPING_EVERY_MS = 3000;
const TYPING_IDLE_MS = 5000;

function holding() {
  const h = state.handoff;
  return !!(h && h.status === "claimed" && state.me && h.agent_username === state.me.username);
}

function activity(body) {
  if (!holding() || state.handoff.channel !== "socketio") return;
  api(`/handoffs/${encodeURIComponent(state.handoff.id)}/activity`,
      { method: "POST", body: JSON.stringify(body) }).catch(() => {});
}

function typingNow() {
  if ($("note-mode").checked || !$("reply").value.trim()) return;
  const now = Date.now();
  if (!state.typingSent || now - state.typingSent > TYPING_EVERY_MS) {
    state.typingSent = now;
    activity({ typing: true });
  }
  clearTimeout(state.typingIdle);
  state.typingIdle = setTimeout(typingStopped, TYPING_IDLE_MS);
}

function typingStopped() {
  clearTimeout(state.typingIdle);
  if (!state.typingSent) return;
  state.typingSent = 0;
  activity({ typing: false });
}

function markRead() {
  clearTimeout(state.readTimer);
  state.readTimer = setTimeout(() => activity({ read: true }), 300);
}

function wireWorkbench() {
  $("reply").addEventListener("input", typingNow);
  $("reply").addEventListener("blur", typingStopped);
  $("filters").addEventListener("submit", (event) => event.preventDefault());
  let typing = null;
  $("f-q").addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(filtersChanged, 250); });
  ["f-status", "f-priority", "f-reason", "f-channel", "f-group", "f-tag", "f-date"]
    .forEach((id) => $(id).addEventListener("change", filtersChanged));
  $("canned").addEventListener("change", useCanned);
  $("note-mode").addEventListener("change", () => {
    $("reply-form").classList.toggle("noting", $("note-mode").checked);
    $("reply").placeholder = $("note-mode").checked
      ? "内部备注只有客服能看到，不会发给客户"
      : "输入回复，Enter 发送，Shift+Enter 换行（接入会话后可回复）";
    if (state.handoff) render(state.handoff);
  });
  $("transfer").addEventListener("click", transfer);
  $("tag-input").addEventListener("keydown", (event) => {
    if (event.key !== "Enter" || event.isComposing || event.keyCode === 229) return;
    event.preventDefault();
    const tag = event.target.value.trim();
    if (!tag) return;
    event.target.value = "";
    if (!state.tags.includes(tag)) saveTags([...state.tags, tag]);
  });
  ["click", "keydown", "focus"].forEach((kind) => window.addEventListener(kind, seen));
  document.addEventListener("visibilitychange", seen);
}

function onReplyKey(event) {
  if (event.key !== "Enter" || event.shiftKey) return;
  // Enter that confirms a pinyin candidate must not send the message.
  if (event.isComposing || state.composing || event.keyCode === 229) return;
  event.preventDefault();
  sendReply();
}

document.addEventListener("DOMContentLoaded", () => {
  wireLogin(loggedIn);
  $("logout").addEventListener("click", () => logout());
  $("claim").addEventListener("click", () => act("claim", "已接入，客户会看到您加入了对话。"));
  $("handback").addEventListener("click", () => act("handback", "已转回机器人。"));
  $("resolve").addEventListener("click", () => act("resolve", "已结束本次服务。"));
  $("reply-form").addEventListener("submit", sendReply);
  wireWorkbench();
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
