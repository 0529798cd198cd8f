// The dashboard, live. /dashboard/events (ids and list names, never a text) says which list changed; the list is then
// read again from /dashboard/fragments/PART, rendered by the server with the page's own template, and put in place
// keeping whatever the counsellor was typing there. Changes are numbered per organisation: a number skipped (a
// reconnection, a missed event) reads every list again. Without this script the page is the same, new at each reload.
"use strict";

(() => {
  const main = document.getElementById("dashboard");
  if (!main || main.dataset.seq === undefined || !window.EventSource) return;
  const LISTS = ["cases", "inbox", "outbox"];
  const BOARDS = ["open", "waiting"];
  const BOARD_GAP_MS = 2_000; // calls move in bursts: the boards are read at most this often
  const BOARD_EVERY_MS = 60_000; // windows open and close, and waits grow, with time alone
  const SAID = {
    live: "この画面は、新しい紹介や相談の動きを自動で表示します。",
    arrived: "新しい紹介が受信箱に届きました。",
    again: "接続が切れたため、つなぎ直しています。",
    unread: "一覧を読み込めませんでした。しばらくしても変わらないときは、ページを読み込み直してください。",
    stopped: "自動の更新が止まりました。ページを読み込み直してください。",
    ended: "ログインの期限が切れたため、自動の更新を止めました。ページを読み込み直して、もう一度ログインしてください。",
  };
  const note = document.getElementById("live-note");
  const pending = new Set();
  let seq = Number(main.dataset.seq);
  let connected = false;
  let reading = null;
  let boardsReadAt = 0;
  let boardTimer = null;
  let stopped = false;

  function say(text) {
    note.hidden = false;
    note.textContent = text;
  }

  // --- reading parts again, one read at a time; parts asked for meanwhile join the next round ------------------

  function want(names) {
    for (const name of names) if (main.querySelector(`[data-part="${name}"]`)) pending.add(name);
    if (reading === null && pending.size && !stopped) {
      reading = readPending().finally(() => {
        reading = null;
        want([]);
      });
    }
  }

  async function readPending() {
    while (pending.size && !stopped) {
      const names = [...pending];
      pending.clear();
      for (const name of names) await read(name);
    }
  }

  async function read(name) {
    let response;
    try {
      response = await fetch(`/dashboard/fragments/${name}`, { credentials: "same-origin", cache: "no-store" });
    } catch (_) {
      say(SAID.unread);
      return;
    }
    if (response.status === 401) return stop(SAID.ended);
    if (!response.ok) return say(SAID.unread);
    swap(main.querySelector(`[data-part="${name}"]`), await response.text());
  }

  // --- putting a part in place, keeping what was typed there ---------------------------------------------------

  function typed(field) {
    if (field.tagName === "SELECT") {
      const first = [...field.options].find((o) => o.defaultSelected) || field.options[0];
      return first ? field.value !== first.value : false;
    }
    return field.type !== "hidden" && field.value !== field.defaultValue;
  }

  function swap(holder, html) {
    const kept = [...holder.querySelectorAll("input[id], select[id], textarea[id]")].filter(typed).map((f) => [f.id, f.value]);
    const focused = holder.contains(document.activeElement) ? document.activeElement.id : "";
    const before = new Set([...holder.querySelectorAll("[data-row]")].map((row) => row.dataset.row));
    holder.innerHTML = html;
    for (const [id, value] of kept) {
      const field = document.getElementById(id);
      if (field && holder.contains(field)) field.value = value;
    }
    if (focused && document.getElementById(focused)) document.getElementById(focused).focus();
    for (const row of holder.querySelectorAll("[data-row]")) if (!before.has(row.dataset.row)) row.classList.add("fresh");
  }

  // --- following the stream -------------------------------------------------------------------------------------

  function boardsSoon() {
    if (boardTimer !== null) return;
    boardTimer = window.setTimeout(() => {
      boardTimer = null;
      boardsReadAt = Date.now();
      want(BOARDS);
    }, Math.max(0, boardsReadAt + BOARD_GAP_MS - Date.now()));
  }

  const events = new EventSource("/dashboard/events");

  function stop(text) {
    stopped = true;
    events.close();
    main.dataset.live = "off";
    say(text);
  }

  events.addEventListener("ready", (event) => {
    const now = JSON.parse(event.data).seq;
    if (now !== seq) want(LISTS); // changed since the page (or the last event) was read
    if (connected) want(BOARDS); // back after a break: calls moved meanwhile
    seq = now;
    connected = true;
    main.dataset.live = "on";
    say(SAID.live);
  });
  events.addEventListener("change", (event) => {
    const change = JSON.parse(event.data);
    want(change.seq === seq + 1 ? change.lists : LISTS);
    seq = change.seq;
    if (change.status === "proposed" && change.lists.includes("inbox")) say(SAID.arrived);
  });
  events.addEventListener("calls", boardsSoon);
  events.addEventListener("ended", () => stop(SAID.ended));
  events.onerror = () => {
    if (stopped) return;
    if (events.readyState === EventSource.CLOSED) stop(SAID.stopped);
    else say(SAID.again);
  };
  window.setInterval(() => want(BOARDS), BOARD_EVERY_MS);
})();
