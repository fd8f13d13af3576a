// bbreview console: vanilla JavaScript, no framework, no external assets.
// Every value from the server is inserted with textContent (never innerHTML), so repository
// names, Bitbucket messages and user names cannot inject markup.
"use strict";

(function () {
  // -- helpers ---------------------------------------------------------------------------------
  function csrfToken() {
    for (const part of document.cookie.split(";")) {
      const [name, ...rest] = part.trim().split("=");
      if (name === "bbreview_csrf") return rest.join("=");
    }
    return "";
  }

  async function api(method, path, body) {
    const options = { method, headers: { "Accept": "application/json" }, credentials: "same-origin" };
    if (method !== "GET") {
      options.headers["X-CSRF-Token"] = csrfToken();
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body || {});
    }
    const response = await fetch(path, options);
    if (response.status === 401) {
      window.location.assign("/login?next=" + encodeURIComponent(window.location.pathname));
      throw new Error("log in first");
    }
    let data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    if (!response.ok) {
      throw new Error((data && data.error) || ("HTTP " + response.status));
    }
    return data;
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function replace(target, ...children) {
    target.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  }

  function fmtTime(value) {
    if (value === null || value === undefined || value === "") return "";
    if (typeof value === "number") {
      const ms = value > 1e12 ? value : value * 1000;
      return new Date(ms).toISOString().replace("T", " ").slice(0, 19) + " UTC";
    }
    return String(value);
  }

  function fmtValue(key, value) {
    if (value === null || value === undefined) return "";
    if (typeof value === "number" && /(_at|_on|time|^at)$/.test(key)) return fmtTime(value);
    if (typeof value === "boolean") return value ? "yes" : "no";
    if (Array.isArray(value)) return value.map((v) => fmtValue("", v)).join(", ");
    if (typeof value === "object" && value.kind) {
      return [value.kind, value.state, value.last_error].filter((v) => v).join(" ");
    }
    if (typeof value === "object") return JSON.stringify(value);
    return String(value);
  }

  function errorBox(message, remedy) {
    return el("div", { class: "error", role: "alert" },
      el("strong", { text: message }),
      remedy ? el("span", { class: "remedy", text: remedy }) : null);
  }

  function badge(text, kind) {
    return el("span", { class: "badge " + (kind || ""), text });
  }

  // A table from a list of flat dicts: the columns are the union of their keys.
  function recordTable(rows, label, preferred) {
    if (!rows || rows.length === 0) return el("p", { class: "muted", text: "None." });
    const keys = [];
    for (const key of preferred || []) if (rows.some((r) => key in r)) keys.push(key);
    for (const row of rows) for (const key of Object.keys(row)) if (!keys.includes(key)) keys.push(key);
    // A column that is empty in every row says nothing.
    keys.splice(0, keys.length, ...keys.filter((k) => rows.some((r) => fmtValue(k, r[k]) !== "")));
    return el("table", { "aria-label": label },
      el("thead", {}, el("tr", {}, keys.map((k) => el("th", { scope: "col", text: k.replace(/_/g, " ") })))),
      el("tbody", {}, rows.map((row) => el("tr", {}, keys.map((k) => el("td", { text: fmtValue(k, row[k]) }))))));
  }

  function userCard(user) {
    if (!user) return null;
    const name = user.display_name || user.nickname || "?";
    const initials = name.split(/\s+/).map((w) => w[0] || "").join("").slice(0, 2).toUpperCase();
    const fallback = el("span", { class: "avatar", "aria-hidden": "true", text: initials });
    let avatar = fallback;
    if (user.avatar_src) {
      avatar = el("img", { class: "avatar", src: user.avatar_src, alt: "Avatar of " + name, width: 64, height: 64 });
      avatar.addEventListener("error", () => avatar.replaceWith(fallback));
    }
    return el("div", { class: "user-card" }, avatar,
      el("dl", { class: "facts", "aria-label": "Bitbucket account" },
        el("dt", { text: "Display name" }), el("dd", { "data-field": "display_name", text: user.display_name || "" }),
        el("dt", { text: "Nickname" }), el("dd", { "data-field": "nickname", text: user.nickname || "" }),
        el("dt", { text: "UUID" }), el("dd", { "data-field": "uuid", text: user.uuid || "" }),
        el("dt", { text: "Account ID" }), el("dd", { "data-field": "account_id", text: user.account_id || "" })));
  }

  function missingPairs(missing) {
    return (missing || []).map((m) => Array.isArray(m) ? m : [m.scope, m.consequence || m.what || ""]);
  }

  function scopesView(scopes, missing) {
    const parts = [];
    const granted = scopes || [];
    parts.push(el("h3", { text: "Granted scopes" }));
    parts.push(granted.length
      ? el("ul", { "aria-label": "Granted scopes" }, granted.slice().sort().map((s) => el("li", {}, el("code", { text: s }))))
      : el("p", { class: "muted", text: "No scope reported." }));
    const pairs = missingPairs(missing);
    if (pairs.length) {
      parts.push(el("h3", { class: "bad", text: "Missing scopes" }));
      parts.push(el("table", { "aria-label": "Missing scopes" },
        el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "Scope" }), el("th", { scope: "col", text: "What fails without it" }))),
        el("tbody", {}, pairs.map(([scope, why]) => el("tr", {}, el("td", {}, el("code", { text: scope })), el("td", { text: why }))))));
    } else if (missing) {
      parts.push(el("p", { class: "ok", text: "No scope is missing." }));
    }
    return parts;
  }

  function checkView(check, savedInfo) {
    const parts = [];
    if (!check) return parts;
    const lacking = missingPairs(check.missing).length;
    if (check.ok) {
      const who = (check.user && (check.user.display_name || check.user.nickname)) || "the account";
      parts.push(el("p", { class: "success", role: "status",
        text: savedInfo ? `Saved. Reviews will be posted as ${who} (token ending in ${savedInfo.last4}).`
                        : `The token works and belongs to ${who}.` }));
      if (lacking) {
        parts.push(el("p", { class: "notice", role: "alert",
          text: `The token lacks ${lacking} scope${lacking > 1 ? "s" : ""} bbreview needs: see below what fails without each. ` +
                "Create a new token with every scope listed." }));
      }
    } else {
      parts.push(errorBox(check.error || "The token was not accepted.", check.remedy));
    }
    parts.push(userCard(check.user));
    if (check.credential_type) parts.push(el("p", { class: "muted", text: "Credential type: " + check.credential_type }));
    if (check.user || (check.scopes && check.scopes.length)) parts.push(...scopesView(check.scopes, check.missing));
    return parts;
  }

  function tokenSummary(info) {
    if (!info) return [el("p", { class: "muted", text: "No token saved yet. Enter the review account's email and API token below." })];
    return [
      el("p", {}, "Token for ", el("strong", { text: info.email || "" }), " ending in ",
        el("code", { "data-field": "last4", text: "…" + (info.last4 || "") }),
        info.saved_at ? `, saved ${fmtTime(info.saved_at)}` : ""),
      userCard(info.user),
      ...(info.scopes ? scopesView(info.scopes, null) : []),
    ];
  }

  async function pollJob(id, onUpdate) {
    for (;;) {
      const job = await api("GET", "/api/jobs/" + id);
      onUpdate(job);
      if (job.state !== "running") return job;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  function resultLine(result) {
    if (!result) return [];
    if (result.ok) return [el("span", { class: "ok", text: "✓ " + (result.action || "done") })];
    return [el("span", { class: "bad", text: "✗ " + (result.action || "failed") + (result.error ? ": " + result.error : "") }),
            result.remedy ? el("span", { class: "remedy", text: result.remedy }) : null];
  }

  // -- pages -----------------------------------------------------------------------------------
  async function userPage() {
    const current = document.getElementById("current");
    const out = document.getElementById("check");
    const form = document.getElementById("token-form");
    const email = document.getElementById("email");
    const token = document.getElementById("token");

    async function refresh() {
      try {
        const data = await api("GET", "/api/token");
        replace(current, tokenSummary(data.token));
        if (data.token && !email.value) email.value = data.token.email || "";
      } catch (e) { replace(current, errorBox(e.message)); }
    }

    async function submit(save) {
      if (!form.reportValidity()) return;
      replace(out, el("p", { class: "muted", text: save ? "Validating and saving…" : "Validating…" }));
      try {
        const data = await api("POST", save ? "/api/token" : "/api/token/validate", { email: email.value, token: token.value });
        replace(out, checkView(data.check, save ? data.token : null));
        if (save && data.token) { token.value = ""; await refresh(); }
      } catch (e) { replace(out, errorBox(e.message)); }
    }

    form.addEventListener("submit", (ev) => { ev.preventDefault(); submit(true); });
    document.getElementById("validate").addEventListener("click", () => submit(false));
    await refresh();
  }

  function hookCell(row) {
    const hook = row.hook;
    const parts = [];
    if (!hook || !hook.present) {
      parts.push(badge("not installed", "warn"));
    } else {
      parts.push(badge("webhook present", "ok"));
      parts.push(badge(hook.active ? "active" : "inactive", hook.active ? "ok" : "bad"));
      parts.push(hook.events_ok ? badge("events ok", "ok")
        : badge("missing events: " + (hook.missing_events || []).join(", "), "bad"));
      parts.push(badge(hook.secret_set ? "secret set" : "no secret", hook.secret_set ? "ok" : "bad"));
    }
    if (row.problems && row.problems.length) {
      parts.push(el("ul", { class: "problems" }, row.problems.map((p) => el("li", { text: p }))));
    }
    return parts;
  }

  function deliveryCell(d) {
    if (!d) return [el("span", { class: "muted", text: "none yet" })];
    const outcome = d.outcome || d.state || "";
    const when = fmtTime(d.received_at || d.at || d.time);
    return [el("span", { text: outcome }), when ? el("span", { class: "remedy muted", text: when }) : null,
            d.event_key ? el("span", { class: "remedy muted", text: d.event_key }) : null];
  }

  // The most repositories one install/uninstall/reinstall request may name (the server's MAX_TARGETS).
  const MAX_TARGETS = 1000;

  async function repositoriesPage() {
    const wanted = parseInt(new URLSearchParams(window.location.search).get("per_page") || "", 10);
    const perPage = Number.isFinite(wanted) ? Math.min(Math.max(wanted, 1), 100) : 25;
    const state = { page: 1, perPage, q: "", total: 0, selected: new Set(), progress: new Map(), rows: [] };
    const tbody = document.querySelector("#repos tbody");
    const selectAll = document.getElementById("select-all");
    const selection = document.getElementById("selection");
    const selectMatching = document.getElementById("select-matching");
    const clearSelection = document.getElementById("clear-selection");
    const jobStatus = document.getElementById("job-status");
    const buttons = Array.from(document.querySelectorAll("[data-action]"));

    function updateSelection() {
      selection.textContent = state.selected.size + " selected";
      const boxes = Array.from(tbody.querySelectorAll("input[type=checkbox]"));
      selectAll.checked = boxes.length > 0 && boxes.every((b) => b.checked);
      selectAll.indeterminate = !selectAll.checked && boxes.some((b) => b.checked);
      // Select-all ticks this page; offer every match when there are more than it shows.
      const more = selectAll.checked && state.total > state.rows.length && state.selected.size < state.total;
      selectMatching.hidden = !more;
      selectMatching.textContent = `Select all ${state.total} ${state.q ? "matching" : "repositories"}`;
      clearSelection.hidden = state.selected.size === 0;
    }

    function progressCell(name) {
      const cell = el("td", { class: "progress", role: "status", "aria-label": "Progress of " + name });
      const p = state.progress.get(name);
      if (p) replace(cell, p);
      return cell;
    }

    function render(page) {
      state.rows = page.items || [];
      state.total = page.total || 0;
      if (state.rows.length === 0) {
        replace(tbody, el("tr", {}, el("td", { colspan: 6, class: "muted",
          text: state.q ? "No repository matches." : "No repository is visible to the review account. Save a token on the Bitbucket user page." })));
      } else {
        replace(tbody, state.rows.map((row) => {
          const name = row.full_name;
          const box = el("input", { type: "checkbox", "aria-label": "Select " + name, value: name });
          box.checked = state.selected.has(name);
          box.addEventListener("change", () => { box.checked ? state.selected.add(name) : state.selected.delete(name); updateSelection(); });
          return el("tr", { "data-repo": name },
            el("td", {}, box),
            el("td", {}, el("a", { href: "/troubleshooting?repo=" + encodeURIComponent(name), text: name }),
              row.name && row.name !== row.slug ? el("span", { class: "remedy muted", text: row.name }) : null),
            el("td", { text: row.permission || "" }),
            el("td", {}, hookCell(row)),
            el("td", {}, deliveryCell(row.last_delivery)),
            progressCell(name));
        }));
      }
      const pages = Math.max(1, Math.ceil(state.total / state.perPage));
      document.getElementById("page-info").textContent = `Page ${state.page} of ${pages} (${state.total} repositories)`;
      document.getElementById("prev").disabled = state.page <= 1;
      document.getElementById("next").disabled = state.page >= pages;
      updateSelection();
    }

    async function load() {
      const params = new URLSearchParams({ page: state.page, per_page: state.perPage });
      if (state.q) params.set("q", state.q);
      try {
        render(await api("GET", "/api/repositories?" + params));
      } catch (e) {
        replace(tbody, el("tr", {}, el("td", { colspan: 6 }, errorBox(e.message))));
      }
    }

    function setProgress(name, nodes) {
      state.progress.set(name, nodes);
      const cell = tbody.querySelector(`tr[data-repo="${CSS.escape(name)}"] td.progress`);
      if (cell) replace(cell, nodes.map((n) => n.cloneNode(true)));
    }

    async function run(action) {
      const names = Array.from(state.selected);
      if (names.length === 0) { jobStatus.textContent = "Select at least one repository first."; return; }
      if (names.length > MAX_TARGETS) {
        jobStatus.textContent = `${names.length} repositories are selected; at most ${MAX_TARGETS} can be handled at a time: narrow the search.`;
        return;
      }
      buttons.forEach((b) => { b.disabled = true; });
      const verb = { install: "Installing", uninstall: "Uninstalling", reinstall: "Reinstalling" }[action];
      names.forEach((n) => setProgress(n, [el("span", { class: "muted", text: "queued" })]));
      try {
        const start = await api("POST", "/api/jobs", { action, full_names: names });
        state.selected.clear();
        tbody.querySelectorAll("input[type=checkbox]").forEach((b) => { b.checked = false; });
        updateSelection();
        const job = await pollJob(start.id, (j) => {
          let working = false;
          for (const n of j.targets) {
            const r = j.results[n];
            if (r) setProgress(n, resultLine(r));
            else if (!working && j.state === "running") { working = true; setProgress(n, [el("span", { text: verb + "…" })]); }
          }
          jobStatus.textContent = `${verb} ${j.done} of ${j.total} repositories…`;
        });
        const results = Object.values(job.results);
        const failed = results.filter((r) => !r.ok).length;
        jobStatus.textContent = job.state === "failed"
          ? "Stopped: " + job.error
          : `Done: ${results.length - failed} succeeded, ${failed} failed.`;
        await load();
      } catch (e) {
        jobStatus.textContent = e.message;
      } finally {
        buttons.forEach((b) => { b.disabled = false; });
      }
    }

    selectAll.addEventListener("change", () => {
      for (const row of state.rows) selectAll.checked ? state.selected.add(row.full_name) : state.selected.delete(row.full_name);
      tbody.querySelectorAll("input[type=checkbox]").forEach((b) => { b.checked = selectAll.checked; });
      updateSelection();
    });
    selectMatching.addEventListener("click", async () => {
      // Names only: the server reads no webhook for this, so it costs no request per repository.
      const params = new URLSearchParams();
      if (state.q) params.set("q", state.q);
      selectMatching.disabled = true;
      try {
        const data = await api("GET", "/api/repositories/names?" + params);
        for (const item of data.items || []) state.selected.add(item.full_name);
        jobStatus.textContent = "";
      } catch (e) {
        jobStatus.textContent = e.message;
      } finally {
        selectMatching.disabled = false;
        updateSelection();
      }
    });
    clearSelection.addEventListener("click", () => {
      state.selected.clear();
      tbody.querySelectorAll("input[type=checkbox]").forEach((b) => { b.checked = false; });
      updateSelection();
    });
    buttons.forEach((b) => b.addEventListener("click", () => run(b.dataset.action)));
    document.getElementById("search-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      state.q = document.getElementById("search").value.trim();
      state.page = 1;
      load();
    });
    document.getElementById("prev").addEventListener("click", () => { state.page -= 1; load(); });
    document.getElementById("next").addEventListener("click", () => { state.page += 1; load(); });
    await load();
  }

  async function changeUserPage() {
    const form = document.getElementById("new-token-form");
    const email = document.getElementById("new-email");
    const token = document.getElementById("new-token");
    const out = document.getElementById("new-check");
    const list = document.getElementById("reinstall-list");
    const change = document.getElementById("change");
    const result = document.getElementById("change-result");

    // From the store, not from Bitbucket: the old token may no longer work.
    let installedCount = 0;
    try {
      const installed = (await api("GET", "/api/installations")).items || [];
      installedCount = installed.length;
      const legend = list.querySelector("legend");
      replace(list, legend, installed.length
        ? installed.map((r) => el("label", {}, el("input", { type: "checkbox", value: r.full_name, checked: true }), " " + r.full_name))
        : el("p", { class: "muted", text: "No repository has bbreview's webhook yet." }));
    } catch (e) { replace(list, errorBox(e.message)); }

    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      change.disabled = true;
      replace(out, el("p", { class: "muted", text: "Validating…" }));
      try {
        const data = await api("POST", "/api/token/validate", { email: email.value, token: token.value });
        replace(out, checkView(data.check, null));
        change.disabled = !data.check.ok;
      } catch (e) { replace(out, errorBox(e.message)); }
    });

    change.addEventListener("click", async () => {
      const names = Array.from(list.querySelectorAll("input[type=checkbox]:checked")).map((b) => b.value);
      if (installedCount > 0 && names.length === 0) {
        replace(result, errorBox("Tick at least one repository to reinstall.",
          "To stop reviewing a repository, uninstall it on the Repositories page."));
        return;
      }
      change.disabled = true;
      replace(result, el("p", { class: "muted", text: "Changing the review user…" }));
      try {
        // No names: the server reinstalls the repositories installed now.
        const body = { email: email.value, token: token.value };
        if (names.length) body.full_names = names;
        const start = await api("POST", "/api/change-user", body);
        const job = await pollJob(start.id, () => {});
        if (job.state === "failed") { replace(result, errorBox(job.error)); return; }
        const r = job.result || {};
        token.value = "";
        const parts = [el("p", { class: "success", role: "status", text: "The review user was changed." })];
        if (r.check) parts.push(userCard(r.check.user));
        parts.push(el("h3", { text: "Old webhooks removed" }));
        parts.push((r.removed || []).length
          ? el("ul", {}, r.removed.map((x) => el("li", {}, typeof x === "string" ? x : resultLine(x).concat([" " + (x.full_name || "")]))))
          : el("p", { class: "muted", text: "None." }));
        if ((r.manual || []).length) {
          parts.push(el("h3", { class: "bad", text: "Delete these webhooks by hand" }));
          parts.push(el("p", { text: "These hooks could not be removed automatically; each line says why. " +
                                     "Until they are deleted, Bitbucket keeps calling them:" }));
          parts.push(el("ul", { "aria-label": "Webhooks to delete by hand" }, r.manual.map((m) => el("li", {},
            el("a", { href: m.settings_url, target: "_blank", rel: "noopener noreferrer", text: m.full_name }),
            m.hook_uuid ? " (hook " + m.hook_uuid + ")" : "",
            m.reason ? el("span", { class: "remedy", text: m.reason }) : null))));
        }
        parts.push(el("h3", { text: "Reinstalled" }));
        parts.push((r.installed || []).length
          ? el("ul", {}, r.installed.map((x) => el("li", {}, el("strong", { text: x.full_name + " " }), resultLine(x))))
          : el("p", { class: "muted", text: "None." }));
        replace(result, parts);
      } catch (e) {
        replace(result, errorBox(e.message));
      } finally {
        change.disabled = false;
      }
    });
  }

  async function troubleshootingPage() {
    const doctorOut = document.getElementById("doctor");
    const healthOut = document.getElementById("health");
    const testOut = document.getElementById("test-result");
    const repo = document.getElementById("health-repo");

    async function doctor() {
      replace(doctorOut, el("p", { class: "muted", text: "Checking…" }));
      try {
        const data = await api("GET", "/api/doctor");
        const problems = data.problems || [];
        replace(doctorOut, problems.length === 0
          ? el("p", { class: "success", text: "No problem found." })
          : el("ul", { "aria-label": "Problems" }, problems.map((p) => el("li", {},
              badge(p.severity || "problem", p.severity === "error" ? "bad" : "warn"), " ",
              el("strong", { text: p.what }), el("span", { class: "remedy", text: p.fix ? "Fix: " + p.fix : "" })))));
      } catch (e) { replace(doctorOut, errorBox(e.message)); }
    }

    async function health() {
      const name = repo.value.trim();
      if (!name) return;
      replace(healthOut, el("p", { class: "muted", text: "Checking " + name + "…" }));
      try {
        const h = await api("GET", "/api/health?repo=" + encodeURIComponent(name));
        const hook = h.hook || {};
        replace(healthOut,
          el("h3", { text: h.full_name || name }),
          el("dl", { class: "facts", "aria-label": "Webhook" },
            el("dt", { text: "Webhook present" }), el("dd", { text: hook.present ? "yes" : "no" }),
            el("dt", { text: "Active" }), el("dd", { text: hook.active ? "yes" : "no" }),
            el("dt", { text: "Events" }), el("dd", { text: hook.events_ok ? "all needed" : "missing " + (hook.missing_events || []).join(", ") }),
            el("dt", { text: "Secret set" }), el("dd", { text: hook.secret_set ? "yes" : "no" }),
            el("dt", { text: "URL" }), el("dd", { text: hook.url || "" })),
          (h.problems || []).length ? el("ul", { class: "problems", "aria-label": "Repository problems" },
            h.problems.map((p) => el("li", { text: typeof p === "string" ? p : (p.what + (p.fix ? " — " + p.fix : "")) }))) : null,
          el("h3", { text: "Last deliveries" }),
          recordTable(h.deliveries, "Last deliveries", ["seq", "received_at", "event_key", "state", "outcome"]),
          el("h3", { text: "Recent Bitbucket errors" }),
          recordTable(h.errors, "Recent Bitbucket errors", ["at", "status", "what", "message"]));
      } catch (e) { replace(healthOut, errorBox(e.message)); }
    }

    document.getElementById("run-doctor").addEventListener("click", doctor);
    document.getElementById("health-form").addEventListener("submit", (ev) => { ev.preventDefault(); health(); });
    document.getElementById("test-event").addEventListener("click", async () => {
      if (!repo.reportValidity()) return;
      replace(testOut, el("p", { class: "muted", text: "Sending a signed test event and following it through the queue…" }));
      try {
        const r = await api("POST", "/api/test-event", { full_name: repo.value.trim() });
        replace(testOut, r.ok
          ? el("p", { class: "success", text: `Test event delivered (HTTP ${r.status}, delivery #${r.delivery_seq}): ${r.outcome || "queued"}.` })
          : errorBox("Test event failed" + (r.status ? ` (HTTP ${r.status})` : "") + ": " + (r.error || r.outcome || "no answer")));
        await health();
      } catch (e) { replace(testOut, errorBox(e.message)); }
    });

    const wanted = new URLSearchParams(window.location.search).get("repo");
    if (wanted) { repo.value = wanted; health(); }
    doctor();
    try {
      // Names only: suggestions must not read every repository's webhooks.
      const names = ((await api("GET", "/api/repositories/names")).items || []).map((r) => r.full_name);
      replace(document.getElementById("repo-names"), names.map((n) => el("option", { value: n })));
    } catch (e) { /* the datalist is a convenience */ }
  }

  // -- start -------------------------------------------------------------------------------------
  const pages = { "user": userPage, "repositories": repositoriesPage, "change-user": changeUserPage,
                  "troubleshooting": troubleshootingPage };
  document.addEventListener("DOMContentLoaded", () => {
    const logout = document.getElementById("logout");
    if (logout) {
      logout.addEventListener("click", async () => {
        try { await api("POST", "/api/logout", {}); } finally { window.location.assign("/login"); }
      });
    }
    const init = pages[document.body.dataset.page];
    if (init) init();
  });
})();
