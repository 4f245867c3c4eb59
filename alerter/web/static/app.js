// alerter's page: keeps the server-rendered sections live (polls api/v1/page), silences an
// alert in two clicks, expires silences and lifts bans with the API token kept in this tab.
// Every HTML swapped in was rendered and escaped by the server; text from users and logs is
// only ever set through textContent or form values here.
"use strict";
(function () {
  const TOKEN = "alerter-token";
  const AUTHOR = "alerter-author";
  const POLL_MS = 500;
  const HIDDEN_POLL_MS = 5000;
  const TIMEOUT_MS = 5000;
  const doc = document;
  doc.documentElement.classList.add("js");
  const $ = (id) => doc.getElementById(id);
  let failures = 0;
  let timer = 0;
  let asked = false;

  function digests() {
    const have = [];
    for (const el of doc.querySelectorAll("[data-section]")) {
      if (el.dataset.digest) have.push(el.dataset.section + ":" + el.dataset.digest);
    }
    return have.join(",");
  }

  function authHeaders(extra) {
    const h = Object.assign({}, extra || {});
    const t = sessionStorage.getItem(TOKEN);
    if (t) h.Authorization = "Bearer " + t;
    return h;
  }

  function setLive(text, offline) {
    const el = $("live");
    el.textContent = text;
    el.classList.toggle("offline", !!offline);
  }

  function swap(name, section) {
    const el = doc.querySelector('[data-section="' + name + '"]');
    if (!el || section.html === undefined) return;
    const active = doc.activeElement;
    const key = focusKey(active);
    performance.mark("alerter-swap-start");
    const next = doc.createElement("template");
    next.innerHTML = section.html;
    const changed = morph(el, next.content);
    el.dataset.digest = section.digest;
    void el.offsetHeight; // layout now, so the measure holds it
    // one measure per section, the latest (a tab open for days keeps no timeline of them)
    performance.clearMeasures("alerter-render:" + name);
    performance.measure("alerter-render:" + name, { start: "alerter-swap-start", detail: { changed } });
    performance.clearMarks("alerter-swap-start");
    if (key && !doc.contains(active)) {
      const owner = doc.getElementById(key[0]);
      const again = owner && owner.querySelector("button." + key[1]);
      if (again) again.focus();
    }
  }

  // Make cur's children those of next, keeping the ones equal already: an alert that did not
  // change is not touched, so a new alert among 1,000 costs the style and layout of one.
  // Children with an id (groups, blocks of alerts, alerts) are matched by it; a group or block
  // that changed is morphed in turn. Returns how many nodes were put in or taken out.
  function morph(cur, next) {
    let changed = 0;
    const old = new Map();
    for (const c of cur.children) if (c.id) old.set(c.id, c);
    const wanted = new Set();
    for (const c of next.children) if (c.id) wanted.add(c.id);
    let a = cur.firstChild;
    for (let b = next.firstChild; b; ) {
      const after = b.nextSibling;
      while (a && a.id && !wanted.has(a.id)) { // gone
        const n = a.nextSibling;
        a.remove();
        changed++;
        a = n;
      }
      if (a && a.isEqualNode(b)) {
        a = a.nextSibling;
      } else if (a && deep(a, b)) {
        changed += morph(a, b);
        if (a.className !== b.className) a.className = b.className; // a block's size class
        a = a.nextSibling;
      } else {
        const moved = b.id ? old.get(b.id) : undefined;
        if (moved && moved !== a) { moved.remove(); changed++; } // its place or content changed
        if (a && (a === moved || !a.id)) { // b takes a's place
          const n = a.nextSibling;
          a.replaceWith(b);
          a = n;
        } else {
          cur.insertBefore(b, a); // new, before a (a stays: it is still wanted)
        }
        changed++;
      }
      b = after;
    }
    while (a) { // the rest is not wanted anymore
      const n = a.nextSibling;
      a.remove();
      changed++;
      a = n;
    }
    return changed;
  }

  function deep(a, b) { // a group or a block of alerts, the same one
    return (a.tagName === "ARTICLE" || a.tagName === "UL") && a.tagName === b.tagName &&
      a.id === b.id;
  }

  // A button is found again after a swap by its alert's or row's id and its kind.
  function focusKey(el) {
    if (!el || el.tagName !== "BUTTON" || !el.closest("[data-section]")) return undefined;
    const owner = el.parentElement.closest("[id]");
    if (!owner || owner.hasAttribute("data-section")) return undefined;
    return [owner.id, el.classList[0]];
  }

  async function poll() {
    clearTimeout(timer);
    const ctl = new AbortController();
    const abort = setTimeout(() => ctl.abort(), TIMEOUT_MS);
    try {
      const r = await fetch("api/v1/page?have=" + encodeURIComponent(digests()), {
        headers: authHeaders(), cache: "no-store", signal: ctl.signal,
      });
      if (r.status === 401) {
        setLive("API token needed to read", true);
        if (!asked) { asked = true; askToken(); }
        schedule(HIDDEN_POLL_MS);
        return;
      }
      if (!r.ok) throw new Error("HTTP " + r.status);
      const data = await r.json();
      for (const [name, section] of Object.entries(data.sections)) swap(name, section);
      failures = 0;
      setLive("live · " + new Date().toLocaleTimeString(), false);
      schedule(doc.hidden ? HIDDEN_POLL_MS : POLL_MS);
    } catch (e) {
      failures += 1;
      const wait = Math.min(POLL_MS * 2 ** failures, 5000);
      setLive("offline, retrying in " + Math.round(wait / 1000 + 0.49) + " s", true);
      schedule(wait);
    } finally {
      clearTimeout(abort);
    }
  }

  function schedule(ms) {
    clearTimeout(timer);
    timer = setTimeout(poll, ms);
  }

  function askToken() {
    const dlg = $("token-dialog");
    if (dlg.open) return Promise.resolve(null);
    $("token-input").value = "";
    dlg.returnValue = "";
    dlg.showModal();
    return new Promise((resolve) => {
      dlg.addEventListener("close", () => {
        const t = dlg.returnValue === "ok" ? $("token-input").value.trim() : "";
        if (t) sessionStorage.setItem(TOKEN, t);
        resolve(t || null);
      }, { once: true });
    });
  }

  async function call(method, url, body) {
    for (let attempt = 0; ; attempt++) {
      const init = { method, cache: "no-store" };
      if (body !== undefined) {
        init.body = JSON.stringify(body);
        init.headers = authHeaders({ "Content-Type": "application/json" });
      } else {
        init.headers = authHeaders();
      }
      const r = await fetch(url, init);
      if (r.status !== 401 || attempt > 0) return r;
      if (!(await askToken())) return r;
    }
  }

  async function errorText(r) {
    try {
      const data = await r.json();
      return typeof data === "string" ? data : data.error || JSON.stringify(data);
    } catch (e) {
      return "HTTP " + r.status;
    }
  }

  const MATCHER = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(?:"((?:[^"\\]|\\.)*)"|(\S*))\s*$/;

  function parseMatchers(text) {
    const out = [];
    for (const line of text.split("\n")) {
      if (!line.trim()) continue;
      const m = MATCHER.exec(line);
      if (!m) throw new Error("not a matcher: " + line.trim());
      const value = m[3] !== undefined ? JSON.parse('"' + m[3] + '"') : m[4];
      out.push({ name: m[1], value, isRegex: m[2].includes("~"), isEqual: m[2][0] === "=" });
    }
    if (!out.length) throw new Error("give at least one matcher");
    return out;
  }

  // An alert's labels as matcher lines: its name, then its labels' text run, which the server
  // writes as name="value" with the value quoted as JSON.
  function alertMatchers(li) {
    const lines = ["alertname=" + JSON.stringify(li.querySelector("b").textContent)];
    const text = li.querySelector(".labels").textContent;
    for (const m of text.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*")/g)) {
      lines.push(m[1] + "=" + JSON.stringify(JSON.parse(m[2])));
    }
    return lines;
  }

  function openSilence(button) {
    const lines = alertMatchers(button.closest("li.alert"));
    $("silence-matchers").value = lines.join("\n");
    $("silence-author").value = sessionStorage.getItem(AUTHOR) || "web";
    $("silence-error").textContent = "";
    $("silence-dialog").showModal();
    $("silence-submit").focus();
  }

  async function createSilence(ev) {
    ev.preventDefault();
    const err = $("silence-error");
    err.textContent = "";
    let matchers;
    try {
      matchers = parseMatchers($("silence-matchers").value);
    } catch (e) {
      err.textContent = e.message;
      return;
    }
    const author = $("silence-author").value.trim();
    sessionStorage.setItem(AUTHOR, author);
    const now = Date.now();
    const body = {
      matchers,
      startsAt: new Date(now).toISOString(),
      endsAt: new Date(now + 1000 * Number($("silence-duration").value)).toISOString(),
      createdBy: author,
      comment: $("silence-comment").value.trim(),
    };
    try {
      const r = await call("POST", "api/v2/silences", body);
      if (!r.ok) { err.textContent = "Not silenced: " + (await errorText(r)); return; }
      $("silence-dialog").close();
      poll();
    } catch (e) {
      err.textContent = "Not silenced: " + e.message;
    }
  }

  async function change(button, method, url, what) {
    button.disabled = true;
    try {
      const r = await call(method, url);
      if (!r.ok) setLive(what + " failed: " + (await errorText(r)), true);
      poll();
    } catch (e) {
      setLive(what + " failed: " + e.message, true);
    } finally {
      button.disabled = false;
    }
  }

  doc.addEventListener("click", (ev) => {
    const b = ev.target.closest("button");
    if (!b) return;
    if (b.classList.contains("silence")) openSilence(b);
    else if (b.classList.contains("expire")) {
      change(b, "DELETE", "api/v2/silence/" + encodeURIComponent(b.dataset.id), "Expiring the silence");
    } else if (b.classList.contains("lift")) {
      change(b, "DELETE", "api/v1/bans/" + encodeURIComponent(b.dataset.address), "Lifting the ban");
    }
  });

  function init() {
    $("silence-form").addEventListener("submit", createSilence);
    $("silence-cancel").addEventListener("click", () => $("silence-dialog").close());
    $("token-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      $("token-dialog").close("ok");
    });
    $("token-cancel").addEventListener("click", () => $("token-dialog").close(""));
    $("token-button").addEventListener("click", () => askToken().then(() => poll()));
    doc.addEventListener("visibilitychange", () => { if (!doc.hidden) poll(); });
    window.addEventListener("online", () => poll());
    window.addEventListener("hashchange", missing);
    schedule(POLL_MS);
    missing();
  }

  // A link to an alert (a notification's generatorURL) that is no longer on the page.
  function missing() {
    const hash = location.hash.slice(1);
    const notice = $("notice");
    notice.hidden = !(hash.startsWith("alert-") && !doc.getElementById(hash));
    notice.textContent = notice.hidden ? "" : "Alert " + hash.slice(6) + " is no longer pending or firing.";
  }

  if (doc.readyState === "loading") doc.addEventListener("DOMContentLoaded", init);
  else init();
})();
