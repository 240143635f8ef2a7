// Keeps a running report's page current: polls the JSON status, updates the
// progress bar and elapsed time, and swaps in the finished page when done.
(function () {
  "use strict";

  var POLL_INTERVAL_MS = 1000;
  var MAX_POLL_INTERVAL_MS = 10000;

  var panel = document.getElementById("report-progress");
  if (!panel || !window.fetch) {
    return;
  }

  var statusUrl = panel.dataset.statusUrl;
  var bar = document.getElementById("report-progress-bar");
  var storesField = panel.querySelector('[data-field="stores"]');
  var elapsedField = panel.querySelector('[data-field="elapsed"]');
  var started = panel.dataset.started === "yes";
  var elapsedBaseMs = Number(panel.dataset.elapsedMs || 0);
  var clockBase = performance.now();
  var delayMs = POLL_INTERVAL_MS;
  var finished = false;

  function formatNumber(value) {
    return Number(value).toLocaleString("en-US");
  }

  function formatElapsed(milliseconds) {
    var seconds = milliseconds / 1000;
    if (seconds < 10) {
      return seconds.toFixed(1) + " s";
    }
    var whole = Math.floor(seconds);
    if (whole < 3600) {
      var minutes = Math.floor(whole / 60);
      return minutes ? minutes + " min " + (whole % 60) + " s" : whole + " s";
    }
    return Math.floor(whole / 3600) + " h " + Math.floor((whole % 3600) / 60) + " min";
  }

  function tick() {
    if (finished) {
      return;
    }
    if (started) {
      elapsedField.textContent = formatElapsed(elapsedBaseMs + performance.now() - clockBase);
    }
    window.setTimeout(tick, 250);
  }

  function showProgress(status) {
    var total = Number(status.stores_total || 0);
    var done = Number(status.stores_done || 0);
    if (total > 0) {
      if (!started) {
        started = true;
        elapsedBaseMs = 0;
        clockBase = performance.now();
      }
      bar.max = total;
      bar.value = done;
      bar.textContent = done + " of " + total + " stores";
      storesField.textContent = formatNumber(done) + " of " + formatNumber(total) + " stores";
    }
  }

  // Replace this page's main content with the server-rendered finished page.
  function showFinishedPage() {
    finished = true;
    fetch(window.location.href, { headers: { Accept: "text/html" }, cache: "no-store" })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.text();
      })
      .then(function (html) {
        var page = new DOMParser().parseFromString(html, "text/html");
        var newMain = page.querySelector("main");
        var oldMain = document.querySelector("main");
        if (!newMain || !oldMain) {
          throw new Error("the report page has no main element");
        }
        oldMain.replaceWith(document.importNode(newMain, true));
        document.title = page.title;
        document.querySelector("main").focus();
      })
      .catch(function () {
        window.location.reload();
      });
  }

  function poll() {
    fetch(statusUrl, { headers: { Accept: "application/json" }, cache: "no-store" })
      .then(function (response) {
        return response.json();
      })
      .then(function (status) {
        delayMs = POLL_INTERVAL_MS;
        if (status.status === "Running") {
          showProgress(status);
          window.setTimeout(poll, delayMs);
        } else {
          showFinishedPage();
        }
      })
      .catch(function () {
        // The server may be restarting: try again, less often.
        delayMs = Math.min(delayMs * 2, MAX_POLL_INTERVAL_MS);
        window.setTimeout(poll, delayMs);
      });
  }

  tick();
  poll();
})();
