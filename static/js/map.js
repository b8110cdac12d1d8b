// The account map: loads every account once, draws it as circles by tier, shows details on click.
//
// Plain ES module, no build step. MapLibre is loaded before this file as a classic script
// (global `maplibregl`). Configuration comes from data attributes on #map, because the page's
// CSP forbids inline scripts. Account data is only ever put into the page with textContent.

import {
  MapFailure, createMap, whenLoaded,
} from './lib/basemap.js';

/** The server's upper bound for one request; the map wants every account at once. */
const ACCOUNT_LIMIT = 50000;
const ACCOUNTS_SOURCE = 'accounts';
const ACCOUNTS_LAYER = 'accounts';
const FIT_MAX_ZOOM = 16;

const valueFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });

/** Reads the configuration the server rendered into the map element. */
function readConfig(mapEl) {
  const { accountsUrl, styleUrl, workerUrl, canMovePins, csrf } = mapEl.dataset;
  if (!accountsUrl) {
    throw new MapFailure('The page is missing its accounts address.');
  }
  return {
    accountsUrl,
    styleUrl: styleUrl || null,
    workerUrl: workerUrl || null,
    canMovePins: canMovePins === 'true',
    csrf: csrf || '',
  };
}

/** Colours live in app.css as custom properties so the legend and the map share them. */
function readPalette() {
  const css = getComputedStyle(document.documentElement);
  const colour = (name) => css.getPropertyValue(name).trim() || '#808080';
  return {
    tierA: colour('--tier-a'),
    tierB: colour('--tier-b'),
    tierC: colour('--tier-c'),
    tierUnknown: colour('--tier-unknown'),
    land: colour('--map-land'),
    pointStroke: colour('--map-point-stroke'),
    prospectFill: colour('--map-prospect-fill'),
  };
}

/** Fetches all accounts as a GeoJSON FeatureCollection, or throws a MapFailure saying why not. */
async function fetchAccounts(accountsUrl) {
  const url = new URL(accountsUrl, window.location.href);
  url.searchParams.set('limit', String(ACCOUNT_LIMIT));

  let response;
  try {
    response = await fetch(url, { headers: { Accept: 'application/geo+json, application/json' } });
  } catch {
    throw new MapFailure('Could not reach the server to load accounts.');
  }
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const reason = body?.error?.message ?? `the server answered ${response.status}`;
    throw new MapFailure(`Could not load accounts: ${reason}`);
  }
  if (body?.type !== 'FeatureCollection' || !Array.isArray(body.features)) {
    throw new MapFailure('Could not load accounts: the server sent an unexpected response.');
  }
  return body;
}

function accountsLayer(palette) {
  const tier = ['get', 'tier'];
  const isProspect = ['==', ['get', 'synthetic'], true];
  const tierColour = ['match', tier, 'A', palette.tierA, 'B', palette.tierB, 'C', palette.tierC, palette.tierUnknown];
  const tierRadius = ['match', tier, 'A', 7, 'B', 5.5, 'C', 4.5, 4];
  return {
    id: ACCOUNTS_LAYER,
    type: 'circle',
    source: ACCOUNTS_SOURCE,
    layout: {
      // Higher keys draw on top: tier A stays visible where points crowd.
      'circle-sort-key': ['match', tier, 'A', 3, 'B', 2, 'C', 1, 0],
    },
    paint: {
      'circle-radius': ['interpolate', ['linear'], ['zoom'],
        10, ['*', 0.7, tierRadius],
        15, tierRadius,
        18, ['*', 1.6, tierRadius]],
      // Prospects (synthetic, not yet customers) are hollow rings in their tier colour.
      'circle-color': ['case', isProspect, palette.prospectFill, tierColour],
      'circle-stroke-color': ['case', isProspect, tierColour, palette.pointStroke],
      'circle-stroke-width': ['case', isProspect, 2, 1.25],
      'circle-opacity': 0.92,
    },
  };
}

function hasPointGeometry(feature) {
  const coordinates = feature?.geometry?.coordinates;
  return feature?.geometry?.type === 'Point'
    && Array.isArray(coordinates)
    && Number.isFinite(coordinates[0])
    && Number.isFinite(coordinates[1]);
}

function fitToAccounts(map, features) {
  const points = features.filter(hasPointGeometry);
  if (points.length === 0) {
    return;
  }
  const bounds = new maplibregl.LngLatBounds();
  for (const feature of points) {
    bounds.extend(feature.geometry.coordinates);
  }
  // Keep circles clear of the edges and the controls, but do not eat a phone screen.
  const container = map.getContainer();
  const padding = Math.round(Math.min(48, container.clientWidth / 10, container.clientHeight / 10));
  map.fitBounds(bounds, { padding, maxZoom: FIT_MAX_ZOOM, animate: false });
}

function describeIndustry(industry) {
  if (!industry) {
    return '—';
  }
  // OSM-style "shop:bakery" reads better as "bakery (shop)".
  const [group, kind] = String(industry).split(':', 2);
  const words = (text) => text.replaceAll('_', ' ');
  return kind ? `${words(kind)} (${words(group)})` : words(group);
}

function describeValue(value) {
  return Number.isFinite(value) ? valueFormat.format(value) : '—';
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) {
    node.className = className;
  }
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

/** The popup body for one account, built from text nodes only. */
function accountCard(properties, onMovePin) {
  const card = element('div', 'account-card');
  const name = element('h2', 'account-card__name', properties.name || 'Unnamed account');
  // The card cuts a long name with an ellipsis; the whole name shows on hover.
  name.title = name.textContent;
  card.append(name);
  if (properties.synthetic === true) {
    card.append(element('p', 'account-card__badge', 'Prospect (synthetic)'));
  }
  const facts = element('dl', 'account-card__facts');
  const rows = [
    ['Tier', properties.tier || '—'],
    ['Industry', describeIndustry(properties.industry)],
    ['City', properties.city || '—'],
    ['Annual value', describeValue(properties.annual_value)],
  ];
  for (const [label, value] of rows) {
    facts.append(element('dt', null, label), element('dd', null, value));
  }
  card.append(facts);
  if (onMovePin) {
    const move = element('button', 'account-card__move', 'Move pin');
    move.type = 'button';
    move.addEventListener('click', onMovePin);
    card.append(move);
  }
  return card;
}

/**
 * Lets a manager drag an account's pin to its true place: a draggable marker (arrow keys move
 * it too), then Save sends it to the server, where the precision becomes "manual".
 */
function startPinEdit(map, config, account, onSaved) {
  const editor = document.getElementById('pin-editor');
  const save = document.getElementById('pin-save');
  const cancel = document.getElementById('pin-cancel');
  const marker = new maplibregl.Marker({ draggable: true })
    .setLngLat(account.geometry.coordinates)
    .addTo(map);
  const markerEl = marker.getElement();
  markerEl.tabIndex = 0;
  markerEl.setAttribute('aria-label', `Pin of ${account.properties?.name ?? 'the account'}; arrow keys move it`);
  const step = 0.00005;
  markerEl.addEventListener('keydown', (event) => {
    const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, step], ArrowDown: [0, -step] };
    const move = moves[event.key];
    if (move) {
      const at = marker.getLngLat();
      marker.setLngLat([at.lng + move[0], at.lat + move[1]]);
      event.preventDefault();
      // The map's keyboard handler listens on its container: without this, each press would
      // also pan the map by 100 px and carry the pin out of view.
      event.stopPropagation();
    } else if (event.key === 'Escape') {
      finish();
    }
  });
  editor.hidden = false;
  markerEl.focus();
  function finish() {
    marker.remove();
    editor.hidden = true;
    save.onclick = null;
    cancel.onclick = null;
  }
  cancel.onclick = finish;
  save.onclick = async () => {
    const at = marker.getLngLat();
    const response = await fetch(`/api/accounts/${encodeURIComponent(account.properties.id)}/location`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-csrf-token': config.csrf },
      body: JSON.stringify({ lon: at.lng, lat: at.lat }),
    }).catch(() => null);
    if (response?.ok) {
      finish();
      onSaved();
    } else {
      const body = await response?.json().catch(() => null);
      window.alert(`The pin was not saved: ${body?.error?.message ?? 'the server could not be reached'}`);
    }
  };
}

function enableAccountPopups(map, mapEl, accountsById, config, reload) {
  map.on('mouseenter', ACCOUNTS_LAYER, () => mapEl.classList.add('map--over-account'));
  map.on('mouseleave', ACCOUNTS_LAYER, () => mapEl.classList.remove('map--over-account'));
  map.on('click', ACCOUNTS_LAYER, (event) => {
    const hit = event.features?.[0];
    if (!hit) {
      return;
    }
    // Prefer the feature as received: tiled copies round coordinates and drop nulls.
    const account = accountsById.get(String(hit.id)) ?? hit;
    const popup = new maplibregl.Popup({ maxWidth: '300px', offset: 10, focusAfterOpen: false });
    const onMovePin = config.canMovePins
      ? () => {
        popup.remove();
        startPinEdit(map, config, account, reload);
      }
      : null;
    popup
      .setLngLat(account.geometry.coordinates)
      .setDOMContent(accountCard(account.properties ?? {}, onMovePin))
      .addTo(map);
  });
}

function countLabel(collection) {
  const count = collection.features.length;
  if (count === 0) {
    return 'No accounts yet';
  }
  const noun = count === 1 ? 'account' : 'accounts';
  const label = `${valueFormat.format(count)} ${noun}`;
  return collection.truncated ? `${label} (limit reached, some not shown)` : label;
}

function showError(errorEl, message) {
  errorEl.textContent = message;
  errorEl.hidden = false;
}

/** How often the map reloads accounts, so CRM changes arriving by webhook show up. */
const REFRESH_MS = 15000;

/**
 * Reloads the accounts every REFRESH_MS while the page is visible (and returns the reload, for
 * use after an edit). A failed reload keeps the accounts already shown.
 */
function keepFresh(map, config, accountsById, statusEl, mapEl) {
  const refresh = async () => {
    if (document.visibilityState !== 'visible') {
      return;
    }
    try {
      const accounts = await fetchAccounts(config.accountsUrl);
      map.getSource(ACCOUNTS_SOURCE)?.setData(accounts);
      accountsById.clear();
      for (const f of accounts.features) {
        if (f.properties?.id != null) {
          accountsById.set(String(f.properties.id), f);
        }
      }
      statusEl.textContent = countLabel(accounts);
      mapEl.dataset.featureCount = String(accounts.features.length);
    } catch (error) {
      console.warn('account refresh failed', error);
    }
  };
  window.setInterval(refresh, REFRESH_MS);
  return refresh;
}

async function main() {
  const mapEl = document.getElementById('map');
  const statusEl = document.getElementById('account-count');
  const errorEl = document.getElementById('map-error');

  try {
    const config = readConfig(mapEl);
    const palette = readPalette();
    // Start the download while the map sets up.
    const accountsRequest = fetchAccounts(config.accountsUrl);
    const map = createMap(mapEl, config, palette);
    window.terraneMap = map;

    const [accounts] = await Promise.all([
      accountsRequest,
      whenLoaded(map, (error) => {
        console.warn('map error after load', error);
        showError(errorEl, 'Part of the map could not be loaded.');
      }),
    ]);

    // Keyed like the source's promoteId, so a rendered feature's id finds its account.
    const accountsById = new Map(
      accounts.features
        .filter((f) => f.properties?.id != null)
        .map((f) => [String(f.properties.id), f]),
    );
    // The demo accounts are derived from OpenStreetMap (ODbL): credit it where they are shown.
    map.addSource(ACCOUNTS_SOURCE, {
      type: 'geojson',
      data: accounts,
      promoteId: 'id',
      attribution: '© <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors',
    });
    map.addLayer(accountsLayer(palette));
    const reload = keepFresh(map, config, accountsById, statusEl, mapEl);
    enableAccountPopups(map, mapEl, accountsById, config, reload);
    fitToAccounts(map, accounts.features);
    statusEl.textContent = countLabel(accounts);

    await map.once('idle');
    mapEl.dataset.featureCount = String(accounts.features.length);
    mapEl.dataset.state = 'ready';
  } catch (error) {
    const message = error instanceof MapFailure
      ? error.message
      : 'The map could not be shown in this browser.';
    if (!(error instanceof MapFailure)) {
      console.warn('map failed', error);
    }
    showError(errorEl, message);
    statusEl.textContent = 'Map unavailable';
    mapEl.dataset.state = 'error';
  }
}

main();
