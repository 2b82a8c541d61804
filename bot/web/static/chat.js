/* The web chat page: a WebSocket (long polling when it cannot connect) to the bot's server.
 * Every event from the server has a sequence number; after a drop the page reconnects and
 * says the last one it saw, so nothing is lost or shown twice. Bot text arrives already
 * sanitised by the server (bot/web/render.py); what the user typed is only ever text. */
(function () {
  "use strict";
  var S = JSON.parse(document.getElementById("strings").textContent);
  var log = document.getElementById("log");
  var statusEl = document.getElementById("status");
  var typingEl = document.getElementById("typing");
  var quick = document.getElementById("quick");
  var form = document.getElementById("composer");
  var input = document.getElementById("text");
  var fileInput = document.getElementById("file");
  var langSelect = document.getElementById("lang");
  var lang = document.documentElement.lang || "kk";
  var lastSeq = null, seen = {}, bubbles = {}, outbox = [];
  var ws = null, mode = "ws", wsFailures = 0, backoff = 500, typingTimer = null, started = false;

  function setStatus(text) { statusEl.textContent = text || ""; }
  function scrollDown() { log.scrollTop = log.scrollHeight; }
  function showTyping(on) {
    typingEl.hidden = !on;
    if (typingTimer) { clearTimeout(typingTimer); typingTimer = null; }
    if (on) typingTimer = setTimeout(function () { typingEl.hidden = true; }, 20000);
  }
  function notice(text) {
    var div = document.createElement("div");
    div.className = "notice";
    div.textContent = text;
    log.appendChild(div);
    scrollDown();
  }

  function renderKeyboard(bubble, messageId, keyboard) {
    var old = bubble.querySelector(".buttons");
    if (old) old.remove();
    if (!keyboard) return;
    if (keyboard.inline) {
      var box = document.createElement("div");
      box.className = "buttons";
      keyboard.inline.forEach(function (row) {
        var line = document.createElement("div");
        line.className = "row";
        row.forEach(function (b) {
          var el;
          if (b.url) {
            el = document.createElement("a");
            el.href = b.url; el.target = "_blank"; el.rel = "noopener noreferrer";
          } else {
            el = document.createElement("button");
            el.type = "button";
            el.addEventListener("click", function () {
              send({type: "press", message: messageId, data: b.data, lang: lang});
              showTyping(true);
            });
          }
          el.textContent = b.text;
          line.appendChild(el);
        });
        box.appendChild(line);
      });
      bubble.appendChild(box);
    }
    if (keyboard.reply || keyboard.remove) setQuick(keyboard);
  }

  function setQuick(keyboard) {
    quick.textContent = "";
    if (!keyboard.reply) return;
    keyboard.reply.forEach(function (row) {
      row.forEach(function (b) {
        var el = document.createElement("button");
        el.type = "button";
        el.textContent = b.text;
        el.addEventListener("click", function () { sendText(b.text); });
        quick.appendChild(el);
      });
    });
    if (keyboard.placeholder) input.placeholder = keyboard.placeholder;
  }

  function fill(bubble, ev) {
    var body = bubble.querySelector(".body");
    if (ev.sender === "user") body.textContent = ev.text || "";
    else body.innerHTML = ev.html || "";  /* sanitised by the server's whitelist */
    var link = bubble.querySelector(".file");
    if (link) link.remove();
    if (ev.file) {
      link = document.createElement("a");
      link.className = "file";
      link.href = ev.file.url;
      link.setAttribute("download", "");
      link.textContent = "📄 " + S.download;
      bubble.appendChild(link);
    }
    renderKeyboard(bubble, ev.kind === "edit" ? ev.ref : ev.id, ev.keyboard);
  }

  function apply(ev) {
    if (ev.seq != null) {
      if (seen[ev.seq]) return;
      seen[ev.seq] = true;
      if (lastSeq === null || ev.seq > lastSeq) lastSeq = ev.seq;
    }
    if (ev.kind === "typing") { showTyping(true); return; }
    if (ev.kind === "notice") { notice(ev.text); return; }
    if (ev.kind === "error") { notice(S[ev.code] || ev.code); showTyping(false); return; }
    if (ev.kind === "press") return;
    if (ev.kind === "edit" || ev.kind === "delete" || ev.kind === "reaction") {
      var target = bubbles[ev.ref];
      if (!target) return;
      if (ev.kind === "delete") { target.remove(); delete bubbles[ev.ref]; return; }
      if (ev.kind === "reaction") {
        var r = target.querySelector(".reaction") || document.createElement("span");
        r.className = "reaction"; r.textContent = ev.html || ""; target.appendChild(r);
        return;
      }
      var hadFocus = target.contains(document.activeElement);
      fill(target, ev);
      if (hadFocus) {  /* the pressed button was replaced: keep the keyboard user in place */
        var next = target.querySelector(".buttons button");
        (next || input).focus();
      }
      return;
    }
    if (ev.kind !== "message") return;
    var bubble = document.createElement("div");
    bubble.className = "msg " + ev.sender;
    var who = document.createElement("span");
    who.className = "who";
    who.textContent = ev.sender === "user" ? S.you : ev.sender === "staff" ? S.staff : S.bot;
    bubble.appendChild(who);
    var body = document.createElement("div");
    body.className = "body";
    bubble.appendChild(body);
    bubble.dataset.id = ev.id;
    bubbles[ev.id] = bubble;
    fill(bubble, ev);
    log.appendChild(bubble);
    if (ev.sender !== "user") showTyping(false);
    scrollDown();
  }

  function onFrame(frame) {
    if (frame.kind === "history") {
      frame.events.forEach(apply);
      if (!started) {
        started = true;
        if (!frame.resumed && frame.events.length === 0) sendText("/start");
      }
      return;
    }
    apply(frame);
  }

  function flush() {
    while (outbox.length) {
      var frame = outbox[0];
      if (mode === "ws") {
        if (!ws || ws.readyState !== 1) return;
        ws.send(JSON.stringify(frame));
        outbox.shift();
      } else {
        outbox.shift();
        postFrame(frame);
      }
    }
  }
  function send(frame) { outbox.push(frame); flush(); }
  function sendText(text) {
    send({type: "message", text: text, lang: lang});
    showTyping(true);
  }

  function postFrame(frame) {
    fetch("/chat/api/send", {method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json"}, body: JSON.stringify(frame)})
      .then(function (r) { return r.json(); })
      .then(function (r) { if (r && r.kind === "error") apply(r); })
      .catch(function () { outbox.unshift(frame); setStatus(S.offline); });
  }

  function connect() {
    if (!("WebSocket" in window)) { startPolling(); return; }
    var proto = location.protocol === "https:" ? "wss://" : "ws://";
    var opened = false;
    ws = new WebSocket(proto + location.host + "/chat/ws");
    ws.onopen = function () {
      opened = true; wsFailures = 0; backoff = 500; setStatus("");
      ws.send(JSON.stringify({type: "hello", after: lastSeq}));
      flush();
    };
    ws.onmessage = function (m) {
      try { onFrame(JSON.parse(m.data)); } catch (e) { /* a frame we cannot read */ }
    };
    ws.onclose = function () {
      ws = null;
      setStatus(S.offline);
      if (!opened) wsFailures += 1;
      if (wsFailures >= 3) { startPolling(); return; }
      setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, 8000);
    };
  }

  function startPolling() {
    mode = "poll";
    var first = true;
    function loop() {
      var url = "/chat/api/poll" + (lastSeq !== null ? "?after=" + lastSeq : "");
      fetch(url, {credentials: "same-origin"})
        .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
        .then(function (r) {
          setStatus("");
          onFrame({kind: "history", events: r.events, resumed: r.resumed || !first});
          first = false;
          flush();
          setTimeout(loop, 50);
        })
        .catch(function () { setStatus(S.offline); setTimeout(loop, 2000); });
    }
    loop();
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    if (text.length > 4000) { notice(S.too_long); return; }
    input.value = "";
    sendText(text);
    input.focus();
  });
  input.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); form.requestSubmit(); }
  });
  fileInput.addEventListener("change", function () {
    var file = fileInput.files && fileInput.files[0];
    fileInput.value = "";
    if (!file) return;
    if (file.size > 20 * 1024 * 1024) { notice(S.bad_file); return; }
    var data = new FormData();
    data.append("file", file, file.name);
    setStatus(S.uploading);
    fetch("/chat/api/upload?lang=" + encodeURIComponent(lang),
      {method: "POST", credentials: "same-origin", body: data})
      .then(function (r) { return r.json(); })
      .then(function (r) {
        setStatus("");
        if (r.kind === "error") apply(r); else showTyping(true);
      })
      .catch(function () { setStatus(""); notice(S.bad_file); });
  });
  langSelect.addEventListener("change", function () {
    var next = langSelect.value;
    send({type: "lang", lang: next});
    var url = new URL(location.href);
    url.searchParams.set("lang", next);
    setTimeout(function () { location.href = url.toString(); }, 150);
  });

  window.webchat = {lastSeq: function () { return lastSeq; }, mode: function () { return mode; },
    drop: function () { if (ws) ws.close(); }};
  connect();
})();
