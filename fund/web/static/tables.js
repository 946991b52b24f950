// On a phone a table's rows become blocks and its header is set aside: each cell then shows its column's name
// (data-label, read from the header once; a cell that has one keeps it). Also after htmx replaces part of a page.
(function () {
  "use strict";
  function label(root) {
    root.querySelectorAll("table").forEach(function (table) {
      var heads = table.querySelectorAll("thead th");
      // A table that labels its cells itself (span.etiquette, shown on phones by its own styles) is left as it is.
      if (!heads.length || table.querySelector(".etiquette")) return;
      var names = Array.prototype.map.call(heads, function (th) { return th.textContent.trim(); });
      table.querySelectorAll("tbody tr").forEach(function (row) {
        Array.prototype.forEach.call(row.children, function (cell, i) {
          if (!cell.hasAttribute("data-label") && names[i]) cell.setAttribute("data-label", names[i]);
        });
      });
    });
  }
  document.addEventListener("DOMContentLoaded", function () { label(document); });
  document.addEventListener("htmx:afterSwap", function (event) { label(event.target); });
})();
