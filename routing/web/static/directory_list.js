// The windows list's helpers (the list works without them): "すべて" chooses every window shown for the bulk
// change, the count of chosen windows is said beside the button, and the days and times of extended hours show
// only when extended hours are chosen.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const boxes = () => [...document.querySelectorAll('input[name="service"][form="bulk"]')];

  function count() {
    const all = boxes();
    const chosen = all.filter((box) => box.checked).length;
    const every = $("select-shown");
    every.checked = all.length > 0 && chosen === all.length;
    every.indeterminate = chosen > 0 && chosen < all.length;
    $("selected-count").textContent = chosen ? `${chosen}件の窓口を選んでいます。` : "窓口がまだ選ばれていません。";
  }

  function showHours() {
    const extended = document.querySelector('input[name="bulk-kind"][value="open"]');
    $("bulk-hours").hidden = !extended.checked;
  }

  function start() {
    if (!$("bulk")) return;
    const every = $("select-shown");
    if (every && boxes().length) {
      every.closest("label").hidden = false;
      every.addEventListener("change", () => {
        for (const box of boxes()) box.checked = every.checked;
        count();
      });
      for (const box of boxes()) box.addEventListener("change", count);
      count();
    }
    for (const kind of document.querySelectorAll('input[name="bulk-kind"]')) kind.addEventListener("change", showHours);
    showHours();
  }

  start();
})();
