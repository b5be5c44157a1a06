// SQLEnv playground: one WebSocket session (/ws) per page, OpenEnv's message envelope.
//
// One action is in flight at a time: every control that sends is disabled until the reply comes
// back. Replies are also matched to requests in order (the server answers each message of a
// connection in turn), so even a message sent around the controls cannot take another's reply.
"use strict";

const $ = (id) => document.getElementById(id);
const state = {
  ws: null,
  waiting: [], // one {resolve, reject} per message sent and not yet answered, oldest first
  busy: false,
  total: 0,
  done: true,
  history: [],
  shown: [], // result tables shown in this episode: {columns, rows, truncated}
};

const PLACEHOLDERS = {
  QUERY: "SELECT … (Ctrl+Enter to send)",
  DESCRIBE: "a table name, e.g. {table}",
  SAMPLE: "a table name, e.g. {table}",
  ANSWER: "42  ·  Paris  ·  a, b  ·  [[\"a\", 1], [\"b\", 2]]  ·  or paste a result table",
};

function setStatus(kind, text) {
  const el = $("status");
  el.dataset.state = kind;
  el.textContent = text;
}

function wsUrl() {
  const url = new URL("ws", window.location.href);
  url.protocol = window.location.protocol === "https:" ? "wss:" : "ws:";
  return url.toString();
}

function connect() {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl());
    ws.onopen = () => { setStatus("open", "connected"); resolve(ws); };
    ws.onerror = () => reject(new Error("cannot reach the server"));
    ws.onclose = (event) => {
      if (state.ws === ws) state.ws = null;
      setStatus("closed", event.reason ? `disconnected: ${event.reason}` : "disconnected — New episode reconnects");
      const waiting = state.waiting;
      state.waiting = [];
      for (const waiter of waiting) waiter.reject(new Error("connection closed before the reply came"));
      updateControls();
    };
    ws.onmessage = (event) => {
      let message;
      try { message = JSON.parse(event.data); } catch (error) {
        showError("The server sent a reply that is not JSON.");
        return;
      }
      const waiter = state.waiting.shift();
      if (waiter) waiter.resolve(message);
      else if (message.type === "error") showError(message.data.message);
    };
  });
}

async function request(message) {
  if (!state.ws || state.ws.readyState !== WebSocket.OPEN) state.ws = await connect();
  const reply = new Promise((resolve, reject) => { state.waiting.push({ resolve, reject }); });
  state.ws.send(JSON.stringify(message));
  return reply;
}

// Runs one request-and-render at a time; a second call while one runs is refused (returns false).
async function exclusive(task) {
  if (state.busy) return false;
  state.busy = true;
  updateControls();
  try {
    await task();
  } finally {
    state.busy = false;
    updateControls();
  }
  return true;
}

function updateControls() {
  const canAct = !state.busy && !state.done;
  $("send").disabled = !canAct;
  $("reset").disabled = state.busy;
  for (const button of document.querySelectorAll("#schema button")) button.disabled = !canAct;
  $("busy").hidden = !state.busy;
  document.body.dataset.busy = state.busy ? "true" : "false";
}

function showError(text) {
  const el = $("error");
  el.textContent = text || "";
  el.hidden = !text;
}

function showResetError(text) {
  const el = $("reset-error");
  el.textContent = text || "";
  el.hidden = !text;
}

// Floats without binary noise (156.8, not 156.79999999999998): 15 significant digits, the
// precision a double holds. Only the display: the verifier compares answers with a tolerance.
function cellText(value) {
  if (value === null || value === undefined) return "NULL";
  if (typeof value === "number" && Number.isFinite(value) && !Number.isInteger(value)) {
    return String(Number(value.toPrecision(15)));
  }
  return String(value);
}

function plural(n, noun) {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

function note(text) {
  const p = document.createElement("p");
  p.className = "muted";
  p.textContent = text;
  return p;
}

function renderResult(obs, kind) {
  const box = $("result");
  box.replaceChildren();
  if (obs.error) {
    box.appendChild(note("No result: the action failed (the error is above)."));
    return;
  }
  if (obs.columns && obs.columns.length) {
    if (kind === "DESCRIBE" && obs.result) box.appendChild(note(obs.result.split("\n")[0]));
    const table = document.createElement("table");
    table.id = "result-table";
    const head = table.createTHead().insertRow();
    for (const column of obs.columns) {
      const th = document.createElement("th");
      th.textContent = column;
      head.appendChild(th);
    }
    const body = table.createTBody();
    for (const row of obs.rows) {
      const tr = body.insertRow();
      for (const value of row) tr.insertCell().textContent = cellText(value);
    }
    box.appendChild(table);
    if (!obs.rows.length) box.appendChild(note("No rows."));
    if (obs.truncated) box.appendChild(note(`Only the first ${plural(obs.rows.length, "row")} are shown: the result has more.`));
    if (kind !== "DESCRIBE") {
      state.shown.push({ columns: obs.columns.map(String), rows: obs.rows.map((r) => r.map(cellText)), truncated: !!obs.truncated });
    }
  } else {
    box.appendChild(obs.result ? Object.assign(document.createElement("p"), { textContent: obs.result }) : note("No rows."));
  }
}

function parseSchema(text) {
  const lines = (text || "").split("\n");
  const tables = [];
  const columns = {};
  for (const line of lines) {
    if (line.startsWith("Tables:")) {
      tables.push(...line.slice(7).split(",").map((t) => t.trim()).filter(Boolean));
    } else {
      const at = line.indexOf(":");
      if (at > 0) columns[line.slice(0, at).trim()] = line.slice(at + 1).trim();
    }
  }
  return { tables, columns };
}

function renderSchema(text) {
  const { tables, columns } = parseSchema(text);
  state.tables = tables;
  const list = $("schema");
  list.replaceChildren();
  for (const name of tables) {
    const li = document.createElement("li");
    li.className = "table";
    li.dataset.table = name;
    const chips = document.createElement("span");
    chips.className = "chips";
    for (const kind of ["DESCRIBE", "SAMPLE"]) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = kind.toLowerCase();
      button.title = `${kind} ${name}`;
      button.onclick = () => act(kind, name);
      chips.appendChild(button);
    }
    const label = document.createElement("span");
    label.className = "name";
    label.textContent = name;
    const cols = document.createElement("div");
    cols.className = "cols";
    cols.textContent = columns[name] || "columns not described yet";
    li.append(chips, label, cols);
    list.appendChild(li);
  }
  updatePlaceholder();
}

function fmt(value) {
  return value === null || value === undefined ? "–" : (Math.round(value * 1000) / 1000).toString();
}

function renderHistory() {
  const body = $("history");
  body.replaceChildren();
  state.history.forEach((entry, index) => {
    const tr = body.insertRow();
    tr.insertCell().textContent = String(index + 1);
    const action = tr.insertCell();
    action.className = "action";
    action.textContent = entry.action;
    const reward = tr.insertCell();
    reward.className = "num";
    reward.textContent = fmt(entry.reward);
    tr.insertCell().textContent = entry.outcome;
  });
}

function outcome(kind, obs, envelope) {
  const verdict = obs.info && obs.info.verdict;
  if (obs.error) return envelope.done ? "error; budget exhausted" : "error";
  if (kind === "ANSWER") return verdict && verdict.correct ? "correct" : "not correct";
  let text;
  if (kind === "DESCRIBE") {
    const count = /\((\d+) rows?\)/.exec((obs.result || "").split("\n")[0]);
    text = plural(obs.rows.length, "column") + (count ? `, ${plural(Number(count[1]), "row")} in the table` : "");
  } else {
    text = obs.truncated ? `first ${obs.rows.length} rows shown (more exist)` : plural(obs.rows.length, "row");
  }
  return envelope.done ? `${text}; budget exhausted` : text;
}

function renderVerdict(envelope) {
  const obs = envelope.observation;
  const verdict = $("verdict");
  const v = obs.info && obs.info.verdict;
  if (envelope.done && v) {
    verdict.hidden = false;
    verdict.className = `verdict ${v.correct ? "correct" : "wrong"}`;
    const reason = v.reason && v.reason.toLowerCase() !== "correct" ? `: ${v.reason}` : "";
    verdict.textContent = `${v.correct ? "Correct" : "Not correct"}${reason}` + (obs.info.gold_sql ? ` — gold SQL: ${obs.info.gold_sql}` : "");
  } else {
    hideVerdict();
  }
}

function hideVerdict() {
  const verdict = $("verdict");
  verdict.hidden = true;
  verdict.textContent = "";
}

function render(envelope, kind, label) {
  const obs = envelope.observation;
  $("question").textContent = obs.question;
  $("question").classList.remove("muted");
  renderSchema(obs.schema_info);
  showError(obs.error);
  renderResult(obs, kind);
  state.done = envelope.done;
  if (label) {
    state.total += envelope.reward || 0;
    state.history.push({ action: label, reward: envelope.reward, outcome: outcome(kind, obs, envelope) });
  }
  renderHistory();
  $("step-count").textContent = String(obs.step_count);
  $("budget").textContent = String(obs.budget_remaining);
  $("last-reward").textContent = fmt(envelope.reward);
  $("total-reward").textContent = fmt(state.total);
  renderVerdict(envelope);
  updateControls();
}

function reset(event) {
  if (event) event.preventDefault();
  return exclusive(async () => {
    const data = {};
    const qid = $("question-id").value.trim();
    if (qid) data.question_id = qid;
    showResetError("");
    hideVerdict();
    try {
      const reply = await request({ type: "reset", data });
      if (reply.type === "error") {
        showResetError(`Could not start a new episode: ${reply.data.message}`);
        return;
      }
      state.total = 0;
      state.history = [];
      state.shown = [];
      $("result").replaceChildren(note("No result yet."));
      render(reply.data, null, null);
      $("argument").focus();
    } catch (error) {
      showResetError(`Could not start a new episode: ${error.message || error}`);
    }
  });
}

// --- answers --------------------------------------------------------------------------------

function splitCells(line) {
  if (line.includes("\t")) return line.split("\t").map((c) => c.trim());
  if (line.includes("|")) return line.replace(/^\s*\|/, "").replace(/\|\s*$/, "").split("|").map((c) => c.trim());
  return [line.trim()];
}

function sameCells(a, b) {
  return a.length === b.length && a.every((cell, i) => cell.toLowerCase() === String(b[i]).trim().toLowerCase());
}

// What to send for the text in the answer box, or why not to send it. A table copied from this
// page arrives as tab-separated lines (a header row first); the header is this page's, not part
// of the answer, so it is left out. Returns {send, note} or {refuse}.
function prepareAnswer(text) {
  const trimmed = text.trim();
  if (!trimmed) return { refuse: "Type the answer first: the values themselves, e.g. 42, Paris, a, b, or paste a result table." };
  if (/^(select|with)\b/i.test(trimmed)) {
    return { refuse: "That is SQL: an answer is the values themselves. Run it as a QUERY, then answer with its result (type the values or paste the result table)." };
  }
  const lines = trimmed.split(/\r?\n/).filter((line) => line.trim() !== "");
  const header = splitCells(lines[0]);
  const table = state.shown.find((t) => sameCells(header, t.columns));
  if (!table) return { send: trimmed, note: "" };
  const body = lines.slice(1).filter((line) => !/^[\s|:+-]+$/.test(line)); // a Markdown rule line too
  if (!body.length) return { refuse: "Only the header row was pasted: paste the rows too (or type the values)." };
  const pastedRows = body.map(splitCells);
  if (table.truncated && pastedRows.length === table.rows.length && pastedRows.every((r, i) => sameCells(r, table.rows[i]))) {
    return { refuse: `That table shows only the first ${table.rows.length} rows of a longer result, so it is not the whole answer. Narrow the query until its result fits, then answer.` };
  }
  return { send: body.join("\n"), note: `header row (${header.join(", ")}) left out` };
}

function act(kind, argument) {
  if (state.busy) return Promise.resolve(false);
  if (state.done) { showError("The episode is over: start a new one."); return Promise.resolve(false); }
  let text = argument;
  let extra = "";
  if (kind === "ANSWER") {
    const prepared = prepareAnswer(argument);
    if (prepared.refuse) { showError(`${prepared.refuse} (Nothing was sent.)`); return Promise.resolve(false); }
    text = prepared.send;
    extra = prepared.note ? ` (${prepared.note})` : "";
  }
  return exclusive(async () => {
    try {
      const reply = await request({ type: "step", data: { action_type: kind, argument: text } });
      if (reply.type === "error") { showError(reply.data.message); return; }
      const flat = text.replace(/\s+/g, " ").trim();
      const short = flat.length > 80 ? `${flat.slice(0, 80)}…` : flat;
      render(reply.data, kind, `${kind} ${short}${extra}`);
    } catch (error) {
      showError(String(error.message || error));
    }
  });
}

function updatePlaceholder() {
  const kind = $("action-type").value;
  const table = (state.tables && state.tables[0]) || "orders";
  $("argument").placeholder = PLACEHOLDERS[kind].replace("{table}", table);
  $("answer-hint").hidden = kind !== "ANSWER";
}

$("reset-form").addEventListener("submit", reset);
$("action-form").addEventListener("submit", (event) => {
  event.preventDefault();
  act($("action-type").value, $("argument").value);
});
$("argument").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
    event.preventDefault();
    act($("action-type").value, $("argument").value);
  }
});
$("action-type").addEventListener("change", updatePlaceholder);

updatePlaceholder();
connect().then((ws) => { state.ws = ws; return reset(); }).catch((error) => {
  setStatus("closed", "cannot connect");
  showError(String(error.message || error));
});
