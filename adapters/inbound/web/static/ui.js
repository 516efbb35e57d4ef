// Small progressive enhancements; every page also works without JavaScript.
(function () {
  "use strict";

  // Agent forms: show only the fields of the chosen executor kind (data-kind lists the kinds).
  function showKindFields(select) {
    document.querySelectorAll("[data-kind]").forEach(function (box) {
      var on = box.getAttribute("data-kind").split(" ").indexOf(select.value) >= 0;
      box.hidden = !on;
      box.querySelectorAll("input, textarea, select").forEach(function (el) { el.disabled = !on; });
    });
  }

  // Copy buttons: data-copy names the id of the input to copy.
  function copy(button) {
    var input = document.getElementById(button.getAttribute("data-copy"));
    var done = button.parentNode.querySelector(".copy-done");
    function said(text) { if (done) { done.textContent = text; } }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(function () { said("Copied"); },
        function () { input.select(); said("Press Ctrl+C to copy"); });
    } else {
      input.select();
      said(document.execCommand("copy") ? "Copied" : "Press Ctrl+C to copy");
    }
  }

  // Try-it chat: send without reloading, then poll the transcript until the agent answered.
  function chat(log, form) {
    var token = form.querySelector("input[name=csrf_token]").value;
    var error = document.getElementById("chat-error");
    var box = form.querySelector("textarea[name=message]");
    var polling = false;

    function show(html) {
      log.innerHTML = html;
      log.scrollTop = log.scrollHeight;
    }
    function pending() {
      var t = log.querySelector("[data-pending]");
      return t && t.getAttribute("data-pending") === "true";
    }
    function poll(deadline) {
      if (!pending() || Date.now() > deadline) { polling = false; return; }
      polling = true;
      setTimeout(function () {
        fetch(log.getAttribute("data-poll"), { headers: { "X-Requested-With": "fetch" } })
          .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
          .then(function (html) { show(html); poll(deadline); }, function () { polling = false; });
      }, 600);
    }
    function fail(text) { error.textContent = text; error.hidden = false; }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!box.value.trim()) { fail("Write a message first."); return; }
      error.hidden = true;
      var data = new FormData(form);
      box.value = "";
      fetch(form.action, {
        method: "POST", body: data,
        headers: { "X-Requested-With": "fetch", "X-CSRF-Token": token },
      }).then(function (r) {
        return r.text().then(function (text) {
          if (r.status === 202) { show(text); if (!polling) { poll(Date.now() + 60000); } }
          else {
            box.value = data.get("message");
            var plain = (r.headers.get("Content-Type") || "").indexOf("text/plain") === 0;
            fail(plain ? text : "The message could not be sent (HTTP " + r.status + "). Reload the page and try again.");
          }
        });
      }, function () { box.value = data.get("message"); fail("The gateway cannot be reached."); });
    });
    box.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); form.requestSubmit(); }
    });
    log.scrollTop = log.scrollHeight;
    if (pending()) { poll(Date.now() + 60000); }
  }

  // A session's transcript: fetch its list every few seconds and show what is new (while the
  // tab is visible; a failed fetch waits longer, and the page itself still works without it).
  function follow(box) {
    var url = box.getAttribute("data-poll"), last = box.innerHTML, delay = 3000;
    function again() { setTimeout(tick, delay); }
    function tick() {
      if (document.hidden) { again(); return; }
      fetch(url, { headers: { "X-Requested-With": "fetch" } })
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) {
          delay = 3000;
          if (html !== last) {
            var atEnd = window.innerHeight + window.scrollY >= document.body.scrollHeight - 40;
            box.innerHTML = html; last = html;
            if (atEnd) { window.scrollTo(0, document.body.scrollHeight); }
          }
          again();
        }, function () { delay = Math.min(delay * 2, 60000); again(); });
    }
    again();
  }

  document.addEventListener("DOMContentLoaded", function () {
    var kind = document.querySelector("[data-kind-select]");
    if (kind) { showKindFields(kind); kind.addEventListener("change", function () { showKindFields(kind); }); }
    document.querySelectorAll("[data-copy]").forEach(function (b) {
      b.addEventListener("click", function () { copy(b); });
    });
    // Buttons that destroy something ask first (without JavaScript they just submit).
    document.querySelectorAll("[data-confirm]").forEach(function (b) {
      b.addEventListener("click", function (event) {
        if (!window.confirm(b.getAttribute("data-confirm"))) { event.preventDefault(); }
      });
    });
    var log = document.getElementById("chat"), form = document.getElementById("chat-form");
    if (log && form) { chat(log, form); }
    var live = document.getElementById("live-transcript");
    if (live) { follow(live); }
  });
})();
