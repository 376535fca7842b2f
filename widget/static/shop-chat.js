/*
 * Shop chat widget: embed with one script tag.
 *
 *   <script src="https://your-host/widget/shop-chat.js"
 *           data-socket-url="https://bot.your-shop.com" defer></script>
 *
 * Talks to Rasa's socket.io channel with the official socket.io-client (vendored in
 * widget/static/vendor/ and served in front of this file by the widget server, so `io` is
 * defined here and never on the shop's page; a WebSocket, or HTTP long polling where
 * WebSockets are blocked), keeps the session id and the rendered conversation in
 * localStorage, catches up on missed messages from the widget server's history endpoint after a reload or a dropped
 * connection, shows handoff states, and asks for a satisfaction rating when a conversation
 * ends. Every text is inserted with textContent; links open only for http(s) URLs.
 *
 * Options (data-* attributes of the script tag):
 *   data-socket-url   Rasa server (default: this page's origin)
 *   data-socket-path  socket.io path (default /socket.io/)
 *   data-api-url      widget server for history and ratings (default: the script's origin)
 *   data-title        header title (default 在线客服)
 *   data-csat-after   responses that end a conversation (default utter_goodbye,utter_thank)
 *   data-open         "true" opens the chat at once
 */
(function () {
  "use strict";

  if (window.ShopChat) return;
  if (typeof io !== "function") { // served without socket.io-client (widget/app.py bundles it)
    if (window.console) console.error("shop-chat.js: socket.io-client is missing");
    return;
  }
  var script = document.currentScript ||
    document.querySelector('script[src*="shop-chat.js"]');
  if (!script) return;
  var data = script.dataset;
  var scriptUrl = new URL(script.src, location.href);

  var cfg = {
    socketUrl: (data.socketUrl || location.origin).replace(/\/+$/, ""),
    socketPath: data.socketPath || "/socket.io/",
    apiUrl: (data.apiUrl || scriptUrl.origin).replace(/\/+$/, ""),
    title: data.title || "在线客服",
    csatAfter: (data.csatAfter || "utter_goodbye,utter_thank").split(/\s*,\s*/),
    open: data.open === "true",
    styleUrl: new URL("shop-chat.css", scriptUrl).href
  };

  var MAX_CHARS = 500;
  var MAX_KEPT = 200;
  var TYPING_TIMEOUT_MS = 20000;
  var STORAGE_KEY = "shop-chat:v1:" + cfg.socketUrl;
  var SUGGESTIONS = ["我的快递到哪了", "退款什么时候到账", "怎么开发票", "转人工"];
  var STARS = ["非常不满意", "不满意", "一般", "满意", "非常满意"];
  var HANDOFF_STATES = ["queued", "agent_joined", "agent_message", "bot_back", "cancelled"];
  var STATE_LABELS = {
    queued: "转人工 · 排队中", agent_joined: "人工客服已接入", bot_back: "已转回机器人客服",
    cancelled: "已取消转人工", ended: "咨询已结束"
  };
  var ENDED = "本次咨询已结束，感谢您的耐心。有新的问题直接发消息即可开始新的咨询。";

  // ---- state, kept in localStorage --------------------------------------------------

  var memoryStore = {};
  function storageGet(key) {
    try { return window.localStorage.getItem(key); } catch (e) { return memoryStore[key] || null; }
  }
  function storageSet(key, value) {
    try { window.localStorage.setItem(key, value); } catch (e) { memoryStore[key] = value; }
  }

  function loadState() {
    var saved = null;
    try { saved = JSON.parse(storageGet(STORAGE_KEY) || "null"); } catch (e) { saved = null; }
    var fresh = { sessionId: null, sessionToken: null, messages: [], handoff: null, csat: {},
      outbox: [], open: false, conv: 0 };
    if (!saved || typeof saved !== "object") return fresh;
    return {
      sessionId: typeof saved.sessionId === "string" ? saved.sessionId : null,
      sessionToken: typeof saved.sessionToken === "string" ? saved.sessionToken : null,
      messages: Array.isArray(saved.messages) ? saved.messages : [],
      handoff: saved.handoff && typeof saved.handoff === "object" ? saved.handoff : null,
      csat: saved.csat && typeof saved.csat === "object" ? saved.csat : {},
      outbox: Array.isArray(saved.outbox) ? saved.outbox : [],
      open: saved.open === true,
      // Conversations ended with 结束咨询 so far: each gets one satisfaction question.
      conv: typeof saved.conv === "number" && isFinite(saved.conv) ? saved.conv : 0
    };
  }

  var state = loadState();

  function save() {
    state.messages = state.messages.slice(-MAX_KEPT);
    storageSet(STORAGE_KEY, JSON.stringify(state));
  }

  function newId(prefix) {
    return prefix + Date.now().toString(36) + Math.random().toString(36).slice(2, 8);
  }

  // ---- messages -----------------------------------------------------------------------

  function cleanHandoff(raw) {
    if (!raw || typeof raw !== "object" || HANDOFF_STATES.indexOf(raw.state) < 0) return null;
    var number = function (v) { return typeof v === "number" && isFinite(v) ? v : null; };
    return {
      state: raw.state,
      position: number(raw.position),
      eta_minutes: number(raw.eta_minutes),
      agent: typeof raw.agent === "string" && raw.agent ? raw.agent.slice(0, 40) : null
    };
  }

  /** A bot_uttered payload (live or from the history endpoint) as a widget message. */
  function botMessage(payload) {
    payload = payload && typeof payload === "object" ? payload : { text: String(payload) };
    var custom = payload.custom && typeof payload.custom === "object" ? payload.custom : {};
    var handoff = cleanHandoff(custom.handoff);
    var from = "bot";
    if (handoff) from = handoff.state === "agent_message" ? "agent" : "system";
    var ts = typeof payload.timestamp === "number" ? payload.timestamp : null;
    var buttons = Array.isArray(payload.quick_replies) ? payload.quick_replies : [];
    var image = payload.image ||
      (payload.attachment && payload.attachment.payload && payload.attachment.payload.src);
    return {
      key: ts !== null ? "b:" + ts : newId("b:"),
      from: from,
      text: typeof payload.text === "string" ? payload.text : "",
      buttons: buttons.filter(function (b) { return b && typeof b.title === "string"; })
        .map(function (b) {
          return { title: b.title, payload: String(b.payload || ""), url: b.url || null };
        }),
      image: typeof image === "string" ? image : null,
      handoff: handoff,
      response: typeof payload.response === "string" ? payload.response : null,
      ts: ts !== null ? ts : Date.now() / 1000
    };
  }

  function historyMessage(item) {
    if (item && item.from === "customer") {
      return {
        key: item.client_id || "u:" + item.timestamp,
        from: "customer",
        text: typeof item.text === "string" ? item.text : "",
        ts: typeof item.timestamp === "number" ? item.timestamp : 0,
        status: "delivered" // the server keeps a turn once it has it
      };
    }
    return botMessage(item);
  }

  /** The handoff state to show: the latest one, unless the customer moved on after the
   *  conversation came back to the bot. */
  function currentHandoff(messages) {
    var customerSince = false;
    for (var i = messages.length - 1; i >= 0; i--) {
      var h = messages[i].handoff;
      if (h) return customerSince && (h.state === "bot_back" || h.state === "cancelled") ? null : h;
      if (messages[i].from === "customer") customerSince = true;
    }
    return null;
  }

  // ---- DOM ----------------------------------------------------------------------------

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  /** The URL if it is an absolute http(s) one, else null (no javascript:, data:, ...). */
  function safeUrl(value) {
    if (typeof value !== "string" || !/^https?:\/\//i.test(value)) return null;
    try {
      var url = new URL(value);
      return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
    } catch (e) {
      return null;
    }
  }

  var URL_PATTERN = /https?:\/\/[^\s<>"'，。；！？、）)】」]+/g;

  /** Text with http(s) links made clickable; nothing is ever parsed as HTML. */
  function richText(text) {
    var fragment = document.createDocumentFragment();
    var last = 0;
    text.replace(URL_PATTERN, function (match, offset) {
      fragment.appendChild(document.createTextNode(text.slice(last, offset)));
      var href = safeUrl(match);
      if (href) {
        var link = el("a", "scw-link", match);
        link.href = href;
        link.target = "_blank";
        link.rel = "noopener noreferrer nofollow";
        fragment.appendChild(link);
      } else {
        fragment.appendChild(document.createTextNode(match));
      }
      last = offset + match.length;
      return match;
    });
    fragment.appendChild(document.createTextNode(text.slice(last)));
    return fragment;
  }

  var ICON_CHAT = '<svg viewBox="0 0 24 24" aria-hidden="true"><path fill="currentColor" d="M12 3C6.5 3 2 6.6 2 11c0 2.4 1.3 4.6 3.4 6.1L4.6 21l4.3-2.3c1 .3 2 .4 3.1.4 5.5 0 10-3.6 10-8.1S17.5 3 12 3z"/></svg>';

  var host = el("div");
  host.id = "shop-chat-root";
  var root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;
  var style = el("link");
  style.rel = "stylesheet";
  style.href = cfg.styleUrl;
  root.appendChild(style);

  var launcher = el("button", "scw-launcher");
  launcher.type = "button";
  launcher.setAttribute("aria-label", "打开" + cfg.title);
  launcher.innerHTML = ICON_CHAT; // constant markup, no data
  launcher.appendChild(el("span", "scw-launcher-text", "咨询客服"));
  var badge = el("span", "scw-badge");
  badge.hidden = true;
  launcher.appendChild(badge);

  var panel = el("section", "scw-panel");
  panel.setAttribute("role", "dialog");
  panel.setAttribute("aria-label", cfg.title);
  panel.hidden = true;

  var header = el("header", "scw-header");
  var avatar = el("div", "scw-avatar");
  avatar.innerHTML = ICON_CHAT;
  var titles = el("div", "scw-titles");
  titles.appendChild(el("div", "scw-title", cfg.title));
  var subtitle = el("div", "scw-subtitle", "智能客服");
  titles.appendChild(subtitle);
  var endButton = el("button", "scw-end", "结束咨询");
  endButton.type = "button";
  var closeButton = el("button", "scw-close", "×");
  closeButton.type = "button";
  closeButton.setAttribute("aria-label", "收起对话窗口");
  header.appendChild(avatar);
  header.appendChild(titles);
  header.appendChild(endButton);
  header.appendChild(closeButton);

  var statusBar = el("div", "scw-status");
  statusBar.setAttribute("role", "status");
  statusBar.hidden = true;
  var connectionBar = el("div", "scw-connection");
  connectionBar.setAttribute("role", "status");
  connectionBar.hidden = true;

  var list = el("div", "scw-messages");
  list.setAttribute("aria-live", "polite");
  list.setAttribute("aria-label", "对话记录");
  var typing = el("div", "scw-typing");
  typing.setAttribute("aria-label", "客服正在输入");
  typing.appendChild(el("span"));
  typing.appendChild(el("span"));
  typing.appendChild(el("span"));
  // "小周正在输入…" while a human agent types (empty while the bot prepares its answer).
  var typingWho = el("em", "scw-typing-who");
  typing.appendChild(typingWho);
  typing.hidden = true;

  var form = el("form", "scw-form");
  var input = el("textarea", "scw-input");
  input.rows = 1;
  input.maxLength = MAX_CHARS;
  input.placeholder = "请输入您的问题，按回车发送";
  input.setAttribute("aria-label", "输入消息");
  input.setAttribute("enterkeyhint", "send");
  var counter = el("span", "scw-counter");
  counter.hidden = true;
  var sendButton = el("button", "scw-send", "发送");
  sendButton.type = "submit";
  sendButton.disabled = true;
  // A photo for the human agent (a broken item, a wrong parcel): offered while one is in
  // charge; checked again and re-encoded by the server.
  var photoButton = el("button", "scw-photo", "图片");
  photoButton.type = "button";
  photoButton.setAttribute("aria-label", "发送图片");
  photoButton.hidden = true;
  var photoInput = el("input", "scw-photo-input");
  photoInput.type = "file";
  photoInput.accept = "image/jpeg,image/png,image/webp";
  photoInput.hidden = true;
  var photoError = el("div", "scw-photo-error");
  photoError.setAttribute("role", "alert");
  photoError.hidden = true;
  form.appendChild(photoButton);
  form.appendChild(photoInput);
  form.appendChild(input);
  form.appendChild(counter);
  form.appendChild(sendButton);

  panel.appendChild(header);
  panel.appendChild(statusBar);
  panel.appendChild(connectionBar);
  panel.appendChild(list);
  panel.appendChild(photoError);
  panel.appendChild(form);
  root.appendChild(launcher);
  root.appendChild(panel);

  // ---- rendering ----------------------------------------------------------------------

  function renderWelcome() {
    var card = el("div", "scw-welcome");
    card.appendChild(el("p", "scw-welcome-title", "您好，欢迎光临！"));
    card.appendChild(el("p", "scw-welcome-text",
      "我是智能客服，订单物流、退款、发票、账号问题都可以问我。您也可以点下面的问题："));
    var chips = el("div", "scw-buttons");
    SUGGESTIONS.forEach(function (text) {
      var chip = el("button", "scw-button", text);
      chip.type = "button";
      chip.addEventListener("click", function () { sendText(text); });
      chips.appendChild(chip);
    });
    card.appendChild(chips);
    return card;
  }

  // sent: written to the open connection; delivered: the server answered after it; read:
  // the agent has seen it in the console.
  var STATUS_MARKS = { sent: "已发送", delivered: "已送达", read: "已读" };
  var STATUS_RANK = { sending: 0, failed: 0, sent: 1, delivered: 2, read: 3 };

  function clockLabel(ts) {
    var d = new Date(ts * 1000);
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    return pad(d.getHours()) + ":" + pad(d.getMinutes());
  }

  /** Raise every customer message that got at least `from` to `to`. */
  function advanceCustomerMessages(to) {
    var changed = false;
    state.messages.forEach(function (m) {
      if (m.from === "customer" && STATUS_RANK[m.status] >= 1 &&
          STATUS_RANK[m.status] < STATUS_RANK[to]) {
        m.status = to;
        changed = true;
      }
    });
    return changed;
  }

  function timeLabel(ts) {
    var d = new Date(ts * 1000);
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    var today = new Date();
    var day = d.toDateString() === today.toDateString() ? "" :
      (d.getMonth() + 1) + "月" + d.getDate() + "日 ";
    return day + pad(d.getHours()) + ":" + pad(d.getMinutes());
  }

  function renderMessage(message, answered) {
    var row = el("div", "scw-row scw-from-" + message.from);
    row.dataset.key = message.key;
    if (message.from === "system") {
      var shown = message.handoff ? message.handoff.state : "ended";
      row.className += " scw-state-" + shown.replace("_", "-");
      row.appendChild(el("div", "scw-sender", STATE_LABELS[shown]));
    }
    if (message.from === "agent") {
      var agent = message.handoff && message.handoff.agent;
      row.appendChild(el("div", "scw-sender", agent ? "人工客服 · " + agent : "人工客服"));
    }
    var bubble = el("div", "scw-bubble");
    bubble.appendChild(richText(message.text || ""));
    if (message.localImage && message.localImage.indexOf("blob:") === 0) {
      // The customer's own photo, shown from this browser (gone after a reload).
      var own = el("img", "scw-image");
      own.src = message.localImage;
      own.alt = "您发送的图片";
      own.onerror = function () { own.remove(); };
      bubble.appendChild(own);
    }
    var image = message.image && safeUrl(message.image);
    if (image) {
      var img = el("img", "scw-image");
      img.src = image;
      img.alt = "图片";
      img.loading = "lazy";
      bubble.appendChild(img);
    }
    row.appendChild(bubble);
    if (message.from === "customer" && message.status === "failed") {
      var retry = el("button", "scw-retry", "未送达，点击重发");
      retry.type = "button";
      retry.addEventListener("click", function () { resend(message); });
      row.appendChild(retry);
    } else if (message.from === "customer" && message.status === "sending") {
      row.appendChild(el("div", "scw-pending", "发送中…"));
    } else if (message.ts) {
      // The time of every message, and under the customer's own how far it got.
      var mark = message.from === "customer" ? STATUS_MARKS[message.status] : "";
      var meta = el("div", "scw-meta", clockLabel(message.ts));
      if (mark) meta.appendChild(el("span", "scw-mark scw-mark-" + message.status, mark));
      row.appendChild(meta);
    }
    if (message.buttons && message.buttons.length) {
      var buttons = el("div", "scw-buttons");
      message.buttons.forEach(function (b) {
        var link = safeUrl(b.url) || safeUrl(b.payload);
        var button = el("button", "scw-button" + (link ? " scw-button-link" : ""), b.title);
        button.type = "button";
        button.disabled = answered && !link;
        button.addEventListener("click", function () {
          if (link) window.open(link, "_blank", "noopener,noreferrer");
          else sendText(b.payload, b.title);
        });
        buttons.appendChild(button);
      });
      row.appendChild(buttons);
    }
    return row;
  }

  function renderCsat(item) {
    var card = el("div", "scw-csat");
    card.dataset.episode = item.episode;
    if (item.comment_sent) {
      card.appendChild(el("p", "scw-csat-done", "已收到您的建议，谢谢！我们会继续改进。"));
      return card;
    }
    card.appendChild(el("p", "scw-csat-question", item.rating ?
      "感谢您的评价！" : "请问您对本次服务满意吗？"));
    var stars = el("div", "scw-stars");
    stars.setAttribute("role", "radiogroup");
    stars.setAttribute("aria-label", "满意度评分");
    var label = el("span", "scw-star-label", item.rating ? STARS[item.rating - 1] : "");
    STARS.forEach(function (name, i) {
      var star = el("button", "scw-star" + (item.rating && i < item.rating ? " scw-on" : ""), "★");
      star.type = "button";
      star.setAttribute("role", "radio");
      star.setAttribute("aria-checked", String(item.rating === i + 1));
      star.setAttribute("aria-label", (i + 1) + "星 " + name);
      star.dataset.rating = String(i + 1);
      star.addEventListener("mouseenter", function () { label.textContent = name; });
      star.addEventListener("click", function () { rate(item, i + 1, ""); });
      stars.appendChild(star);
    });
    stars.appendChild(label);
    card.appendChild(stars);
    if (item.error) card.appendChild(el("p", "scw-csat-error", item.error));
    if (item.rating && item.rating <= 3) {
      var comment = el("textarea", "scw-csat-comment");
      comment.maxLength = 500;
      comment.rows = 2;
      comment.placeholder = "有什么需要我们改进的吗？（选填）";
      comment.value = item.draft || ""; // survives re-rendering when a message arrives
      comment.addEventListener("input", function () { item.draft = comment.value; });
      var submit = el("button", "scw-csat-submit", "提交建议");
      submit.type = "button";
      submit.addEventListener("click", function () {
        if (comment.value.trim()) rate(item, item.rating, comment.value.trim());
      });
      card.appendChild(comment);
      card.appendChild(submit);
    }
    return card;
  }

  function renderAll() {
    list.textContent = "";
    if (!state.messages.length) list.appendChild(renderWelcome());
    var csatAfter = {};
    Object.keys(state.csat).forEach(function (episode) {
      var item = state.csat[episode];
      (csatAfter[item.after] = csatAfter[item.after] || []).push(item);
    });
    var keys = {};
    var lastCustomer = -1;
    var lastTs = 0;
    state.messages.forEach(function (m, i) {
      keys[m.key] = true;
      if (m.from === "customer") lastCustomer = i;
    });
    state.messages.forEach(function (m, i) {
      if (m.ts && m.ts - lastTs > 300) list.appendChild(el("div", "scw-time", timeLabel(m.ts)));
      lastTs = m.ts || lastTs;
      list.appendChild(renderMessage(m, i < lastCustomer));
      (csatAfter[m.key] || []).forEach(function (item) { list.appendChild(renderCsat(item)); });
    });
    Object.keys(state.csat).forEach(function (episode) {
      if (!keys[state.csat[episode].after]) list.appendChild(renderCsat(state.csat[episode]));
    });
    list.appendChild(typing);
    renderStatus();
    scrollDown();
  }

  function scrollDown() {
    list.scrollTop = list.scrollHeight;
  }

  function renderStatus() {
    var h = state.handoff;
    var text = "";
    statusBar.className = "scw-status";
    subtitle.textContent = "智能客服";
    if (h && h.state === "queued") {
      text = "排队中";
      if (h.position !== null) text += " · 您排在第 " + h.position + " 位";
      if (h.eta_minutes !== null) text += " · 预计等待约 " + Math.max(1, h.eta_minutes) + " 分钟";
      statusBar.className += " scw-queued";
      subtitle.textContent = "正在为您转接人工客服";
    } else if (h && (h.state === "agent_joined" || h.state === "agent_message")) {
      text = "人工客服已接入" + (h.agent ? " · " + h.agent + " 为您服务" : "");
      statusBar.className += " scw-agent";
      subtitle.textContent = h.agent ? "人工客服 " + h.agent : "人工客服";
    } else if (h && h.state === "bot_back") {
      text = "已转回机器人客服，有问题可以继续问我";
      statusBar.className += " scw-bot-back";
    } else if (h && h.state === "cancelled") {
      text = "已取消转人工，继续由机器人为您服务";
      statusBar.className += " scw-bot-back";
    }
    statusBar.textContent = text;
    statusBar.hidden = !text;
    photoButton.hidden = !humanInCharge();
  }

  // ---- panel and input ----------------------------------------------------------------

  var unread = 0;

  /** Show or hide the chat; `quiet` (page load) leaves the page's focus alone. */
  function setOpen(open, quiet) {
    state.open = open;
    panel.hidden = !open;
    host.classList.toggle("scw-is-open", open);
    launcher.setAttribute("aria-expanded", String(open));
    if (open) {
      unread = 0;
      badge.hidden = true;
      renderAll();
      if (!quiet) input.focus();
      connect();
    }
    save();
  }

  launcher.addEventListener("click", function () { setOpen(!state.open); });
  closeButton.addEventListener("click", function () { setOpen(false); });
  // 结束咨询 ends the conversation: the bot restarts (an open handoff ends with it, and the
  // agent is told), the customer sees that it ended and gets this conversation's one
  // satisfaction question; the next message starts a new conversation.
  endButton.addEventListener("click", function () {
    var lastMessage = state.messages[state.messages.length - 1];
    if (!lastMessage) { setOpen(false); return; }
    if (lastMessage.from === "system" && !lastMessage.handoff) return;  // ended already
    sendText("/restart", "结束咨询");
    var ended = { key: newId("e"), from: "system", text: ENDED, ts: Date.now() / 1000,
                  handoff: null };
    state.messages.push(ended);
    state.handoff = null;
    askCsat("closed", "c:" + ended.key, ended.key, true);
    state.conv += 1;
    save();
    renderAll();
  });
  panel.addEventListener("keydown", function (event) {
    if (event.key === "Escape") setOpen(false);
  });

  // Enter sends, Shift+Enter starts a new line, and Enter that confirms an IME candidate
  // (pinyin) never sends: isComposing, keyCode 229 (Safari sends compositionend first)
  // and our own flag each catch it.
  var composing = false;
  input.addEventListener("compositionstart", function () { composing = true; });
  input.addEventListener("compositionend", function () {
    composing = false;
    updateInput();
  });
  input.addEventListener("keydown", function (event) {
    if (event.key !== "Enter" || event.shiftKey) return;
    if (composing || event.isComposing || event.keyCode === 229) return;
    event.preventDefault();
    submitInput();
  });
  input.addEventListener("input", updateInput);
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (!composing) submitInput();
  });

  function updateInput() {
    var length = input.value.length;
    sendButton.disabled = !input.value.trim();
    counter.hidden = length < MAX_CHARS - 100;
    counter.textContent = length + "/" + MAX_CHARS;
    input.style.height = "auto";
    input.style.height = Math.min(input.scrollHeight + 2, 96) + "px";
    input.style.overflowY = input.scrollHeight + 2 > 96 ? "auto" : "hidden";
  }

  function submitInput() {
    var text = input.value.trim();
    if (!text) return;
    input.value = "";
    updateInput();
    sendText(text);
  }

  // ---- sending and receiving ----------------------------------------------------------

  var typingTimer = null;

  function showTyping(show, who) {
    clearTimeout(typingTimer);
    typingWho.textContent = show && who ? who + "正在输入…" : "";
    typing.setAttribute("aria-label", show && who ? who + "正在输入" : "客服正在输入");
    typing.hidden = !show;
    if (show) {
      typingTimer = setTimeout(function () { typing.hidden = true; }, TYPING_TIMEOUT_MS);
      scrollDown();
    }
  }

  function humanInCharge() {
    var h = state.handoff;
    return !!h && (h.state === "queued" || h.state === "agent_joined" || h.state === "agent_message");
  }

  /** Send `payload` to the bot, showing `shown` (a button's title) as the customer's words. */
  function sendText(payload, shown) {
    var id = newId("c");
    state.messages.push({
      key: id, from: "customer", text: shown || payload, ts: Date.now() / 1000, status: "sending"
    });
    state.outbox.push({ id: id, message: payload, shown: shown || null });
    if (state.handoff && (state.handoff.state === "bot_back" || state.handoff.state === "cancelled")) {
      state.handoff = null;
    }
    save();
    renderAll();
    if (!humanInCharge()) showTyping(true);
    flushOutbox();
  }

  var MAX_PHOTO_BYTES = 5 * 1024 * 1024;

  function showPhotoError(text) {
    photoError.textContent = text;
    photoError.hidden = !text;
    if (text) setTimeout(function () { photoError.hidden = true; }, 8000);
  }

  /** Upload the chosen photo to the widget server, then send it as a message. */
  function sendPhoto(file) {
    showPhotoError("");
    if (!file) return;
    if (file.size > MAX_PHOTO_BYTES) {
      showPhotoError("图片不能超过 5 MB，请压缩后再发。");
      return;
    }
    if (!state.sessionId || !state.sessionToken) {
      showPhotoError("还没有连接上客服，请稍后再发图片。");
      return;
    }
    photoButton.disabled = true;
    fetch(cfg.apiUrl + "/api/uploads/" + encodeURIComponent(state.sessionId), {
      method: "POST", body: file,
      headers: { "X-Session-Token": state.sessionToken, "Content-Type": "application/octet-stream" }
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (body) {
        if (!response.ok || typeof body.image_id !== "string") {
          throw new Error(body.message || "图片没有发送成功，请稍后再试。");
        }
        var id = newId("c");
        state.messages.push({ key: id, from: "customer", text: "[图片]", ts: Date.now() / 1000,
          status: "sending", localImage: URL.createObjectURL(file) });
        state.outbox.push({ id: id, message: "[图片]", shown: null, image_id: body.image_id });
        save();
        renderAll();
        flushOutbox();
      });
    }).catch(function (error) {
      showPhotoError(error && error.message ? error.message : "图片没有发送成功，请稍后再试。");
    }).then(function () {
      photoButton.disabled = false;
      photoInput.value = "";
    });
  }

  photoButton.addEventListener("click", function () { photoInput.click(); });
  photoInput.addEventListener("change", function () { sendPhoto(photoInput.files[0]); });

  function resend(message) {
    state.messages = state.messages.filter(function (m) { return m.key !== message.key; });
    sendText(message.text);
  }

  function flushOutbox() {
    if (!conn.ready) return;
    while (state.outbox.length) {
      var item = state.outbox.shift();
      var metadata = { client_id: item.id };
      if (item.shown) metadata.display_text = item.shown;
      if (item.image_id) metadata.image_id = item.image_id;
      emit("user_uttered", { message: item.message, session_id: state.sessionId, metadata: metadata });
      markSent(item.id);
    }
    save();
    renderAll();
  }

  function markSent(id) {
    state.messages.forEach(function (m) { if (m.key === id) m.status = "sent"; });
  }

  function receive(payload) {
    var message = botMessage(payload);
    if (state.messages.some(function (m) { return m.key === message.key; })) return;
    advanceCustomerMessages("delivered");
    state.messages.push(message);
    if (message.handoff) state.handoff = message.handoff;
    if (historyPending) liveDuringHistory.push(message);
    showTyping(false);
    if (message.response && cfg.csatAfter.indexOf(message.response) >= 0 && hasCustomerTurn()) {
      askCsat("goodbye", "g:" + message.key, message.key, true);
    } else if (message.handoff && message.handoff.state === "bot_back") {
      askCsat("bot_back", "h:" + message.key, message.key, true);
    }
    save();
    renderAll();
    if (!state.open) {
      unread += 1;
      badge.textContent = unread > 99 ? "99+" : String(unread);
      badge.hidden = false;
    }
  }

  function hasCustomerTurn() {
    return state.messages.some(function (m) { return m.from === "customer"; });
  }

  // ---- satisfaction -------------------------------------------------------------------

  /** One question per conversation: a later ending (hand back, resolve, thanks, 结束咨询)
   *  moves the unanswered question down to it; once answered, it is not asked again until
   *  the customer ends the conversation and starts a new one. */
  function askCsat(trigger, episode, after, quiet) {
    episode = episode.replace(/[^A-Za-z0-9:._-]/g, "").slice(0, 64);
    var current = null;
    Object.keys(state.csat).forEach(function (key) {
      if ((state.csat[key].conv || 0) === state.conv) current = state.csat[key];
    });
    if (current && !current.rating) {
      current.after = after;
      current.trigger = trigger;
    } else if (!current) {
      state.csat[episode] = { episode: episode, trigger: trigger, after: after, rating: 0,
                              conv: state.conv };
    }
    if (!quiet) {
      save();
      renderAll();
    }
  }

  function rate(item, rating, comment) {
    item.error = null;
    postJson(cfg.apiUrl + "/api/csat", {
      session_id: state.sessionId, episode: item.episode, trigger: item.trigger,
      rating: rating, comment: comment
    }).then(function () {
      item.rating = rating;
      if (comment) item.comment_sent = true;
    }, function () {
      item.error = "评价提交失败，请稍后再试。";
    }).then(function () {
      save();
      renderAll();
    });
  }

  function postJson(url, body) {
    return fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Session-Token": state.sessionToken || "" },
      body: JSON.stringify(body)
    }).then(function (response) {
      if (!response.ok) throw new Error("HTTP " + response.status);
      return response.json();
    });
  }

  // ---- history ------------------------------------------------------------------------

  var historyPending = false;
  var liveDuringHistory = [];

  /** Catch up from the server after a reload or reconnect: the tracker is the truth. */
  function loadHistory() {
    if (!state.sessionId || historyPending) return;
    historyPending = true;
    liveDuringHistory = [];
    var startedAt = Date.now() / 1000;
    fetch(cfg.apiUrl + "/api/history/" + encodeURIComponent(state.sessionId),
      { headers: { "X-Session-Token": state.sessionToken || "" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (body) {
        var server = (Array.isArray(body.messages) ? body.messages : []).map(historyMessage);
        if (server.length) mergeHistory(server, startedAt);
      })
      .catch(function () { /* keep what this browser has */ })
      .then(function () { historyPending = false; });
  }

  function mergeHistory(server, startedAt) {
    var known = {};
    var local = {};
    state.messages.forEach(function (m) { local[m.key] = m; });
    server.forEach(function (m) {
      known[m.key] = true;
      var mine = local[m.key];  // this browser saw it get further (已读)
      if (mine && STATUS_RANK[mine.status] > STATUS_RANK[m.status]) m.status = mine.status;
    });
    var extra = [];
    state.messages.forEach(function (m) {
      if (known[m.key]) return;
      var live = liveDuringHistory.indexOf(m) >= 0;
      // The server stores a turn once it is answered: recent messages may still be on the way.
      if (m.from === "customer" && (m.status === "sending" || m.ts >= startedAt - 30)) {
        extra.push(m);
      } else if (m.from === "customer") {
        m.status = "failed"; // sent on a socket that died before the server got it
        extra.push(m);
      } else if (live) {
        extra.push(m);
      }
    });
    state.messages = server.concat(extra);
    state.handoff = currentHandoff(state.messages);
    save();
    renderAll();
  }

  // ---- socket.io-client (vendored, served in front of this file: widget/app.py) --------

  // A WebSocket first (one connection: no CORS, no sticky sessions needed behind several
  // Rasa replicas); HTTP long polling when the WebSocket cannot open (a proxy or network that
  // blocks them). socket.io-client reconnects by itself after a dropped transport or a missed
  // ping, with back-off, trying both again.
  var conn = { socket: null, ready: false, attempts: 0, retryTimer: null, offline: false,
    everConnected: false };

  function openSocket() {
    var socket = io(cfg.socketUrl, {
      path: "/" + cfg.socketPath.replace(/^\/+|\/+$/g, "") + "/",
      transports: ["websocket", "polling"],
      tryAllTransports: true,
      autoConnect: false,
      reconnectionDelay: 1000,
      reconnectionDelayMax: 30000,
      randomizationFactor: 0.5
    });
    socket.on("connect", function () {
      socket.emit("session_request",
        { session_id: state.sessionId, session_token: state.sessionToken });
    });
    socket.on("disconnect", function () {
      conn.ready = false;
      setConnection(conn.offline ? "offline" : "reconnecting");
      // The library retries a lost transport itself, not a server's disconnect (nor ours).
      if (!socket.active) scheduleReconnect();
    });
    socket.on("connect_error", function () {
      setConnection(conn.everConnected ? "reconnecting" : "connecting");
      if (!socket.active) scheduleReconnect(); // refused by the server: retry with back-off
    });
    socket.onAny(onEvent);
    return socket;
  }

  function connect() {
    if (conn.offline) return;
    clearTimeout(conn.retryTimer);
    if (!conn.socket) {
      try {
        conn.socket = openSocket();
      } catch (e) {
        conn.socket = null;
        scheduleReconnect();
        return;
      }
    }
    if (conn.socket.active) return; // connected, or the library is reconnecting
    setConnection(conn.everConnected ? "reconnecting" : "connecting");
    conn.socket.connect();
  }

  /** Stop talking to the server (the browser went offline): no retries until it is back. */
  function disconnect() {
    conn.ready = false;
    clearTimeout(conn.retryTimer);
    if (conn.socket) conn.socket.disconnect();
  }

  function scheduleReconnect() {
    clearTimeout(conn.retryTimer);
    if (conn.offline) return;
    var delay = Math.min(30000, 1000 * Math.pow(2, conn.attempts)) * (0.5 + Math.random() / 2);
    conn.attempts += 1;
    conn.retryTimer = setTimeout(connect, delay);
  }

  function emit(name, payload) {
    if (conn.socket && conn.socket.connected) conn.socket.emit(name, payload);
  }

  function onEvent(name, payload) {
    if (name === "session_confirm" && typeof payload === "string") {
      var resumed = state.sessionId === payload;
      if (!resumed) {
        state.sessionId = payload;
        state.sessionToken = null;
        state.handoff = null;
      }
      conn.ready = true;
      conn.attempts = 0;
      conn.everConnected = true;
      setConnection("online");
      save();
      if (resumed) loadHistory();
      flushOutbox();
    } else if (name === "session_token" && payload && payload.session_id === state.sessionId &&
        typeof payload.token === "string") {
      state.sessionToken = payload.token;
      save();
    } else if (name === "bot_uttered") {
      receive(payload);
    } else if (name === "agent_activity" && payload && typeof payload === "object") {
      agentActivity(payload);
    }
  }

  /** The agent is typing (or stopped), or has read the customer's messages. */
  function agentActivity(activity) {
    var who = typeof activity.agent === "string" && activity.agent
      ? "客服" + activity.agent.slice(0, 40) : "客服";
    if (activity.typing === true) showTyping(true, who);
    else if (activity.typing === false) showTyping(false);
    if (activity.read === true && advanceCustomerMessages("read")) {
      save();
      renderAll();
    }
  }

  function setConnection(status) {
    var texts = {
      connecting: "正在连接客服…",
      reconnecting: "网络连接中断，正在重新连接…",
      offline: "网络已断开，恢复后会自动重新连接"
    };
    connectionBar.textContent = texts[status] || "";
    connectionBar.hidden = !texts[status];
    connectionBar.className = "scw-connection scw-" + status;
    panel.dataset.connection = status;
  }

  // Another tab of the same shop shares the session: show what it sent and received.
  window.addEventListener("storage", function (event) {
    if (event.key !== STORAGE_KEY || !event.newValue) return;
    var other = loadState();
    if (!other.sessionId || other.sessionId !== state.sessionId) return;
    var mine = {};
    state.messages.forEach(function (m) { mine[m.key] = m; });
    var changed = false;
    other.messages.forEach(function (m) {
      if (!mine[m.key]) {
        state.messages.push(m); // appended: the clocks of browser and server may differ
        changed = true;
      } else if (STATUS_RANK[m.status] > STATUS_RANK[mine[m.key].status]) {
        mine[m.key].status = m.status; // the other tab saw it get further
        changed = true;
      }
    });
    Object.keys(other.csat).forEach(function (episode) {
      var theirs = other.csat[episode];
      var ours = state.csat[episode];
      if (!ours || (theirs.rating && !ours.rating) || (theirs.comment_sent && !ours.comment_sent)) {
        state.csat[episode] = theirs;
        changed = true;
      }
    });
    if (!changed) return;
    state.handoff = currentHandoff(state.messages);
    renderAll(); // not saved here: the next own change saves the union, without ping-pong
  });

  window.addEventListener("offline", function () {
    conn.offline = true;
    disconnect();
    setConnection("offline");
  });
  window.addEventListener("online", function () {
    conn.offline = false;
    conn.attempts = 0;
    if (state.open || state.sessionId) connect();
  });
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible" && !conn.offline && state.sessionId &&
        !(conn.socket && conn.socket.active)) {
      conn.attempts = 0;
      connect();
    }
  });

  // ---- start --------------------------------------------------------------------------

  function start() {
    document.body.appendChild(host);
    renderAll();
    // A returning customer reconnects at once, so agent messages reach them while the
    // panel is closed; a new visitor connects when opening the chat.
    if (state.sessionId) connect();
    setOpen(state.open || cfg.open, true);
  }

  window.ShopChat = {
    open: function () { setOpen(true); },
    close: function () { setOpen(false); },
    send: function (text) { if (typeof text === "string" && text.trim()) sendText(text.trim()); },
    sessionId: function () { return state.sessionId; }
  };

  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start);
})();
