// Reports page for supervisors: the team's live state, the service figures of a date range
// (ECharts, vendored in /console/static/vendor/) and the labelling queue of messages the bot
// did not understand. Texts from customers are written with textContent, never as HTML.
// The login is the console's HttpOnly session cookie; common.js (loaded first) has the helpers
// shared with the console.
"use strict";

const TEAM_REFRESH_MS = 15000;
const COLORS = ["#2563eb", "#16a34a", "#f59f00", "#c92a2a", "#7c3aed", "#0891b2", "#db2777", "#65a30d"];
const state = { charts: {}, report: null, stream: null, teamTimer: null, topics: [] };
const api = request;  // common.js; a 401 shows the login form where it is caught

function show(view) {
  for (const id of ["login-view", "denied-view", "report-view"]) $(id).hidden = id !== view;
  $("me").hidden = view === "login-view";
}

function percent(value) {
  return value === null || value === undefined ? "–" : `${(value * 100).toFixed(1)}%`;
}

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  if (seconds < 60) return `${Math.round(seconds)} 秒`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} 分钟`;
  return `${Math.floor(minutes / 60)} 小时 ${minutes % 60} 分`;
}

function day(date) {
  const local = new Date(date.getTime() + 8 * 3600 * 1000);  // Beijing days
  return local.toISOString().slice(0, 10);
}

function setRange(days) {
  const today = new Date();
  $("to").value = day(today);
  $("from").value = day(new Date(today.getTime() - (days - 1) * 86400 * 1000));
}

function rangeQuery() {
  return `from=${encodeURIComponent($("from").value)}&to=${encodeURIComponent($("to").value)}`;
}

// --- start ------------------------------------------------------------------------------

async function start() {
  let me;
  try {
    me = (await api("/me")).agent;
  } catch (error) {
    if (error.status === 401) { show("login-view"); return; }
    throw error;
  }
  $("me-name").textContent = `${me.display_name}（${me.role === "supervisor" ? "主管" : "客服"}）`;
  if (me.role !== "supervisor") { show("denied-view"); $("me").hidden = false; return; }
  show("report-view");
  const params = new URLSearchParams(location.search);
  if (params.get("from") && params.get("to")) {
    $("from").value = params.get("from");
    $("to").value = params.get("to");
  } else {
    setRange(30);
  }
  await Promise.all([loadReport(), loadTeam(), loadQueue()]);
  followTeam();
}

wireLogin(start);

$("logout").addEventListener("click", async () => {
  await logOut();
  if (state.stream) state.stream.close();
  show("login-view");
});

$("filter").addEventListener("submit", (event) => { event.preventDefault(); loadReport(); });
for (const button of document.querySelectorAll("#filter [data-days]")) {
  button.addEventListener("click", () => { setRange(Number(button.dataset.days)); loadReport(); });
}
$("csv-section").addEventListener("change", updateExports);

function updateExports() {
  $("export-json").href = `${API}/reports/export.json?${rangeQuery()}`;
  $("export-csv").href = `${API}/reports/export.csv?${rangeQuery()}&section=${$("csv-section").value}`;
}

// --- the report ----------------------------------------------------------------------------

async function loadReport() {
  $("filter-error").textContent = "";
  updateExports();
  document.body.classList.add("loading");
  try {
    state.report = await api(`/reports?${rangeQuery()}`);
    history.replaceState(null, "", `?${rangeQuery()}`);
    render(state.report);
  } catch (error) {
    if (error.status === 401) { show("login-view"); return; }
    $("filter-error").textContent = error.message;
  } finally {
    document.body.classList.remove("loading");
  }
}

function render(report) {
  renderKpis(report);
  renderCharts(report);
  renderWaits(report.handoffs);
  renderGroups(report.fallback.groups);
}

function renderKpis(report) {
  const t = report.totals;
  const h = report.handoffs;
  const items = [
    ["会话数", t.conversations.toLocaleString("zh-CN")],
    ["机器人自助解决率", percent(t.containment_rate)],
    ["未听懂率", percent(t.fallback_rate)],
    ["转人工", `${h.total} 次`],
    ["等待接入（中位数 / P90）", `${duration(h.wait_seconds.p50)} / ${duration(h.wait_seconds.p90)}`],
    ["处理时长（中位数）", duration(h.handling_seconds.p50)],
    ["转回机器人 / 无人接待过期", `${h.handed_back} / ${h.abandoned}`],
    ["情绪转差的会话", percent(t.upset_rate)],
    ["平均满意度", t.average_rating === null ? "暂无评价" : `${t.average_rating} 分（${t.ratings} 条）`],
  ];
  const box = $("kpis");
  box.replaceChildren();
  for (const [label, value] of items) {
    const card = el("div", "kpi");
    card.append(el("span", "kpi-label", label), el("strong", null, value));
    box.append(card);
  }
}

function chart(id) {
  if (!state.charts[id]) state.charts[id] = echarts.init($(id), null, { renderer: "canvas" });
  return state.charts[id];
}

const BASE = { color: COLORS, textStyle: { fontFamily: "PingFang SC, Microsoft YaHei, Noto Sans CJK SC, sans-serif" },
               grid: { left: 48, right: 16, top: 36, bottom: 40, containLabel: true },
               // richText: the tooltip is drawn, not HTML with inline styles (which the page's
               // Content-Security-Policy refuses).
               tooltip: { trigger: "axis", confine: true, renderMode: "richText" } };

function empty(names) {
  // A chart without data says so instead of showing bare axes.
  return names.length ? undefined : { text: "所选日期内暂无数据", left: "center", top: "middle",
                                      textStyle: { color: "#9ca3af", fontSize: 14, fontWeight: "normal" } };
}

function bars(id, names, series, options = {}) {
  chart(id).setOption({
    ...BASE, title: empty(names), legend: series.length > 1 ? { top: 0 } : undefined,
    grid: { ...BASE.grid, right: options.horizontal ? 56 : 16 },
    xAxis: options.horizontal ? { type: "value", minInterval: 1, ...(options.valueAxis || {}) }
      : { type: "category", data: names, axisLabel: { interval: options.interval ?? "auto", rotate: options.rotate || 0 } },
    yAxis: options.horizontal ? { type: "category", data: names, inverse: true }
      : { type: "value", minInterval: 1, ...(options.valueAxis || {}) },
    series: series.map((s) => ({ type: "bar", barMaxWidth: 28, ...s })),
  }, true);
}

function renderCharts(report) {
  const traffic = report.traffic;
  const days = traffic.per_day.map((d) => d.day.slice(5));
  bars("c-days", days, traffic.channels.map((c) => ({
    name: CHANNEL[c.channel] || c.channel, stack: "day",
    data: traffic.per_day.map((d) => d.per_channel[c.channel] || 0) })));
  bars("c-hours", traffic.per_hour.map((h) => `${h.hour}时`),
       [{ name: "会话数", data: traffic.per_hour.map((h) => h.conversations) }], { interval: 1, rotate: 45 });
  const topics = report.containment.slice(0, 12);
  bars("c-containment", topics.map((r) => `${r.topic_label}（${r.conversations}）`),
       [{ name: "自助解决率", data: topics.map((r) => Math.round((r.containment_rate || 0) * 1000) / 10),
          label: { show: true, position: "right", formatter: "{c}%" } }],
       { horizontal: true, valueAxis: { max: 100, axisLabel: { formatter: "{value}%" } } });
  chart("c-reasons").setOption({
    ...BASE, title: empty(report.handoffs.by_reason),
    tooltip: { trigger: "item", confine: true, renderMode: "richText", formatter: "{b}：{c} 次（{d}%）" },
    legend: { type: "scroll", bottom: 0 },
    series: [{ type: "pie", radius: ["35%", "62%"], center: ["50%", "45%"],
               label: { formatter: "{b}\n{c} 次" },
               data: report.handoffs.by_reason.map((r) => ({ name: r.label, value: r.handoffs })) }],
  }, true);
  const status = report.handoffs.by_status;
  bars("c-status", status.map((s) => s.label), [{ name: "转人工", data: status.map((s) => s.handoffs),
       label: { show: true, position: "top" } }], { interval: 0 });
  const servers = report.satisfaction.by_server.filter((r) => r.ratings);
  const rated = report.satisfaction.by_topic.slice(0, 8);
  const csatNames = [...servers.map((r) => r.label), ...rated.map((r) => r.topic_label)];
  bars("c-csat", csatNames, [{ name: "平均分", data: [...servers, ...rated].map((r) => r.average),
       label: { show: true, position: "right" } }],
       { horizontal: true, valueAxis: { min: 0, max: 5, minInterval: 0 } });
  const moods = report.emotion.by_topic.slice(0, 10);
  bars("c-emotion", moods.map((r) => r.topic_label), [
    { name: "转为不满", stack: "mood", data: moods.map((r) => r.upset), itemStyle: { color: "#f59f00" } },
    { name: "转为生气", stack: "mood", data: moods.map((r) => r.angry), itemStyle: { color: "#c92a2a" } },
  ], { horizontal: true });
  const reasons = report.fallback.by_reason;
  bars("c-missed", reasons.map((r) => r.label), [{ name: "消息数", data: reasons.map((r) => r.messages),
       label: { show: true, position: "top" } }]);
}

function renderWaits(handoffs) {
  const body = $("wait-table").tBodies[0];
  body.replaceChildren();
  for (const [label, figures] of [["等待接入", handoffs.wait_seconds], ["处理时长", handoffs.handling_seconds]]) {
    const row = el("tr");
    row.append(el("th", null, label), el("td", null, duration(figures.p50)),
               el("td", null, duration(figures.p90)), el("td", null, `${figures.count} 次`));
    body.append(row);
  }
}

function renderGroups(groups) {
  const body = $("groups-table").tBodies[0];
  body.replaceChildren();
  $("groups-empty").hidden = groups.length > 0;
  for (const group of groups) {
    const row = el("tr");
    row.dataset.group = group.key;
    const examples = el("td", "examples");
    for (const example of group.examples.slice(0, 5)) {
      examples.append(el("span", "example", example.count > 1 ? `${example.text} ×${example.count}` : example.text));
    }
    const action = el("td");
    const button = el("button", "queue-button", "加入标注队列");
    button.type = "button";
    button.addEventListener("click", () => queueGroup(group, button));
    action.append(button);
    row.append(el("td", "group-label", group.label), el("td", "num", group.messages),
               el("td", "num", group.distinct), el("td", "num", group.conversations),
               el("td", null, group.intents.map((i) => i.label).join("、")), examples, action);
    body.append(row);
  }
}

async function queueGroup(group, button) {
  button.disabled = true;
  try {
    const answer = await api("/reports/label-queue", { method: "POST", body: JSON.stringify({
      group: group.key, from: $("from").value, to: $("to").value }) });
    button.textContent = answer.added ? `已加入 ${answer.added} 条` : "已在队列中";
    await loadQueue();
    $("queue").scrollIntoView({ behavior: "smooth", block: "start" });
  } catch (error) {
    button.disabled = false;
    button.textContent = "加入失败，重试";
    button.title = error.message;
  }
}

// --- the labelling queue ----------------------------------------------------------------------

async function loadQueue() {
  const data = await api("/reports/label-queue");
  state.topics = data.topics;
  const body = $("queue-table").tBodies[0];
  body.replaceChildren();
  $("queue-count").textContent = data.items.length;
  $("queue-empty").hidden = data.items.length > 0;
  for (const item of data.items) {
    const row = el("tr");
    row.dataset.id = item.id;
    const labelCell = el("td");
    const input = el("input", "label-input");
    input.value = item.label || "";
    input.placeholder = "意图名";
    input.maxLength = 128;
    input.setAttribute("aria-label", "正确意图");
    input.addEventListener("change", () => saveLabel(item.id, { label: input.value.trim() }, input));
    labelCell.append(input);
    const topicCell = el("td");
    const select = el("select", "topic-select");
    select.setAttribute("aria-label", "话题");
    select.append(new Option("（未选）", ""));
    for (const topic of state.topics) select.append(new Option(topic.label, topic.topic));
    select.value = item.suggested_topic || "";
    select.addEventListener("change", () => saveLabel(item.id, { suggested_topic: select.value }, select));
    topicCell.append(select);
    row.append(el("td", "text", item.text), el("td", null, item.reason_label),
               el("td", null, item.predicted_label || "–"), labelCell, topicCell);
    body.append(row);
  }
}

async function saveLabel(id, change, field) {
  field.classList.remove("saved", "failed");
  field.title = "";
  try {
    await api(`/reports/label-queue/${id}`, { method: "POST", body: JSON.stringify(change) });
    field.classList.add("saved");
  } catch (error) {
    field.classList.add("failed");
    field.title = error.message;
  }
}

// --- the team, live -------------------------------------------------------------------------------

async function loadTeam() {
  let team;
  try {
    team = await api("/supervisor/team");
  } catch (error) {
    $("team-updated").textContent = `刷新失败：${error.message}`;
    return;
  }
  $("t-online").textContent = `${team.agents_online} 人`;
  $("t-queue").textContent = `${team.queue_length} 人`;
  $("t-wait").textContent = team.queue_length ? duration(team.longest_wait_seconds) : "无人排队";
  $("t-progress").textContent = `${team.in_progress} 个`;
  $("t-priority").textContent = "排队中：" + team.queue_by_priority
    .map((p) => `${p.label} ${p.handoffs}`).join("，");
  const body = $("team-table").tBodies[0];
  body.replaceChildren();
  for (const agent of team.agents) {
    const row = el("tr", agent.online ? "online" : "offline");
    const name = agent.role === "supervisor" ? `${agent.display_name}（主管）` : agent.display_name;
    row.append(el("td", null, name), el("td", null, agent.online ? "在线" : "离线"),
               el("td", "num", agent.load), el("td", "num", agent.closed_today));
    body.append(row);
  }
  $("team-updated").textContent = `更新于 ${new Date().toLocaleTimeString("zh-CN", { hour12: false })}`;
}

function followTeam() {
  // Live: the console's event stream says when the queue or a handoff changed; a timer
  // refreshes waiting times and who is online in between.
  if (state.teamTimer) clearInterval(state.teamTimer);
  state.teamTimer = setInterval(loadTeam, TEAM_REFRESH_MS);
  if (!("EventSource" in window)) return;
  if (state.stream) state.stream.close();
  state.stream = new EventSource(`${API}/stream`);
  let pending = null;
  const soon = () => { if (!pending) pending = setTimeout(() => { pending = null; loadTeam(); }, 300); };
  for (const kind of ["queue", "status", "hello"]) state.stream.addEventListener(kind, soon);
  state.stream.addEventListener("logout", () => { state.stream.close(); show("login-view"); });
}

window.addEventListener("resize", () => { for (const c of Object.values(state.charts)) c.resize(); });
start().catch((error) => { document.body.prepend(el("p", "error", `页面加载失败：${error.message}`)); });
