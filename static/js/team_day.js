// The manager's Team day page: plan every rep's day at once (balanced: the longest day as short
// as it can be), see the days side by side and on one map, move a stop to another rep.
//
// Plain ES module; configuration from data attributes on #team-day; server data goes into
// the page with textContent only.

import { createMap, whenLoaded } from './lib/basemap.js';

const root = document.getElementById('team-day');
const config = {
  csrf: root.dataset.csrf,
  styleUrl: root.dataset.styleUrl || null,
  workerUrl: root.dataset.workerUrl || null,
};
const $ = (id) => document.getElementById(id);
const COLOURS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
let pins = [];
let team = null;
let map = null;

function element(tag, text) {
  const el = document.createElement(tag);
  if (text !== undefined) el.textContent = text;
  return el;
}

function duration(seconds) {
  const minutes = Math.round(seconds / 60);
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, '0')}`;
}

function clock(rfc3339) {
  const match = /T(\d{2}):(\d{2})/.exec(rfc3339);
  return match ? `${match[1]}:${match[2]}` : '';
}

async function plan() {
  $('status').textContent = 'Planning every rep\'s day…';
  root.dataset.state = 'loading';
  const response = await fetch(`/api/teams/${$('team').value}/days/${$('day').value}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'x-csrf-token': config.csrf },
    body: JSON.stringify({ ignore_territories: $('ignore-territories').checked, pins }),
  });
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    root.dataset.state = 'error';
    $('status').textContent = `Could not plan: ${body?.error?.message ?? response.status}`;
    return;
  }
  team = body;
  render(team);
  loadVisits();
  root.dataset.state = 'ready';
  $('status').textContent = `Planned ${team.reps.reduce((n, r) => n + r.totals.stops, 0)} stops for ${team.reps.length} reps.`;
}

function render(t) {
  $('estimated').hidden = t.travel_source !== 'estimated';
  $('balance').textContent = `Longest day ${duration(t.longest_day_s)}, mean ${duration(t.mean_day_s)}, total driving ${duration(t.total_drive_s)}.`;
  const rows = $('days');
  rows.replaceChildren();
  t.reps.forEach((r) => {
    const tr = element('tr');
    tr.dataset.repId = r.rep_id;
    tr.append(
      element('th', r.rep_name),
      element('td', String(r.totals.stops)),
      element('td', duration(r.totals.day_s)),
      element('td', duration(r.totals.drive_s)),
      element('td', r.totals.stops ? `${clock(r.departure)}–${clock(r.end)}` : '—'),
    );
    tr.firstChild.scope = 'row';
    rows.append(tr);
  });
  const stopSelect = $('move-stop');
  const repSelect = $('move-rep');
  stopSelect.replaceChildren();
  repSelect.replaceChildren();
  t.reps.forEach((r) => {
    const option = element('option', r.rep_name);
    option.value = r.rep_id;
    repSelect.append(option);
    for (const s of r.stops) {
      const o = element('option', `${s.name} (${r.rep_name})`);
      o.value = s.account_id;
      stopSelect.append(o);
    }
  });
  const dropped = $('team-dropped');
  dropped.replaceChildren();
  for (const d of t.dropped) {
    dropped.append(element('li', `${d.name} — ${d.reason_text}`));
  }
  $('team-dropped-section').hidden = t.dropped.length === 0;
  draw(t).catch(() => { $('team-map').hidden = true; });
}

async function draw(t) {
  if (typeof maplibregl === 'undefined') {
    $('team-map').hidden = true;
    return;
  }
  const features = t.reps.flatMap((r, i) => [
    { type: 'Feature', properties: { colour: COLOURS[i % COLOURS.length] }, geometry: { type: 'LineString', coordinates: r.line } },
    ...r.stops.map((s) => ({ type: 'Feature', properties: { colour: COLOURS[i % COLOURS.length] }, geometry: { type: 'Point', coordinates: s.location } })),
  ]).filter((f) => f.geometry.type === 'Point' || f.geometry.coordinates.length > 1);
  const data = { type: 'FeatureCollection', features };
  if (!map) {
    map = createMap($('team-map'), config, { land: '#eef1ec' });
    await whenLoaded(map, () => {});
    map.addSource('team', { type: 'geojson', data });
    map.addLayer({ id: 'lines', type: 'line', source: 'team', filter: ['==', ['geometry-type'], 'LineString'], paint: { 'line-color': ['get', 'colour'], 'line-width': 3 } });
    map.addLayer({ id: 'stops', type: 'circle', source: 'team', filter: ['==', ['geometry-type'], 'Point'], paint: { 'circle-color': ['get', 'colour'], 'circle-radius': 5, 'circle-stroke-color': '#fff', 'circle-stroke-width': 1 } });
  } else {
    map.getSource('team').setData(data);
  }
  const coords = features.flatMap((f) => (f.geometry.type === 'Point' ? [f.geometry.coordinates] : f.geometry.coordinates));
  if (coords.length > 1) {
    const bounds = coords.reduce((b, c) => b.extend(c), new maplibregl.LngLatBounds(coords[0], coords[0]));
    map.fitBounds(bounds, { padding: 30, maxZoom: 15, duration: 0 });
  }
}

$('team-form').addEventListener('submit', (event) => {
  event.preventDefault();
  pins = [];
  plan();
});

$('move').addEventListener('submit', (event) => {
  event.preventDefault();
  const accountId = $('move-stop').value;
  pins = pins.filter((p) => p.account_id !== accountId);
  pins.push({ account_id: accountId, rep_id: $('move-rep').value });
  plan();
});

/** The visits the team logged on the chosen day; those logged far from the account flagged. */
async function loadVisits() {
  const response = await fetch(`/api/teams/${$('team').value}/visits/${$('day').value}`, { headers: { Accept: 'application/json' } });
  const body = await response.json().catch(() => null);
  const list = $('visits');
  list.replaceChildren();
  if (!response.ok || !body) {
    return;
  }
  for (const v of body.visits) {
    const text = `${clock(v.visited_at)} ${v.account_name}${v.far_from_account ? ` — logged ${Math.round(v.distance_m)} m away: not counted` : ''}`;
    const li = element('li', text);
    if (v.far_from_account) li.className = 'visit--flagged';
    list.append(li);
  }
  $('visits-summary').textContent = body.visits.length
    ? `${body.visits.length} visits, ${body.flagged} logged far from the account.`
    : 'No visits logged on this day yet.';
}
