// The territory planner: pick a team and a plan, see territories and accounts on the map and
// each rep's workload in the panel, select accounts (click, shift-click, lasso or the list),
// move them, rebalance, compare, review the diff and the CRM calls, publish.
//
// A plan of more than TILE_THRESHOLD_ACCOUNTS accounts (or any plan with `?tiles=1` in the
// page's URL; `?tiles=0` never) is drawn from vector tiles (GET /api/plans/{id}/tiles/{z}/{x}/{y})
// instead of GeoJSON: the browser then only holds the accounts drawn in the view, which is what
// the account list, the lasso and the details card work from (see docs/territories.md).
//
// Plain ES module, no build step. MapLibre is loaded before this file as a classic script
// (global `maplibregl`). Configuration comes from data attributes on #terr, because the page's
// CSP forbids inline scripts. API data only ever reaches the page through textContent; sizes
// and colours are set through the CSSOM (element.style), which the CSP allows.

const DEFAULT_CENTER_LON_LAT = [7.4246, 43.7384];
const DEFAULT_ZOOM = 12;
const FIT_MAX_ZOOM = 16;
const JOB_POLL_MS = 700;
/** Rows the account list draws at most; the search narrows the rest. */
const LIST_LIMIT = 400;
const SHAPES = 'plan-shapes';
const ACCOUNTS = 'plan-accounts';
/** The vector source of tile mode; its layers are `territories` and `accounts`. */
const TILES = 'plan-tiles';
/** Plans with more accounts than this are drawn from vector tiles rather than GeoJSON. */
const TILE_THRESHOLD_ACCOUNTS = 20_000;
/** Deepest tiles asked for when the tile set does not say (the server's `maxzoom`). */
const TILE_MAX_ZOOM = 14;
/** The plan layers, rebuilt when the map switches between GeoJSON and tiles. */
const PLAN_LAYERS = ['shape-fill', 'shape-line', ACCOUNTS];
const LASSO = 'lasso';
const RULE_AREAS = 'rule-areas';
const UNASSIGNED_COLOUR = '#7a7f87';

const integer = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const decimal = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });
const fraction = new Intl.NumberFormat(undefined, { minimumFractionDigits: 3, maximumFractionDigits: 3 });
const percent = new Intl.NumberFormat(undefined, { style: 'percent', maximumFractionDigits: 1, signDisplay: 'exceptZero' });
const plainPercent = new Intl.NumberFormat(undefined, { style: 'percent', maximumFractionDigits: 1 });

/** A failure whose message is written for the user (the API's error message, usually). */
class ApiError extends Error {}

const $ = (id) => document.getElementById(id);

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) {
    node.className = className;
  }
  if (text !== undefined && text !== null) {
    node.textContent = String(text);
  }
  return node;
}

function button(text, className) {
  const b = element('button', className, text);
  b.type = 'button';
  return b;
}

const fmt = {
  int: (n) => (Number.isFinite(n) ? integer.format(n) : '—'),
  dec: (n) => (Number.isFinite(n) ? decimal.format(n) : '—'),
  frac: (n) => (Number.isFinite(n) ? fraction.format(n) : '—'),
  pct: (n) => (Number.isFinite(n) ? percent.format(n) : '—'),
  plainPct: (n) => (Number.isFinite(n) ? plainPercent.format(n) : '—'),
  /** Workloads arrive in minutes per year; people read hours. */
  hours: (minutes) => (Number.isFinite(minutes) ? integer.format(minutes / 60) : '—'),
};

// ------------------------------------------------------------------------------------------
// Page state

const root = $('terr');
const config = {
  teamsUrl: root.dataset.teamsUrl || '/api/teams',
  outboxUrl: root.dataset.outboxUrl || '/territories/outbox',
  csrf: root.dataset.csrf || '',
  workerUrl: root.dataset.workerUrl || null,
  /** `?tiles=1` forces vector tiles, `?tiles=0` forbids them; otherwise the plan's size decides. */
  tiles: new URLSearchParams(window.location.search).get('tiles'),
};

const state = {
  teams: [],
  team: null,
  plans: [],
  /** The plan shown, as GET /api/plans/{id} answers it. */
  plan: null,
  accounts: { type: 'FeatureCollection', features: [] },
  accountsById: new Map(),
  territoriesById: new Map(),
  selected: new Set(),
  map: null,
  mapReady: null,
  /** Bumped whenever another plan is chosen, so late answers for the old one are dropped. */
  generation: 0,
  pollTimer: null,
  fitted: false,
  lasso: null,
  /** The last lasso as a closed lon/lat ring, for an area rule. */
  lastLasso: null,
  rules: [],
  /** The plan whose tolerance the Rebalance input shows. */
  toleranceOf: null,
  /** The shown plan's tile set (TileJSON) in tile mode, else null (GeoJSON mode). */
  tileSet: null,
  /** In tile mode, the ids of the accounts drawn in the view, to notice when they change. */
  viewSignature: '',
};

// ------------------------------------------------------------------------------------------
// Talking to the server

/** JSON from the API, or an ApiError with the server's message. */
async function api(path, { method = 'GET', body } = {}) {
  const headers = { Accept: 'application/json' };
  if (method !== 'GET') {
    headers['x-csrf-token'] = config.csrf;
  }
  if (body !== undefined) {
    headers['content-type'] = 'application/json';
  }
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
    });
  } catch {
    throw new ApiError('The server could not be reached.');
  }
  const text = await response.text();
  let parsed = null;
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = null;
    }
  }
  if (!response.ok) {
    const message = parsed?.error?.message ?? `the server answered ${response.status}`;
    throw new ApiError(message);
  }
  return parsed;
}

function showAlert(message) {
  const alertEl = $('terr-alert');
  alertEl.textContent = message;
  alertEl.hidden = false;
}

function clearAlert() {
  const alertEl = $('terr-alert');
  alertEl.textContent = '';
  alertEl.hidden = true;
}

function setStatus(text) {
  $('terr-status').textContent = text;
}

/** Runs an action, showing its failure in the alert region; marks the page busy meanwhile. */
async function guarded(action) {
  clearAlert();
  root.dataset.state = 'busy';
  try {
    return await action();
  } catch (error) {
    if (error instanceof ApiError) {
      showAlert(error.message);
    } else {
      console.warn('territories: unexpected failure', error);
      showAlert('Something went wrong; the page may be out of date. Reload to be sure.');
    }
    return undefined;
  } finally {
    if (root.dataset.state === 'busy') {
      root.dataset.state = 'ready';
    }
  }
}

// ------------------------------------------------------------------------------------------
// Teams and plans

function planLabel(plan) {
  const status = plan.status === 'published' ? 'published' : plan.status;
  return `${plan.name} (${status})`;
}

function fillSelect(select, items, selectedValue) {
  select.replaceChildren(...items.map(({ value, label }) => {
    const option = element('option', null, label);
    option.value = value;
    option.selected = value === selectedValue;
    return option;
  }));
}

async function loadTeams() {
  state.teams = await api(config.teamsUrl);
  if (!Array.isArray(state.teams) || state.teams.length === 0) {
    setStatus('No team to plan');
    showAlert('You have no team to plan. An admin assigns managers to teams.');
    root.dataset.state = 'empty';
    return;
  }
  fillSelect($('terr-team'), state.teams.map((t) => ({ value: t.id, label: t.name })), state.teams[0].id);
  await chooseTeam(state.teams[0].id);
}

async function chooseTeam(teamId) {
  state.team = state.teams.find((t) => t.id === teamId) ?? null;
  await loadPlans();
  await loadRules();
  await loadWorkloadModel();
}

/** Reloads the team's plans; shows `planId`, else the plan shown now, else the published one. */
async function loadPlans(planId) {
  const team = state.team;
  state.plans = await api(`/api/teams/${encodeURIComponent(team.id)}/plans`);
  const published = state.plans.find((p) => p.status === 'published');
  const wanted = planId ?? (state.plans.some((p) => p.id === state.plan?.id) ? state.plan.id : null)
    ?? published?.id ?? state.plans[0]?.id ?? null;
  fillSelect($('terr-plan'), state.plans.map((p) => ({ value: p.id, label: planLabel(p) })), wanted);
  if (wanted) {
    await showPlan(wanted);
  } else {
    setStatus('This team has no plan yet: create one');
    root.dataset.state = 'ready';
  }
}

function fillCompareSelect() {
  const others = state.plans.filter((p) => p.id !== state.plan?.id);
  const published = others.find((p) => p.status === 'published');
  fillSelect(
    $('terr-compare-with'),
    others.map((p) => ({ value: p.id, label: planLabel(p) })),
    published?.id ?? others[0]?.id,
  );
  $('terr-compare').disabled = others.length === 0;
}

/** Loads and draws one plan; while its job runs, shows progress and polls until it ends. */
async function showPlan(planId) {
  state.generation += 1;
  const generation = state.generation;
  window.clearTimeout(state.pollTimer);
  // data-plan-id changes only once the plan is drawn (applyPlan): waiting for it is safe.
  root.dataset.loadingPlanId = planId;
  root.dataset.state = 'busy';
  const plan = await api(`/api/plans/${encodeURIComponent(planId)}`);
  if (generation !== state.generation) {
    return;
  }
  renderJob(plan.job);
  if (jobBusy(plan.job)) {
    state.plan = plan;
    renderPlanHeader(plan);
    root.dataset.state = 'working';
    state.pollTimer = window.setTimeout(() => {
      guarded(() => showPlan(planId));
    }, JOB_POLL_MS);
    return;
  }
  if (plan.job?.state === 'failed') {
    showAlert(`The plan could not be computed: ${plan.job.message ?? 'unknown error'}`);
  }
  const data = await planData(plan);
  if (generation !== state.generation) {
    return;
  }
  await applyPlan(plan, data);
}

/** How many accounts the plan has, from its territories' figures. */
function planAccountCount(plan) {
  return (plan.territories ?? []).reduce((sum, t) => sum + (t.accounts ?? 0), 0);
}

/** Whether a plan is drawn from vector tiles: `?tiles=`, else more than the threshold. */
function wantsTiles(plan) {
  if (config.tiles === '1' || config.tiles === '0') {
    return config.tiles === '1';
  }
  return planAccountCount(plan) > TILE_THRESHOLD_ACCOUNTS;
}

/**
 * What the map needs for a plan: its tile set (TileJSON: bounds, zooms) in tile mode, else its
 * accounts and shapes as GeoJSON. `tileSet`, when given, is the plan's tile set already in hand.
 */
async function planData(plan, tileSet = null) {
  const base = `/api/plans/${encodeURIComponent(plan.id)}`;
  if (wantsTiles(plan)) {
    return { tileSet: tileSet ?? await api(`${base}/tiles`), accounts: null, shapes: null };
  }
  const [accounts, shapes] = await Promise.all([api(`${base}/accounts`), api(`${base}/shapes`)]);
  return { tileSet: null, accounts, shapes };
}

/** Draws a plan with its accounts and shapes, or its tiles (after a load, a move or a job). */
async function applyPlan(plan, { accounts, shapes, tileSet }) {
  state.plan = plan;
  state.territoriesById = new Map((plan.territories ?? []).map((t) => [t.id, t]));
  state.tileSet = tileSet;
  if (tileSet) {
    // Filled from the view once the tiles are drawn (refreshViewAccounts); the selection
    // stays: its accounts may be anywhere, not only in the view.
    state.accounts = { type: 'FeatureCollection', features: [] };
    state.accountsById = new Map();
    state.viewSignature = '';
  } else if (accounts) {
    state.accounts = accounts;
    state.accountsById = new Map(accounts.features.map((f) => [String(f.properties.id), f]));
    for (const id of [...state.selected]) {
      if (!state.accountsById.has(id)) {
        state.selected.delete(id);
      }
    }
  }
  root.dataset.planId = plan.id;
  root.dataset.planStatus = plan.status;
  // Counts plan drawings, so a test (or a curious admin) can tell a fresh one from the last.
  root.dataset.renders = String(Number(root.dataset.renders ?? 0) + 1);
  root.dataset.jobState = plan.job?.state ?? 'idle';
  root.dataset.source = tileSet ? 'tiles' : 'geojson';
  renderPlanHeader(plan);
  renderTerritories(plan);
  renderMetrics(plan);
  renderMoveTargets(plan);
  renderList();
  fillCompareSelect();
  await drawMap(shapes);
  const count = tileSet ? planAccountCount(plan) : state.accounts.features.length;
  setStatus(`${plan.name}: ${fmt.int(count)} accounts in ${fmt.int(plan.territories?.length ?? 0)} territories`);
  root.dataset.state = 'ready';
}

/** A job waiting for a worker (queued) or computing (running). */
function jobBusy(job) {
  return job?.state === 'running' || job?.state === 'queued';
}

function renderJob(job) {
  const box = $('terr-job');
  const busy = jobBusy(job);
  box.hidden = !busy;
  root.dataset.jobState = job?.state ?? 'idle';
  if (job?.state === 'queued') {
    $('terr-job-bar').removeAttribute('value');
    $('terr-job-label').textContent = 'Waiting for a free slot to compute the plan';
    setStatus('Queued…');
  } else if (busy) {
    const progress = Number.isFinite(job.progress) ? Math.max(0, Math.min(1, job.progress)) : 0;
    $('terr-job-bar').value = progress;
    $('terr-job-label').textContent = `${job.message ?? 'Computing the plan'} (${plainPercent.format(progress)})`;
    setStatus(`Computing… ${plainPercent.format(progress)}`);
  }
}

function isDraft(plan) {
  return plan?.status === 'draft' && !jobBusy(plan?.job);
}

function renderPlanHeader(plan) {
  const badge = $('terr-plan-status');
  badge.textContent = plan.status;
  badge.dataset.status = plan.status;
  const draft = isDraft(plan);
  $('terr-delete').hidden = plan.status !== 'draft';
  $('terr-rollback').hidden = plan.status !== 'superseded';
  for (const id of ['terr-rebalance', 'terr-publish', 'terr-diff', 'terr-preview']) {
    $(id).disabled = !draft;
  }
  $('terr-move').disabled = !draft || state.selected.size === 0;
  if (state.toleranceOf !== plan.id) {
    // The plan's own tolerance, until the user types another.
    state.toleranceOf = plan.id;
    $('terr-tolerance').value = String(Math.round((plan.params?.tolerance ?? 0.1) * 100));
  }
  if (!draft) {
    $('terr-confirm').hidden = true;
  }
}

// ------------------------------------------------------------------------------------------
// The panel: territories, metrics

function meanWorkload(plan) {
  if (Number.isFinite(plan.metrics?.mean_workload)) {
    return plan.metrics.mean_workload;
  }
  const list = plan.territories ?? [];
  return list.length ? list.reduce((sum, t) => sum + (t.workload ?? 0), 0) / list.length : 0;
}

function swatch(colour) {
  const s = element('span', 'terr-swatch');
  s.setAttribute('aria-hidden', 'true');
  s.style.backgroundColor = colour || UNASSIGNED_COLOUR;
  return s;
}

/** A bar for one territory's workload: the track is 0 to twice the mean, the band ±tolerance. */
function workloadBar(workload, mean, tolerance, colour) {
  const bar = element('div', 'terr-bar');
  bar.setAttribute('aria-hidden', 'true');
  const band = element('div', 'terr-bar__band');
  band.style.left = `${((1 - tolerance) / 2) * 100}%`;
  band.style.width = `${tolerance * 100}%`;
  const fill = element('div', 'terr-bar__fill');
  const share = mean > 0 ? Math.min(1, workload / (2 * mean)) : 0;
  fill.style.width = `${share * 100}%`;
  fill.style.backgroundColor = colour || UNASSIGNED_COLOUR;
  const tick = element('div', 'terr-bar__mean');
  bar.append(band, fill, tick);
  return bar;
}

function renderTerritories(plan) {
  const tbody = $('terr-territories').tBodies[0];
  const mean = meanWorkload(plan);
  const tolerance = plan.params?.tolerance ?? 0.1;
  const rows = (plan.territories ?? []).map((t) => {
    const tr = element('tr');
    tr.dataset.territoryId = t.id;
    tr.dataset.accounts = String(t.accounts ?? 0);
    tr.dataset.workload = String(t.workload ?? 0);
    tr.dataset.value = String(t.value ?? 0);
    tr.dataset.deviation = String(t.deviation ?? 0);
    const outside = Math.abs(t.deviation ?? 0) > tolerance;
    tr.classList.toggle('terr-row--outside', outside);
    const name = element('th');
    name.scope = 'row';
    const label = element('span', 'terr-name');
    label.append(swatch(t.color), element('span', null, t.name));
    name.append(label);
    if (t.rep?.name && t.rep.name !== t.name) {
      name.append(element('span', 'terr-rep', t.rep.name));
    } else if (!t.rep) {
      name.append(element('span', 'terr-rep', 'no rep'));
    }
    const workload = element('td', 'terr-num');
    workload.append(element('span', 'terr-workload', fmt.hours(t.workload)), workloadBar(t.workload ?? 0, mean, tolerance, t.color));
    const deviation = element('td', 'terr-num', fmt.pct(t.deviation));
    if (outside) {
      deviation.append(element('span', 'terr__sr-only', ' (outside the tolerance)'));
    }
    tr.append(
      name,
      element('td', 'terr-num terr-accounts', fmt.int(t.accounts)),
      element('td', 'terr-num', fmt.int(t.value)),
      workload,
      deviation,
    );
    return tr;
  });
  tbody.replaceChildren(...rows);
  const live = (plan.territories ?? [])
    .map((t) => `${t.name}: ${fmt.int(t.accounts)} accounts, ${fmt.hours(t.workload)} hours, ${fmt.pct(t.deviation)}`)
    .join('; ');
  $('terr-metrics-live').textContent = `Workload updated. ${live}.`;
}

const METRIC_ROWS = [
  ['max_deviation', 'Largest workload deviation', fmt.plainPct],
  ['max_count_deviation', 'Largest account-count deviation', fmt.plainPct],
  ['max_over_mean', 'Largest / mean workload', fmt.dec],
  ['mean_workload', 'Mean workload (h/yr)', fmt.hours],
  ['cv', 'Coefficient of variation', fmt.frac],
  ['gini', 'Gini', fmt.frac],
  ['msd_km2', 'Compactness (MSD, km²)', fmt.dec],
  ['contiguous', 'Contiguous', (v) => (v === true ? 'yes' : v === false ? 'no' : '—')],
  ['pieces', 'Pieces', fmt.int],
  ['moved_accounts', 'Accounts moved vs published', fmt.int],
  ['moved_value', 'Value moved vs published', fmt.int],
];

function metricsList(metrics, dl) {
  const items = [];
  for (const [key, label, format] of METRIC_ROWS) {
    if (metrics?.[key] === undefined) {
      continue;
    }
    const dd = element('dd', null, format(metrics[key]));
    dd.dataset.metric = key;
    items.push(element('dt', null, label), dd);
  }
  dl.replaceChildren(...items);
  return dl;
}

function renderMetrics(plan) {
  metricsList(plan.metrics ?? {}, $('terr-metrics'));
}

function renderMoveTargets(plan) {
  const options = (plan.territories ?? [])
    .map((t) => ({ value: t.id, label: t.rep?.name && t.rep.name !== t.name ? `${t.name} (${t.rep.name})` : t.name }));
  for (const select of [$('terr-move-to'), $('terr-rule-territory')]) {
    fillSelect(select, options, select.value);
  }
}

// ------------------------------------------------------------------------------------------
// Selection, details, the account list

function territoryName(id) {
  return state.territoriesById.get(id)?.name ?? 'no territory';
}

function renderSelection() {
  const count = state.selected.size;
  $('terr-selected-count').textContent = `${fmt.int(count)} selected`;
  root.dataset.selected = String(count);
  $('terr-move').disabled = !isDraft(state.plan) || count === 0;
  // Moving accounts to where they already are does nothing: offer another territory.
  const target = $('terr-move-to');
  const current = new Set([...state.selected].map((id) => state.accountsById.get(id)?.properties.territory_id));
  if (current.size === 1 && current.has(target.value)) {
    const other = [...target.options].find((o) => !current.has(o.value));
    if (other) {
      target.value = other.value;
    }
  }
  const boxes = [...$('terr-list').querySelectorAll('input[data-account-id]')];
  for (const box of boxes) {
    box.checked = state.selected.has(box.dataset.accountId);
  }
  const all = $('terr-list-all');
  const checked = boxes.filter((b) => b.checked).length;
  all.checked = boxes.length > 0 && checked === boxes.length;
  all.indeterminate = checked > 0 && checked < boxes.length;
  const map = state.map;
  const features = accountFeatures();
  if (map?.getSource(features.source)) {
    map.removeFeatureState(features);
    for (const id of state.selected) {
      map.setFeatureState({ ...features, id }, { selected: true });
    }
  }
  renderRuleForm();
  if (count === 1) {
    showDetails([...state.selected][0]);
  } else if (count > 1) {
    const value = [...state.selected].reduce((sum, id) => sum + (state.accountsById.get(id)?.properties.annual_value ?? 0), 0);
    const details = $('terr-details');
    details.replaceChildren(element('p', null, `${fmt.int(count)} accounts selected, value ${fmt.int(value)}.`));
  } else {
    $('terr-details').replaceChildren();
  }
}

function setSelection(ids, { add = false } = {}) {
  if (!add) {
    state.selected.clear();
  }
  for (const id of ids) {
    state.selected.add(String(id));
  }
  renderSelection();
}

function toggleSelected(id) {
  if (state.selected.has(id)) {
    state.selected.delete(id);
  } else {
    state.selected.add(id);
  }
  renderSelection();
}

const SOURCE_WORDS = {
  rule: 'rule',
  lock: 'lock',
  optimizer: 'optimizer',
  manual: 'moved by hand',
  current: "today's territory",
  arrival: 'placed on arrival',
};

function showDetails(id) {
  const feature = state.accountsById.get(id);
  const details = $('terr-details');
  if (!feature) {
    details.replaceChildren();
    return;
  }
  const p = feature.properties;
  const card = element('div', 'terr-account');
  card.dataset.accountId = id;
  card.append(element('h3', 'terr-account__name', p.name || 'Unnamed account'));
  const facts = element('dl', 'terr-account__facts');
  const rows = [
    ['Territory', territoryName(p.territory_id)],
    ['Tier', p.tier || '—'],
    ['Annual value', fmt.int(p.annual_value)],
    ['Workload (h/yr)', fmt.hours(p.workload)],
    ['Assigned by', SOURCE_WORDS[p.source] ?? p.source ?? '—'],
    // Tiles carry no reasons (long texts): GeoJSON mode shows them.
    ['Why', p.reason || '—'],
    ['Locked', p.locked ? 'yes' : 'no'],
  ];
  if (p.count > 1) {
    // A thinned tile (low zoom) draws one account per spot for the accounts around it.
    rows.push(['Drawn for', `${fmt.int(p.count)} accounts around it (zoom in to see them)`]);
  }
  for (const [label, value] of rows) {
    facts.append(element('dt', null, label), element('dd', null, value));
  }
  card.append(facts);
  const lock = button(p.locked ? 'Unlock' : `Lock in ${territoryName(p.territory_id)}`, 'terr-account__lock');
  lock.disabled = !p.territory_id;
  lock.addEventListener('click', () => guarded(async () => {
    if (p.locked) {
      await api(`/api/accounts/${encodeURIComponent(id)}/lock`, { method: 'DELETE' });
    } else {
      await api(`/api/accounts/${encodeURIComponent(id)}/lock`, { method: 'POST', body: { territory_id: p.territory_id } });
    }
    await showPlan(state.plan.id);
  }));
  card.append(lock);
  details.replaceChildren(card);
}

function accountMatches(feature, needle) {
  if (!needle) {
    return true;
  }
  const p = feature.properties;
  return `${p.name ?? ''} ${p.tier ?? ''} ${territoryName(p.territory_id)}`.toLowerCase().includes(needle);
}

function renderList() {
  const needle = $('terr-search').value.trim().toLowerCase();
  const matching = state.accounts.features.filter((f) => accountMatches(f, needle));
  const shown = matching.slice(0, LIST_LIMIT);
  const tbody = $('terr-list').tBodies[0];
  tbody.replaceChildren(...shown.map((f) => {
    const p = f.properties;
    const id = String(p.id);
    const tr = element('tr');
    tr.dataset.accountId = id;
    const check = element('input');
    check.type = 'checkbox';
    check.dataset.accountId = id;
    check.checked = state.selected.has(id);
    check.setAttribute('aria-label', `Select ${p.name || 'account'}`);
    const checkCell = element('td');
    checkCell.append(check);
    const nameCell = element('td');
    const show = button(p.name || 'Unnamed account', 'terr-linkish');
    show.title = show.textContent;
    show.dataset.show = id;
    show.setAttribute('aria-label', `${p.name || 'Unnamed account'}: show on the map`);
    nameCell.append(show);
    if (p.locked) {
      nameCell.append(element('span', 'terr-tag', 'locked'));
    }
    const territory = element('td');
    territory.append(swatch(state.territoriesById.get(p.territory_id)?.color), element('span', null, territoryName(p.territory_id)));
    tr.append(checkCell, nameCell, element('td', null, p.tier || '—'), territory, element('td', 'terr-num', fmt.int(p.annual_value)));
    return tr;
  }));
  const total = state.accounts.features.length;
  let note = `${fmt.int(matching.length)} of ${fmt.int(total)} accounts`;
  if (state.tileSet) {
    note += ` drawn in the view (the plan has ${fmt.int(planAccountCount(state.plan))}; pan or zoom to list others)`;
  }
  if (matching.length > shown.length) {
    note += `; the first ${fmt.int(shown.length)} are listed, search to narrow`;
  }
  $('terr-list-count').textContent = note;
  renderSelection();
}

function focusAccountOnMap(id) {
  const feature = state.accountsById.get(id);
  if (!feature) {
    return;
  }
  setSelection([id]);
  state.map?.easeTo({ center: feature.geometry.coordinates, zoom: Math.max(state.map.getZoom(), 14), duration: 300 });
}

// ------------------------------------------------------------------------------------------
// The map

function plainStyle() {
  const land = getComputedStyle(document.documentElement).getPropertyValue('--map-land').trim() || '#eef1ea';
  return {
    version: 8,
    name: 'Terrane plain',
    sources: {},
    layers: [{ id: 'background', type: 'background', paint: { 'background-color': land } }],
  };
}

function createMap() {
  if (typeof maplibregl === 'undefined') {
    throw new ApiError('The map library did not load.');
  }
  if (config.workerUrl) {
    maplibregl.setWorkerUrl(config.workerUrl);
  }
  const mapEl = $('terr-map');
  const map = new maplibregl.Map({
    container: mapEl,
    style: plainStyle(),
    center: DEFAULT_CENTER_LON_LAT,
    zoom: DEFAULT_ZOOM,
    attributionControl: { compact: false },
    dragRotate: false,
    pitchWithRotate: false,
    boxZoom: false,
  });
  map.touchZoomRotate.disableRotation();
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }), 'top-right');
  map.addControl(new maplibregl.ScaleControl({ unit: 'metric' }), 'bottom-right');
  window.terraneTerritoryMap = map;
  state.map = map;
  state.mapReady = new Promise((resolve, reject) => {
    let loaded = false;
    map.on('error', (event) => {
      if (loaded) {
        console.warn('territory map error', event.error);
      } else {
        reject(new ApiError(`The map could not load: ${event.error?.message ?? 'unknown error'}`));
      }
    });
    map.once('load', () => {
      loaded = true;
      addLayers(map);
      enableMapSelection(map, mapEl);
      resolve(map);
    });
  });
  state.mapReady.catch((error) => {
    mapEl.dataset.state = 'error';
    showAlert(error.message);
  });
  return map;
}

function addLayers(map) {
  const empty = { type: 'FeatureCollection', features: [] };
  map.addSource(LASSO, { type: 'geojson', data: empty });
  map.addSource(RULE_AREAS, { type: 'geojson', data: empty });
  map.addLayer({
    id: 'rule-area-line',
    type: 'line',
    source: RULE_AREAS,
    paint: {
      'line-color': ['coalesce', ['get', 'color'], UNASSIGNED_COLOUR],
      'line-width': 2.5,
      'line-dasharray': [3, 2],
      'line-opacity': ['case', ['==', ['get', 'enabled'], false], 0.35, 1],
    },
  });
  map.addLayer({
    id: 'lasso-line',
    type: 'line',
    source: LASSO,
    paint: { 'line-color': '#111111', 'line-width': 2, 'line-dasharray': [2, 1] },
  });
  addPlanLayers(map, null);
}

/** Where the accounts' feature states live: the GeoJSON source, or the tiles' `accounts` layer. */
function accountFeatures() {
  return state.tileSet ? { source: TILES, sourceLayer: 'accounts' } : { source: ACCOUNTS };
}

/** The URL template of the plan's tiles; `v` changes at each drawing so edits show at once. */
function tileUrl(plan) {
  return `${window.location.origin}/api/plans/${encodeURIComponent(plan.id)}/tiles/{z}/{x}/{y}?v=${Date.now()}`;
}

/** Tiles carry territory ids only: the colour comes from the plan's territories. */
function territoryColour() {
  const pairs = [...state.territoriesById.values()].flatMap((t) => [t.id, t.color || UNASSIGNED_COLOUR]);
  return pairs.length ? ['match', ['get', 'territory_id'], ...pairs, UNASSIGNED_COLOUR] : UNASSIGNED_COLOUR;
}

/**
 * (Re)creates the plan's sources and layers: GeoJSON sources (filled by drawMap) when
 * `tileSet` is null, else one vector source over the plan's tiles, limited to its bounds.
 */
function addPlanLayers(map, tileSet) {
  for (const id of PLAN_LAYERS) {
    if (map.getLayer(id)) {
      map.removeLayer(id);
    }
  }
  for (const id of [SHAPES, ACCOUNTS, TILES]) {
    if (map.getSource(id)) {
      map.removeSource(id);
    }
  }
  const attribution = '© <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors';
  let shapes;
  let accounts;
  let accountColour;
  if (tileSet) {
    const source = {
      type: 'vector',
      tiles: [tileUrl(state.plan)],
      minzoom: 0,
      maxzoom: Number.isInteger(tileSet.maxzoom) ? tileSet.maxzoom : TILE_MAX_ZOOM,
      promoteId: { accounts: 'id', territories: 'territory_id' },
      attribution,
    };
    if (Array.isArray(tileSet.bounds) && tileSet.bounds.length === 4) {
      source.bounds = tileSet.bounds;
    }
    map.addSource(TILES, source);
    shapes = { source: TILES, 'source-layer': 'territories' };
    accounts = { source: TILES, 'source-layer': 'accounts' };
    accountColour = territoryColour();
  } else {
    const empty = { type: 'FeatureCollection', features: [] };
    map.addSource(SHAPES, { type: 'geojson', data: empty });
    map.addSource(ACCOUNTS, { type: 'geojson', data: empty, promoteId: 'id', attribution });
    shapes = { source: SHAPES };
    accounts = { source: ACCOUNTS };
    accountColour = ['coalesce', ['get', 'color'], UNASSIGNED_COLOUR];
  }
  const colour = ['coalesce', ['get', 'color'], UNASSIGNED_COLOUR];
  map.addLayer({ id: 'shape-fill', type: 'fill', ...shapes, paint: { 'fill-color': colour, 'fill-opacity': 0.16 } }, 'rule-area-line');
  map.addLayer({ id: 'shape-line', type: 'line', ...shapes, paint: { 'line-color': colour, 'line-width': 2, 'line-opacity': 0.85 } }, 'rule-area-line');
  const tier = ['get', 'tier'];
  const radius = ['match', tier, 'A', 7, 'B', 5.5, 'C', 4.5, 4];
  const selected = ['boolean', ['feature-state', 'selected'], false];
  map.addLayer({
    id: ACCOUNTS,
    type: 'circle',
    ...accounts,
    layout: { 'circle-sort-key': ['match', tier, 'A', 3, 'B', 2, 'C', 1, 0] },
    paint: {
      'circle-radius': ['interpolate', ['linear'], ['zoom'], 10, ['*', 0.7, radius], 15, radius, 18, ['*', 1.6, radius]],
      'circle-color': accountColour,
      'circle-stroke-color': ['case', selected, '#111111', ['==', ['get', 'locked'], true], '#111111', '#ffffff'],
      'circle-stroke-width': ['case', selected, 3, ['==', ['get', 'locked'], true], 1.5, 1],
      'circle-opacity': 0.95,
    },
  }, 'lasso-line');
  map.getContainer().dataset.source = tileSet ? 'tiles' : 'geojson';
}

/** The accounts as drawn: each carries its territory's colour. */
function colouredAccounts() {
  return {
    type: 'FeatureCollection',
    features: state.accounts.features.map((f) => ({
      ...f,
      properties: { ...f.properties, color: state.territoriesById.get(f.properties.territory_id)?.color ?? UNASSIGNED_COLOUR },
    })),
  };
}

/** Fits the map to a box once per team choice (the first plan drawn). */
function fitOnce(map, bounds) {
  if (state.fitted || !bounds || bounds.isEmpty?.()) {
    return;
  }
  const container = map.getContainer();
  const padding = Math.round(Math.min(40, container.clientWidth / 10, container.clientHeight / 10));
  map.fitBounds(bounds, { padding, maxZoom: FIT_MAX_ZOOM, animate: false });
  state.fitted = true;
}

async function drawMap(shapes) {
  // Without a map (no WebGL) the panel and the account list still work.
  const map = await state.mapReady?.catch(() => null);
  if (!map) {
    return;
  }
  const mapEl = $('terr-map');
  mapEl.dataset.state = 'drawing';
  if (state.tileSet) {
    // Fitted first, so no tile is asked for the view left behind.
    const b = state.tileSet.bounds;
    if (Array.isArray(b) && b.length === 4) {
      fitOnce(map, new maplibregl.LngLatBounds([b[0], b[1]], [b[2], b[3]]));
    }
    addPlanLayers(map, state.tileSet);
  } else {
    if (!map.getSource(ACCOUNTS)) {
      addPlanLayers(map, null);
    }
    if (shapes) {
      map.getSource(SHAPES).setData(shapes);
    }
    map.getSource(ACCOUNTS).setData(colouredAccounts());
    if (state.accounts.features.length > 0) {
      const bounds = new maplibregl.LngLatBounds();
      for (const f of state.accounts.features) {
        bounds.extend(f.geometry.coordinates);
      }
      fitOnce(map, bounds);
    }
  }
  renderSelection();
  mapEl.dataset.planId = state.plan?.id ?? '';
  await map.once('idle');
  refreshViewAccounts(map);
  mapEl.dataset.featureCount = String(state.accounts.features.length);
  mapEl.dataset.state = 'ready';
}

/** A rendered account as the page keeps accounts (a GeoJSON feature with its properties). */
function renderedAccount(feature) {
  const id = String(feature.id ?? feature.properties.id);
  return { type: 'Feature', id, geometry: feature.geometry, properties: { ...feature.properties, id } };
}

/**
 * Tile mode: the accounts drawn in the view become the list (and what selection and details
 * know of). Runs when the map settles; does nothing when the same accounts are drawn.
 */
function refreshViewAccounts(map) {
  if (!state.tileSet || !map.getLayer(ACCOUNTS)) {
    return;
  }
  const byId = new Map();
  for (const f of map.queryRenderedFeatures({ layers: [ACCOUNTS] })) {
    const account = renderedAccount(f);
    if (!byId.has(account.id)) {
      byId.set(account.id, account);
    }
  }
  const signature = [...byId.keys()].sort().join(',');
  if (signature === state.viewSignature) {
    return;
  }
  state.viewSignature = signature;
  for (const [id, account] of byId) {
    state.accountsById.set(id, account);
  }
  const features = [...byId.values()]
    .sort((a, b) => (b.properties.annual_value ?? 0) - (a.properties.annual_value ?? 0) || a.id.localeCompare(b.id));
  state.accounts = { type: 'FeatureCollection', features };
  $('terr-map').dataset.featureCount = String(features.length);
  renderList();
}

/** Ray casting on screen points: is `point` inside `polygon` (both [x, y])? */
function insidePolygon(point, polygon) {
  const [x, y] = point;
  let inside = false;
  for (let i = 0, j = polygon.length - 1; i < polygon.length; j = i, i += 1) {
    const [xi, yi] = polygon[i];
    const [xj, yj] = polygon[j];
    if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) {
      inside = !inside;
    }
  }
  return inside;
}

function setLassoMode(on) {
  const map = state.map;
  const toggle = $('terr-lasso');
  toggle.setAttribute('aria-pressed', on ? 'true' : 'false');
  $('terr-map').classList.toggle('terr__map--lasso', on);
  if (!map) {
    return;
  }
  if (on) {
    map.dragPan.disable();
  } else {
    map.dragPan.enable();
    state.lasso = null;
    map.getSource(LASSO)?.setData({ type: 'FeatureCollection', features: [] });
  }
}

function lassoOn() {
  return $('terr-lasso').getAttribute('aria-pressed') === 'true';
}

function drawLasso(map, points, closed) {
  const ring = points.map((p) => map.unproject(p).toArray());
  if (closed && ring.length > 2) {
    ring.push(ring[0]);
  }
  map.getSource(LASSO).setData({
    type: 'Feature',
    properties: {},
    geometry: { type: 'LineString', coordinates: ring.length > 1 ? ring : [] },
  });
}

/**
 * The accounts a lasso may take: all of the plan's (GeoJSON mode), or in tile mode those drawn
 * under the lasso's bounding box (thinned at low zooms: one per spot).
 */
function lassoCandidates(map, points) {
  if (!state.tileSet) {
    return state.accounts.features;
  }
  const xs = points.map((p) => p[0]);
  const ys = points.map((p) => p[1]);
  const box = [[Math.min(...xs), Math.min(...ys)], [Math.max(...xs), Math.max(...ys)]];
  const byId = new Map();
  for (const f of map.queryRenderedFeatures(box, { layers: [ACCOUNTS] })) {
    const account = renderedAccount(f);
    byId.set(account.id, account);
    state.accountsById.set(account.id, account);
  }
  return [...byId.values()];
}

function enableMapSelection(map, mapEl) {
  map.on('idle', () => refreshViewAccounts(map));
  map.on('mouseenter', ACCOUNTS, () => mapEl.classList.add('map--over-account'));
  map.on('mouseleave', ACCOUNTS, () => mapEl.classList.remove('map--over-account'));
  map.on('click', ACCOUNTS, (event) => {
    if (lassoOn()) {
      return;
    }
    const hit = event.features?.[0];
    if (!hit) {
      return;
    }
    const id = String(hit.id ?? hit.properties.id);
    if (event.originalEvent?.shiftKey) {
      toggleSelected(id);
    } else {
      setSelection([id]);
    }
  });

  const canvas = map.getCanvas();
  canvas.addEventListener('pointerdown', (event) => {
    if (!lassoOn() || event.button !== 0) {
      return;
    }
    const box = canvas.getBoundingClientRect();
    state.lasso = { points: [[event.clientX - box.left, event.clientY - box.top]], add: event.shiftKey };
    canvas.setPointerCapture(event.pointerId);
    event.preventDefault();
  });
  canvas.addEventListener('pointermove', (event) => {
    if (!state.lasso) {
      return;
    }
    const box = canvas.getBoundingClientRect();
    const point = [event.clientX - box.left, event.clientY - box.top];
    const last = state.lasso.points[state.lasso.points.length - 1];
    if (Math.hypot(point[0] - last[0], point[1] - last[1]) >= 3) {
      state.lasso.points.push(point);
      drawLasso(map, state.lasso.points, false);
    }
  });
  const finish = (event) => {
    if (!state.lasso) {
      return;
    }
    const { points, add } = state.lasso;
    state.lasso = null;
    if (canvas.hasPointerCapture?.(event.pointerId)) {
      canvas.releasePointerCapture(event.pointerId);
    }
    if (points.length >= 3) {
      const ids = lassoCandidates(map, points)
        .filter((f) => {
          const at = map.project(f.geometry.coordinates);
          return insidePolygon([at.x, at.y], points);
        })
        .map((f) => String(f.properties.id));
      drawLasso(map, points, true);
      const ring = points.map((p) => map.unproject(p).toArray());
      ring.push(ring[0]);
      state.lastLasso = ring;
      renderRuleForm();
      setSelection(ids, { add: add || event.shiftKey });
      setStatus(`Lasso selected ${fmt.int(ids.length)} accounts`);
    }
    window.setTimeout(() => setLassoMode(false), 400);
  };
  canvas.addEventListener('pointerup', finish);
  canvas.addEventListener('pointercancel', finish);
}

// ------------------------------------------------------------------------------------------
// Actions

async function createPlan(event) {
  event.preventDefault();
  const name = $('terr-new-name').value.trim();
  const method = $('terr-new-method').value;
  const tolerancePct = Number($('terr-new-tolerance').value);
  if (!name) {
    throw new ApiError('Give the new plan a name.');
  }
  const body = { name, method };
  if (Number.isFinite(tolerancePct) && tolerancePct > 0) {
    body.tolerance = tolerancePct / 100;
  }
  if ((method === 'copy' || method === 'stability') && state.plan) {
    body.from_plan_id = state.plan.id;
  }
  const centres = $('terr-new-centres').value;
  if (method === 'balanced' && centres !== 'kmeans') {
    body.use_home_bases = true;
    body.travel = centres === 'homes_drive' ? 'drive_time' : 'straight_line';
  }
  const created = await api(`/api/teams/${encodeURIComponent(state.team.id)}/plans`, { method: 'POST', body });
  $('terr-new').open = false;
  $('terr-new-name').value = '';
  state.selected.clear();
  await loadPlans(created.id);
  $('terr-plan').focus();
}

async function deleteDraft() {
  const del = $('terr-delete');
  if (del.dataset.armed !== 'true') {
    del.dataset.armed = 'true';
    del.textContent = 'Confirm: delete this draft';
    setStatus('Press again to delete the draft');
    return;
  }
  disarm(del, 'Delete draft');
  await api(`/api/plans/${encodeURIComponent(state.plan.id)}`, { method: 'DELETE' });
  state.plan = null;
  await loadPlans();
}

/** Publishes a copy of a superseded plan, after a second press. */
async function rollback() {
  const roll = $('terr-rollback');
  if (roll.dataset.armed !== 'true') {
    roll.dataset.armed = 'true';
    roll.textContent = 'Confirm: publish this plan again';
    setStatus('Press again to publish a copy of this plan and queue its CRM owner changes');
    return;
  }
  disarm(roll, 'Roll back to this plan');
  const result = await api(`/api/plans/${encodeURIComponent(state.plan.id)}/rollback`, { method: 'POST' });
  showPublished(result);
  await loadPlans(result?.published);
}

function disarm(control, label) {
  control.dataset.armed = 'false';
  control.textContent = label;
}

async function moveSelected() {
  const territoryId = $('terr-move-to').value;
  const ids = [...state.selected];
  if (ids.length === 0 || !territoryId) {
    return;
  }
  const planId = state.plan.id;
  const plan = await api(`/api/plans/${encodeURIComponent(planId)}/moves`, {
    method: 'POST',
    body: { account_ids: ids, territory_id: territoryId },
  });
  // A move changes which territory accounts and cells belong to, not where they are: the
  // tile set (bounds, zooms) stays, and asking for it again costs an extent query over the
  // whole plan (about 0.1 s at 200,000 accounts). The tiles themselves are asked for again.
  const data = await planData(plan, state.tileSet);
  state.selected.clear();
  await applyPlan(plan, data);
  clearReview();
  setStatus(`Moved ${fmt.int(ids.length)} ${ids.length === 1 ? 'account' : 'accounts'} to ${territoryName(territoryId)}`);
}

async function rebalance() {
  const pct = Number($('terr-tolerance').value);
  const body = Number.isFinite(pct) && pct > 0 ? { tolerance: pct / 100 } : {};
  await api(`/api/plans/${encodeURIComponent(state.plan.id)}/rebalance`, { method: 'POST', body });
  clearReview();
  await showPlan(state.plan.id);
}

function metricsTable(a, b) {
  const table = element('table', 'table terr-compare');
  const head = element('tr');
  head.append(element('th', null, 'Metric'), element('th', null, a.name), element('th', null, b.name));
  const thead = element('thead');
  thead.append(head);
  const tbody = element('tbody');
  for (const [key, label, format] of METRIC_ROWS) {
    if (a.metrics?.[key] === undefined && b.metrics?.[key] === undefined) {
      continue;
    }
    const tr = element('tr');
    tr.append(element('th', null, label), element('td', 'terr-num', format(a.metrics?.[key])), element('td', 'terr-num', format(b.metrics?.[key])));
    tbody.append(tr);
  }
  const byId = new Map((b.territories ?? []).map((t) => [t.id, t]));
  for (const t of a.territories ?? []) {
    const other = byId.get(t.id);
    const tr = element('tr');
    tr.append(
      element('th', null, `${t.name}: accounts / hours`),
      element('td', 'terr-num', `${fmt.int(t.accounts)} / ${fmt.hours(t.workload)}`),
      element('td', 'terr-num', other ? `${fmt.int(other.accounts)} / ${fmt.hours(other.workload)}` : '—'),
    );
    tbody.append(tr);
  }
  table.append(thead, tbody);
  return table;
}

async function compare() {
  const other = $('terr-compare-with').value;
  if (!other) {
    return;
  }
  const url = `/api/plans/compare?a=${encodeURIComponent(state.plan.id)}&b=${encodeURIComponent(other)}`;
  const result = await api(url);
  const out = $('terr-compare-result');
  out.replaceChildren(
    metricsTable(result.a, result.b),
    element('p', null, `Between them ${fmt.int(result.moved_accounts)} accounts (value ${fmt.int(result.moved_value)}) are in different territories.`),
  );
}

function clearReview() {
  $('terr-diff-result').replaceChildren();
  $('terr-preview-result').replaceChildren();
  $('terr-confirm').hidden = true;
}

function describeSide(side) {
  if (!side) {
    return '—';
  }
  return side.rep_name && side.rep_name !== side.name ? `${side.name} (${side.rep_name})` : (side.name ?? '—');
}

async function showDiff() {
  const diff = await api(`/api/plans/${encodeURIComponent(state.plan.id)}/diff`);
  const out = $('terr-diff-result');
  const table = element('table', 'table terr-diff');
  table.id = 'terr-diff-table';
  const caption = element('caption', null, `Changes against the published plan: ${fmt.int(diff.moved_accounts)} accounts, value ${fmt.int(diff.moved_value)}`);
  const thead = element('thead');
  const head = element('tr');
  for (const label of ['Account', 'From', 'To', 'Value']) {
    const th = element('th', null, label);
    th.scope = 'col';
    head.append(th);
  }
  thead.append(head);
  const tbody = element('tbody');
  for (const change of diff.changes ?? []) {
    const tr = element('tr');
    tr.dataset.accountId = change.account_id;
    const name = element('span', 'terr-account-name', change.name);
    name.title = change.name ?? '';
    const nameCell = element('td');
    nameCell.append(name);
    tr.append(
      nameCell,
      element('td', null, describeSide(change.from)),
      element('td', null, `→ ${describeSide(change.to)}`),
      element('td', 'terr-num', fmt.int(change.annual_value)),
    );
    tbody.append(tr);
  }
  const tfoot = element('tfoot');
  const total = element('tr');
  total.append(element('th', null, `${fmt.int(diff.moved_accounts)} accounts`), element('td'), element('td'), element('td', 'terr-num', fmt.int(diff.moved_value)));
  tfoot.append(total);
  table.append(caption, thead, tbody, tfoot);
  const owners = (diff.owner_changes ?? []).length;
  out.replaceChildren(
    (diff.changes ?? []).length ? table : element('p', null, 'No account changes territory against the published plan.'),
    element('p', null, `${fmt.int(owners)} CRM ${owners === 1 ? 'owner changes' : 'owner changes'} when published.`),
  );
  return diff;
}

async function previewCalls() {
  const calls = await api(`/api/plans/${encodeURIComponent(state.plan.id)}/writeback-preview`);
  const out = $('terr-preview-result');
  if (!Array.isArray(calls) || calls.length === 0) {
    out.replaceChildren(element('p', null, 'Publishing would make no CRM calls (no owner changes, or their connections do not write back).'));
    return;
  }
  const purposes = { read_owners: 'read the current owners', write_owners: 'write the new owners' };
  const list = element('ol', 'terr-calls');
  for (const call of calls) {
    const item = element('li');
    const what = [call.connection, purposes[call.purpose] ?? call.purpose].filter(Boolean).join(', ');
    const records = Number.isFinite(call.records) ? ` (${fmt.int(call.records)} ${call.records === 1 ? 'record' : 'records'})` : '';
    item.append(
      element('p', 'terr-calls__what', `${what}${records}`),
      element('p', 'terr-calls__head', `${call.method} ${call.url}`),
    );
    if (call.body !== undefined && call.body !== null) {
      item.append(element('pre', 'terr-calls__body', JSON.stringify(call.body, null, 2)));
    }
    if (call.note) {
      item.append(element('p', 'terr__hint', call.note));
    }
    list.append(item);
  }
  out.replaceChildren(element('p', null, `${fmt.int(calls.length)} CRM ${calls.length === 1 ? 'call' : 'calls'}:`), list);
}

async function askPublish() {
  const diff = await showDiff();
  const owners = (diff.owner_changes ?? []).length;
  $('terr-confirm-text').textContent = `Publish "${state.plan.name}"? ${fmt.int(diff.moved_accounts)} accounts change territory and ${fmt.int(owners)} CRM owner changes will be queued. The published plan becomes superseded.`;
  $('terr-confirm').hidden = false;
  $('terr-confirm-yes').focus();
}

async function publish() {
  const planId = state.plan.id;
  const result = await api(`/api/plans/${encodeURIComponent(planId)}/publish`, { method: 'POST' });
  $('terr-confirm').hidden = true;
  const link = showPublished({ published: planId, ...result });
  await loadPlans(planId);
  $('terr-diff-result').replaceChildren();
  $('terr-preview-result').replaceChildren();
  link.focus();
}

/** Says what publishing did, with the way to the outbox; returns the link. */
function showPublished(result) {
  const link = element('a', 'terr-outbox-link', 'Open the CRM outbox');
  // The outbox page filters by plan: open it on this publication's owner changes.
  const url = new URL(config.outboxUrl, window.location.href);
  if (result?.published) {
    url.searchParams.set('plan', result.published);
  }
  link.href = `${url.pathname}${url.search}`;
  const message = element('p', null, `Published. ${fmt.int(result?.queued ?? 0)} CRM owner changes queued, ${fmt.int(result?.skipped ?? 0)} skipped. `);
  message.append(link);
  $('terr-published').replaceChildren(message);
  if (result?.published) {
    root.dataset.published = result.published;
  }
  return link;
}


// ------------------------------------------------------------------------------------------
// Rules

const RULE_KINDS = {
  named: 'Named accounts',
  postal_code: 'Postal codes',
  attribute: 'Tier or value',
  polygon: 'Drawn area',
};

function splitList(text) {
  return text.split(',').map((part) => part.trim()).filter(Boolean);
}

function describeRule(rule) {
  switch (rule.kind) {
    case 'named': {
      const n = rule.account_ids?.length ?? 0;
      return `${fmt.int(n)} named ${n === 1 ? 'account' : 'accounts'}`;
    }
    case 'postal_code': {
      const parts = [...(rule.postal_codes ?? []), ...(rule.postal_prefixes ?? []).map((p) => `${p}…`)];
      return `${rule.country_code ?? ''} ${parts.join(', ')}`.trim();
    }
    case 'attribute': {
      const p = rule.predicate ?? {};
      const parts = [];
      if (p.tiers?.length) {
        parts.push(`tier ${p.tiers.join('/')}`);
      }
      if (p.industries?.length) {
        parts.push(p.industries.join(', '));
      }
      if (Number.isFinite(p.min_value)) {
        parts.push(`value ≥ ${fmt.int(p.min_value)}`);
      }
      if (Number.isFinite(p.max_value)) {
        parts.push(`value ≤ ${fmt.int(p.max_value)}`);
      }
      return parts.join(', ') || 'any account';
    }
    case 'polygon':
      return 'accounts inside a drawn area';
    default:
      return rule.kind;
  }
}

/** The rule as PUT /api/rules/{id} takes it (only the fields its kind uses). */
function ruleInput(rule, changes = {}) {
  const input = { kind: rule.kind, territory_id: rule.territory_id, name: rule.name, enabled: rule.enabled };
  if (rule.kind === 'named') {
    input.account_ids = rule.account_ids ?? [];
  } else if (rule.kind === 'postal_code') {
    input.country_code = rule.country_code;
    input.postal_codes = rule.postal_codes ?? [];
    input.postal_prefixes = rule.postal_prefixes ?? [];
  } else if (rule.kind === 'attribute') {
    input.predicate = rule.predicate ?? {};
  } else if (rule.kind === 'polygon') {
    input.area = rule.area;
  }
  return { ...input, ...changes };
}

async function loadRules() {
  if (!state.team) {
    return;
  }
  state.rules = await api(`/api/teams/${encodeURIComponent(state.team.id)}/rules`);
  renderRules();
}

function renderRules() {
  const list = $('terr-rules');
  const rules = [...(state.rules ?? [])].sort((a, b) => a.position - b.position);
  if (rules.length === 0) {
    list.replaceChildren(element('li', 'terr-rules__empty', 'No rules: plans follow today\'s owners or the optimizer.'));
  } else {
    list.replaceChildren(...rules.map((rule, index) => {
      const item = element('li', 'terr-rule');
      item.dataset.ruleId = rule.id;
      const title = rule.name || RULE_KINDS[rule.kind] || rule.kind;
      const text = element('span', 'terr-rule__text');
      text.append(
        swatch(state.territoriesById.get(rule.territory_id)?.color),
        element('strong', null, title),
        element('span', null, `: ${describeRule(rule)} → ${territoryName(rule.territory_id)}`),
      );
      const enabled = element('input');
      enabled.type = 'checkbox';
      enabled.checked = rule.enabled;
      enabled.setAttribute('aria-label', `Rule "${title}" enabled`);
      enabled.addEventListener('change', () => guarded(async () => {
        await api(`/api/rules/${encodeURIComponent(rule.id)}`, { method: 'PUT', body: ruleInput(rule, { enabled: enabled.checked }) });
        await loadRules();
      }));
      const up = button('↑', 'terr-rule__move');
      up.setAttribute('aria-label', `Move rule "${title}" up`);
      up.disabled = index === 0;
      up.addEventListener('click', () => guarded(() => reorderRule(rules, index, -1)));
      const down = button('↓', 'terr-rule__move');
      down.setAttribute('aria-label', `Move rule "${title}" down`);
      down.disabled = index === rules.length - 1;
      down.addEventListener('click', () => guarded(() => reorderRule(rules, index, 1)));
      const remove = button('Delete', 'terr-rule__delete');
      remove.setAttribute('aria-label', `Delete rule "${title}"`);
      remove.addEventListener('click', () => guarded(async () => {
        await api(`/api/rules/${encodeURIComponent(rule.id)}`, { method: 'DELETE' });
        await loadRules();
        setStatus(`Rule "${title}" deleted`);
      }));
      const tools = element('span', 'terr-rule__tools');
      tools.append(enabled, up, down, remove);
      item.append(text, tools);
      return item;
    }));
  }
  drawRuleAreas(rules);
}

async function reorderRule(rules, index, by) {
  const ids = rules.map((r) => r.id);
  const [moved] = ids.splice(index, 1);
  ids.splice(index + by, 0, moved);
  await api(`/api/teams/${encodeURIComponent(state.team.id)}/rules/order`, { method: 'POST', body: { ids } });
  await loadRules();
}

async function drawRuleAreas(rules) {
  const map = await state.mapReady?.catch(() => null);
  if (!map) {
    return;
  }
  const features = rules
    .filter((r) => r.kind === 'polygon' && r.area)
    .map((r) => ({
      type: 'Feature',
      properties: { color: state.territoriesById.get(r.territory_id)?.color ?? UNASSIGNED_COLOUR, enabled: r.enabled },
      geometry: r.area,
    }));
  map.getSource(RULE_AREAS)?.setData({ type: 'FeatureCollection', features });
}

function renderRuleForm() {
  const kind = $('terr-rule-kind').value;
  for (const part of $('terr-rule-form').querySelectorAll('[data-rule-kind]')) {
    part.hidden = part.dataset.ruleKind !== kind;
  }
  const count = state.selected.size;
  $('terr-rule-named-note').textContent = count
    ? `The ${fmt.int(count)} selected ${count === 1 ? 'account goes' : 'accounts go'} to this territory, whatever the other rules say.`
    : 'Select accounts first (on the map or in the list below).';
  $('terr-rule-area-note').textContent = state.lastLasso
    ? 'Accounts inside the last lasso you drew go to this territory.'
    : 'Draw an area with the Lasso first.';
}

async function addRule() {
  const kind = $('terr-rule-kind').value;
  const body = { kind, territory_id: $('terr-rule-territory').value, name: $('terr-rule-name').value.trim() };
  if (kind === 'named') {
    if (state.selected.size === 0) {
      throw new ApiError('Select the accounts the rule names first.');
    }
    body.account_ids = [...state.selected];
  } else if (kind === 'postal_code') {
    body.country_code = $('terr-rule-country').value.trim();
    body.postal_codes = splitList($('terr-rule-codes').value);
    body.postal_prefixes = splitList($('terr-rule-prefixes').value);
  } else if (kind === 'attribute') {
    const predicate = {};
    const tiers = [...document.querySelectorAll('input[name="terr-rule-tier"]:checked')].map((b) => b.value);
    if (tiers.length) {
      predicate.tiers = tiers;
    }
    const min = $('terr-rule-min').value;
    const max = $('terr-rule-max').value;
    if (min !== '') {
      predicate.min_value = Number(min);
    }
    if (max !== '') {
      predicate.max_value = Number(max);
    }
    body.predicate = predicate;
  } else if (kind === 'polygon') {
    if (!state.lastLasso) {
      throw new ApiError('Draw the area with the Lasso first.');
    }
    body.area = { type: 'Polygon', coordinates: [state.lastLasso] };
  }
  await api(`/api/teams/${encodeURIComponent(state.team.id)}/rules`, { method: 'POST', body });
  $('terr-rule-name').value = '';
  await loadRules();
  setStatus(`Rule added: new plans made with "rules" or "balanced" follow it`);
}

// ------------------------------------------------------------------------------------------
// Workload model (per tier)

const WORKLOAD_FIELDS = [
  ['visits_per_year', 'visits per year', 366],
  ['service_minutes', 'service minutes', 1440],
  ['travel_minutes', 'travel minutes', 1440],
];

/** Shows the team's settings; the card stays hidden when the server does not offer them. */
async function loadWorkloadModel() {
  const card = $('terr-workload-card');
  if (!card) {
    return;
  }
  let settings;
  try {
    settings = await api(`/api/teams/${encodeURIComponent(state.team.id)}/workload`);
  } catch {
    card.hidden = true;
    return;
  }
  if (!Array.isArray(settings)) {
    card.hidden = true;
    return;
  }
  const rows = settings.map((setting) => {
    const tr = element('tr');
    tr.dataset.tier = setting.tier;
    const th = element('th', null, setting.tier);
    th.scope = 'row';
    tr.append(th);
    for (const [key, words, max] of WORKLOAD_FIELDS) {
      const input = element('input');
      input.type = 'number';
      input.min = '0';
      input.max = String(max);
      input.step = '1';
      input.name = key;
      input.placeholder = 'default';
      input.value = setting[key] ?? '';
      input.setAttribute('aria-label', `Tier ${setting.tier} ${words}`);
      const td = element('td');
      td.append(input);
      tr.append(td);
    }
    return tr;
  });
  $('terr-workload-rows').replaceChildren(...rows);
  card.hidden = false;
}

async function saveWorkloadModel() {
  const settings = [...$('terr-workload-rows').querySelectorAll('tr[data-tier]')].map((tr) => {
    const setting = { tier: tr.dataset.tier };
    for (const [key] of WORKLOAD_FIELDS) {
      const raw = tr.querySelector(`input[name="${key}"]`).value.trim();
      setting[key] = raw === '' ? null : Number(raw);
    }
    return setting;
  });
  await api(`/api/teams/${encodeURIComponent(state.team.id)}/workload`, { method: 'PUT', body: settings });
  await loadWorkloadModel();
  setStatus('Workload model saved: plans made from now on use it');
}

// ------------------------------------------------------------------------------------------
// Wiring

function wire() {
  $('terr-team').addEventListener('change', (e) => guarded(() => {
    state.fitted = false;
    state.selected.clear();
    return chooseTeam(e.target.value);
  }));
  $('terr-plan').addEventListener('change', (e) => guarded(() => {
    clearReview();
    $('terr-compare-result').replaceChildren();
    $('terr-published').replaceChildren();
    return showPlan(e.target.value);
  }));
  $('terr-new-form').addEventListener('submit', (e) => {
    e.preventDefault();
    guarded(() => createPlan(e));
  });
  $('terr-delete').addEventListener('click', () => guarded(deleteDraft));
  $('terr-delete').addEventListener('blur', () => disarm($('terr-delete'), 'Delete draft'));
  $('terr-rollback').addEventListener('click', () => guarded(rollback));
  $('terr-rollback').addEventListener('blur', () => disarm($('terr-rollback'), 'Roll back to this plan'));
  $('terr-move').addEventListener('click', () => guarded(moveSelected));
  $('terr-rebalance').addEventListener('click', () => guarded(rebalance));
  $('terr-compare').addEventListener('click', () => guarded(compare));
  $('terr-diff').addEventListener('click', () => guarded(showDiff));
  $('terr-preview').addEventListener('click', () => guarded(previewCalls));
  $('terr-publish').addEventListener('click', () => guarded(askPublish));
  $('terr-confirm-yes').addEventListener('click', () => guarded(publish));
  $('terr-confirm-no').addEventListener('click', () => {
    $('terr-confirm').hidden = true;
    $('terr-publish').focus();
  });
  $('terr-lasso').addEventListener('click', () => setLassoMode(!lassoOn()));
  $('terr-rule-kind').addEventListener('change', renderRuleForm);
  // Optional: a page rendered from an older template has no workload card.
  $('terr-workload-form')?.addEventListener('submit', (e) => {
    e.preventDefault();
    guarded(saveWorkloadModel);
  });
  $('terr-rule-form').addEventListener('submit', (e) => {
    e.preventDefault();
    guarded(addRule);
  });
  $('terr-clear').addEventListener('click', () => setSelection([]));
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && lassoOn()) {
      setLassoMode(false);
    }
  });
  let searchTimer = null;
  $('terr-search').addEventListener('input', () => {
    window.clearTimeout(searchTimer);
    searchTimer = window.setTimeout(renderList, 120);
  });
  const list = $('terr-list');
  $('terr-list-all').addEventListener('change', (event) => {
    for (const box of list.querySelectorAll('input[data-account-id]')) {
      if (event.target.checked) {
        state.selected.add(box.dataset.accountId);
      } else {
        state.selected.delete(box.dataset.accountId);
      }
    }
    renderSelection();
  });
  list.addEventListener('change', (event) => {
    const box = event.target.closest('input[data-account-id]');
    if (box) {
      if (box.checked) {
        state.selected.add(box.dataset.accountId);
      } else {
        state.selected.delete(box.dataset.accountId);
      }
      renderSelection();
    }
  });
  list.addEventListener('click', (event) => {
    const show = event.target.closest('button[data-show]');
    if (show) {
      focusAccountOnMap(show.dataset.show);
    }
  });
}

async function main() {
  wire();
  try {
    createMap();
  } catch (error) {
    $('terr-map').dataset.state = 'error';
    showAlert(error instanceof ApiError ? error.message : 'The map could not be shown in this browser.');
  }
  await guarded(loadTeams);
}

main();
