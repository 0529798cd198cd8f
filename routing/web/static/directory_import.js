// The import page's helper (the page works without it): a file larger than the service takes is stopped here,
// saying so, instead of being sent and refused by the server.
"use strict";

(() => {
  const MOST = 1000 * 1000; // a request may bring at most 1 MiB, the form's own fields included
  const TOO_BIG =
    "このファイルは 1MB を超えているため、ここでは取り込めません。運用担当の方に、tsunagu directory import での取り込みをご依頼ください。";
  const form = document.getElementById("upload");
  if (!form) return;
  const note = document.getElementById("file-note");
  form.addEventListener("submit", (event) => {
    const file = document.getElementById("file").files[0];
    const big = Boolean(file && file.size > MOST);
    if (big) event.preventDefault();
    note.textContent = big ? TOO_BIG : "";
    note.className = big ? "field-error" : "field-note";
  });
})();
