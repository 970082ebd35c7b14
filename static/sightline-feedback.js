/*
 * sightline-feedback.js — thumbs up/down (with an optional comment) bound to a Sightline trace.
 * No dependencies, no build step. Include it, then either:
 *
 *   Sightline.feedback({host: "https://sightline.example.com", publicKey: "pk-…", traceId: "…",
 *                       element: document.getElementById("feedback"), comment: true});
 *
 * or mark up containers and they are set up when the page loads (or call Sightline.scan()):
 *
 *   <div data-sightline-feedback data-host="https://sightline.example.com" data-public-key="pk-…"
 *        data-trace-id="…" data-observation-id="…" data-comment="true"></div>
 *
 * It sends POST {host}/api/public/feedback with HTTP Basic "publicKey:" (the public key alone: safe in a
 * page). Your page's origin must be listed in the project's "Feedback allowed origins". One widget sends one
 * feedback id, so clicking twice, changing your mind or adding a comment updates one score.
 */
(function (global) {
  "use strict";

  var TEXT = {
    question: "Was this helpful?",
    up: "Helpful",
    down: "Not helpful",
    comment: "Comment (optional)",
    send: "Send comment",
    sending: "Sending…",
    sent: "Thanks, your feedback was sent.",
    failed: "Sorry, your feedback could not be sent. Please try again.",
    busy: "Too many requests; please try again in a moment."
  };

  function newId() {
    if (global.crypto && typeof global.crypto.randomUUID === "function") return global.crypto.randomUUID();
    return "fb-" + Date.now().toString(36) + "-" + Math.random().toString(36).slice(2);
  }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) { node.setAttribute(name, attrs[name]); });
    if (text) node.textContent = text; // never innerHTML: labels may come from the embedding page
    return node;
  }

  function send(options, body) {
    var url = options.host.replace(/\/+$/, "") + "/api/public/feedback";
    return fetch(url, {
      method: "POST",
      mode: "cors",
      credentials: "omit",
      headers: {
        "Content-Type": "application/json",
        "Authorization": "Basic " + btoa(options.publicKey + ":")
      },
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) {
          var error = new Error((data && data.message) || ("HTTP " + response.status));
          error.status = response.status;
          throw error;
        }
        return data;
      });
    });
  }

  function feedback(options) {
    if (!options || !options.host || !options.publicKey || !options.traceId || !options.element) {
      throw new Error("Sightline.feedback needs host, publicKey, traceId and element");
    }
    var labels = Object.assign({}, TEXT, options.labels || {});
    var state = { id: options.id || newId(), value: null };
    var root = el("div", { "class": "sightline-feedback", role: "group", "aria-label": labels.question });
    var question = el("span", { "class": "sightline-feedback-question" }, labels.question);
    var up = el("button", { type: "button", "class": "sightline-feedback-up", "aria-pressed": "false", "aria-label": labels.up, title: labels.up }, "👍");
    var down = el("button", { type: "button", "class": "sightline-feedback-down", "aria-pressed": "false", "aria-label": labels.down, title: labels.down }, "👎");
    var status = el("span", { "class": "sightline-feedback-status", role: "status", "aria-live": "polite" });
    root.appendChild(question);
    root.appendChild(up);
    root.appendChild(down);

    var form = null;
    var textarea = null;
    if (options.comment) {
      var fieldId = "sightline-feedback-comment-" + state.id;
      form = el("form", { "class": "sightline-feedback-comment", hidden: "" });
      var label = el("label", { "for": fieldId }, labels.comment);
      textarea = el("textarea", { id: fieldId, rows: "2", maxlength: "2000" });
      var submit = el("button", { type: "submit" }, labels.send);
      form.appendChild(label);
      form.appendChild(textarea);
      form.appendChild(submit);
      root.appendChild(form);
    }
    root.appendChild(status);

    function setState(name, message) {
      root.setAttribute("data-state", name);
      status.textContent = message;
    }

    function submitFeedback() {
      var body = { id: state.id, traceId: options.traceId, value: state.value };
      if (options.observationId) body.observationId = options.observationId;
      if (textarea && textarea.value.trim()) body.comment = textarea.value.trim();
      setState("sending", labels.sending);
      return send(options, body).then(function (data) {
        setState("sent", labels.sent);
        if (typeof options.onSent === "function") options.onSent(data);
      }, function (error) {
        setState("failed", error.status === 429 ? labels.busy : labels.failed);
        if (typeof options.onError === "function") options.onError(error);
      });
    }

    function choose(value) {
      state.value = value;
      up.setAttribute("aria-pressed", String(value === 1));
      down.setAttribute("aria-pressed", String(value === 0));
      if (form) form.hidden = false;
      return submitFeedback();
    }

    up.addEventListener("click", function () { choose(1); });
    down.addEventListener("click", function () { choose(0); });
    if (form) {
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        if (state.value !== null) submitFeedback();
      });
    }
    options.element.appendChild(root);
    return { element: root, id: state.id, send: choose };
  }

  function scan(scope) {
    var nodes = (scope || document).querySelectorAll("[data-sightline-feedback]:not([data-sightline-ready])");
    Array.prototype.forEach.call(nodes, function (node) {
      node.setAttribute("data-sightline-ready", "");
      feedback({
        host: node.getAttribute("data-host"),
        publicKey: node.getAttribute("data-public-key"),
        traceId: node.getAttribute("data-trace-id"),
        observationId: node.getAttribute("data-observation-id") || undefined,
        comment: node.getAttribute("data-comment") === "true",
        element: node
      });
    });
  }

  global.Sightline = Object.assign(global.Sightline || {}, { feedback: feedback, scan: scan });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { scan(); });
  } else {
    scan();
  }
})(window);
