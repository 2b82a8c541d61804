/* The web chat for the university portal, in one tag:
 *   <script src="https://bot.example.kz/chat/widget.js" async></script>
 * Adds a button at the bottom right that opens the chat page in a frame; the portal page's
 * <html lang> picks the chat's language. The portal's origin must be in WEB_CHAT_ORIGINS. */
(function () {
  "use strict";
  var me = document.currentScript;
  var origin = new URL(me ? me.src : "/chat/widget.js", location.href).origin;
  var lang = (document.documentElement.lang || "").slice(0, 2).toLowerCase();
  var labels = /*LABELS*/{};  /* filled in by the server from the catalogs */
  var label = labels[lang] || labels[/*DEFAULT*/"kk"] || "Chat";
  var frame = null;
  var button = document.createElement("button");
  button.type = "button";
  button.textContent = "💬";
  button.setAttribute("aria-label", label);
  button.setAttribute("aria-expanded", "false");
  button.title = label;
  var s = button.style;
  s.position = "fixed"; s.right = "20px"; s.bottom = "20px"; s.zIndex = "2147483000";
  s.width = "60px"; s.height = "60px"; s.borderRadius = "50%"; s.border = "0";
  s.background = "#0b5cad"; s.color = "#fff"; s.fontSize = "28px"; s.cursor = "pointer";
  s.boxShadow = "0 4px 14px rgba(0,0,0,.25)";
  button.addEventListener("click", function () {
    if (!frame) {
      frame = document.createElement("iframe");
      frame.src = origin + "/chat?embed=1" + (lang ? "&lang=" + encodeURIComponent(lang) : "");
      frame.title = label;
      var f = frame.style;
      f.position = "fixed"; f.right = "20px"; f.bottom = "90px"; f.zIndex = "2147483000";
      f.width = "min(400px, calc(100vw - 40px))"; f.height = "min(620px, calc(100vh - 120px))";
      f.border = "1px solid #d5dbe3"; f.borderRadius = "12px"; f.background = "#fff";
      f.boxShadow = "0 8px 30px rgba(0,0,0,.25)";
      document.body.appendChild(frame);
    } else {
      frame.hidden = !frame.hidden;
    }
    var open = !frame.hidden;
    button.setAttribute("aria-expanded", open ? "true" : "false");
    if (open) frame.focus();
  });
  document.body.appendChild(button);
})();
