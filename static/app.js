/* Sightline: small progressive enhancements. Every page works without this file.
 *
 * - Theme toggle, persisted in localStorage ("sightline-theme"). The stored theme is applied before
 *   paint by the inline script in base.html's <head>; this file only handles the button.
 * - Copy buttons: <button data-copy="text"> or <button data-copy-target="#id">.
 * - Shortcuts: "/" focuses the search/filter box; "g" then t/s/u/p/e/d/, jumps to a nav section
 *   (links carry data-shortcut="t" …).
 * - Flashes: [data-dismiss] closes its .flash. Dropdowns (<details class="dropdown">) close on
 *   outside click and Escape; arrow keys move between their items.
 * - htmx: a failed request shows a flash instead of failing silently.
 */
(function () {
  "use strict";

  var THEME_KEY = "sightline-theme";
  var root = document.documentElement;

  function systemTheme() {
    return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }

  function currentTheme() {
    return root.dataset.theme || systemTheme();
  }

  function setTheme(theme) {
    root.dataset.theme = theme;
    try {
      localStorage.setItem(THEME_KEY, theme);
    } catch (e) {
      /* private mode: the choice lasts for this page only */
    }
    document.querySelectorAll("[data-theme-toggle]").forEach(function (btn) {
      btn.setAttribute("aria-pressed", theme === "dark" ? "true" : "false");
    });
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    // Plain http on a LAN address is not a secure context: fall back to a hidden textarea.
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.style.position = "fixed";
      area.style.opacity = "0";
      document.body.appendChild(area);
      area.select();
      try {
        document.execCommand("copy") ? resolve() : reject(new Error("copy refused"));
      } catch (e) {
        reject(e);
      } finally {
        area.remove();
      }
    });
  }

  function textToCopy(btn) {
    if (btn.hasAttribute("data-copy-target")) {
      var el = document.querySelector(btn.getAttribute("data-copy-target"));
      if (!el) return "";
      return "value" in el && el.tagName !== "BUTTON" ? el.value : el.textContent.trim();
    }
    return btn.getAttribute("data-copy") || "";
  }

  function onCopy(btn) {
    var label = btn.querySelector("[data-copy-label]") || btn;
    var original = label.dataset.original || label.textContent;
    label.dataset.original = original;
    copyText(textToCopy(btn)).then(
      function () {
        btn.classList.add("is-copied");
        label.textContent = "Copied";
        setTimeout(function () {
          btn.classList.remove("is-copied");
          label.textContent = original;
        }, 1600);
      },
      function () {
        label.textContent = "Press Ctrl+C";
      }
    );
  }

  function dismissFlash(flash) {
    flash.classList.add("is-leaving");
    setTimeout(function () {
      flash.remove();
    }, 200);
  }

  function showFlash(level, text) {
    var main = document.getElementById("main");
    if (!main) return;
    var box = document.getElementById("flashes");
    if (!box) {
      box = document.createElement("div");
      box.id = "flashes";
      box.className = "flashes";
      box.setAttribute("role", "status");
      main.prepend(box);
    }
    var flash = document.createElement("div");
    flash.className = "flash flash-" + level;
    var body = document.createElement("div");
    body.className = "flash-body";
    body.textContent = text;
    var close = document.createElement("button");
    close.type = "button";
    close.className = "icon-btn flash-close";
    close.setAttribute("data-dismiss", "");
    close.setAttribute("aria-label", "Dismiss");
    close.textContent = "×";
    flash.append(body, close);
    box.append(flash);
  }

  function isTyping(target) {
    if (!target) return false;
    var tag = target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || target.isContentEditable;
  }

  function closeDropdowns(except) {
    document.querySelectorAll("details.dropdown[open]").forEach(function (d) {
      if (d !== except) d.removeAttribute("open");
    });
  }

  root.classList.add("js");

  document.addEventListener("click", function (event) {
    var target = event.target;
    var toggle = target.closest("[data-theme-toggle]");
    if (toggle) {
      setTheme(currentTheme() === "dark" ? "light" : "dark");
      return;
    }
    var copy = target.closest("[data-copy], [data-copy-target]");
    if (copy) {
      event.preventDefault();
      onCopy(copy);
      return;
    }
    var dismiss = target.closest("[data-dismiss]");
    if (dismiss) {
      var flash = dismiss.closest(".flash");
      if (flash) dismissFlash(flash);
      return;
    }
    closeDropdowns(target.closest("details.dropdown"));
  });

  var pendingG = 0;
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") {
      var open = document.querySelector("details.dropdown[open]");
      if (open) {
        open.removeAttribute("open");
        var summary = open.querySelector("summary");
        if (summary) summary.focus();
      }
      return;
    }
    var menu = event.target.closest && event.target.closest("details.dropdown[open]");
    if (menu && (event.key === "ArrowDown" || event.key === "ArrowUp")) {
      // Arrow keys move between the items of an open dropdown (switcher, account menu).
      var items = Array.prototype.slice.call(menu.querySelectorAll("[role=menuitem]"));
      if (items.length) {
        event.preventDefault();
        var index = items.indexOf(document.activeElement);
        var next = event.key === "ArrowDown" ? index + 1 : index - 1;
        items[(next + items.length) % items.length].focus();
      }
      return;
    }
    if (event.metaKey || event.ctrlKey || event.altKey || isTyping(event.target)) return;
    if (event.key === "/") {
      var search = document.querySelector("[data-search], input[type=search]");
      if (search) {
        event.preventDefault();
        search.focus();
        if (search.select) search.select();
      }
      return;
    }
    if (pendingG && Date.now() - pendingG < 1500) {
      pendingG = 0;
      var link = document.querySelector('a[data-shortcut="' + CSS.escape(event.key) + '"]');
      if (link) {
        event.preventDefault();
        window.location.assign(link.href);
      }
      return;
    }
    if (event.key === "g") pendingG = Date.now();
  });

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-theme-toggle]").forEach(function (btn) {
      btn.setAttribute("aria-pressed", currentTheme() === "dark" ? "true" : "false");
    });
  });

  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail && event.detail.xhr ? event.detail.xhr.status : "";
    var text =
      status === 403
        ? "You don't have permission to do that."
        : "Something went wrong (" + status + "). Reload the page and try again.";
    showFlash("error", text);
  });

  document.addEventListener("htmx:sendError", function () {
    showFlash("error", "Could not reach the server. Check your connection and try again.");
  });

  // GET filter forms (form[data-omit-empty]) leave empty fields out of the URL, so shared links stay short;
  // [data-autosubmit] fields apply on change; [data-check-all="name"] ticks every checkbox of that name.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches("form[data-omit-empty]")) return;
    event.preventDefault();
    var params = new URLSearchParams();
    new FormData(form, event.submitter).forEach(function (value, key) {
      if (String(value).trim() !== "") params.append(key, value);
    });
    var query = params.toString();
    window.location.assign(form.action.split("?")[0] + (query ? "?" + query : ""));
  });

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.matches("[data-autosubmit]") && target.form) {
      target.form.requestSubmit();
      return;
    }
    if (target.matches("[data-check-all]")) {
      var name = target.getAttribute("data-check-all");
      document.querySelectorAll('input[type=checkbox][name="' + CSS.escape(name) + '"]').forEach(function (box) {
        box.checked = target.checked;
      });
    }
  });
})();
