// The manager's live map (docs/live.md, "The live map"): one socket per team, a snapshot first,
// then every stored position and alert of the team's reps, from any server instance.
//
// Plain ES module. Configuration comes from data attributes on #live (the CSP forbids inline
// scripts); everything from the server goes into the page with textContent.

import { createMap, whenLoaded } from './lib/basemap.js';

const root = document.getElementById('live');
const config = {
  styleUrl: root.dataset.styleUrl || null,
  workerUrl: root.dataset.workerUrl || null,
};
const $ = (id) => document.getElementById(id);
const clock = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
const FLAG_WORDS = {
  too_fast: 'too fast',
  teleport: 'jump',
  unreal_accuracy: 'impossible accuracy',
  repeated_position: 'frozen position',
  round_coordinates: 'typed-in position',
};

const state = {
  socket: null,
  team: null,
  reps: new Map(),
  map: null,
  mapReady: false,
  retry: 1000,
};

function element(tag, className, text) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  if (text !== undefined) el.textContent = text;
  return el;
}

function setStatus(text) {
  $('status').textContent = text;
}

function flagsText(flags) {
  if (!flags?.length) return 'none';
  return flags.map((f) => `${FLAG_WORDS[f.flag] ?? f.flag}: ${f.pings}`).join(', ');
}

function renderReps() {
  const body = $('reps');
  body.replaceChildren();
  const reps = [...state.reps.values()].sort((a, b) => a.name.localeCompare(b.name));
  for (const rep of reps) {
    const tr = element('tr');
    tr.dataset.repId = rep.rep_id;
    const th = element('th', null, rep.name);
    th.scope = 'row';
    const seen = rep.position
      ? `${clock.format(new Date(rep.position.recorded_at))}${rep.position.tier === 'coarse' ? ' (approximate)' : ''}`
      : 'not sharing';
    const flags = element('td', rep.flags_today.length ? 'live-flag' : null, flagsText(rep.flags_today));
    tr.append(th, element('td', 'live-seen', seen), flags);
    body.append(tr);
  }
  drawPositions();
}

function drawPositions() {
  if (!state.mapReady) return;
  const features = [...state.reps.values()]
    .filter((r) => r.position)
    .map((r) => ({
      type: 'Feature',
      geometry: { type: 'Point', coordinates: [r.position.lon, r.position.lat] },
      properties: { rep: r.name, flagged: r.lastFlags?.length > 0, accuracy: r.position.accuracy_m },
    }));
  state.map.getSource('reps')?.setData({ type: 'FeatureCollection', features });
}

function renderAlert(alert, fresh) {
  const list = $('alerts');
  if (list.querySelector(`li[data-alert-id="${CSS.escape(alert.id)}"]`)) return;
  const rep = state.reps.get(alert.rep_id)?.name ?? 'A rep';
  const li = element('li', 'alert');
  li.dataset.alertId = alert.id;
  li.dataset.state = alert.state;
  li.append(element('p', 'alert__title',
    `${clock.format(new Date(alert.created_at))} · ${rep} near ${alert.account_name} (${Math.round(alert.distance_m)} m)`));
  if (fresh) list.prepend(li);
  else list.append(li);
  $('no-alerts').hidden = true;
}

function onSnapshot(map) {
  state.reps = new Map(map.reps.map((r) => [r.rep_id, { ...r }]));
  $('precision').textContent = map.precise
    ? 'Precise positions: each time you open this map it is recorded in the audit log.'
    : 'Positions are rounded to about 150 m.';
  $('alerts').replaceChildren();
  $('no-alerts').hidden = map.alerts.length > 0;
  for (const alert of map.alerts) renderAlert(alert, false);
  renderReps();
}

function onPosition(frame) {
  const rep = state.reps.get(frame.rep_id);
  if (!rep) return;
  rep.position = frame;
  rep.lastFlags = frame.flags;
  for (const f of frame.flags ?? []) {
    const known = rep.flags_today.find((x) => x.flag === f);
    if (known) known.pings += 1;
    else rep.flags_today.push({ flag: f, pings: 1 });
  }
  renderReps();
}

function connect() {
  const team = state.team;
  const scheme = window.location.protocol === 'https:' ? 'wss' : 'ws';
  const socket = new WebSocket(`${scheme}://${window.location.host}/live/team/ws?team=${encodeURIComponent(team)}`);
  state.socket = socket;
  socket.addEventListener('message', (event) => {
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch {
      return;
    }
    if (frame.type === 'snapshot') {
      state.retry = 1000;
      onSnapshot(frame.map);
      setStatus('Live: updates as reps share their location.');
      root.dataset.state = 'ready';
    } else if (frame.type === 'position') {
      onPosition(frame);
    } else if (frame.type === 'alert') {
      renderAlert(frame.alert, true);
    }
  });
  socket.addEventListener('close', () => {
    if (state.socket !== socket) return;
    state.socket = null;
    setStatus('Connection lost; reconnecting…');
    setTimeout(() => { if (state.team === team) connect(); }, state.retry);
    state.retry = Math.min(state.retry * 2, 30000);
  });
}

function choose(team) {
  state.team = team;
  const url = new URL(window.location.href);
  url.searchParams.set('team', team);
  window.history.replaceState(null, '', url);
  const old = state.socket;
  state.socket = null;
  old?.close();
  root.dataset.state = 'loading';
  setStatus('Connecting…');
  connect();
}

async function startMap() {
  try {
    state.map = createMap($('live-map'), config, { land: '#eef1ec' });
    await whenLoaded(state.map, () => {});
    state.map.addSource('reps', { type: 'geojson', data: { type: 'FeatureCollection', features: [] } });
    state.map.addLayer({
      id: 'reps',
      type: 'circle',
      source: 'reps',
      paint: {
        'circle-radius': 8,
        'circle-color': ['case', ['get', 'flagged'], '#d62728', '#1f6feb'],
        'circle-stroke-width': 2,
        'circle-stroke-color': '#ffffff',
      },
    });
    state.mapReady = true;
    drawPositions();
  } catch (error) {
    $('live-map').textContent = error.message;
  }
}

const select = $('team');
const wanted = new URL(window.location.href).searchParams.get('team');
if (wanted && [...select.options].some((o) => o.value === wanted)) select.value = wanted;
select.addEventListener('change', () => choose(select.value));
startMap();
if (select.value) {
  choose(select.value);
} else {
  setStatus('You have no team to watch.');
  root.dataset.state = 'ready';
}
