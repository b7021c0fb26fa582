// racklift dashboard: three views (site, node, networks) over serve's /ui/api, kept live
// by the server-sent events of /ui/api/events (no polling). Every string from serve is
// inserted as text (esc), never as markup. No library, no build step.
"use strict";

const $ = (id) => document.getElementById(id);
const ESC = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ESC[c]);
const phaseClass = (p) => "ph-" + (/^[a-z]+$/.test(p) ? p : "unknown");
const SYM = { pass: "✔", warn: "▲", fail: "✖", "": "·" };
const sym = (st) => `<span class="st-${esc(st)}" title="${esc(st || "not checked")}">${SYM[st] ?? "?"}</span>`;
const fmtTime = (t) => (t && !t.startsWith("0001") ? new Date(t).toLocaleString() : "-");
const dur = (s) => (s < 60 ? s.toFixed(1) + " s" : s < 3600 ? (s / 60).toFixed(1) + " min" : (s / 3600).toFixed(1) + " h");

// What the tests and the page share: counters of the live stream and the current view.
const rl = (window.racklift = { received: 0, lastSeq: 0, view: "", rendered: 0, resets: 0 });

let phases = [];
let boxes = new Map(); // node name → its box as last drawn
let current = null; // { view: "site"|"node"|"networks", name? }
let refetch = null;

function showError(msg) {
  const e = $("error");
  e.textContent = msg || "";
  e.hidden = !msg;
}

async function getJSON(path) {
  const resp = await fetch(path, { headers: { Accept: "application/json" }, credentials: "same-origin" });
  let body = null;
  try {
    body = await resp.json();
  } catch (_) {
    /* not JSON */
  }
  if (!resp.ok) throw new Error((body && body.error) || `${path}: HTTP ${resp.status}`);
  return body;
}

function selector() {
  return new URLSearchParams(location.hash.split("?")[1] || "").get("select") || "";
}

function route() {
  const [path] = location.hash.replace(/^#/, "").split("?");
  const m = path.match(/^\/node\/(.+)$/);
  if (m) return { view: "node", name: decodeURIComponent(m[1]) };
  if (path === "/networks") return { view: "networks" };
  return { view: "site" };
}

async function show() {
  current = route();
  rl.view = current.view;
  $("nav-site").classList.toggle("on", current.view === "site");
  $("nav-networks").classList.toggle("on", current.view === "networks");
  $("select").value = selector();
  $("filter").hidden = current.view === "node";
  try {
    if (current.view === "node") await showNode(current.name);
    else if (current.view === "networks") await showNetworks();
    else await showSite();
    showError("");
  } catch (e) {
    showError(e.message);
  }
}

// ---- site view ----

function ruler(units) {
  const lines = [];
  for (let u = units; u >= 1; u--) lines.push(u);
  return lines.join("\n");
}

// tip is a box's tooltip, made when the pointer reaches it (10,000 of them up front
// would slow the first draw).
function tip(b) {
  const t = [`${b.name}: ${b.phase}`, b.unit ? `rack ${b.rack} U${b.unit}` : `rack ${b.rack}, no unit`];
  if (b.failed) t.push(`${b.failed} failed check(s)`);
  if (b.warned) t.push(`${b.warned} warning(s)`);
  if (b.reason) t.push(b.reason);
  if (b.power) t.push(`last BMC power action: ${b.power}${b.power_error ? ": " + b.power_error : ""}`);
  if (b.lock) t.push(b.lock);
  return t.join("\n");
}

function boxHTML(b, units) {
  const cls = `box ${phaseClass(b.phase)}${b.dim ? " dim" : ""}`;
  const style = b.unit > 0 ? ` style="grid-row:${units - (b.unit + b.height - 1) + 1} / span ${b.height}"` : "";
  return (
    `<a class="${cls}" id="n-${esc(b.name)}" data-rack="${esc(b.rack)}" data-unit="${b.unit}" data-phase="${esc(b.phase)}"` +
    ` href="#/node/${encodeURIComponent(b.name)}"${style}>` +
    `<span class="nm">${esc(b.name)}</span>` +
    (b.power === "failed" ? `<span class="pwr" title="BMC power action failed">⏻✖</span>` : "") +
    (b.failed ? `<span class="mark" title="${b.failed} failed check(s)">✖${b.failed}</span>` : "") +
    `<span class="ph">${esc(b.phase)}</span></a>`
  );
}

function renderCounts() {
  const counts = new Map();
  let failedChecks = 0;
  for (const b of boxes.values()) {
    if (b.dim) continue;
    counts.set(b.phase, (counts.get(b.phase) || 0) + 1);
    if (b.failed) failedChecks++;
  }
  const known = phases.concat([...counts.keys()].filter((p) => !phases.includes(p)));
  $("counts").innerHTML =
    known
      .map((p) => `<span class="chip ${phaseClass(p)}" data-phase="${esc(p)}">${esc(p)} <b>${counts.get(p) || 0}</b></span>`)
      .join("") + `<span class="chip" data-phase="failed-checks"><span class="mark">✖</span> with failed checks <b>${failedChecks}</b></span>`;
}

let countsQueued = false;
function queueCounts() {
  if (countsQueued) return;
  countsQueued = true;
  requestAnimationFrame(() => {
    countsQueued = false;
    renderCounts();
  });
}

// racks are the site's racks by name, for filling them; filler fills a rack once it comes
// near the viewport: 10,000 boxes are not built before the first screen is painted.
let racks = new Map();
let filler = null;

function fill(sec) {
  if (sec.dataset.filled) return;
  sec.dataset.filled = "1";
  const r = racks.get(sec.dataset.rack);
  const placed = [];
  const unplaced = [];
  for (const name of r.names) {
    const b = boxes.get(name);
    (b.unit > 0 ? placed : unplaced).push(boxHTML(b, r.units));
  }
  sec.querySelector(".slots").innerHTML = placed.join("");
  if (unplaced.length) sec.querySelector(".unplaced").innerHTML = "no unit: " + unplaced.join("");
}

async function showSite() {
  const sel = selector();
  const site = await getJSON("api/site" + (sel ? "?select=" + encodeURIComponent(sel) : ""));
  if (current.view !== "site") return;
  phases = site.phases;
  $("site").textContent = site.site + (sel ? ` · ${site.selected} selected by ${sel}` : "");
  boxes = new Map();
  racks = new Map();
  const parts = [`<div id="racks">`];
  for (const r of site.racks) {
    const names = [];
    let unplaced = false;
    for (const b of r.nodes) {
      boxes.set(b.name, b);
      names.push(b.name);
      unplaced = unplaced || !(b.unit > 0);
    }
    racks.set(r.name, { units: r.units, names });
    parts.push(
      `<section class="rack" data-rack="${esc(r.name)}" style="--units:${r.units}" aria-label="rack ${esc(r.name)}">` +
        `<h2>${esc(r.name)} <small>${r.units}U${r.location ? " · " + esc(r.location) : ""}</small></h2>` +
        `<div class="elev"><div class="ruler" aria-hidden="true">${ruler(r.units)}</div><div class="slots"></div></div>` +
        (unplaced ? `<div class="unplaced"></div>` : "") +
        `</section>`
    );
  }
  parts.push(`</div>`);
  document.body.classList.toggle("small", boxes.size <= 200);
  $("view").innerHTML = parts.join("");
  // The racks on screen and a screen around it now; the others as they scroll near.
  if (filler) filler.disconnect();
  const secs = document.querySelectorAll("#racks .rack");
  const h = window.innerHeight;
  for (const sec of secs) {
    const b = sec.getBoundingClientRect();
    if (b.top < 2 * h && b.bottom > -h) fill(sec);
  }
  filler = new IntersectionObserver(
    (entries) => {
      for (const e of entries) {
        if (!e.isIntersecting) continue;
        fill(e.target);
        filler.unobserve(e.target);
      }
    },
    { rootMargin: `${h}px 0px` }
  );
  for (const sec of secs) if (!sec.dataset.filled) filler.observe(sec);
  renderCounts();
  connect(site.last_seq);
  rl.rendered++;
  if (rl.rendered === 1) {
    // For the load-time test: drawn (DOM built), then painted (after the next frame).
    performance.mark("racklift:site-rendered");
    requestAnimationFrame(() => setTimeout(() => performance.mark("racklift:site-painted")));
  }
}

function applyBox(b) {
  const old = boxes.get(b.name);
  if (!old) return false;
  b.dim = old.dim;
  boxes.set(b.name, b);
  const el = document.getElementById("n-" + b.name);
  if (el) {
    const units = +el.closest(".rack").style.getPropertyValue("--units");
    el.outerHTML = boxHTML(b, units);
  }
  queueCounts();
  return true;
}

// ---- node view ----

function table(head, rows, rowClass) {
  return (
    `<table><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join("")}</tr></thead><tbody>` +
    rows.map((r, i) => `<tr class="${rowClass ? esc(rowClass(i)) : ""}">${r.map((c) => `<td>${c}</td>`).join("")}</tr>`).join("") +
    `</tbody></table>`
  );
}

function eventRows(evs) {
  return evs
    .slice()
    .reverse()
    .map((e) => [e.seq, esc(fmtTime(e.time)), esc(e.kind), e.phase ? `<span class="tag ${phaseClass(e.phase)}">${esc(e.phase)}</span>` : "", esc(e.detail)]);
}

async function showNode(name) {
  const n = await getJSON("api/nodes/" + encodeURIComponent(name));
  if (current.view !== "node" || current.name !== name) return;
  $("site").textContent = "node " + n.name;
  const st = n.status;
  const out = [`<article class="node" data-node="${esc(n.name)}">`];
  out.push(
    `<h2>${esc(n.name)} <span class="tag ${phaseClass(st.phase)}" id="node-phase">${esc(st.phase)}</span>` +
      (n.report && n.report.failed ? ` <span class="mark">✖${n.report.failed} failed</span>` : "") +
      `</h2>`
  );
  if (st.reason) out.push(`<p class="st-fail" id="node-reason">${esc(st.reason)}</p>`);
  out.push(
    `<dl class="facts"><dt>rack</dt><dd>${esc(n.rack)} U${n.unit}${n.height > 1 ? "–" + (n.unit + n.height - 1) : ""}</dd>` +
      `<dt>role · profile</dt><dd>${esc(n.role || "-")} · ${esc(n.profile || "-")}</dd>` +
      `<dt>labels</dt><dd>${esc(Object.entries(n.labels || {}).map(([k, v]) => k + "=" + v).join(", ") || "-")}</dd>` +
      (n.lock ? `<dt>lock</dt><dd>${esc(n.lock)}: power actions need --force</dd>` : "") +
      `<dt>run · attempt</dt><dd>${st.run} · ${st.attempt}</dd>` +
      `<dt>in phase since</dt><dd>${esc(fmtTime(st.entered_at))}</dd>` +
      (st.certificate ? `<dt>certificate</dt><dd>${esc(st.certificate)}</dd>` : "") +
      `</dl>`
  );

  out.push(`<section id="history"><h3>phase history</h3>`);
  out.push(
    n.history.length
      ? table(["phase", "from", "for"], n.history.map((s) => [`<span class="tag ${phaseClass(s.phase)}">${esc(s.phase)}</span>`, esc(fmtTime(s.from)), esc(dur(s.seconds) + (s.open ? " so far" : ""))]))
      : `<p class="muted">no phase change recorded</p>`
  );
  out.push(`</section>`);

  out.push(`<section id="report"><h3>report</h3>`);
  if (n.report) {
    const r = n.report;
    out.push(
      `<p>report of ${esc(fmtTime(r.time))} by agent ${esc(r.agent || "-")}: ${r.failed} failed, ${r.warned} warnings, ${r.passed} passed` +
        (r.boot_source ? ` · boot source ${esc(r.boot_source)}, os ${esc(r.os || "-")}, kernel ${esc(r.kernel || "-")}` : "") +
        `</p>`
    );
    out.push(
      table(
        ["STATUS", "CHECK", "OBSERVED", "EXPECTED", "MESSAGE"],
        n.checks.map((c) => [`${SYM[c.status] || ""} ${esc(String(c.status).toUpperCase())}`, esc(c.name), esc(c.observed || "-"), esc(c.expected || "-"), esc(c.message)]),
        (i) => "st-" + n.checks[i].status
      )
    );
  } else {
    out.push(`<p class="muted">node ${esc(n.name)} has not reported yet (phase ${esc(st.phase)})</p>`);
  }
  out.push(`</section>`);

  if (n.storage.length) {
    const top = Math.max(...n.storage.map((s) => Math.max(s.mbps, s.min_mbps))) || 1;
    out.push(`<section id="storage"><h3>storage</h3>`);
    out.push(
      table(
        ["mount", "op", "MB/s", "target", "", "status"],
        n.storage.map((s) => [
          esc(s.mount),
          esc(s.op),
          `<span class="num">${s.mbps.toFixed(0)}</span>`,
          s.min_mbps ? "≥ " + s.min_mbps.toFixed(0) + " MB/s" : "measured",
          `<span class="bar" title="${esc(s.observed)}"><i style="width:${((100 * s.mbps) / top).toFixed(1)}%"></i>${s.min_mbps ? `<b style="left:${((100 * s.min_mbps) / top).toFixed(1)}%"></b>` : ""}</span>`,
          sym(s.status) + " " + esc(s.status),
        ])
      )
    );
    out.push(`</section>`);
  }

  out.push(`<section id="networks"><h3>networks</h3>`);
  if (n.networks.length) {
    for (const nw of n.networks) {
      out.push(`<h4>${esc(nw.network)}</h4>`);
      out.push(
        table(
          ["hop", "status", "observed", "expected", "message"],
          nw.hops.map((h) => [esc(h.name), sym(h.status) + " " + esc(h.status), esc(h.observed || "-"), esc(h.expected || "-"), esc(h.message)]),
          (i) => "st-" + nw.hops[i].status
        )
      );
    }
  } else out.push(`<p class="muted">no network checked yet</p>`);
  out.push(table(["interface", "MAC", "network", "address", "PXE"], n.interfaces.map((i) => [esc(i.name), esc(i.mac), esc(i.network), esc(i.address || "-"), i.pxe ? "yes" : ""])));
  out.push(`</section>`);

  if (n.gpus.length) {
    out.push(`<section id="gpus"><h3>GPUs</h3>`);
    out.push(table(["#", "model", "UUID", "PCI"], n.gpus.map((g) => [g.index, esc(g.name), esc(g.uuid), esc(g.pci)])));
    out.push(`</section>`);
  }

  if (n.deploy) {
    const d = n.deploy;
    out.push(`<section id="deploy"><h3>deploy</h3>`);
    out.push(
      `<p>image ${esc(d.image)} onto ${esc(d.device || "-")}: ${d.bytes} bytes in ${(+d.seconds).toFixed(1)} s (${(+d.mb_per_s).toFixed(1)} MB/s), sha256 ${esc(d.sha256 || "-")} ` +
        (d.sha256_verified ? "✔ verified" : "✖ NOT verified") +
        `</p>`
    );
    if (d.error) out.push(`<p class="st-fail">deploy error: ${esc(d.error)}</p>`);
    if (d.disks && d.disks.length)
      out.push(table(["device", "size", "model", "serial", "chosen", "why"], d.disks.map((k) => [esc(k.device), (k.size_bytes / 2 ** 30).toFixed(1) + " GiB", esc(k.model || "-"), esc(k.serial || "-"), k.chosen ? "yes" : "no", esc(k.why)])));
    out.push(`</section>`);
  }

  const p = n.bmc.power;
  out.push(`<section id="bmc"><h3>BMC</h3><dl class="facts">`);
  out.push(`<dt>address</dt><dd>${esc(n.bmc.address || "-")}${n.bmc.port ? ":" + n.bmc.port : ""} (${esc(n.bmc.protocol || "-")}${n.bmc.vendor ? ", " + esc(n.bmc.vendor) : ""})</dd>`);
  out.push(
    `<dt>last power action</dt><dd>` +
      (p.issued_at
        ? `run ${p.run} attempt ${p.attempt}: issued ${esc(fmtTime(p.issued_at))}, ` + (p.error ? `<span class="st-fail">✖ failed: ${esc(p.error)}</span>` : p.done_at ? `✔ done ${esc(fmtTime(p.done_at))}` : "no answer recorded")
        : "none yet") +
      `</dd></dl></section>`
  );

  out.push(`<section id="events"><h3>events</h3><div class="events">`);
  out.push(table(["seq", "time", "kind", "phase", "detail"], eventRows(n.events)));
  out.push(`</div></section></article>`);
  $("view").innerHTML = out.join("");
  $("counts").innerHTML = "";
  connect(n.last_seq);
}

// ---- networks view ----

async function showNetworks() {
  const sel = selector();
  const m = await getJSON("api/networks" + (sel ? "?select=" + encodeURIComponent(sel) : ""));
  if (current.view !== "networks") return;
  $("site").textContent = "networks" + (sel ? ` · ${m.nodes.length} selected by ${sel}` : "");
  const head = ["node", "rack", "phase"].map((h) => `<th>${h}</th>`).join("") +
    m.networks.map((nw) => `<th>${esc(nw.name)}<br><small>${nw.vlan ? "VLAN " + nw.vlan : "untagged"} · MTU ${nw.mtu} · ${esc(nw.gateway || "no gateway")}</small></th>`).join("");
  const rows = m.nodes.map((r) => {
    const cells = m.networks.map((nw) => {
      const c = r.cells[nw.name];
      if (!c) return `<td class="muted">–</td>`;
      const hop = (label, st) => `<span class="hop">${label} ${sym(st || "")}</span>`;
      return (
        `<td data-network="${esc(nw.name)}">${esc(c.interface || "-")}<br>` +
        hop("link", c.link) + hop("VLAN", c.vlan) + hop("MTU", c.mtu) + hop("gw", c.gateway) + (c.lldp ? hop("LLDP", c.lldp) : "") +
        (c.failed ? `<span class="fail-note">✖ ${esc(c.failed)}</span>` : "") +
        `</td>`
      );
    });
    return `<tr data-node="${esc(r.name)}"><td><a href="#/node/${encodeURIComponent(r.name)}">${esc(r.name)}</a></td><td>${esc(r.rack)} U${r.unit}</td>` +
      `<td><span class="tag ${phaseClass(r.phase)}">${esc(r.phase)}</span></td>${cells.join("")}</tr>`;
  });
  $("view").innerHTML = `<p class="muted">link = NIC, carrier, speed · VLAN = sub-interface · MTU = don't-fragment probe · gw = address and gateway ARP · ${SYM.pass} pass ${SYM.warn} warning ${SYM.fail} fail ${SYM[""]} not checked</p>` +
    `<table class="matrix"><thead><tr>${head}</tr></thead><tbody>${rows.join("")}</tbody></table>`;
  $("counts").innerHTML = "";
  connect(m.last_seq);
}

// ---- live updates ----

let source = null;
function connect(after) {
  if (source) return; // one stream for the page's life; it resumes by itself
  rl.lastSeq = after;
  source = rl.source = new EventSource("api/events?after=" + after);
  source.onopen = () => {
    $("live").textContent = "live";
    $("live").className = "live on";
  };
  source.onerror = () => {
    // EventSource reconnects by itself (retry: 1 s), resuming with Last-Event-ID; after
    // an HTTP error it gives up, so start a new one from the last event seen.
    $("live").textContent = "reconnecting…";
    $("live").className = "live off";
    if (source.readyState === EventSource.CLOSED) {
      source = null;
      setTimeout(() => connect(rl.lastSeq), 2000);
    }
  };
  source.addEventListener("reset", () => {
    rl.resets++;
    show();
  });
  source.addEventListener("update", (msg) => {
    const u = JSON.parse(msg.data);
    rl.received++;
    rl.lastSeq = u.event.seq;
    onUpdate(u);
  });
}

function later(f, ms) {
  if (refetch) return;
  refetch = setTimeout(() => {
    refetch = null;
    f();
  }, ms);
}

function onUpdate(u) {
  if (!current) return;
  if (current.view === "site") {
    if (u.box && !applyBox(u.box)) later(show, 500); // a node new to the page: redraw
  } else if (current.view === "node" && u.event.node === current.name) {
    const tb = document.querySelector("#events tbody");
    if (tb) tb.insertAdjacentHTML("afterbegin", `<tr>${eventRows([u.event])[0].map((c) => `<td>${c}</td>`).join("")}</tr>`);
    if (u.box) {
      const ph = $("node-phase");
      if (ph) {
        ph.textContent = u.box.phase;
        ph.className = "tag " + phaseClass(u.box.phase);
      }
    }
    later(show, 300); // history, report and BMC from the new record
  } else if (current.view === "networks") {
    later(show, 1000);
  }
}

$("filter").addEventListener("submit", (e) => {
  e.preventDefault();
  const sel = $("select").value.trim();
  const base = current && current.view === "networks" ? "#/networks" : "#/";
  location.hash = base + (sel ? "?select=" + encodeURIComponent(sel) : "");
});
$("view").addEventListener("mouseover", (e) => {
  const el = e.target.closest && e.target.closest(".box");
  const b = el && boxes.get(el.querySelector(".nm").textContent);
  if (b) el.title = tip(b);
});
window.addEventListener("hashchange", show);
show();
