// The report's script: sorting (click or Enter on a column title) and filtering the evaluations table,
// choosing the best-so-far chart's x axis, and, on a served page whose run is running, swapping in a
// freshly rendered <main> every few seconds without losing what the reader had chosen.
(function () {
  "use strict";
  var sortState = {column: null, descending: false};  // column: the index of the sorted column's title

  function cellKey(row, column) {
    var cell = row.cells[column];
    var key = cell && cell.hasAttribute("data-sort") ? cell.getAttribute("data-sort") : null;
    if (key === null || key === "") return {missing: true};
    var number = Number(key);
    return isNaN(number) ? {text: key.toLowerCase()} : {number: number};
  }

  function compare(a, b) {
    if (a.missing || b.missing) return a.missing === b.missing ? 0 : (a.missing ? 1 : -1);
    if (a.number !== undefined && b.number !== undefined) return a.number - b.number;
    var x = a.text !== undefined ? a.text : String(a.number), y = b.text !== undefined ? b.text : String(b.number);
    return x < y ? -1 : x > y ? 1 : 0;
  }

  function sortTable(table, column, descending) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (r, s) {
      var a = cellKey(r, column), b = cellKey(s, column);
      if (a.missing || b.missing) return compare(a, b);  // empty cells last either way
      return descending ? compare(b, a) : compare(a, b);
    });
    rows.forEach(function (row) { body.appendChild(row); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, n) {
      if (n === column) th.setAttribute("aria-sort", descending ? "descending" : "ascending");
      else th.removeAttribute("aria-sort");
    });
    sortState = {column: column, descending: descending};
  }

  function applyFilter(table, text) {
    var words = text.toLowerCase().split(/\s+/).filter(Boolean);
    var shown = 0;
    Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
      var haystack = row.textContent.toLowerCase();
      var match = words.every(function (word) { return haystack.indexOf(word) >= 0; });
      row.hidden = !match;
      if (match) shown += 1;
    });
    var count = document.getElementById("evaluation-count");
    if (count) count.textContent = shown + " of " + table.tBodies[0].rows.length + " evaluations";
  }

  function initTable(previous) {
    var table = document.getElementById("evaluations");
    if (!table) return;
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, n) {
      function activate() {
        var descending = sortState.column === n ? !sortState.descending : false;
        sortTable(table, n, descending);
      }
      th.addEventListener("click", activate);
      th.addEventListener("keydown", function (event) { if (event.key === "Enter") activate(); });
    });
    var filter = document.getElementById("evaluation-filter");
    if (filter) {
      filter.addEventListener("input", function () { applyFilter(table, filter.value); });
      if (previous.filter) { filter.value = previous.filter; applyFilter(table, filter.value); }
    }
    // By name, not position: a refreshed table can gain a column (the first error, say).
    var titles = Array.prototype.map.call(table.tHead.rows[0].cells, function (th) { return th.getAttribute("data-key"); });
    var column = previous.sortKey ? titles.indexOf(previous.sortKey) : -1;
    if (column >= 0) sortTable(table, column, previous.descending);
  }

  function showAxis(key) {
    var charts = document.querySelectorAll(".axis-chart");
    if (!Array.prototype.some.call(charts, function (chart) { return chart.getAttribute("data-axis") === key; })) return;
    Array.prototype.forEach.call(charts, function (chart) { chart.hidden = chart.getAttribute("data-axis") !== key; });
    Array.prototype.forEach.call(document.querySelectorAll(".axis-choice button"), function (button) {
      button.setAttribute("aria-pressed", String(button.getAttribute("data-axis") === key));
    });
  }

  function chosenAxis() {
    var pressed = document.querySelector('.axis-choice button[aria-pressed="true"]');
    return pressed ? pressed.getAttribute("data-axis") : null;
  }

  function initAxes(previous) {
    Array.prototype.forEach.call(document.querySelectorAll(".axis-choice button"), function (button) {
      button.addEventListener("click", function () { showAxis(button.getAttribute("data-axis")); });
    });
    if (previous.axis) showAxis(previous.axis);
  }

  function openDetails() {
    return Array.prototype.filter.call(document.querySelectorAll("details[id]"), function (details) {
      return details.open;
    }).map(function (details) { return details.id; });
  }

  function init(previous) {
    initTable(previous);
    initAxes(previous);
    previous.open.forEach(function (id) {
      var details = document.getElementById(id);
      if (details) details.open = true;
    });
  }

  function remembered() {
    var filter = document.getElementById("evaluation-filter");
    var table = document.getElementById("evaluations");
    var sorted = table && sortState.column !== null ? table.tHead.rows[0].cells[sortState.column] : null;
    return {filter: filter ? filter.value : "", sortKey: sorted ? sorted.getAttribute("data-key") : null,
            descending: sortState.descending, axis: chosenAxis(), open: openDetails()};
  }

  function scheduleRefresh() {
    if (document.body.getAttribute("data-live") !== "1") return;
    if (document.body.getAttribute("data-state") !== "running") return;
    setTimeout(refresh, Number(document.body.getAttribute("data-refresh-ms")) || 5000);
  }

  function refresh() {
    fetch(window.location.pathname, {cache: "no-store"}).then(function (response) {
      return response.text();
    }).then(function (text) {
      var fresh = new DOMParser().parseFromString(text, "text/html");
      var main = fresh.querySelector("main");
      if (main) {
        var previous = remembered();
        sortState = {column: null, descending: false};
        document.querySelector("main").replaceWith(document.importNode(main, true));
        document.body.setAttribute("data-state", fresh.body.getAttribute("data-state") || "unknown");
        init(previous);
      }
      scheduleRefresh();
    }).catch(scheduleRefresh);
  }

  init({filter: "", sortKey: null, descending: false, axis: null, open: []});
  scheduleRefresh();
})();
