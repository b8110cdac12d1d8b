// Location sharing and proximity alerts on the rep's Today page (docs/live.md): while the rep
// shares and the page is open, the browser's position goes to /live/ws every few seconds (a
// device token from the session); every ping is answered after it is stored; alerts arrive on
// the same socket and can be added to today's route, navigated to, snoozed or dismissed.
//
// Plain ES module. Configuration comes from data attributes on #today (the CSP forbids inline
// scripts); everything from the server goes into the page with textContent.

import { apiClient } from './lib/api.js';

const root = document.getElementById('today');
const config = {
  repId: root.dataset.repId,
  csrf: root.dataset.csrf,
};
const $ = (id) => document.getElementById(id);
/** A fix this often while sharing (the server allows one a second). */
const SEND_EVERY_MS = 5000;
/** Pings kept while the socket is down, sent in one batch when it is back. */
const QUEUE_MAX = 500;

const state = {
  sharing: false,
  socket: null,
  timer: null,
  lastFix: null,
  queue: [],
  retry: 1000,
};

/** This browser's install id (the envelope's `device_id`). */
function deviceId() {
  let id = localStorage.getItem('terrane.device');
  if (!id) {
    id = `web-${crypto.randomUUID().slice(0, 18)}`;
    localStorage.setItem('terrane.device', id);
  }
  return id;
}

const api = apiClient(config.csrf);

function status(text) {
  $('share-status').textContent = text;
}

const clock = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });

/** What an ack says, in words. */
function describe(ack) {
  const at = clock.format(new Date());
  if (ack.status === 'accepted') {
    if (ack.flags?.length) return `Position sent at ${at}; it looks unusual (${ack.flags.join(', ')}), so it will not raise alerts.`;
    return `Sharing. Last position sent and stored at ${at}.`;
  }
  if (ack.status === 'duplicate') return `Sharing. Position at ${at} was already stored.`;
  if (ack.reason === 'out_of_shift') return 'Your shift is over (or not started): nothing was kept, and sharing stopped.';
  return `A position was not stored (${ack.reason ?? 'refused'}).`;
}

function tier() {
  return document.querySelector('input[name="share-tier"]:checked')?.value ?? 'precise';
}

function envelope(position) {
  const c = position.coords;
  return {
    event_id: crypto.randomUUID(),
    device_id: deviceId(),
    recorded_at: new Date(position.timestamp).toISOString(),
    lon: c.longitude,
    lat: c.latitude,
    accuracy_m: Math.min(Math.max(c.accuracy ?? 50, 0), 5000),
    speed_mps: Number.isFinite(c.speed) && c.speed >= 0 ? Math.min(c.speed, 90) : undefined,
    heading_deg: Number.isFinite(c.heading) && c.heading >= 0 && c.heading < 360 ? c.heading : undefined,
    tier: tier(),
  };
}

/** Asks the browser for a fresh fix (a parked phone gets one too: dwelling near an account
 * is what raises an alert). */
function tick() {
  navigator.geolocation.getCurrentPosition(onPosition, (error) => {
    status(error.code === error.PERMISSION_DENIED
      ? 'Location is blocked for this site: allow it in the browser to share.'
      : `No position yet (${error.message}).`);
  }, { enableHighAccuracy: true, maximumAge: 0, timeout: 20000 });
}

function onPosition(position) {
  // The same fix again (a browser may answer from its cache): nothing new to send.
  if (!state.sharing || position.timestamp === state.lastFix) return;
  state.lastFix = position.timestamp;
  const ping = envelope(position);
  if (state.socket?.readyState === WebSocket.OPEN) {
    state.socket.send(JSON.stringify(ping));
  } else {
    state.queue.push(ping);
    if (state.queue.length > QUEUE_MAX) state.queue.shift();
    status(`Offline: ${state.queue.length} position(s) waiting to be sent.`);
  }
}

/** Sends what was queued while the socket was down (late pings are stored, never alert). */
async function flushQueue() {
  let sent = 0;
  while (state.queue.length) {
    const batch = state.queue.splice(0, 100);
    try {
      const answer = await api('POST', '/api/pings', { pings: batch });
      sent += answer.accepted + answer.duplicate;
    } catch {
      state.queue.unshift(...batch);
      break;
    }
  }
  if (sent) status(`Sent ${sent} position(s) taken while offline.`);
}

async function connect() {
  if (!state.sharing) return;
  let token;
  try {
    ({ token } = await api('POST', '/api/device-token', {}));
  } catch (error) {
    status(`Could not start sharing: ${error.message}. Trying again…`);
    setTimeout(connect, state.retry);
    state.retry = Math.min(state.retry * 2, 30000);
    return;
  }
  const scheme = window.location.protocol === 'https:' ? 'wss' : 'ws';
  const socket = new WebSocket(`${scheme}://${window.location.host}/live/ws?token=${encodeURIComponent(token)}`);
  state.socket = socket;
  socket.addEventListener('open', () => {
    state.retry = 1000;
    root.querySelector('#share').dataset.state = 'on';
    status('Sharing. Waiting for your position…');
    flushQueue();
    if (state.timer === null) {
      tick();
      state.timer = setInterval(tick, SEND_EVERY_MS);
    }
  });
  socket.addEventListener('message', (event) => {
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch {
      return;
    }
    if (frame.type === 'ack') {
      status(describe(frame));
      if (frame.reason === 'out_of_shift') stop();
    } else if (frame.type === 'alert') {
      showAlert(frame.alert, true);
    } else if (frame.type === 'rate_limited') {
      status(`Sending too often; waiting ${frame.retry_after_s} s.`);
    } else if (frame.type === 'error') {
      status(`The server refused a position: ${frame.message}`);
    }
  });
  socket.addEventListener('close', () => {
    if (state.socket !== socket) return;
    state.socket = null;
    if (!state.sharing) return;
    // Expired or revoked token, a restart, the network: get a new token and come back.
    status('Connection lost; reconnecting…');
    setTimeout(connect, state.retry);
    state.retry = Math.min(state.retry * 2, 30000);
  });
}

function start() {
  if (!('geolocation' in navigator)) {
    status('This browser cannot share a location.');
    return;
  }
  state.sharing = true;
  $('share-toggle').textContent = 'Stop sharing';
  $('share-toggle').setAttribute('aria-pressed', 'true');
  status('Starting…');
  connect();
}

function stop() {
  state.sharing = false;
  if (state.timer !== null) clearInterval(state.timer);
  state.timer = null;
  const socket = state.socket;
  state.socket = null;
  socket?.close();
  root.querySelector('#share').dataset.state = 'off';
  $('share-toggle').textContent = 'Start sharing';
  $('share-toggle').setAttribute('aria-pressed', 'false');
}

$('share-toggle').addEventListener('click', () => {
  if (state.sharing) {
    stop();
    status('Not sharing.');
  } else {
    start();
  }
});

$('share-erase').addEventListener('click', async () => {
  if (!window.confirm('Erase every position Terrane kept of you, and your alerts? This cannot be undone.')) return;
  try {
    const { erased } = await api('DELETE', '/api/me/track');
    status(`Erased ${erased} stored position(s).`);
  } catch (error) {
    status(`Could not erase: ${error.message}`);
  }
});

// --- alerts ----------------------------------------------------------------------------------

const STATE_WORDS = {
  open: '',
  acknowledged: 'Seen',
  dismissed: 'Not now: no more alerts for it this week',
  snoozed: 'Later: it may alert again in 30 minutes',
  added_to_route: 'Added to your route',
  task_requested: 'A task for it is on its way to your CRM',
};

function metres(m) {
  return m < 1000 ? `about ${Math.round(m / 10) * 10} m away` : `${(m / 1000).toFixed(1)} km away`;
}

function navigateHref(alert) {
  if (alert.lat == null || alert.lon == null) return null;
  return /iPhone|iPad/.test(navigator.userAgent)
    ? `https://maps.apple.com/?daddr=${alert.lat},${alert.lon}`
    : `geo:${alert.lat},${alert.lon}`;
}

function button(text, className, onClick) {
  const b = document.createElement('button');
  b.type = 'button';
  b.className = className;
  b.textContent = text;
  b.addEventListener('click', onClick);
  return b;
}

function renderAlert(li, alert) {
  li.replaceChildren();
  li.dataset.state = alert.state;
  const title = document.createElement('p');
  title.className = 'alert__title';
  const name = document.createElement('strong');
  name.textContent = alert.account_name;
  title.append(name, ` · ${metres(alert.distance_m)}`);
  const note = document.createElement('p');
  note.className = 'alert__state';
  note.textContent = STATE_WORDS[alert.state] ?? '';
  li.append(title, note);
  const final = ['dismissed', 'added_to_route', 'task_requested'].includes(alert.state);
  const actions = document.createElement('div');
  actions.className = 'alert__actions';
  if (!final) {
    actions.append(
      button('Add to my route', 'alert__add', () => act(li, alert, { action: 'add_to_route' })),
      button('Task in my CRM', 'alert__task', () => act(li, alert, { action: 'create_task' })),
      button('Later', 'alert__snooze', () => act(li, alert, { action: 'snooze', minutes: 30 })),
      button('Not now', 'alert__dismiss', () => act(li, alert, { action: 'dismiss' })),
    );
  }
  const href = navigateHref(alert);
  if (href) {
    const a = document.createElement('a');
    a.className = 'alert__nav';
    a.href = href;
    a.textContent = 'Navigate';
    actions.append(a);
  }
  li.append(actions);
}

async function act(li, alert, body) {
  for (const b of li.querySelectorAll('button')) b.disabled = true;
  try {
    const updated = await api('POST', `/api/alerts/${alert.id}/actions`, body);
    renderAlert(li, updated);
    if (updated.state === 'added_to_route') {
      document.dispatchEvent(new CustomEvent('terrane:day-changed'));
    }
  } catch (error) {
    for (const b of li.querySelectorAll('button')) b.disabled = false;
    const note = li.querySelector('.alert__state');
    note.textContent = error.message;
  }
}

function showAlert(alert, fresh) {
  const list = $('alerts');
  let li = list.querySelector(`li[data-alert-id="${CSS.escape(alert.id)}"]`);
  if (!li) {
    li = document.createElement('li');
    li.className = 'alert';
    li.dataset.alertId = alert.id;
    if (fresh) list.prepend(li);
    else list.append(li);
  }
  renderAlert(li, alert);
  $('no-alerts').hidden = true;
  if (fresh && 'vibrate' in navigator) navigator.vibrate?.(200);
}

async function loadAlerts() {
  try {
    const { alerts } = await api('GET', '/api/me/alerts');
    for (const alert of alerts) showAlert(alert, false);
  } catch {
    // The list stays empty; live alerts still arrive while sharing.
  }
}

async function showShift() {
  try {
    const s = await api('GET', `/api/reps/${config.repId}/day-settings`);
    $('share-shift').textContent = `${s.work_start}–${s.work_end}`;
  } catch {
    // The sentence keeps "your working hours".
  }
}

window.addEventListener('pagehide', () => stop());
showShift();
loadAlerts();
