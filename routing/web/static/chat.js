// The web chat for a person without LINE: start, answer the questions, wait, talk, leave.
// It follows /chat/api/events (server-sent events that carry no text) and reads what is new from
// /chat/api/state?after=N on each event, with a slow poll in case the stream breaks.
"use strict";

(() => {
  const POLL_MS = 10_000;
  const EVENT_NAMES = ["message", "waiting", "taken", "band", "closed", "taken_over", "transferred", "idle"];
  const STATUS_LINES = {
    none: "つないでいます。少しお待ちください。",
    intake: "",
    waiting: "順番にお待ちいただいています。相談員がつながると、ここでお知らせします。待っているあいだも、書いて送れます。",
    talking: "相談員とつながっています。",
    closed: "",
  };
  const SEND_FAILED = "うまく送れませんでした。通信の状態をお確かめのうえ、もう一度送ってください。書いた文はそのまま残っています。";
  const READ_FAILED = "つながりにくくなっています。このままお待ちいただくと、つながりしだい表示します。";

  const $ = (id) => document.getElementById(id);
  const kinds = JSON.parse($("chat").dataset.kinds || "{}");
  const desktop = window.matchMedia("(hover: hover) and (pointer: fine)");
  let seen = 0;
  let status = "none";
  let events = null;
  let busy = Promise.resolve();

  class Failure extends Error {
    constructor(status, detail) {
      super(detail || `status ${status}`);
      this.status = status;
      this.detail = typeof detail === "string" ? detail : "";
    }
  }

  async function call(method, url, body) {
    const init = { method, credentials: "same-origin", cache: "no-store", headers: {} };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(url, init);
    if (!response.ok) {
      let detail = "";
      try {
        detail = (await response.json()).detail;
      } catch (_) {
        /* no JSON body: the status says enough */
      }
      throw new Failure(response.status, detail);
    }
    return response.json();
  }

  // One request of this page at a time, so a message is never shown twice or out of order.
  function serial(task) {
    const run = busy.then(task);
    busy = run.catch(() => {});
    return run;
  }

  function instant(text) {
    return new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(text) ? text : `${text}Z`);
  }

  function clock(text) {
    return instant(text).toLocaleTimeString("ja-JP", { hour: "2-digit", minute: "2-digit", timeZone: "Asia/Tokyo" });
  }

  // Phone numbers and web addresses in a message become links (built as nodes: a message is never read as HTML).
  const LINKABLE = /(https:\/\/[^\s　）」]+|0\d{1,4}-\d{1,4}-\d{3,4})/g;

  function linked(words) {
    const parts = words.split(LINKABLE);
    return parts.map((part, i) => {
      if (i % 2 === 0) return part;
      const link = document.createElement("a");
      link.href = part.startsWith("https://") ? part : `tel:${part.replaceAll("-", "")}`;
      if (part.startsWith("https://")) link.rel = "noopener noreferrer";
      link.className = part.startsWith("https://") ? "url" : "tel";
      link.textContent = part;
      return link;
    });
  }

  function bubble(message) {
    const words = message.kind in kinds ? `（${kinds[message.kind]}）` : message.text;
    if (!words) return null;
    const item = document.createElement("li");
    item.className = `bubble from-${message.from}`;
    if (message.from !== "person") {
      const who = document.createElement("span");
      who.className = "who";
      who.textContent = message.from === "staff" ? "相談員" : "相談ダイヤル";
      item.append(who);
    }
    const text = document.createElement("p");
    text.className = "text";
    text.append(...(message.from === "person" ? [words] : linked(words)));
    const time = document.createElement("time");
    time.dateTime = message.at;
    time.textContent = clock(message.at);
    item.append(text, time);
    return item;
  }

  function showChoices(buttons) {
    const box = $("choices");
    box.replaceChildren(
      ...buttons.map(([label, data]) => {
        const button = document.createElement("button");
        button.type = "button";
        button.className = "choice";
        button.textContent = label;
        button.addEventListener("click", () => choose(label, data));
        return button;
      }),
    );
    box.hidden = buttons.length === 0;
  }

  function show(state) {
    const talk = $("talk");
    const fresh = talk.childElementCount === 0;
    let first = null;
    for (const message of state.messages) {
      if (message.seq <= seen) continue;
      seen = message.seq;
      const item = bubble(message);
      if (item) {
        talk.append(item);
        first = first || item;
      }
    }
    status = state.status;
    document.body.dataset.status = status;
    $("state").textContent = STATUS_LINES[status] || "";
    $("state").hidden = !$("state").textContent;
    showChoices(status === "intake" ? state.buttons : []);
    const closed = status === "closed";
    $("closed").hidden = !closed;
    $("composer").hidden = closed || status === "none";
    if (closed) stopFollowing();
    else follow();
    if (fresh) window.scrollTo({ top: 0 }); // a new chat is read from its greeting and what is recorded
    else if (first) bringIntoView(first);
  }

  // Show what is new: from its first message when it is longer than the screen (a greeting is read from its top).
  function bringIntoView(first) {
    const below = document.documentElement.scrollHeight - (first.getBoundingClientRect().top + window.scrollY);
    if (below > window.innerHeight * 0.7) first.scrollIntoView({ block: "start" });
    else window.scrollTo({ top: document.documentElement.scrollHeight });
  }

  function notice(text) {
    const box = $("notice");
    box.textContent = text || "";
    box.hidden = !text;
  }

  async function refresh() {
    try {
      show(await call("GET", `/chat/api/state?after=${seen}`));
      notice("");
    } catch (_) {
      notice(READ_FAILED);
    }
  }

  function follow() {
    if (events !== null || !window.EventSource) return;
    events = new EventSource("/chat/api/events");
    const changed = () => serial(refresh);
    events.onmessage = changed;
    for (const name of EVENT_NAMES) events.addEventListener(name, changed);
    events.onerror = () => {
      if (events && events.readyState === EventSource.CLOSED) {
        events = null; // refused (the chat ended): the poll carries on, and a new chat follows again
      }
    };
  }

  function stopFollowing() {
    if (events !== null) events.close();
    events = null;
  }

  async function say(body) {
    notice("");
    try {
      show(await call("POST", `/chat/api/say?after=${seen}`, body));
      return true;
    } catch (failure) {
      notice(failure instanceof Failure && [409, 429].includes(failure.status) && failure.detail ? failure.detail : SEND_FAILED);
      return false;
    }
  }

  function choose(label, data) {
    for (const button of $("choices").querySelectorAll("button")) button.disabled = true;
    serial(async () => {
      if (!(await say({ text: label, choice: data }))) {
        for (const button of $("choices").querySelectorAll("button")) button.disabled = false;
      }
    });
  }

  function send(event) {
    event.preventDefault();
    const box = $("text");
    const text = box.value.trim();
    if (!text) return;
    $("send").disabled = true;
    serial(async () => {
      if (await say({ text })) box.value = "";
      $("send").disabled = false;
      box.focus();
    });
  }

  function start() {
    return serial(async () => {
      seen = 0;
      $("talk").replaceChildren();
      try {
        show(await call("POST", "/chat/api/start"));
        notice("");
      } catch (failure) {
        const busy = "いま、つながりにくくなっています。少し時間をおいて、ページを読み込み直してください。";
        notice(failure instanceof Failure && failure.status === 429 && failure.detail ? failure.detail : busy);
      }
    });
  }

  function leave() {
    const dialog = $("leave-dialog");
    dialog.returnValue = "";
    dialog.showModal();
  }

  $("leave-dialog").addEventListener("close", () => {
    if ($("leave-dialog").returnValue !== "leave") return;
    serial(async () => {
      try {
        seen = 0;
        $("talk").replaceChildren();
        show(await call("POST", "/chat/api/leave"));
      } catch (_) {
        notice("うまく終えられませんでした。もう一度「相談を終える」を押してください。");
      }
    });
  });

  $("say").addEventListener("submit", send);
  $("text").addEventListener("keydown", (event) => {
    if (event.key !== "Enter" || event.shiftKey || event.isComposing || event.keyCode === 229 || !desktop.matches) return;
    send(event);
  });
  $("leave").addEventListener("click", leave);
  $("again").addEventListener("click", start);
  window.setInterval(() => {
    if (status !== "closed" && status !== "none") serial(refresh);
  }, POLL_MS);
  start();
})();
