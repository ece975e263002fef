// dayi web app: one page, five screens, talking only to the server that
// served it. Text from the server and the model is always put in the page
// as text nodes (never as HTML), so nothing it says can run.
import { t, apply, current, setLang } from './i18n.js';

// The longest chat answer the app asks for, in tokens.
const MAX_ANSWER_TOKENS = 1024;
const $ = (id) => document.getElementById(id);
const KEY = 'dayi.key';
/** base is a document's name without the server's folders. */
const base = (p) => String(p || '').split(/[\\/]/).pop();

/** el builds an element with properties and children (strings become text). */
function el(tag, props = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'class') e.className = v;
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k in e) e[k] = v;
    else e.setAttribute(k, v);
  }
  for (const kid of kids.flat()) {
    if (kid != null) e.append(kid instanceof Node ? kid : String(kid));
  }
  return e;
}

// ---- errors and the API ----

class APIError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** describe turns an error into what the user should read. A 403 names the
 * scope the key lacks (the server's message quotes it). */
function describe(err) {
  if (err instanceof APIError && err.status === 403) {
    const m = /"([a-z:]+)" scope/.exec(err.message);
    if (m && !sessionStorage.getItem(KEY)) return t('err.scopenokey', { scope: m[1] });
    if (m) return t('err.scope', { scope: m[1] }) + ' (' + err.message + ')';
  }
  if (err instanceof TypeError) return t('err.network');
  return err.message || String(err);
}

function showError(err) {
  $('error-text').textContent = describe(err);
  $('error').hidden = false;
}

function clearError() {
  $('error').hidden = true;
}

function authHeaders(extra = {}) {
  const h = { ...extra };
  const k = sessionStorage.getItem(KEY);
  if (k) h.Authorization = 'Bearer ' + k;
  return h;
}

/** api calls the server; a JSON body goes in opts.json. It throws APIError
 * with the server's message on a non-2xx answer, and shows the login on 401. */
async function api(path, opts = {}) {
  const headers = authHeaders(opts.headers);
  let body = opts.body;
  if (opts.json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(opts.json);
  }
  const res = await fetch(path, { method: opts.method || (body ? 'POST' : 'GET'), headers, body, signal: opts.signal, cache: 'no-store' });
  if (!res.ok) {
    let msg = res.statusText;
    try {
      const j = await res.json();
      msg = (j.error && (j.error.message || j.error)) || msg;
    } catch { /* not JSON */ }
    if (res.status === 401) showLogin();
    throw new APIError(res.status, String(msg));
  }
  return opts.stream ? res : res.json();
}

// ---- screens ----

const screens = ['chat', 'patient', 'triage', 'emr', 'admin'];
const loaders = {};

function show(name) {
  for (const s of ['login', ...screens]) $('screen-' + s).hidden = s !== name;
  for (const b of document.querySelectorAll('#nav button')) {
    if (b.dataset.screen === name) b.setAttribute('aria-current', 'page');
    else b.removeAttribute('aria-current');
  }
  clearError();
  if (loaders[name]) loaders[name]().catch(showError);
  if (location.hash !== '#' + name && name !== 'login') history.replaceState(null, '', '#' + name);
}

function showLogin() {
  $('nav').hidden = true;
  $('logout').hidden = true;
  show('login');
  $('login-key').focus();
}

async function start() {
  // /api/tags needs the generate scope: if it answers, the key (or the
  // absence of one) is good enough to enter.
  try {
    await loadModels();
  } catch (err) {
    if (err.status === 401) return; // api() showed the login
    showError(err);
  }
  $('nav').hidden = false;
  $('logout').hidden = false;
  $('logout').dataset.i18n = sessionStorage.getItem(KEY) ? 'logout' : 'login.submit';
  $('logout').textContent = t($('logout').dataset.i18n);
  const want = location.hash.slice(1);
  show(screens.includes(want) ? want : 'chat');
}

// ---- chat ----

let history_ = []; // the conversation sent with each request
let controller = null; // aborts the answer being streamed
let chatPatient = '';

async function loadModels() {
  const j = await api('/api/tags');
  const sel = $('chat-model');
  const keep = sel.value;
  sel.replaceChildren(...(j.models || []).map((m) => el('option', { value: m.name }, m.name)));
  if (keep) sel.value = keep;
  if (!sel.options.length) sel.append(el('option', { value: '' }, t('chat.nomodel')));
}

async function loadKBs(sel, keepEmpty) {
  const j = await api('/api/kb');
  const keep = sel.value;
  const opts = j.knowledge_bases.map((k) => el('option', { value: k.name }, k.name));
  if (keepEmpty) opts.unshift(el('option', { value: '', dataset: { i18n: 'chat.nokb' } }, t('chat.nokb')));
  sel.replaceChildren(...opts);
  sel.value = keep;
  return j.knowledge_bases;
}

loaders.chat = async () => {
  await loadModels();
  try {
    await loadKBs($('chat-kb'), true);
  } catch (err) {
    if (err.status !== 403) throw err; // no kb:read: chat without knowledge
  }
};

function setPatient(id) {
  chatPatient = id;
  $('chat-patient').hidden = !id;
  $('chat-patient-id').textContent = id;
}

/** renderAnswer shows the answer text with each [n] the model wrote as a
 * button opening source n, and the list of sources under it. */
function renderAnswer(body, text, citations, kb) {
  const byN = new Map((citations || []).map((c) => [c.id, c]));
  const parts = [];
  let last = 0;
  for (const m of text.matchAll(/\[(\d{1,3})\]/g)) {
    const c = byN.get(Number(m[1]));
    if (!c) continue;
    parts.push(text.slice(last, m.index));
    parts.push(citeButton(c, kb));
    last = m.index + m[0].length;
  }
  parts.push(text.slice(last));
  body.replaceChildren(...parts);
}

function citeButton(c, kb) {
  return el('button', { type: 'button', class: 'cite', title: c.title || base(c.source), onclick: () => openPassage(kb, c) }, '[' + c.id + ']');
}

async function openPassage(kb, c) {
  $('passage-title').textContent = '[' + c.id + '] ' + (c.title || base(c.source));
  $('passage-source').textContent = base(c.source) + (c.location ? ' · ' + c.location : '');
  $('passage-text').textContent = '…';
  keepBottom(() => {
    $('passage').hidden = false;
    document.querySelector('.chat-layout').classList.add('with-passage');
  });
  try {
    const p = await api('/api/kb/' + encodeURIComponent(kb) + '/chunks/' + c.chunk_id);
    $('passage-text').textContent = p.text;
  } catch (err) {
    $('passage-text').textContent = describe(err);
  }
  $('passage-close').focus();
}

function closePassage() {
  keepBottom(() => {
    $('passage').hidden = true;
    document.querySelector('.chat-layout').classList.remove('with-passage');
  });
}

/** keepBottom runs a layout change that reflows the chat log, keeping the
 * log scrolled to its end (where the latest sources are) if it was there. */
function keepBottom(change) {
  const log = $('chat-log');
  const atEnd = log.scrollHeight - log.scrollTop - log.clientHeight < 8;
  change();
  if (atEnd) log.scrollTop = log.scrollHeight;
}

function streaming(on) {
  $('chat-send').disabled = on;
  $('chat-stop').disabled = !on;
}

async function send() {
  const text = $('chat-input').value.trim();
  const model = $('chat-model').value;
  if (!text || !model || controller) return;
  clearError();
  const log = $('chat-log');
  log.querySelector('.empty')?.remove();
  log.append(el('div', { class: 'msg user' }, el('div', { class: 'who' }, t('chat.you')), el('div', { class: 'body' }, text)));
  const body = el('div', { class: 'body' });
  const status = el('div', { class: 'status' }, t('chat.thinking'));
  const msg = el('div', { class: 'msg assistant' }, el('div', { class: 'who' }, t('chat.dayi')), body, status);
  log.append(msg);
  log.scrollTop = log.scrollHeight;
  $('chat-input').value = '';
  history_.push({ role: 'user', content: text });
  const kb = $('chat-kb').value;
  // An answer is bounded: the server shifts the context instead of stopping
  // at its end (as Ollama does), so without a limit a model that never emits
  // its end token would run for thousands of tokens; Stop ends it sooner.
  const req = { model, messages: history_, stream: true, options: { num_predict: MAX_ANSWER_TOKENS } };
  if (kb) req.knowledge = kb;
  if (chatPatient) req.patient_id = chatPatient;
  controller = new AbortController();
  streaming(true);
  let answer = '';
  let citations = [];
  try {
    const res = await api('/api/chat', { json: req, signal: controller.signal, stream: true });
    const reader = res.body.getReader();
    const dec = new TextDecoder();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (!line) continue;
        const chunk = JSON.parse(line);
        if (chunk.error) throw new APIError(500, chunk.error);
        answer += chunk.message?.content || '';
        if (chunk.citations) citations = chunk.citations;
        body.textContent = answer;
        log.scrollTop = log.scrollHeight;
      }
    }
    status.remove();
  } catch (err) {
    if (err.name === 'AbortError') {
      status.textContent = t('chat.stopped');
      status.classList.add('stopped');
    } else {
      status.remove();
      showError(err);
    }
  } finally {
    controller = null;
    streaming(false);
  }
  history_.push({ role: 'assistant', content: answer });
  renderAnswer(body, answer, citations, kb);
  if (citations.length) {
    msg.append(el('div', { class: 'who' }, t('chat.sources')),
      el('ol', { class: 'cites' }, citations.map((c) => el('li', {}, citeButton(c, kb), ' ',
        (c.title || base(c.source)) + (c.title && base(c.source) !== c.title ? ' — ' + base(c.source) : '') + (c.location ? ' (' + c.location + ')' : '')))));
  }
  log.scrollTop = log.scrollHeight;
  $('chat-input').focus();
}

// ---- patient ----

let patientID = '';

// confirmSeq numbers the openings of the confirm dialog. Its close event is
// queued, not dispatched at close(): the one of an earlier opening (Cancel,
// then at once "Forget everything" again) can arrive after the next
// showModal. It then resolves its own, superseded opening as cancelled and
// leaves the new one waiting for its own close; before, it resolved the new
// opening as cancelled and that opening's OK did nothing.
let confirmSeq = 0;

function confirmDialog(text) {
  return new Promise((resolve) => {
    const d = $('confirm');
    const seq = ++confirmSeq;
    $('confirm-text').textContent = text;
    const onClose = () => {
      const current = seq === confirmSeq;
      if (current && d.open) return; // an earlier opening's late event
      d.removeEventListener('close', onClose);
      resolve(current && d.returnValue === 'ok');
    };
    d.addEventListener('close', onClose);
    d.returnValue = '';
    d.showModal();
    d.querySelector('button[value="cancel"]').focus();
  });
}

async function loadPatient() {
  const j = await api('/api/memory/items', { json: { patient_id: patientID } });
  const facts = j.items.filter((i) => i.kind === 'fact');
  const others = j.items.filter((i) => i.kind !== 'fact');
  $('patient-view').hidden = false;
  $('patient-empty').hidden = j.items.length > 0;
  $('patient-facts').hidden = facts.length === 0;
  $('patient-facts').tBodies[0].replaceChildren(...facts.map((i) => el('tr', {},
    el('td', {}, i.fact.date || i.time.slice(0, 10)),
    el('td', {}, t('kind.' + i.fact.kind)),
    el('td', {}, i.fact.subject),
    el('td', {}, i.fact.text),
    el('td', {}, forgetButton(i, i.fact.subject)))));
  $('patient-turns').replaceChildren(...others.map((i) => el('li', {},
    el('div', {},
      el('div', { class: 'when' }, i.time.slice(0, 16).replace('T', ' ') + ' UTC'),
      i.turn ? [el('p', {}, el('b', {}, t('patient.clinician') + ': '), i.turn.user),
        i.turn.assistant ? el('p', {}, el('b', {}, t('patient.assistant') + ': '), i.turn.assistant) : null]
        : el('p', {}, el('b', {}, t('patient.summary') + ': '), i.text)),
    forgetButton(i, i.time.slice(0, 10)))));
}

function forgetButton(item, what) {
  return el('button', {
    type: 'button', class: 'small', 'aria-label': t('patient.forget') + ' ' + what,
    onclick: async () => {
      if (!(await confirmDialog(t('patient.confirmone')))) return;
      try {
        await api('/api/memory/forget', { json: { patient_id: patientID, seq: item.seq } });
        await loadPatient();
      } catch (err) {
        showError(err);
      }
    },
  }, t('patient.forget'));
}

// ---- triage ----

let lastTriage = null; // [complaint, result], drawn again when the language changes

async function triage() {
  const complaint = $('triage-input').value.trim();
  if (!complaint) return;
  clearError();
  const r = await api('/api/clinic/triage', { json: { complaint, lang: current() } });
  lastTriage = [complaint, r];
  showTriage(complaint, r);
  (r.urgency === 'emergency' ? $('triage-emergency') : $('triage-result')).scrollIntoView({ block: 'nearest' });
}

function showTriage(complaint, r) {
  const em = r.urgency === 'emergency';
  $('triage-result').hidden = false;
  $('triage-emergency').hidden = !em;
  $('triage-advice').textContent = em ? r.advice : '';
  $('triage-advice-box').hidden = em || !r.advice;
  $('triage-advice-plain').textContent = em ? '' : r.advice;
  const badge = $('triage-urgency');
  badge.className = 'badge ' + r.urgency;
  badge.textContent = t('urgency.' + r.urgency);
  $('triage-department').textContent = r.department;
  const flags = r.red_flags || [];
  // each rule by its title in the page's language (the server answers in it); the ID stays as a tooltip
  const titles = r.red_flag_titles || [];
  $('triage-flags').replaceChildren(...(flags.length ? flags.map((f, i) => el('span', { class: 'flag', title: f }, titles[i] || f.replaceAll('_', ' '))) : [t('triage.noflags')]));
  // an emergency's evidence: the complaint as the patient typed it, the words that fired marked
  $('triage-text').replaceChildren(...(r.evidence ? r.evidence.map((sg) => (sg.concept
    ? el('mark', { class: 'redflag', title: sg.concept.replaceAll('_', ' ') }, sg.text) : sg.text)) : [complaint]));
  $('triage-questions-box').hidden = !(r.questions && r.questions.length);
  $('triage-questions').replaceChildren(...(r.questions || []).map((q) => el('li', {}, q)));
}

// ---- guided intake ----

let intake = { answers: {}, step: '', question: '', qa: [] };

/** intakeNext sends the answers so far and shows the next question, or the
 * end: an emergency (the red-flag rules run on every answer) or done. */
async function intakeNext() {
  const r = await api('/api/clinic/intake', { json: { lang: current(), answers: intake.answers } });
  $('intake-qa').replaceChildren(...intake.qa.map(([q, a]) => el('li', {}, el('span', { class: 'q' }, q), el('br'), a)));
  $('intake-emergency').hidden = r.urgency !== 'emergency';
  $('intake-advice').textContent = r.advice || '';
  $('intake-form').hidden = r.done;
  $('intake-done').hidden = !r.done || !r.summary;
  $('intake-use').hidden = !r.done || !r.summary;
  if (!r.done) {
    intake.step = r.step;
    intake.question = r.question;
    $('intake-question').textContent = r.question;
    $('intake-answer').value = '';
    $('intake-answer').focus();
  }
}

function intakeRestart() {
  intake = { answers: {}, step: '', question: '', qa: [] };
  return intakeNext();
}

// ---- EMR and follow-up ----

const soap = {
  subjective: ['chief_complaint', 'history_of_present_illness', 'medications', 'allergies', 'past_history'],
  objective: ['vital_signs', 'examination', 'investigations'],
  assessment: ['diagnoses', 'reasoning'],
  plan: ['treatment', 'tests_ordered', 'follow_up', 'patient_education'],
};

function fieldText(v) {
  if (Array.isArray(v)) return v.map((x) => (typeof x === 'object' ? x.name + ' — ' + x.certainty : x)).join('\n');
  return v ?? '';
}

function renderNote(note) {
  const form = $('emr-note');
  form.replaceChildren(...Object.entries(soap).map(([sec, fields]) => el('fieldset', {},
    el('legend', {}, t('soap.' + sec)),
    fields.flatMap((f) => {
      const id = 'soap-' + sec + '-' + f;
      const v = fieldText(note[sec]?.[f]);
      return [el('label', { htmlFor: id }, t('f.' + f)),
        el('textarea', { id, rows: Math.min(6, Math.max(2, v.split('\n').length + 1)), value: v, dataset: { sec, f } })];
    }))));
}

/** editedNote reads the note back from the form, with the clinician's edits,
 * in the schema's shape. */
function editedNote() {
  const note = {};
  for (const ta of $('emr-note').querySelectorAll('textarea')) {
    const { sec, f } = ta.dataset;
    note[sec] ??= {};
    const lines = ta.value.split('\n').map((s) => s.trim()).filter(Boolean);
    if (f === 'diagnoses') {
      note[sec][f] = lines.map((l) => {
        const [name, certainty] = l.split(/\s+[—-]\s+/);
        return { name: name.trim(), certainty: (certainty || 'suspected').trim() };
      });
    } else if (['medications', 'allergies', 'tests_ordered'].includes(f)) {
      note[sec][f] = lines;
    } else {
      note[sec][f] = ta.value.trim();
    }
  }
  return note;
}

function noteText() {
  const out = [];
  for (const [sec, fields] of Object.entries(soap)) {
    out.push(t('soap.' + sec));
    for (const f of fields) {
      const ta = $('soap-' + sec + '-' + f);
      out.push('  ' + t('f.' + f).replace(/（.*|\(.*/, '').trim() + ': ' + ta.value.trim().replaceAll('\n', '; '));
    }
  }
  return out.join('\n');
}

async function copy(text) {
  await navigator.clipboard.writeText(text);
  $('emr-copied').textContent = t('emr.copied');
  setTimeout(() => { $('emr-copied').textContent = ''; }, 3000);
}

async function emr() {
  const transcript = $('emr-input').value.trim();
  if (!transcript) return;
  clearError();
  $('emr-submit').disabled = true;
  $('emr-submit').textContent = t('emr.working');
  try {
    const r = await api('/api/clinic/emr', { json: { transcript, lang: current() } });
    renderNote(r.note);
    const flags = r.red_flags || [];
    $('emr-flags').hidden = flags.length === 0;
    $('emr-flags').textContent = t('emr.flags') + ' ' + flags.join(', ');
    $('emr-result').hidden = false;
    $('fu-start').value ||= new Date().toISOString().slice(0, 10);
  } finally {
    $('emr-submit').disabled = false;
    $('emr-submit').textContent = t('emr.submit');
  }
}

async function followup() {
  const req = { lang: current(), on_medication: $('fu-med').checked };
  if ($('fu-start').value) req.start = $('fu-start').value;
  const cc = $('soap-assessment-diagnoses')?.value.split('\n')[0] || $('soap-subjective-chief_complaint')?.value;
  if (cc) req.summary = cc.slice(0, 500);
  const plan = await api('/api/clinic/followup', { json: req });
  $('fu-table').hidden = false;
  $('fu-table').tBodies[0].replaceChildren(...plan.items.map((i) => el('tr', {}, el('td', {}, i.date), el('td', {}, i.kind), el('td', {}, i.action))));
  $('fu-return').textContent = plan.return_if ? t('fu.return') + plan.return_if : '';
}

// ---- admin ----

function size(n) {
  if (!n) return '—';
  const u = ['B', 'KiB', 'MiB', 'GiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return n.toFixed(i ? 1 : 0) + ' ' + u[i];
}

loaders.admin = async () => {
  const [ps, kbs, au] = await Promise.allSettled([api('/api/ps'), api('/api/kb'), api('/api/audit/verify')]);
  const audit = $('admin-audit');
  if (au.status === 'fulfilled') {
    const a = au.value;
    audit.className = a.intact ? 'ok' : 'alert emergency';
    audit.textContent = a.intact ? t('audit.ok', { n: a.records })
      : t('audit.broken', { line: a.broken_line, seq: a.broken_record, reason: a.reason });
  } else {
    audit.className = 'muted';
    audit.textContent = au.reason.status === 404 ? t('audit.none') : describe(au.reason);
  }
  if (ps.status === 'fulfilled') {
    const ms = ps.value.models || [];
    $('admin-models').tBodies[0].replaceChildren(...ms.map((m) => el('tr', {}, el('td', {}, m.name), el('td', {}, size(m.size)),
      el('td', {}, m.expires_at ? new Date(m.expires_at).toLocaleString(current() === 'zh' ? 'zh-CN' : 'en-GB') : '—'))));
    $('admin-models').hidden = ms.length === 0;
    $('admin-models-none').hidden = ms.length > 0;
  }
  if (kbs.status === 'fulfilled') {
    const list = kbs.value.knowledge_bases;
    $('admin-kbs').tBodies[0].replaceChildren(...list.map((k) => el('tr', {}, el('td', {}, k.name, el('div', { class: 'muted' }, k.sources.join(', '))),
      el('td', {}, k.files), el('td', {}, k.chunks), el('td', {}, size(k.bytes)))));
  }
  const failed = [ps, kbs].find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
};

/** upload adds the chosen files one request each (the server ingests a file
 * before it answers, so there is no finer progress to show): the bar counts
 * files done of the total, and is indeterminate while a lone file is being
 * ingested; each file's result is listed as it finishes, and the region is
 * aria-busy until the last one. */
async function upload() {
  const kb = $('kb-name').value.trim();
  const files = [...$('kb-file').files];
  if (!kb || !files.length) return;
  clearError();
  const region = $('kb-ingest'), bar = $('kb-bar'), status = $('kb-progress'), list = $('kb-results');
  const button = $('kb-upload').querySelector('button[type=submit]');
  list.replaceChildren();
  bar.hidden = false;
  bar.max = files.length;
  bar.value = 0;
  if (files.length === 1) bar.removeAttribute('value');
  region.setAttribute('aria-busy', 'true');
  button.disabled = true;
  let added = 0;
  try {
    for (const [i, file] of files.entries()) {
      status.textContent = t('admin.uploading', { file: file.name, kb, n: i + 1, total: files.length });
      let item;
      try {
        const r = await api('/api/kb/' + encodeURIComponent(kb) + '/files?filename=' + encodeURIComponent(file.name),
          { method: 'POST', body: file, headers: { 'Content-Type': 'application/octet-stream' } });
        if (r.skipped.length) {
          item = el('li', { class: 'warn' }, t('admin.skipped', { file: file.name, why: r.skipped.join('; ') }));
        } else {
          added++;
          item = el('li', {}, t('admin.uploaded', { file: file.name, kb, chunks: r.chunks }));
        }
      } catch (err) {
        showError(err); // the banner too: a missing scope or key concerns every file
        item = el('li', { class: 'failed' }, file.name + ': ' + describe(err));
      }
      list.append(item);
      bar.value = i + 1;
    }
    status.textContent = t('admin.ingested', { n: added, total: files.length, kb });
    await loaders.admin();
  } finally {
    region.setAttribute('aria-busy', 'false');
    button.disabled = false;
  }
}

// ---- wiring ----

function on(id, ev, fn) {
  $(id).addEventListener(ev, (e) => {
    if (ev === 'submit') e.preventDefault();
    Promise.resolve(fn(e)).catch(showError);
  });
}

function init() {
  apply();
  $('lang').textContent = current() === 'zh' ? 'English' : '中文';
  on('lang', 'click', () => {
    setLang(current() === 'zh' ? 'en' : 'zh');
    apply();
    if (lastTriage) showTriage(...lastTriage);
    $('lang').textContent = current() === 'zh' ? 'English' : '中文';
  });
  on('error-close', 'click', clearError);
  for (const b of document.querySelectorAll('#nav button')) b.addEventListener('click', () => show(b.dataset.screen));
  on('login-form', 'submit', async () => {
    sessionStorage.setItem(KEY, $('login-key').value.trim());
    $('login-key').value = '';
    try {
      await loadModels();
    } catch (err) {
      if (err.status === 401) {
        sessionStorage.removeItem(KEY);
        showError(new Error(t('login.bad')));
        return;
      }
    }
    await start();
  });
  on('logout', 'click', () => {
    if (!sessionStorage.getItem(KEY)) return showLogin(); // open server: sign in for more scopes
    sessionStorage.removeItem(KEY);
    history_ = [];
    location.hash = '';
    location.reload();
  });
  on('chat-form', 'submit', send);
  on('chat-input', 'keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      return send();
    }
  });
  on('chat-stop', 'click', () => controller?.abort());
  on('chat-new', 'click', () => {
    controller?.abort();
    history_ = [];
    closePassage();
    $('chat-log').replaceChildren(el('p', { class: 'empty', dataset: { i18n: 'chat.empty' } }, t('chat.empty')));
  });
  on('chat-patient-clear', 'click', () => setPatient(''));
  on('passage-close', 'click', closePassage);
  on('patient-form', 'submit', () => {
    patientID = $('patient-id').value.trim();
    return loadPatient();
  });
  on('patient-chat', 'click', () => {
    setPatient(patientID);
    history_ = [];
    show('chat');
    $('chat-input').focus();
  });
  on('patient-forget-all', 'click', async () => {
    if (!(await confirmDialog(t('patient.confirmall', { id: patientID })))) return;
    try {
      await api('/api/memory/forget', { json: { patient_id: patientID, all: true } });
      await loadPatient();
    } catch (err) {
      showError(err);
    }
  });
  on('triage-form', 'submit', triage);
  on('emr-form', 'submit', emr);
  on('emr-copy-text', 'click', () => copy(noteText()));
  on('emr-copy-json', 'click', () => copy(JSON.stringify(editedNote(), null, 2)));
  on('fu-form', 'submit', followup);
  on('intake', 'toggle', () => ($('intake').open && !intake.step ? intakeRestart() : null));
  on('intake-restart', 'click', intakeRestart);
  on('intake-form', 'submit', () => {
    const a = $('intake-answer').value.trim();
    if (!a) return null;
    intake.answers[intake.step] = a;
    intake.qa.push([intake.question, a]);
    return intakeNext();
  });
  on('intake-use', 'click', () => {
    $('emr-input').value = intake.qa.map(([q, a]) => t('intake.q') + ': ' + q + '\n' + t('intake.a') + ': ' + a).join('\n');
    $('emr-input').focus();
  });
  on('kb-upload', 'submit', upload);
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && !$('passage').hidden) closePassage();
  });
  start();
}

init();
