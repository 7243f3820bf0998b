// The RTU diagnostics page: live updates over server-sent events. Plain JavaScript, no build
// step, no external resource; read-only (it only reads /api/stream/*).
"use strict";

(function () {
  var MAX_ROWS = 500;
  var body = document.body;
  var url = body.getAttribute("data-stream");
  var live = document.getElementById("live");
  if (!url || !window.EventSource) {
    return;
  }

  function setState(state, text) {
    if (live) {
      live.setAttribute("data-state", state);
      live.textContent = text;
    }
  }

  function text(value) {
    if (value === null || value === undefined) {
      return "-";
    }
    if (typeof value === "number" && !Number.isInteger(value)) {
      return String(Number(value.toPrecision(6)));
    }
    return String(value);
  }

  function columns(tbody) {
    var heads = tbody.parentNode.querySelectorAll("thead th");
    return Array.prototype.map.call(heads, function (th) { return th.textContent; });
  }

  function makeRow(cols, row, key) {
    var tr = document.createElement("tr");
    if (key) {
      tr.setAttribute("data-key", text(row[key]));
    }
    cols.forEach(function (col) {
      var td = document.createElement("td");
      td.setAttribute("data-col", col);
      td.textContent = text(row[col]);
      tr.appendChild(td);
    });
    return tr;
  }

  function flash(tr) {
    tr.classList.remove("changed");
    void tr.offsetWidth; // restart the animation
    tr.classList.add("changed");
  }

  function replaceRows(tbody, rows, key, newestFirst) {
    var cols = columns(tbody);
    var ordered = newestFirst ? rows.slice().reverse() : rows;
    var fragment = document.createDocumentFragment();
    ordered.slice(0, MAX_ROWS).forEach(function (row) {
      fragment.appendChild(makeRow(cols, row, key));
    });
    if (!ordered.length) {
      var tr = document.createElement("tr");
      tr.className = "empty";
      var td = document.createElement("td");
      td.colSpan = cols.length;
      td.textContent = "nothing yet";
      tr.appendChild(td);
      fragment.appendChild(tr);
    }
    tbody.replaceChildren(fragment);
  }

  function updatePoint(tbody, row) {
    updateRow(tbody.querySelector('tr[data-key="' + CSS.escape(row.name) + '"]'), row);
  }

  function updateRow(tr, row) {
    if (!tr) {
      return;
    }
    var changed = false;
    Array.prototype.forEach.call(tr.children, function (td) {
      var col = td.getAttribute("data-col");
      if (col in row && td.textContent !== text(row[col])) {
        td.textContent = text(row[col]);
        changed = true;
      }
    });
    if (changed) {
      flash(tr);
    }
  }

  function prependRow(tbody, row, key) {
    var empty = tbody.querySelector("tr.empty");
    if (empty) {
      empty.remove();
    }
    var tr = makeRow(columns(tbody), row, key || "");
    tbody.insertBefore(tr, tbody.firstChild);
    flash(tr);
    while (tbody.children.length > MAX_ROWS) {
      tbody.removeChild(tbody.lastChild);
    }
  }

  function note(id, message) {
    var main = document.querySelector("main");
    var p = document.getElementById(id);
    if (!p) {
      p = document.createElement("p");
      p.id = id;
      p.className = "dropped";
      main.insertBefore(p, main.children[1] || null);
    }
    p.textContent = message;
  }

  function noteDropped(count) {
    note("dropped", count + " updates were dropped: this view could not keep up " +
      "(the table shows the latest state)");
  }

  // a row of the sequence-of-events log carries its id: shown again (its masters changed),
  // it replaces itself
  function keyOf(rows) {
    return rows.length && rows[0].id !== undefined ? "id" : "";
  }

  var source = new EventSource(url);
  source.onopen = function () { setState("live", "live"); };
  source.onerror = function () { setState("reconnecting", "reconnecting…"); };

  function on(kind, handler) {
    source.addEventListener(kind, function (event) {
      setState("live", "live");
      handler(JSON.parse(event.data));
    });
  }

  on("fragment", function (data) {
    var target = document.getElementById(data.id);
    if (target) {
      // rendered and escaped by the server, the same HTML as the first view
      target.innerHTML = data.html;
    }
  });
  on("snapshot", function (rows) {
    var points = document.getElementById("points");
    if (points) {
      rows.forEach(function (row) { updatePoint(points, row); });
      return;
    }
    var tbody = document.getElementById("events") || document.getElementById("frames");
    if (tbody) {
      replaceRows(tbody, rows, keyOf(rows), true);
    }
  });
  on("point", function (row) {
    var points = document.getElementById("points");
    if (points) {
      updatePoint(points, row);
    }
  });
  on("event", function (row) {
    var tbody = document.getElementById("events");
    if (!tbody) {
      return;
    }
    if (row.id !== undefined) {
      var tr = tbody.querySelector('tr[data-key="' + CSS.escape(text(row.id)) + '"]');
      if (tr) {
        updateRow(tr, row);
        return;
      }
    }
    prependRow(tbody, row, keyOf([row]));
  });
  on("frame", function (row) {
    var tbody = document.getElementById("frames");
    if (tbody) {
      prependRow(tbody, row, "");
      if (row.lost) {
        note("lost", row.lost + " chunks of octets were not shown: the links sent faster " +
          "than this page decodes");
      }
    }
  });
  on("dropped", function (data) { noteDropped(data.dropped); });
  window.addEventListener("pagehide", function () { source.close(); });
})();
