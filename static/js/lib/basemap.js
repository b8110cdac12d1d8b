// What every map page shares: creating a MapLibre map on the configured base style (or a plain
// background), waiting for it to load, and the error type whose message users read.
//
// MapLibre is loaded before the page's modules as a classic script (global `maplibregl`).

/** Shown when there is nothing to fit to: Monaco, where the demo data lives. */
export const DEFAULT_CENTER_LON_LAT = [7.4246, 43.7384];
export const DEFAULT_ZOOM = 12;

/** A failure the user should read as it is (the message is written for them). */
export class MapFailure extends Error {}

/**
 * A style with nothing but a background, used when no base map is configured. It has no
 * symbol layers, so it needs no glyphs or sprite and makes no network requests.
 */
export function plainStyle(palette) {
  return {
    version: 8,
    name: 'Terrane plain',
    sources: {},
    layers: [{ id: 'background', type: 'background', paint: { 'background-color': palette.land } }],
  };
}

/** A map in `mapEl`: the configured style (`config.styleUrl`) or a plain background. */
export function createMap(mapEl, config, palette) {
  if (typeof maplibregl === 'undefined') {
    throw new MapFailure('The map library did not load.');
  }
  if (config.workerUrl) {
    // The CSP build loads its worker from our origin instead of a blob: URL.
    maplibregl.setWorkerUrl(config.workerUrl);
  }
  const map = new maplibregl.Map({
    container: mapEl,
    style: config.styleUrl ?? plainStyle(palette),
    center: DEFAULT_CENTER_LON_LAT,
    zoom: DEFAULT_ZOOM,
    attributionControl: { compact: false },
    dragRotate: false,
    pitchWithRotate: false,
  });
  map.touchZoomRotate.disableRotation();
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }), 'top-right');
  map.addControl(new maplibregl.ScaleControl({ unit: 'metric' }), 'bottom-right');
  return map;
}

/**
 * Resolves once the style has loaded; rejects on the first map error before that (a bad
 * style URL, no WebGL). Errors after loading are reported but leave the map usable.
 */
export function whenLoaded(map, onLateError) {
  return new Promise((resolve, reject) => {
    let loaded = false;
    // Listening for 'error' also stops MapLibre from printing it to the console itself.
    map.on('error', (event) => {
      if (loaded) {
        onLateError(event.error);
      } else {
        reject(new MapFailure(`The map could not load: ${event.error?.message ?? 'unknown error'}`));
      }
    });
    map.once('load', () => {
      loaded = true;
      resolve();
    });
  });
}
