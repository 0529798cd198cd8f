// The counsellor's chat console: take the next chat, read and answer it, mark its band, hand it on, close it.
// A supervisor also sees the desk (who waits, who holds what), reads along, takes over, and keeps the
// templates and word lists. Everything goes through the staff chat API with the session cookie and
// the page's CSRF token; /api/chats/events (no texts) says when to read again.
"use strict";

(() => {
  const TICK_MS = 5_000;
  const FALLBACK_MS = 15_000;
  const EVENT_NAMES = ["message", "waiting", "taken", "band", "closed", "taken_over", "transferred", "idle"];
  const DELIVERY = { pending: "送信中", failed: "届けられませんでした", quota: "送信の上限に達しています", blocked: "ブロックされています" };
  const SENDERS = { person: "ご本人", staff: "相談員", system: "自動" };
  const BY_STATUS = {
    401: "ログインの期限が切れました。ページを読み込み直して、もう一度ログインしてください。",
    403: "この操作は、いまのアカウントではできません。ページを読み込み直してから、もう一度お試しください。",
    404: "この相談が見つかりませんでした。すでに別の窓口へ移ったか、終わった可能性があります。",
    409: "ほかの操作と重なったため、できませんでした。少し待ってから、もう一度お試しください。",
    422: "入力された内容を確かめられませんでした。お確かめのうえ、もう一度お試しください。",
  };
  const CALLBACK_NUMBER = "電話番号として読めませんでした。090-1234-5678 のように、数字とハイフンで入れてください。";
  const UNREACHABLE = "サーバーにつながりませんでした。通信の状態をお確かめのうえ、もう一度お試しください。";

  const $ = (id) => document.getElementById(id);
  const setup = JSON.parse($("console").dataset.setup);
  const labels = setup.labels;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const skew = Date.parse(setup.now) - Date.now(); // elapsed times count on the service's clock
  let mine = [];
  let opened = null; // the chat on screen: its summary fields, as last read
  let seen = 0;
  let busy = Promise.resolve();
  let counted = 0; // the chat on screen's message count when last read
  const heard = new Map(); // chat id -> its latest event, until the lists are read again
  let queued = false;
  let templates = [];

  class Failure extends Error {
    constructor(status, detail) {
      super(`status ${status}`);
      this.status = status;
      this.detail = typeof detail === "string" ? detail : "";
    }
  }

  async function api(method, url, body) {
    const init = { method, credentials: "same-origin", cache: "no-store", headers: { "X-CSRF-Token": csrf } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(url, init);
    } catch (_) {
      throw new Failure(0, "");
    }
    if (response.status === 204) return null;
    if (!response.ok) {
      let detail = "";
      try {
        detail = (await response.json()).detail;
      } catch (_) {
        /* no JSON: the status says enough */
      }
      throw new Failure(response.status, detail);
    }
    return response.json();
  }

  function kindly(failure) {
    if (!(failure instanceof Failure)) return BY_STATUS[422];
    if (failure.status === 0) return UNREACHABLE;
    for (const [clue, japanese] of setup.problems) if (failure.detail.includes(clue)) return japanese;
    return BY_STATUS[failure.status] || BY_STATUS[409];
  }

  function serial(task) {
    const run = busy.then(task);
    busy = run.catch(() => {});
    return run;
  }

  function say(id, text) {
    $(id).textContent = text || "";
  }

  // --- time ---------------------------------------------------------------------------------------

  function instant(text) {
    return Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(text) ? text : `${text}Z`);
  }

  function elapsed(text) {
    const minutes = Math.max(0, Math.floor((Date.now() + skew - instant(text)) / 60_000));
    if (minutes < 1) return "1分未満";
    if (minutes < 60) return `${minutes}分`;
    return `${Math.floor(minutes / 60)}時間${minutes % 60}分`;
  }

  function clock(text) {
    return new Date(instant(text)).toLocaleTimeString("ja-JP", { hour: "2-digit", minute: "2-digit", timeZone: "Asia/Tokyo" });
  }

  function since(text) {
    const span = document.createElement("span");
    if (text) {
      span.dataset.since = text;
      span.textContent = elapsed(text);
    } else {
      span.textContent = "—";
    }
    return span;
  }

  function tick() {
    for (const span of document.querySelectorAll("[data-since]")) span.textContent = elapsed(span.dataset.since);
  }

  // --- small builders -----------------------------------------------------------------------------

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function band(code) {
    return el("span", `band ${code}`, labels.bands[code] || code);
  }

  function topic(chat) {
    return labels.topics[chat.topic] || "相談の内容は未回答";
  }

  function place(chat) {
    return chat.prefecture ? labels.prefectures[chat.prefecture] || chat.prefecture : "地域は未回答（全国）";
  }

  function button(text, onClick, className) {
    const node = el("button", className || "", text);
    node.type = "button";
    node.addEventListener("click", onClick);
    return node;
  }

  // --- the chats the counsellor holds -------------------------------------------------------------

  async function loadMine() {
    mine = await api("GET", "/api/chats");
    const list = $("mine");
    list.replaceChildren(
      ...mine.map((chat) => {
        const item = el("li", `band-${chat.band}`);
        const pick = button("", () => serial(() => open(chat.id)));
        pick.setAttribute("aria-current", String(opened !== null && opened.id === chat.id));
        const head = el("span");
        head.append(band(chat.band), el("span", "topic", topic(chat)));
        const times = el("small");
        times.append("到着から ", since(chat.arrived_at || chat.opened_at), "・最後の書き込みから ", since(chat.last_person_at));
        pick.append(head, el("small", "", `${place(chat)}・${labels.media[chat.medium] || chat.medium}`), times);
        item.append(pick);
        return item;
      }),
    );
    $("mine-empty").hidden = mine.length > 0;
  }

  // --- one chat -----------------------------------------------------------------------------------

  function line(message) {
    const item = el("li", `from-${message.from}`);
    let meta = `${SENDERS[message.from] || ""} ${clock(message.at)}`;
    if (message.from !== "person" && DELIVERY[message.delivery]) meta += `（${DELIVERY[message.delivery]}）`;
    const text = message.kind in labels.kinds ? el("p", "text wordless", `［${labels.kinds[message.kind]}］`) : el("p", "text", message.text);
    item.append(el("span", "meta", meta), text);
    return item;
  }

  function showIntake(chat) {
    const rows = [
      ["相談の内容", topic(chat)],
      ["地域", place(chat)],
      ["年代", labels.ages[chat.age_band] || "未回答"],
      ["経路", labels.media[chat.medium] || chat.medium],
      ["窓口", labels.windows[chat.service_id] || "—"],
      ["到着から", since(chat.arrived_at || chat.opened_at)],
      ["最後の書き込みから", since(chat.last_person_at)],
    ];
    $("intake").replaceChildren(...rows.flatMap(([term, value]) => [el("dt", "", term), (() => {
      const dd = el("dd");
      dd.append(value);
      return dd;
    })()]));
  }

  function showChat(chat) {
    opened = chat;
    const title = $("open-title");
    title.replaceChildren(band(chat.band), `${topic(chat)}の相談`);
    const link = $("case-link");
    link.hidden = !chat.case_id;
    if (chat.case_id) link.href = `/cases/${encodeURIComponent(chat.case_id)}`;
    showIntake(chat);
    const held = chat.counsellor === setup.me;
    const live = chat.status === "talking" && held;
    $("readonly").hidden = held || chat.status === "closed" || !setup.supervisor;
    $("ended").hidden = chat.status !== "closed";
    $("reply").hidden = !live;
    $("tools").hidden = !live;
    $("band").value = chat.band;
    $("nothing-open").hidden = true;
    $("open").hidden = false;
    for (const item of $("mine").querySelectorAll("button[aria-current]")) item.setAttribute("aria-current", "false");
    const current = mine.findIndex((c) => c.id === chat.id);
    if (current >= 0) $("mine").children[current].querySelector("button").setAttribute("aria-current", "true");
  }

  function addLines(chat) {
    const transcript = $("transcript");
    if (seen === 0 && chat.shared_from > 1) transcript.append(el("li", "from-system", "これより前のやりとりは、共有されていません。"));
    for (const message of chat.messages) {
      if (message.seq <= seen) continue;
      seen = message.seq;
      transcript.append(line(message));
    }
    counted = Math.max(counted, chat.message_count);
    transcript.scrollTop = transcript.scrollHeight;
  }

  function showFresh(chat) {
    seen = 0;
    counted = 0;
    $("transcript").replaceChildren();
    showChat(chat);
    addLines(chat);
  }

  async function open(chatId) {
    try {
      showFresh(await api("GET", `/api/chats/${encodeURIComponent(chatId)}`));
    } catch (failure) {
      say("said", kindly(failure));
    }
  }

  async function readMore() {
    if (opened === null) return;
    const chat = await api("GET", `/api/chats/${encodeURIComponent(opened.id)}?after=${seen}`);
    showChat(chat);
    addLines(chat);
  }

  function closeView() {
    opened = null;
    seen = 0;
    counted = 0;
    $("open").hidden = true;
    $("nothing-open").hidden = false;
  }

  // --- actions ------------------------------------------------------------------------------------

  async function takeNext() {
    say("said", "");
    $("take").disabled = true;
    try {
      const chat = await api("POST", "/api/chats/next");
      if (chat === null) {
        say("said", "いま待っている相談はありません。");
        return;
      }
      say("said", "相談が届きました。受付内容とご本人の言葉をお読みください。");
      await loadMine();
      showFresh(chat);
      $("reply-text").focus();
    } catch (failure) {
      say("said", kindly(failure));
    } finally {
      $("take").disabled = false;
    }
  }

  async function send(event) {
    event.preventDefault();
    const box = $("reply-text");
    const text = box.value.trim();
    if (!text || opened === null) return;
    $("send").disabled = true;
    try {
      await api("POST", `/api/chats/${encodeURIComponent(opened.id)}/messages`, { text });
      box.value = "";
      await readMore();
    } catch (failure) {
      say("said", kindly(failure));
    } finally {
      $("send").disabled = false;
    }
  }

  function insertTemplate() {
    const select = $("template");
    const template = templates.find((t) => t.id === select.value);
    select.value = "";
    if (!template) return;
    const box = $("reply-text");
    const start = box.selectionStart ?? box.value.length;
    const end = box.selectionEnd ?? box.value.length;
    box.value = box.value.slice(0, start) + template.body + box.value.slice(end);
    box.focus();
    box.setSelectionRange(start + template.body.length, start + template.body.length);
  }

  async function setBand() {
    if (opened === null) return;
    try {
      await api("POST", `/api/chats/${encodeURIComponent(opened.id)}/band`, { band: $("band").value });
      say("said", `危険度を「${labels.bands[$("band").value]}」にしました。`);
      await loadMine();
      await readMore();
    } catch (failure) {
      say("said", kindly(failure));
      $("band").value = opened.band;
    }
  }

  async function closeChat() {
    if (opened === null) return;
    try {
      await api("POST", `/api/chats/${encodeURIComponent(opened.id)}/close`);
      say("said", "相談を終えました。おつかれさまでした。");
      await readMore();
      await loadMine();
    } catch (failure) {
      say("said", kindly(failure));
    }
  }

  function openCallback() {
    if (opened === null) return;
    $("callback-number").value = "";
    $("callback-consent").checked = false;
    showCallbackError("");
    $("callback-dialog").showModal();
    $("callback-number").focus();
  }

  function showCallbackError(text) {
    $("callback-error").textContent = text;
    $("callback-error").hidden = !text;
  }

  async function bookCallback() {
    const number = $("callback-number").value.trim();
    if (!number) return showCallbackError("ご本人が伝えてくれた電話番号を入れてください。");
    if (!$("callback-consent").checked) return showCallbackError("ご本人の同意を確かめてから、チェックを入れてください。");
    try {
      await api("POST", `/api/chats/${encodeURIComponent(opened.id)}/callback`, { number, consent: true });
    } catch (failure) {
      showCallbackError(failure instanceof Failure && failure.status === 422 ? CALLBACK_NUMBER : kindly(failure));
      return;
    }
    $("callback-dialog").close("done");
    say("said", "折り返しのお電話を予約しました。ご本人には、お電話する番号をお知らせしました。");
    await readMore();
  }

  async function takeOver(chatId) {
    try {
      const chat = await api("POST", `/api/chats/${encodeURIComponent(chatId)}/take-over`);
      say("said", "相談を引き継ぎました。");
      await loadMine();
      showFresh(chat);
      await loadDesk();
    } catch (failure) {
      say("said", kindly(failure));
    }
  }

  // --- handing on ---------------------------------------------------------------------------------

  function linkSentence(window) {
    return `${window.name}では、SNSでの相談を受け付けています。よろしければ、こちらからも相談してみてください。\n${window.own_sns_url}`;
  }

  async function openTransfer() {
    if (opened === null) return;
    const dialog = $("transfer-dialog");
    for (const id of ["windows-here-set", "windows-links-set", "windows-none", "share-set", "transfer-go", "transfer-error"]) $(id).hidden = true;
    $("windows-loading").hidden = false;
    $("share-reason").value = "";
    $("consent-link").href = $("case-link").href;
    dialog.querySelector('input[name="share"][value="none"]').checked = true;
    dialog.showModal();
    let windows;
    try {
      windows = await api("GET", `/api/chats/${encodeURIComponent(opened.id)}/windows`);
    } catch (failure) {
      $("windows-loading").hidden = true;
      showTransferError(kindly(failure));
      return;
    }
    $("windows-loading").hidden = true;
    const here = windows.filter((w) => !w.own_sns_url);
    const links = windows.filter((w) => w.own_sns_url);
    $("windows-here").replaceChildren(
      ...here.map((w, i) => {
        const item = el("li");
        const label = el("label", "choice");
        const radio = el("input");
        radio.type = "radio";
        radio.name = "window";
        radio.value = w.service_id;
        radio.checked = i === 0;
        radio.dataset.name = w.name;
        label.append(radio, ` ${w.name}`, el("small", "", `${labels.tiers[w.tier] || w.tier}・空き ${w.free_lines}`));
        item.append(label);
        return item;
      }),
    );
    $("windows-links").replaceChildren(
      ...links.map((w) => {
        const item = el("li");
        item.append(w.name, el("small", "", labels.tiers[w.tier] || w.tier), " ");
        item.append(
          button("リンクを返信欄に入れる", () => {
            const box = $("reply-text");
            box.value = box.value ? `${box.value}\n${linkSentence(w)}` : linkSentence(w);
            dialog.close("link");
            say("said", "返信欄にリンクを入れました。読み直してから送ってください。");
            box.focus();
          }, "quiet"),
        );
        return item;
      }),
    );
    $("windows-here-set").hidden = here.length === 0;
    $("windows-links-set").hidden = links.length === 0;
    $("share-set").hidden = here.length === 0;
    $("transfer-go").hidden = here.length === 0;
    $("windows-none").hidden = windows.length > 0;
  }

  function showTransferError(text) {
    $("transfer-error").textContent = text;
    $("transfer-error").hidden = !text;
  }

  async function transfer() {
    const dialog = $("transfer-dialog");
    const target = dialog.querySelector('input[name="window"]:checked');
    const share = dialog.querySelector('input[name="share"]:checked').value;
    const reason = $("share-reason").value.trim();
    if (!target) return showTransferError("つなぐ窓口を選んでください。");
    if (share === "exception" && !reason) {
      showTransferError("「生命の安全のための例外」を選んだときは、その理由を書いてください。");
      $("share-reason").focus();
      return;
    }
    showTransferError("");
    try {
      await api("POST", `/api/chats/${encodeURIComponent(opened.id)}/transfer`, {
        service_id: target.value,
        share,
        reason: share === "exception" ? reason : null,
      });
    } catch (failure) {
      showTransferError(kindly(failure));
      return;
    }
    dialog.close("done");
    say("said", `${target.dataset.name}へおつなぎしました。相談はその窓口の順番待ちに入りました。`);
    closeView();
    await loadMine();
  }

  // --- the supervisor's desk ----------------------------------------------------------------------

  async function loadDesk() {
    if (!setup.supervisor) return null;
    const desk = await api("GET", "/api/chats/desk");
    shownDesk(desk);
    return desk;
  }

  function shownDesk(desk) {
    const counts = { crisis: 0, elevated: 0, normal: 0 };
    for (const chat of desk.waiting) counts[chat.band] = (counts[chat.band] || 0) + 1;
    $("desk-counts").replaceChildren(
      ...Object.entries(counts).map(([code, n]) => {
        const badge = band(n > 0 ? code : "none");
        badge.textContent = `${labels.bands[code]}で待機 ${n}件`;
        return badge;
      }),
    );
    const actions = (chat) => {
      const cell = el("td");
      cell.append(button("読む", () => serial(() => open(chat.id)), "quiet"));
      if (chat.counsellor !== setup.me) cell.append(" ", button("引き継ぐ", () => serial(() => takeOver(chat.id)), "quiet"));
      return cell;
    };
    const row = (chat, cells) => {
      const tr = el("tr");
      const first = el("td");
      first.append(band(chat.band));
      tr.append(first, el("td", "", topic(chat)), ...cells, actions(chat));
      return tr;
    };
    $("desk-waiting").replaceChildren(
      ...desk.waiting.map((chat) => {
        const wait = el("td");
        wait.append(since(chat.arrived_at || chat.opened_at));
        return row(chat, [wait]);
      }),
    );
    if (desk.waiting.length === 0) $("desk-waiting").append(emptyRow(4, "待っている相談はありません。"));
    $("desk-talking").replaceChildren(
      ...desk.talking.map((chat) => {
        const held = el("td");
        held.append(since(chat.assigned_at));
        return row(chat, [el("td", "", setup.colleagues[chat.counsellor] || "（名前のわからない相談員）"), held]);
      }),
    );
    if (desk.talking.length === 0) $("desk-talking").append(emptyRow(5, "対応中の相談はありません。"));
  }

  function emptyRow(span, text) {
    const tr = el("tr");
    const td = el("td", "empty", text);
    td.colSpan = span;
    tr.append(td);
    return tr;
  }

  // --- templates and word lists -------------------------------------------------------------------

  async function loadTemplates() {
    templates = await api("GET", "/api/chats/templates");
    const select = $("template");
    select.replaceChildren(select.options[0], ...templates.map((t) => new Option(t.title, t.id)));
    if (!setup.supervisor) return;
    $("template-list").replaceChildren(
      ...templates.map((t) => {
        const item = el("li");
        const text = el("span");
        text.append(el("strong", "", t.title), el("small", "times", t.body));
        item.append(text, button("削除", () => serial(() => removeTemplate(t)), "quiet"));
        return item;
      }),
    );
    if (templates.length === 0) $("template-list").append(el("li", "empty", "定型文はまだありません。"));
  }

  async function addTemplate(event) {
    event.preventDefault();
    try {
      await api("POST", "/api/chats/templates", { title: $("template-title").value.trim(), body: $("template-body").value.trim() });
      $("template-title").value = "";
      $("template-body").value = "";
      say("template-said", "定型文を加えました。");
      await loadTemplates();
    } catch (failure) {
      say("template-said", kindly(failure));
    }
  }

  async function removeTemplate(template) {
    try {
      await api("DELETE", `/api/chats/templates/${encodeURIComponent(template.id)}`);
      say("template-said", `「${template.title}」を削除しました。`);
      await loadTemplates();
    } catch (failure) {
      say("template-said", kindly(failure));
    }
  }

  async function loadWords() {
    const words = await api("GET", "/api/chats/words");
    $("words-crisis").value = words.crisis.join("\n");
    $("words-elevated").value = words.elevated.join("\n");
  }

  function wordsOf(id) {
    return $(id).value.split("\n").map((w) => w.trim()).filter(Boolean);
  }

  async function saveWords(event) {
    event.preventDefault();
    try {
      const saved = await api("PUT", "/api/chats/words", { crisis: wordsOf("words-crisis"), elevated: wordsOf("words-elevated") });
      $("words-crisis").value = saved.crisis.join("\n");
      $("words-elevated").value = saved.elevated.join("\n");
      say("words-said", "保存しました。数秒のうちに、すべての窓口で使われます。");
    } catch (failure) {
      say("words-said", failure.status === 422 ? "言葉は1つにつき2〜40文字で、1行に1つずつ書いてください。" : kindly(failure));
    }
  }

  // --- following changes --------------------------------------------------------------------------

  function needsReading(known) {
    return known !== undefined && (known.message_count > counted || known.status !== opened.status || known.band !== opened.band);
  }

  // Read the lists again, and the chat on screen only when it changed: every read of a transcript is audited.
  async function refresh(events = []) {
    try {
      await loadMine();
      const desk = await loadDesk();
      if (opened === null) return;
      const event = events.find((e) => e.chat === opened.id);
      const listed = [...mine, ...(desk ? [...desk.waiting, ...desk.talking] : [])].find((c) => c.id === opened.id);
      const known = event ? { message_count: event.seq, status: event.status, band: event.band } : listed;
      if (needsReading(known)) await readMore();
    } catch (failure) {
      say("said", kindly(failure));
    }
  }

  // Events that arrive while a refresh waits its turn join it: a burst of changes is read once.
  function changed(event) {
    try {
      const data = JSON.parse(event.data);
      if (data.chat) heard.set(data.chat, data);
    } catch (_) {
      /* a change without a chat: the lists are read again all the same */
    }
    if (queued) return;
    queued = true;
    serial(() => {
      queued = false;
      const events = [...heard.values()];
      heard.clear();
      return refresh(events);
    });
  }

  function follow() {
    if (!window.EventSource) return;
    const events = new EventSource("/api/chats/events");
    events.onmessage = changed;
    for (const name of EVENT_NAMES) events.addEventListener(name, changed);
  }

  // --- wiring -------------------------------------------------------------------------------------

  $("take").addEventListener("click", () => serial(takeNext));
  $("reply").addEventListener("submit", (event) => serial(() => send(event)));
  $("reply-text").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && !event.isComposing) $("reply").requestSubmit();
  });
  $("template").addEventListener("change", insertTemplate);
  $("band").addEventListener("change", () => serial(setBand));
  $("transfer-open").addEventListener("click", () => serial(openTransfer));
  $("transfer-go").addEventListener("click", () => serial(transfer));
  $("callback-open").addEventListener("click", openCallback);
  $("callback-go").addEventListener("click", () => serial(bookCallback));
  $("close-open").addEventListener("click", () => {
    $("close-dialog").returnValue = "";
    $("close-dialog").showModal();
  });
  $("close-dialog").addEventListener("close", () => {
    if ($("close-dialog").returnValue === "close") serial(closeChat);
  });
  $("take-over-open").addEventListener("click", () => opened && serial(() => takeOver(opened.id)));
  if (setup.supervisor) {
    $("template-form").addEventListener("submit", (event) => serial(() => addTemplate(event)));
    $("words-form").addEventListener("submit", (event) => serial(() => saveWords(event)));
  }
  window.setInterval(tick, TICK_MS);
  window.setInterval(() => serial(() => refresh()), FALLBACK_MS);
  follow();
  serial(async () => {
    try {
      await Promise.all([loadMine(), loadTemplates(), loadDesk(), setup.supervisor ? loadWords() : null]);
    } catch (failure) {
      say("said", kindly(failure));
    }
  });
})();
