// The rep's Today page: the planned day (stops with times, the route on the map, what was
// not planned and why), "visited", booking an appointment, re-planning from here, and the
// rep's day settings (shift, break, where the day starts and ends).
//
// Plain ES module. Configuration comes from data attributes on #today (the CSP forbids inline
// scripts); everything from the server goes into the page with textContent.

import { apiClient } from './lib/api.js';
import { createMap, whenLoaded } from './lib/basemap.js';

const root = document.getElementById('today');
const config = {
  repId: root.dataset.repId,
  day: root.dataset.day,
  csrf: root.dataset.csrf,
  isRep: root.dataset.isRep === 'true',
  styleUrl: root.dataset.styleUrl || null,
  workerUrl: root.dataset.workerUrl || null,
};
const $ = (id) => document.getElementById(id);
const timeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });

/** `12 min`, `1 h 05`. */
function duration(seconds) {
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min`;
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, '0')}`;
}

function km(metres) {
  return `${(metres / 1000).toFixed(1)} km`;
}

/** The clock time of an RFC 3339 instant as the rep's offset gives it (not the browser's). */
function clock(rfc3339) {
  const match = /T(\d{2}):(\d{2})/.exec(rfc3339);
  return match ? `${match[1]}:${match[2]}` : timeFormat.format(new Date(rfc3339));
}

function element(tag, className, text) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  if (text !== undefined) el.textContent = text;
  return el;
}

const api = apiClient(config.csrf);

const dayUrl = () => `/api/routes/reps/${config.repId}/days/${config.day}`;
let plan = null;
let map = null;

function setStatus(text) {
  $('status').textContent = text;
}

function renderTotals(p) {
  const t = p.totals;
  const rows = [
    ['Stops', String(t.stops)],
    ['Driving', `${duration(t.drive_s)} · ${km(t.drive_m)}`],
    ['Visits', duration(t.service_s)],
    ['Day', `${clock(p.departure)}–${clock(p.end)} (${duration(t.day_s)})`],
  ];
  const dl = $('totals');
  dl.replaceChildren();
  for (const [term, value] of rows) {
    dl.append(element('dt', '', term), element('dd', '', value));
  }
  const c = p.comparison;
  $('saving').textContent = c.saved_drive_s > 0
    ? `${duration(c.saved_drive_s)} less driving (${c.saved_percent}%) than the order you would have driven (${duration(c.naive_drive_s)}).`
    : 'Your usual order would drive as little as this plan.';
  $('estimated').hidden = p.travel_source !== 'estimated';
}

function stopCard(stop, index) {
  const li = element('li', `stop stop--${stop.kind}`);
  li.dataset.accountId = stop.account_id;
  const head = element('div', 'stop__head');
  head.append(
    element('span', 'stop__number', String(index + 1)),
    element('strong', 'stop__name', stop.name),
    element('span', 'stop__kind', stop.kind === 'appointment' ? 'Appointment' : stop.kind === 'due' ? 'Due a visit' : 'Prospect nearby'),
  );
  const when = element('p', 'stop__times',
    `Arrive ${clock(stop.arrival)}${stop.wait_s > 0 ? `, wait ${duration(stop.wait_s)}` : ''}, visit ${clock(stop.start)}–${clock(stop.departure)} · ${duration(stop.drive_s)} drive`);
  li.append(head, when);
  if (stop.far_from_road) {
    li.append(element('p', 'stop__warn', 'This address is far from any road: check the pin.'));
  }
  const actions = element('div', 'stop__actions');
  const nav = element('a', 'stop__nav', 'Navigate');
  nav.href = /iPhone|iPad/.test(navigator.userAgent) ? stop.navigate.apple : stop.navigate.geo;
  nav.rel = 'noopener';
  const google = element('a', 'stop__nav', 'Google Maps');
  google.href = stop.navigate.google;
  google.rel = 'noopener';
  google.target = '_blank';
  actions.append(nav, google);
  if (config.isRep) {
    const visited = element('button', 'stop__visited', 'Visited');
    visited.type = 'button';
    visited.addEventListener('click', () => markVisited(stop, visited));
    actions.append(visited);
  }
  li.append(actions);
  return li;
}

function renderStops(p) {
  const list = $('stops');
  list.replaceChildren();
  p.stops.forEach((stop, i) => {
    const card = stopCard(stop, i);
    list.append(card);
    if (p.break && p.break.before_stop === i) {
      card.before(element('li', 'stop stop--break', `Break ${clock(p.break.start)}–${clock(p.break.end)}`));
    }
  });
  if (p.break && p.break.before_stop >= p.stops.length) {
    list.append(element('li', 'stop stop--break', `Break ${clock(p.break.start)}–${clock(p.break.end)}`));
  }
  $('no-stops').hidden = p.stops.length > 0;
  const dropped = $('dropped');
  dropped.replaceChildren();
  for (const d of p.dropped) {
    const li = element('li', 'dropped__item');
    li.append(element('strong', '', d.name), document.createTextNode(` — ${d.reason_text}`));
    dropped.append(li);
  }
  $('dropped-section').hidden = p.dropped.length === 0;
  $('dropped-title').textContent = `Not planned (${p.dropped.length})`;
}

function routeData(p) {
  return {
    line: { type: 'Feature', properties: {}, geometry: { type: 'LineString', coordinates: p.geometry } },
    stops: {
      type: 'FeatureCollection',
      features: p.stops.map((s, i) => ({
        type: 'Feature',
        properties: { n: i + 1, kind: s.kind },
        geometry: { type: 'Point', coordinates: s.location },
      })),
    },
  };
}

async function drawMap(p) {
  const mapEl = $('route-map');
  if (typeof maplibregl === 'undefined') {
    mapEl.hidden = true;
    return;
  }
  const data = routeData(p);
  if (!map) {
    map = createMap(mapEl, config, { land: '#eef1ec' });
    await whenLoaded(map, () => {});
    map.addSource('route', { type: 'geojson', data: data.line });
    map.addSource('stops', { type: 'geojson', data: data.stops });
    map.addLayer({ id: 'route', type: 'line', source: 'route', paint: { 'line-color': '#1f77b4', 'line-width': 4 } });
    map.addLayer({
      id: 'stops', type: 'circle', source: 'stops',
      paint: {
        'circle-radius': 7,
        'circle-color': ['match', ['get', 'kind'], 'appointment', '#d62728', 'prospect', '#2ca02c', '#ff7f0e'],
        'circle-stroke-color': '#ffffff', 'circle-stroke-width': 2,
      },
    });
  } else {
    map.getSource('route').setData(data.line);
    map.getSource('stops').setData(data.stops);
  }
  const coords = p.geometry.length ? p.geometry : p.stops.map((s) => s.location);
  if (coords.length > 1) {
    const bounds = coords.reduce((b, c) => b.extend(c), new maplibregl.LngLatBounds(coords[0], coords[0]));
    map.fitBounds(bounds, { padding: 30, maxZoom: 15, duration: 0 });
  }
}

async function load(url = dayUrl(), method = 'GET', body = undefined) {
  setStatus('Planning your day…');
  try {
    plan = await api(method, url, body);
    renderTotals(plan);
    renderStops(plan);
    root.dataset.state = 'ready';
    setStatus(plan.workday ? `Planned at ${clock(new Date().toISOString())}.` : 'This is not a working day.');
    drawMap(plan).catch(() => { $('route-map').hidden = true; });
  } catch (error) {
    root.dataset.state = 'error';
    setStatus(`Could not plan the day: ${error.message}`);
  }
}

async function markVisited(stop, button) {
  button.disabled = true;
  const eventId = `visit-${crypto.randomUUID()}`;
  try {
    await api('POST', '/api/visits', { event_id: eventId, account_id: stop.account_id, outcome: 'met' });
    await load();
  } catch (error) {
    button.disabled = false;
    setStatus(`Could not log the visit: ${error.message}`);
  }
}

async function fillAccounts() {
  const select = $('book-account');
  try {
    const body = await api('GET', '/api/accounts?limit=5000');
    const accounts = body.features
      .map((f) => ({ id: f.properties.id, name: f.properties.name }))
      .sort((a, b) => a.name.localeCompare(b.name));
    for (const a of accounts) {
      const option = element('option', '', a.name);
      option.value = a.id;
      select.append(option);
    }
  } catch {
    select.disabled = true;
  }
}

/** The offset of the rep's day (`+01:00`) from the plan's times. */
function offsetOf(p) {
  const match = /([+-]\d{2}:\d{2}|Z)$/.exec(p?.departure ?? '');
  return match ? match[1] : 'Z';
}

$('book').addEventListener('submit', async (event) => {
  event.preventDefault();
  $('book-error').hidden = true;
  const start = `${config.day}T${$('book-start').value}:00${offsetOf(plan)}`;
  try {
    await api('POST', '/api/appointments', {
      account_id: $('book-account').value,
      rep_id: config.repId,
      start: new Date(start).toISOString(),
      duration_minutes: Number($('book-minutes').value),
    });
    await load();
  } catch (error) {
    $('book-error').textContent = error.message;
    $('book-error').hidden = false;
  }
});

$('replan').addEventListener('click', () => {
  const replan = (position) => load(`${dayUrl()}/replan`, 'POST', position ? { position } : {});
  if (config.isRep && navigator.geolocation) {
    navigator.geolocation.getCurrentPosition(
      (p) => replan([Number(p.coords.longitude.toFixed(5)), Number(p.coords.latitude.toFixed(5))]),
      () => replan(null),
      { timeout: 5000, maximumAge: 60000 },
    );
  } else {
    replan(null);
  }
});

const settingsUrl = () => `/api/reps/${config.repId}/day-settings`;

/** Shows a stored start or end point: home when there is none. */
function showPoint(name, point, lonId, latId) {
  const choice = point ? 'point' : 'home';
  document.querySelector(`input[name="${name}"][value="${choice}"]`).checked = true;
  $(lonId).value = point ? String(point[0]) : '';
  $(latId).value = point ? String(point[1]) : '';
}

function showSettings(s) {
  $('settings-work-start').value = s.work_start;
  $('settings-work-end').value = s.work_end;
  $('settings-break-minutes').value = String(s.break_minutes);
  $('settings-break-earliest').value = s.break_earliest;
  $('settings-break-latest').value = s.break_latest;
  showPoint('start-from', s.day_start, 'settings-start-lon', 'settings-start-lat');
  showPoint('end-at', s.day_end, 'settings-end-lon', 'settings-end-lat');
}

/** The phone's position, rounded to about a metre. */
function position() {
  return new Promise((resolve, reject) => {
    if (!navigator.geolocation) {
      reject(new Error('this device does not share its position: choose home or a point'));
      return;
    }
    navigator.geolocation.getCurrentPosition(
      (p) => resolve([Number(p.coords.longitude.toFixed(5)), Number(p.coords.latitude.toFixed(5))]),
      () => reject(new Error('your position could not be read: choose home or a point')),
      { timeout: 10000, maximumAge: 60000 },
    );
  });
}

/** `[lon, lat]` of the chosen start or end, or null for home. */
async function chosenPoint(name, lonId, latId) {
  const choice = document.querySelector(`input[name="${name}"]:checked`)?.value ?? 'home';
  if (choice === 'position') return position();
  if (choice !== 'point') return null;
  const lon = $(lonId).value;
  const lat = $(latId).value;
  if (lon === '' || lat === '') throw new Error('give the longitude and latitude of the point');
  return [Number(lon), Number(lat)];
}

async function fillSettings() {
  if (!config.isRep) {
    // "My position" is the phone's: only the rep's own.
    document.querySelector('input[name="start-from"][value="position"]').disabled = true;
  }
  try {
    showSettings(await api('GET', settingsUrl()));
  } catch {
    $('settings-section').hidden = true;
  }
}

$('settings').addEventListener('submit', async (event) => {
  event.preventDefault();
  $('settings-error').hidden = true;
  try {
    const saved = await api('PUT', settingsUrl(), {
      work_start: $('settings-work-start').value,
      work_end: $('settings-work-end').value,
      break_minutes: Number($('settings-break-minutes').value),
      break_earliest: $('settings-break-earliest').value,
      break_latest: $('settings-break-latest').value,
      day_start: await chosenPoint('start-from', 'settings-start-lon', 'settings-start-lat'),
      day_end: await chosenPoint('end-at', 'settings-end-lon', 'settings-end-lat'),
    });
    showSettings(saved);
    await load();
  } catch (error) {
    $('settings-error').textContent = error.message;
    $('settings-error').hidden = false;
  }
});

$('day').addEventListener('change', (event) => {
  const url = new URL(window.location.href);
  url.searchParams.set('day', event.target.value);
  if (!config.isRep) url.searchParams.set('rep', config.repId);
  window.location.assign(url);
});

// An alert added to the route (live_share.js): the day changed.
document.addEventListener('terrane:day-changed', () => load());

fillAccounts();
fillSettings();
load();
