/* Sightline trace page: span selection, step-through replay and tree folding. Loaded only by
 * templates/traces/detail.html; without it every row is a plain link to ?observation=<id>.
 *
 * - Click a row (or Enter on a focused row): the row is selected, the timeline cursor moves to its
 *   start, the URL becomes ?observation=<id> (pushState) and the span's body is fetched from the
 *   observation-body fragment into the panel.
 * - j / ArrowDown and k / ArrowUp walk the visible spans in start order (the trace row first); the URL
 *   follows with replaceState, so Back returns to where the walk began. Home / End jump to the ends.
 *   Bodies are fetched once the walk pauses (a held key does not send a request per span).
 * - ArrowLeft folds the selected span's subtree (or moves to its parent); ArrowRight unfolds it.
 * - Enter moves focus into the panel to read it; Escape returns to the tree (from a field of the panel
 *   too), or from the tree selects the trace.
 * - No other key is taken while typing in a field (the score panel's form) or with a modifier held.
 * - "Open in playground" on a generation with a large input fetches its form first (htmx); the form is
 *   submitted as soon as it arrives, so the click still lands in the playground.
 */
(function () {
  "use strict";

  var LOAD_DELAY_MS = 140;

  function isTyping(target) {
    if (!target || !target.tagName) return false;
    var tag = target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || target.isContentEditable;
  }

  function init() {
    var list = document.getElementById("wf");
    var panel = document.getElementById("span-panel");
    var cursor = document.getElementById("wf-cursor");
    if (!list || !panel || !cursor) return;

    var bodyUrl = list.getAttribute("data-body-url");
    var traceUrl = list.getAttribute("data-trace-url");
    var rows = Array.prototype.slice.call(list.children);
    var depth = new Map();
    var byId = new Map();
    var idOf = new Map();
    rows.forEach(function (li) {
      depth.set(li, parseInt(li.style.getPropertyValue("--d"), 10) || 0);
      var href = li.querySelector("a").getAttribute("href");
      var id = href.indexOf("?observation=") === 0 ? decodeURIComponent(href.slice(13)) : "";
      idOf.set(li, id);
      byId.set(id, li);
    });
    // Start order (data-seq) is the order of the walk; the DOM order is the tree's.
    var order = rows.slice().sort(function (a, b) {
      return a.getAttribute("data-seq") - b.getAttribute("data-seq");
    });
    var current = list.querySelector("a[aria-current]");
    current = current ? current.parentElement : rows[0];
    var loadTimer = 0;
    var inflight = null;

    function urlFor(id) {
      return id ? traceUrl + "?observation=" + encodeURIComponent(id) : traceUrl;
    }

    // Set on the cursor itself: a custom property changed on a row container would restyle every row.
    function moveCursor(li) {
      cursor.style.setProperty("--cx", li.style.getPropertyValue("--x") || "0");
    }

    function showError(message) {
      panel.replaceChildren();
      var box = document.createElement("div");
      box.className = "panel-body";
      var note = document.createElement("div");
      note.className = "callout callout-warning";
      note.setAttribute("role", "alert");
      note.textContent = message;
      box.append(note);
      panel.append(box);
    }

    function load(id) {
      if (inflight) inflight.abort();
      inflight = new AbortController();
      panel.setAttribute("aria-busy", "true");
      var url = bodyUrl + (id ? "&id=" + encodeURIComponent(id) : "");
      fetch(url, { headers: { "HX-Request": "true" }, credentials: "same-origin", signal: inflight.signal })
        .then(function (response) {
          if (response.status === 404) throw new Error("This span is gone: it may have been deleted. Reload the page.");
          if (!response.ok) throw new Error("Could not load this span (" + response.status + "). Try again.");
          return response.text();
        })
        .then(function (html) {
          panel.innerHTML = html; // the server's fragment: trace content in it is already escaped
          panel.scrollTop = 0;
          if (window.htmx) window.htmx.process(panel); // the score panel loads itself (hx-trigger="load")
        })
        .catch(function (error) {
          if (error.name !== "AbortError") showError(error.message);
        })
        .finally(function () {
          panel.removeAttribute("aria-busy");
        });
    }

    function select(li, how) {
      if (!li) return;
      var changed = li !== current;
      var previous = current && current.querySelector("a[aria-current]");
      if (previous) previous.removeAttribute("aria-current");
      current = li;
      var link = li.querySelector("a");
      link.setAttribute("aria-current", "true");
      moveCursor(li);
      if (how.focus) link.focus({ preventScroll: true });
      li.scrollIntoView({ block: "nearest" });
      var id = idOf.get(li);
      if (how.history === "push" && changed) history.pushState({ observation: id }, "", urlFor(id));
      if (how.history === "replace") history.replaceState({ observation: id }, "", urlFor(id));
      if (!changed && !how.force) return;
      clearTimeout(loadTimer);
      if (how.delay) loadTimer = setTimeout(load, LOAD_DELAY_MS, id);
      else load(id);
    }

    // --- Folding ---------------------------------------------------------------------------------

    function subtree(li) {
      var result = [];
      var d = depth.get(li);
      for (var n = li.nextElementSibling; n && depth.get(n) > d; n = n.nextElementSibling) result.push(n);
      return result;
    }

    function setFolded(li, folded) {
      var toggle = li.querySelector(".tg");
      if (!toggle || (toggle.getAttribute("aria-expanded") === "false") === folded) return;
      toggle.setAttribute("aria-expanded", folded ? "false" : "true");
      toggle.setAttribute("aria-label", folded ? "Unfold" : "Fold");
      var hideBelow = Infinity; // while unfolding, the subtrees of still-folded rows stay hidden
      subtree(li).forEach(function (n) {
        var d = depth.get(n);
        if (folded) {
          n.hidden = true;
          return;
        }
        if (d <= hideBelow) hideBelow = Infinity;
        n.hidden = d > hideBelow;
        var t = n.querySelector(".tg");
        if (hideBelow === Infinity && t && t.getAttribute("aria-expanded") === "false") hideBelow = d;
      });
      if (folded && current.hidden) select(li, { history: "replace", focus: true, delay: true });
    }

    function parentOf(li) {
      var d = depth.get(li);
      for (var p = li.previousElementSibling; p; p = p.previousElementSibling) {
        if (depth.get(p) < d) return p;
      }
      return null;
    }

    function reveal(li) {
      var ancestors = [];
      for (var p = parentOf(li); p; p = parentOf(p)) ancestors.unshift(p);
      ancestors.forEach(function (a) {
        setFolded(a, false);
      });
    }

    // --- Walking ---------------------------------------------------------------------------------

    function step(delta) {
      var index = order.indexOf(current);
      for (var i = index + delta; i >= 0 && i < order.length; i += delta) {
        if (!order[i].hidden) return select(order[i], { history: "replace", focus: true, delay: true });
      }
    }

    function edge(last) {
      var visible = order.filter(function (li) {
        return !li.hidden;
      });
      if (visible.length) select(visible[last ? visible.length - 1 : 0], { history: "replace", focus: true, delay: true });
    }

    list.addEventListener("click", function (event) {
      var toggle = event.target.closest(".tg");
      if (toggle) {
        setFolded(toggle.parentElement, toggle.getAttribute("aria-expanded") === "true");
        return;
      }
      var link = event.target.closest("a");
      if (!link || event.metaKey || event.ctrlKey || event.shiftKey || event.button !== 0) return;
      event.preventDefault();
      select(link.parentElement, { history: "push", focus: true });
    });

    document.addEventListener("keydown", function (event) {
      if (event.defaultPrevented || event.metaKey || event.ctrlKey || event.altKey) return;
      var inPanel = panel.contains(event.target);
      var key = event.key;
      if (isTyping(event.target)) {
        // Escape in a field of the panel (the score form) leaves it for the tree; every other key is text.
        if (key === "Escape" && inPanel) {
          event.preventDefault();
          current.querySelector("a").focus();
        }
        return;
      }
      if (key === "Escape") {
        if (document.querySelector("details.dropdown[open]")) return; // app.js closes the menu first
        event.preventDefault();
        if (inPanel) current.querySelector("a").focus();
        else select(rows[0], { history: "push", focus: true });
        return;
      }
      // Inside the panel the arrow keys scroll it and Enter acts on its links and buttons.
      var arrows = key === "ArrowDown" || key === "ArrowUp" || key === "ArrowLeft" || key === "ArrowRight";
      if (inPanel && (arrows || key === "Enter" || key === "Home" || key === "End")) return;
      var handled = true;
      if (key === "j" || key === "ArrowDown") step(1);
      else if (key === "k" || key === "ArrowUp") step(-1);
      else if (key === "Home") edge(false);
      else if (key === "End") edge(true);
      else if (key === "ArrowLeft") {
        var toggle = current.querySelector(".tg");
        if (toggle && toggle.getAttribute("aria-expanded") === "true") setFolded(current, true);
        else select(parentOf(current), { history: "replace", focus: true, delay: true });
      } else if (key === "ArrowRight") setFolded(current, false);
      else if (key === "Enter") {
        var target = event.target.closest ? event.target : document.body;
        if (target.closest("button, a:not(#wf a)")) return;
        var row = target.closest("#wf > li");
        if (row && row !== current) {
          event.preventDefault(); // a row reached with Tab: Enter selects it, as a click would
          select(row, { history: "push", focus: true });
          return;
        }
        if (loadTimer) {
          clearTimeout(loadTimer);
          loadTimer = 0;
          load(idOf.get(current));
        }
        panel.setAttribute("tabindex", "-1");
        panel.focus();
      } else handled = false;
      if (handled) event.preventDefault();
    });

    window.addEventListener("popstate", function () {
      var id = new URLSearchParams(window.location.search).get("observation") || "";
      var li = byId.get(id) || rows[0];
      reveal(li);
      select(li, { history: "none", force: true });
    });

    moveCursor(current);
    current.scrollIntoView({ block: "nearest" });
  }

  document.addEventListener("htmx:load", function (event) {
    var elt = event.detail && event.detail.elt;
    if (!elt || !elt.matches || !elt.matches("[data-playground-handoff]")) return;
    var form = elt.querySelector("form");
    if (form) form.submit();
  });

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
