// The service form's helpers (the form works without them): the area picker lists the chosen prefecture's
// municipalities and wards and adds the one picked to the chosen areas; "行を追加" adds an empty row of
// phone lines or hours; the new organisation's name shows only when "新しい団体を登録する" is chosen.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const NOT_FOUND = "一覧にない地域です。都道府県を選んでから、候補の中から選んでください。";
  const ALREADY = "この地域は、すでに選ばれています。";
  const UNREACHABLE = "地域の一覧を読み込めませんでした。市区町村の名前を入れて保存すると、そのまま加えられます。";
  let areas = []; // the chosen prefecture's areas: {lgcode, option, name}

  function listAreas(options) {
    const list = $("area-options");
    list.replaceChildren(
      ...options.map((area) => {
        const option = document.createElement("option");
        option.value = area.option;
        return option;
      }),
    );
  }

  async function loadAreas() {
    const prefecture = $("add_prefecture").value;
    try {
      const answer = await fetch(`/directory/areas?prefecture=${encodeURIComponent(prefecture)}`, {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
      if (!answer.ok) throw new Error(`status ${answer.status}`);
      areas = (await answer.json()).areas;
      listAreas(areas);
      $("area-note").textContent = "";
    } catch {
      $("area-note").textContent = UNREACHABLE;
    }
  }

  function pickedArea() {
    const typed = $("add_area").value.trim();
    if (!typed) return undefined;
    const code = typed.match(/[0-9]{6}/);
    const exact = areas.find((area) => area.option === typed || (code && area.lgcode === code[0]));
    const named = areas.filter((area) => area.name.endsWith(typed));
    return exact ?? (named.length === 1 ? named[0] : undefined);
  }

  function addArea() {
    const note = $("area-note");
    const area = pickedArea();
    if (!area) {
      note.textContent = NOT_FOUND;
      return;
    }
    const chosen = $("chosen-areas");
    if (chosen.querySelector(`input[value="${area.lgcode}"]`)) {
      note.textContent = ALREADY;
      return;
    }
    const item = document.createElement("li");
    const label = document.createElement("label");
    const box = document.createElement("input");
    label.className = "choice";
    box.type = "checkbox";
    box.name = "areas";
    box.value = area.lgcode;
    box.checked = true;
    label.append(box, ` ${area.name}`);
    item.append(label);
    chosen.append(item);
    $("add_area").value = "";
    note.textContent = `「${area.name}」を加えました。保存すると反映されます。`;
  }

  function addRow(section) {
    const rows = $(`${section}-rows`);
    const next = Number(rows.dataset.next);
    const template = $(`${section}-template`).innerHTML.replaceAll("__i__", String(next));
    rows.insertAdjacentHTML("beforeend", template);
    rows.dataset.next = String(next + 1);
    rows.lastElementChild.querySelector("input:not([type=hidden])")?.focus();
  }

  function showNewOrganization() {
    const wanted = $("organization").value === "new";
    document.querySelector(".new-organization").hidden = !wanted;
  }

  function start() {
    if (!$("add_prefecture")) return;
    $("add_prefecture").addEventListener("change", loadAreas);
    $("add-area").hidden = false;
    $("add-area").addEventListener("click", addArea);
    $("add_area").addEventListener("keydown", (event) => {
      if (event.key === "Enter") {
        event.preventDefault(); // Enter adds the area; it does not save the whole form
        addArea();
      }
    });
    for (const button of document.querySelectorAll("button.add-row")) {
      button.hidden = false;
      button.addEventListener("click", () => addRow(button.dataset.rows));
    }
    $("organization").addEventListener("change", showNewOrganization);
    showNewOrganization();
    loadAreas();
  }

  start();
})();
