// Cloudward console: small progressive enhancements; every page works without this file.
// - <time datetime="...UTC..."> shows the browser's own zone; the UTC time stays on hover (title).
// - "select all" for the bulk actions; selects with class autosubmit submit their form on change.
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function localText(d) {
    var offset = -d.getTimezoneOffset();
    var sign = offset >= 0 ? "+" : "-";
    offset = Math.abs(offset);
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
      pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds()) +
      " (UTC" + sign + pad(Math.floor(offset / 60)) + ":" + pad(offset % 60) + ")";
  }
  function localizeTimes() {
    var nodes = document.querySelectorAll("time[datetime]");
    for (var i = 0; i < nodes.length; i++) {
      var d = new Date(nodes[i].getAttribute("datetime"));
      if (isNaN(d.getTime())) { continue; }
      nodes[i].textContent = localText(d);
      nodes[i].title = "UTC " + nodes[i].getAttribute("datetime");
    }
  }
  function wireBulk() {
    var all = document.querySelector(".pick-all");
    if (!all) { return; }
    all.addEventListener("change", function () {
      var boxes = document.querySelectorAll("input[name=ids]");
      for (var i = 0; i < boxes.length; i++) { boxes[i].checked = all.checked; }
    });
  }
  function wireAutosubmit() {
    var selects = document.querySelectorAll("select.autosubmit");
    for (var i = 0; i < selects.length; i++) {
      selects[i].addEventListener("change", function (ev) { ev.target.form.submit(); });
    }
  }
  function start() { localizeTimes(); wireBulk(); wireAutosubmit(); }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
