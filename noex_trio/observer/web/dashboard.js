// The noex_trio observer dashboard: one EventSource on /events, plain DOM, no dependencies.
//
// Frames (see noex_trio/observer/_feed.py): "hello" (runtime, interval, rules), "lifecycle"
// (one event: type, id, label, reason, time), "tick" (snapshot + alerts), "dropped" (events a
// slow page missed). User data (labels, reasons, messages) only ever goes into textContent.
"use strict";

(() => {
  const MAX_CHILDREN = 200; // children shown per supervisor; the rest is summed up in one row
  const MAX_ROWS = 2000; // rows in the process table
  const TIMELINE_ITEMS = 200; // entries kept on the timeline
  const WINDOW = 120; // seconds shown by the timeline chart

  const state = {
    snapshot: null,
    alerts: [],
    timeline: [], // lifecycle events (crashed, restarted), newest first
    seen: new Set(), // "type:id:time" of timeline events, against replays after a reconnect
    collapsed: new Set(),
    crashedIds: new Map(), // process id -> time of its crash (to mark its row)
    dropped: 0,
    longest: 10, // the longest mailbox of the snapshot (for the mailbox bars)
    clock: null, // the runtime's clock at the last tick, and when (browser time) it came
    clockAt: 0,
  };

  const $ = (id) => document.getElementById(id);

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("data-")) node.setAttribute(key, String(value));
      else node[key] = value;
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function replace(parent, nodes, emptyText) {
    parent.replaceChildren(...(nodes.length ? nodes : [el("li", { class: "empty", text: emptyText })]));
  }

  function seconds(value) {
    if (value === null || value === undefined) return "";
    if (value < 1) return `${(value * 1000).toFixed(0)} ms`;
    if (value < 60) return `${value.toFixed(1)} s`;
    if (value < 3600) return `${Math.floor(value / 60)} m ${Math.floor(value % 60)} s`;
    return `${Math.floor(value / 3600)} h ${Math.floor((value % 3600) / 60)} m`;
  }

  function now() {
    // The runtime's clock, estimated between ticks.
    if (state.clock === null) return null;
    return state.clock + (performance.now() - state.clockAt) / 1000;
  }

  // ---------------------------------------------------------------- the process tree

  function matches(node, filter) {
    const text = `${node.label} ${node.names.join(" ")} ${node.behaviour} ${node.kind} ${node.status}`;
    return text.toLowerCase().includes(filter);
  }

  function visibleIds(tree, filter) {
    // With a filter: the matching nodes and their ancestors.
    const keep = new Set();
    const visit = (node, ancestors) => {
      const path = [...ancestors, node.id];
      if (matches(node, filter)) path.forEach((id) => keep.add(id));
      node.children.forEach((child) => visit(child, path));
    };
    tree.forEach((node) => visit(node, []));
    return keep;
  }

  function renderTree() {
    const snapshot = state.snapshot;
    const body = $("tree").tBodies[0];
    const filter = $("filter").value.trim().toLowerCase();
    const keep = filter ? visibleIds(snapshot.tree, filter) : null;
    const alerted = new Map(state.alerts.map((alert) => [alert.id, alert.kind]));
    const waiting = new Set(snapshot.waits.map((wait) => wait.caller));
    state.longest = 10;
    const longest = (node) => {
      state.longest = Math.max(state.longest, node.mailbox.length);
      node.children.forEach(longest);
    };
    snapshot.tree.forEach(longest);
    const rows = [];
    let hidden = 0;
    let count = 0;
    const add = (node, depth) => {
      if (keep && !keep.has(node.id)) return;
      if (rows.length >= MAX_ROWS) {
        hidden += 1;
        return;
      }
      count += 1;
      rows.push(row(node, depth, alerted.get(node.id), waiting.has(node.id)));
      if (!node.children.length || state.collapsed.has(node.id)) return;
      const children = keep ? node.children.filter((child) => keep.has(child.id)) : node.children;
      children.slice(0, MAX_CHILDREN).forEach((child) => add(child, depth + 1));
      if (children.length > MAX_CHILDREN) {
        const more = children.length - MAX_CHILDREN;
        rows.push(el("tr", { class: "more" },
          el("td", { colSpan: 11, text: `… ${more} more children of ${node.label}` })));
        rows[rows.length - 1].firstChild.style.paddingLeft = `${(depth + 1) * 1.2 + 0.4}em`;
      }
    };
    snapshot.tree.forEach((node) => add(node, 0));
    if (!rows.length) {
      rows.push(el("tr", { class: "empty" },
        el("td", { colSpan: 11, text: filter ? "no process matches" : "no process" })));
    }
    body.replaceChildren(...rows);
    $("tree-note").textContent = hidden ? `${hidden} more processes not shown (filter to find them)` : "";
    return count;
  }

  function row(node, depth, alertKind, waiting) {
    const mailbox = node.mailbox;
    const capacity = mailbox.capacity === null ? "∞" : mailbox.capacity;
    const toggle = node.children.length
      ? el("button", {
        class: "toggle",
        text: state.collapsed.has(node.id) ? "▸" : "▾",
        title: state.collapsed.has(node.id) ? "expand" : "collapse",
        onclick: () => {
          if (state.collapsed.has(node.id)) state.collapsed.delete(node.id);
          else state.collapsed.add(node.id);
          renderTree();
        },
      })
      : el("span", { class: "leaf" });
    const name = el("td", { class: "name" }, toggle, el("span", { class: "label", text: node.label }));
    name.style.paddingLeft = `${depth * 1.2 + 0.4}em`;
    if (node.names.length) name.append(el("span", { class: "names", text: node.names.join(", ") }));
    if (node.children.length) name.append(el("span", { class: "children", text: `${node.children.length}` }));
    const bar = el("span", { class: "bar" });
    // A bounded mailbox: how full it is; an unbounded one: against the longest one now.
    const full = mailbox.length / Math.max(1, mailbox.capacity === null ? state.longest : mailbox.capacity);
    bar.style.width = `${Math.round(Math.min(1, full) * 100)}%`;
    const serving = node.serving === null ? "" : `${node.serving} (${seconds(now() - node.serving_since)})`;
    const restarts = el("td", { class: "num restarts", text: node.restarts });
    if (node.supervisor) restarts.title = `children restarted: ${node.supervisor.restarts_total}`;
    const tr = el("tr", {
      "data-id": node.id,
      "data-label": node.label,
      "data-status": node.status,
      "data-kind": node.kind,
      "data-alert": alertKind || null,
      "data-waiting": waiting || null,
      class: state.crashedIds.has(node.id) ? "crashed" : null,
    },
    name,
    el("td", { class: "kind", text: node.kind }),
    el("td", { class: "behaviour", text: node.behaviour }),
    el("td", { class: "status", text: node.status }),
    el("td", { class: "num mailbox", title: `${mailbox.length} of ${capacity}` },
      el("span", { class: "mailbox-length", text: mailbox.length }), bar),
    el("td", { class: "num", text: node.messages.calls }),
    el("td", { class: "num", text: node.messages.casts }),
    el("td", { class: "num", text: node.messages.infos }),
    restarts,
    el("td", { class: "num", text: seconds(node.uptime) }),
    el("td", { class: "serving", text: serving }));
    return tr;
  }

  // ---------------------------------------------------------------- the other panels

  function renderStats() {
    const runtime = state.snapshot.runtime;
    const stats = runtime.statistics;
    $("runtime-name").textContent = runtime.name;
    $("stat-processes").textContent = stats.processes;
    $("stat-names").textContent = stats.registered_names;
    $("stat-crashes").textContent = stats.crashes;
    $("stat-restarts").textContent = stats.restarts;
    $("stat-dead-letters").textContent = stats.dead_letters;
    let queued = 0;
    const visit = (node) => { queued += node.mailbox.length; node.children.forEach(visit); };
    state.snapshot.tree.forEach(visit);
    $("stat-queued").textContent = queued;
  }

  function renderAlerts() {
    const clock = now();
    const items = state.alerts.map((alert) => el("li", { "data-kind": alert.kind, "data-id": alert.id },
      el("span", { class: "badge", text: alert.kind.replace("_", " ") }),
      el("span", { class: "label", text: alert.label }),
      el("span", { class: "message", text: alert.message }),
      el("span", { class: "since", text: clock === null ? "" : `for ${seconds(clock - alert.since)}` })));
    replace($("alerts"), items, "No alerts.");
    $("alert-count").textContent = state.alerts.length;
    $("alert-count").dataset.active = state.alerts.length ? "yes" : "no";
  }

  function renderWaits() {
    const snapshot = state.snapshot;
    const labels = new Map();
    const visit = (node) => { labels.set(node.id, node.label); node.children.forEach(visit); };
    snapshot.tree.forEach(visit);
    const name = (id) => labels.get(id) || `#${id}`;
    const inCycle = new Set(snapshot.cycles.flat());
    const items = snapshot.cycles.map((cycle) => el("li", { class: "cycle" },
      el("span", { class: "badge", text: "deadlock" }),
      [...cycle, cycle[0]].map(name).join(" → ")));
    for (const wait of snapshot.waits.slice(0, 200)) {
      items.push(el("li", { class: inCycle.has(wait.caller) ? "in-cycle" : null },
        `${name(wait.caller)} → ${name(wait.target)} `,
        el("code", { text: wait.message }),
        ` for ${seconds(wait.waited)}`));
    }
    replace($("waits"), items, "No call is waiting.");
    $("wait-count").textContent = snapshot.waits.length;
  }

  function renderTimeline() {
    const clock = now();
    const items = state.timeline.map((event) => el("li", { "data-type": event.type, "data-id": event.id },
      el("span", { class: "when", text: clock === null ? "" : `${seconds(Math.max(0, clock - event.time))} ago` }),
      el("span", { class: "badge", text: event.type }),
      el("span", { class: "label", text: event.label }),
      event.reason ? el("span", { class: "reason", text: event.reason }) : null));
    replace($("timeline"), items, "Nothing crashed yet.");
    if (state.dropped) {
      $("timeline").prepend(el("li", { class: "dropped", text: `${state.dropped} events missed (the page was too slow)` }));
    }
    const chart = $("timeline-chart");
    const marks = [];
    if (clock !== null) {
      for (const event of state.timeline) {
        const age = clock - event.time;
        if (age > WINDOW) break;
        const x = 600 * (1 - Math.max(0, age) / WINDOW);
        const mark = document.createElementNS("http://www.w3.org/2000/svg", "rect");
        mark.setAttribute("x", String(Math.min(598, x)));
        mark.setAttribute("y", event.type === "crashed" ? "6" : "32");
        mark.setAttribute("width", "2");
        mark.setAttribute("height", "22");
        mark.setAttribute("class", event.type);
        marks.push(mark);
      }
    }
    chart.replaceChildren(...marks);
  }

  function renderRules(rules) {
    const items = Object.entries(rules).map(([key, value]) => el("li", {},
      el("code", { text: key }), ` = ${value}`));
    $("rule-list").replaceChildren(...items);
  }

  function render() {
    if (state.snapshot === null) return;
    renderStats();
    renderAlerts();
    renderTree();
    renderWaits();
    renderTimeline();
  }

  // ---------------------------------------------------------------- the feed

  function onLifecycle(event) {
    if (event.type === "crashed") state.crashedIds.set(event.id, event.time);
    if (event.type !== "crashed" && event.type !== "restarted") return;
    const key = `${event.type}:${event.id}:${event.time}`;
    if (state.seen.has(key)) return;
    state.seen.add(key);
    state.timeline.unshift(event);
    state.timeline.sort((a, b) => b.time - a.time);
    while (state.timeline.length > TIMELINE_ITEMS) {
      const old = state.timeline.pop();
      state.seen.delete(`${old.type}:${old.id}:${old.time}`);
    }
    renderTimeline();
    if (state.snapshot !== null && event.type === "crashed") {
      const tr = document.querySelector(`#tree tr[data-id="${event.id}"]`);
      if (tr) tr.classList.add("crashed");
    }
  }

  function connect() {
    const source = new EventSource("events");
    const status = $("connection");
    source.addEventListener("open", () => {
      status.dataset.state = "live";
      status.textContent = "live";
    });
    source.addEventListener("error", () => {
      status.dataset.state = "reconnecting";
      status.textContent = "reconnecting";
    });
    source.addEventListener("hello", (message) => {
      const hello = JSON.parse(message.data);
      document.title = `${hello.runtime} - noex_trio observer`;
      renderRules(hello.rules);
    });
    source.addEventListener("lifecycle", (message) => onLifecycle(JSON.parse(message.data)));
    source.addEventListener("dropped", (message) => {
      state.dropped += JSON.parse(message.data).count;
    });
    source.addEventListener("tick", (message) => {
      const tick = JSON.parse(message.data);
      state.snapshot = tick.snapshot;
      state.alerts = tick.alerts;
      state.clock = tick.snapshot.runtime.time;
      state.clockAt = performance.now();
      // A crashed process's row stays marked for 10 s (then its restarted successor is there).
      for (const [id, time] of state.crashedIds) {
        if (state.clock - time > 10) state.crashedIds.delete(id);
      }
      render();
    });
  }

  $("filter").addEventListener("input", () => { if (state.snapshot !== null) renderTree(); });
  connect();
})();
