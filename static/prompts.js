/* Prompt pages: the message editor (playground and version editor), live {{variables}}, streamed
 * playground runs, the config JSON check and the split editor's running total.
 *
 * Every form works without this file (Run posts and the page comes back with the whole answer; Save posts
 * normally). With it, in a form[data-message-editor]: add/remove messages; the variables list follows the
 * text as you type (inputs for values in the playground, chips in the version editor); the text/chat
 * switch shows its panel; the model list follows the connection; and Run streams the answer: fetch()
 * POSTs the form asking for text/event-stream and reads `start`, `delta` {text}, `done` {usage,
 * latency_ms, ttft_ms} or `error` {message} events as they arrive. Ctrl/Cmd+Enter runs; Stop aborts.
 */
(function () {
  "use strict";

  // Same pattern as prompts/content.py's VARIABLE.
  var VARIABLE = /\{\{\s*([^{}]+?)\s*\}\}/g;

  function initJsonChecks() {
    document.querySelectorAll("textarea[data-json-object]").forEach(function (area) {
      var field = area.closest(".field");
      var status = field && field.querySelector("[data-json-status]");
      var original = status ? status.innerHTML : "";
      function check() {
        var message = "";
        if (area.value.trim()) {
          try {
            var value = JSON.parse(area.value);
            if (value === null || typeof value !== "object" || Array.isArray(value)) message = "Config must be a JSON object ({…}).";
          } catch (error) {
            message = "Not valid JSON: " + error.message;
          }
        }
        if (field) field.classList.toggle("has-error", Boolean(message));
        if (status) {
          if (message) status.textContent = message;
          else status.innerHTML = original;
        }
      }
      area.addEventListener("input", check);
    });
  }

  function initSplitEditors() {
    document.querySelectorAll("[data-split-editor]").forEach(function (editor) {
      var total = editor.querySelector("[data-split-total]");
      function sum() {
        var value = 0;
        editor.querySelectorAll("input[name=split_weight]").forEach(function (input) {
          value += parseInt(input.value, 10) || 0;
        });
        total.textContent = String(value);
        total.classList.toggle("is-wrong", value !== 100);
      }
      editor.addEventListener("input", sum);
      sum();
    });
  }

  function init() {
    initJsonChecks();
    initSplitEditors();
    var form = document.querySelector("form[data-message-editor]");
    if (!form) return;
    var list = document.getElementById("pg-messages");
    var template = document.getElementById("pg-message-template");
    var variables = document.getElementById("pg-variables");
    var noVariables = document.getElementById("pg-no-variables");
    var output = document.getElementById("pg-output");
    var runError = document.getElementById("pg-run-error");
    var runButton = form.querySelector("[data-pg-run]");
    var stopButton = form.querySelector("[data-pg-stop]");
    var connection = document.getElementById("pg-connection");
    var datalist = document.getElementById("pg-models");
    var controller = null;

    var typeSelect = form.querySelector("[data-type-select]");
    var listOnly = variables.hasAttribute("data-list-only");

    function activeType() {
      var hidden = form.querySelector("input[type=hidden][name=type]");
      return typeSelect ? typeSelect.value : hidden ? hidden.value : "chat";
    }

    function sources() {
      if (activeType() === "text") return Array.prototype.slice.call(form.querySelectorAll("[data-variable-source]"));
      var areas = [];
      list.querySelectorAll("[data-pg-message]").forEach(function (row) {
        if (row.querySelector("select[name=role]").value !== "placeholder") areas.push(row.querySelector("textarea"));
      });
      return areas;
    }

    function variableRow(name) {
      if (listOnly) {
        var chip = document.createElement("code");
        chip.className = "var-chip";
        chip.setAttribute("data-pg-variable", name);
        chip.textContent = name;
        return chip;
      }
      var row = document.createElement("div");
      row.className = "pg-variable";
      row.setAttribute("data-pg-variable", name);
      var hidden = document.createElement("input");
      hidden.type = "hidden";
      hidden.name = "variable_name";
      hidden.value = name;
      var id = "pg-var-new-" + Math.random().toString(36).slice(2);
      var label = document.createElement("label");
      label.htmlFor = id;
      var code = document.createElement("code");
      code.textContent = name;
      label.appendChild(code);
      var value = document.createElement("textarea");
      value.id = id;
      value.name = "variable_value";
      value.rows = 1;
      row.append(hidden, label, value);
      return row;
    }

    function detectVariables() {
      var names = [];
      sources().forEach(function (area) {
        var match;
        VARIABLE.lastIndex = 0;
        while ((match = VARIABLE.exec(area.value)) !== null) {
          if (names.indexOf(match[1]) === -1) names.push(match[1]);
        }
      });
      var existing = {};
      variables.querySelectorAll("[data-pg-variable]").forEach(function (row) {
        existing[row.getAttribute("data-pg-variable")] = row;
      });
      names.forEach(function (name, index) {
        var row = existing[name] || variableRow(name);
        delete existing[name];
        // Keep the rows in the order the variables first appear.
        if (variables.children[index] !== row) variables.insertBefore(row, variables.children[index] || null);
      });
      Object.keys(existing).forEach(function (name) {
        existing[name].remove();
      });
      noVariables.hidden = names.length > 0;
    }

    function addMessage() {
      var rows = list.querySelectorAll("[data-pg-message]");
      var last = rows[rows.length - 1];
      var fragment = template.content.cloneNode(true);
      var role = fragment.querySelector("select[name=role]");
      // Alternate user and assistant after the last message, as a conversation does.
      if (last) role.value = last.querySelector("select[name=role]").value === "user" ? "assistant" : "user";
      list.appendChild(fragment);
      list.lastElementChild.querySelector("textarea").focus();
    }

    function updateModels() {
      if (!connection || !datalist) return;
      var option = connection.options[connection.selectedIndex];
      var names = (option && option.getAttribute("data-models")) || "";
      datalist.replaceChildren();
      names
        .split(",")
        .filter(Boolean)
        .forEach(function (name) {
          var item = document.createElement("option");
          item.value = name;
          datalist.appendChild(item);
        });
    }

    function setStat(name, text) {
      var cell = form.querySelector('[data-stat="' + name + '"]');
      if (cell) cell.textContent = text;
    }

    function showCost(usage) {
      // Prices live with the traces: ask the project's price book what this run's tokens cost.
      var model = form.querySelector("[name=model]");
      var url = form.getAttribute("data-cost-url");
      if (!url || !model || !model.value || usage.input == null) return setStat("cost", "—");
      var query = new URLSearchParams({ model: model.value, input: usage.input || 0, output: usage.output || 0 });
      fetch(url + "?" + query.toString(), { headers: { Accept: "application/json" } })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (body) {
          var cell = form.querySelector('[data-stat="cost"]');
          if (!body || !body.cost) {
            setStat("cost", "no price");
            if (cell) cell.title = "No model price matches " + model.value + " (Settings → Models)";
            return;
          }
          setStat("cost", "$" + body.cost.total.toFixed(6));
          if (cell) cell.title = "Priced by " + body.price.modelName + (body.price.project ? " (project price)" : " (built-in price)");
        })
        .catch(function () { setStat("cost", "—"); });
    }

    function showError(message) {
      runError.textContent = message;
      runError.hidden = !message;
    }

    function finish() {
      controller = null;
      output.classList.remove("is-running");
      if (output.textContent === "") output.classList.add("is-empty");
      if (runButton) runButton.disabled = false;
      if (stopButton) stopButton.hidden = true;
    }

    function handle(eventName, data) {
      if (eventName === "delta") {
        output.classList.remove("is-empty");
        output.textContent += data.text;
      } else if (eventName === "done") {
        var usage = data.usage || {};
        setStat("input", usage.input != null ? String(usage.input) : "—");
        setStat("output", usage.output != null ? String(usage.output) : "—");
        setStat("latency", data.latency_ms + " ms");
        setStat("ttft", data.ttft_ms != null ? data.ttft_ms + " ms" : "—");
        showCost(usage);
        form.setAttribute("data-run-state", "done");
      } else if (eventName === "error") {
        showError(data.message);
        form.setAttribute("data-run-state", "error");
      }
    }

    function parseFrames(buffer) {
      // Server-sent events are separated by a blank line; returns what is left of an unfinished one.
      var frames = buffer.split("\n\n");
      var rest = frames.pop();
      frames.forEach(function (frame) {
        var name = "message";
        var data = "";
        frame.split("\n").forEach(function (line) {
          if (line.indexOf("event: ") === 0) name = line.slice(7);
          else if (line.indexOf("data: ") === 0) data += line.slice(6);
        });
        if (data) handle(name, JSON.parse(data));
      });
      return rest;
    }

    function run() {
      if (controller || !runButton || runButton.disabled) return;
      controller = new AbortController();
      output.textContent = "";
      output.classList.remove("is-empty");
      output.classList.add("is-running");
      showError("");
      ["input", "output", "cost", "latency", "ttft"].forEach(function (name) {
        setStat(name, "…");
      });
      form.setAttribute("data-run-state", "running");
      runButton.disabled = true;
      if (stopButton) stopButton.hidden = false;
      var csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;
      fetch(form.action, {
        method: "POST",
        body: new FormData(form),
        headers: { Accept: "text/event-stream", "X-CSRFToken": csrf },
        credentials: "same-origin",
        signal: controller.signal,
      })
        .then(function (response) {
          if (!response.ok) {
            return response.json().then(
              function (body) {
                throw new Error(body.message || "The run failed (" + response.status + ").");
              },
              function () {
                throw new Error(
                  response.status === 403
                    ? "You don't have permission to run prompts."
                    : "The run failed (" + response.status + ")."
                );
              }
            );
          }
          var reader = response.body.getReader();
          var decoder = new TextDecoder();
          var buffer = "";
          function pump() {
            return reader.read().then(function (step) {
              if (step.done) {
                parseFrames(buffer + "\n\n");
                return;
              }
              buffer = parseFrames(buffer + decoder.decode(step.value, { stream: true }));
              return pump();
            });
          }
          return pump();
        })
        .catch(function (error) {
          if (error.name === "AbortError") {
            form.setAttribute("data-run-state", "stopped");
            return;
          }
          showError(error.message || "Could not reach the server.");
          form.setAttribute("data-run-state", "error");
        })
        .then(finish);
    }

    if (runButton) {
      form.addEventListener("submit", function (event) {
        var submitter = event.submitter;
        if (submitter && submitter.hasAttribute("formaction")) return; // Save: an ordinary form post
        event.preventDefault();
        run();
      });
      form.addEventListener("keydown", function (event) {
        if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
          event.preventDefault();
          run();
        }
      });
    }
    if (typeSelect) {
      typeSelect.addEventListener("change", function () {
        form.querySelectorAll("[data-type-panel]").forEach(function (panel) {
          panel.hidden = panel.getAttribute("data-type-panel") !== typeSelect.value;
        });
        detectVariables();
      });
    }
    form.addEventListener("click", function (event) {
      if (event.target.closest("[data-pg-add]")) {
        addMessage();
        detectVariables();
        return;
      }
      var remove = event.target.closest("[data-pg-remove]");
      if (remove) {
        var row = remove.closest("[data-pg-message]");
        var rows = list.querySelectorAll("[data-pg-message]");
        if (rows.length > 1) {
          var next = row.nextElementSibling || row.previousElementSibling;
          row.remove();
          next.querySelector("textarea").focus();
        } else {
          row.querySelector("textarea").value = ""; // keep one message to write in
        }
        detectVariables();
      }
    });
    if (stopButton) {
      stopButton.addEventListener("click", function () {
        if (controller) controller.abort();
      });
    }
    form.addEventListener("input", function (event) {
      if (event.target.closest("#pg-messages, [data-variable-source]")) detectVariables();
    });
    list.addEventListener("change", detectVariables); // a row switched to or from `placeholder`
    if (connection) connection.addEventListener("change", updateModels);
    detectVariables();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
