// Helpers shared by the territory planner's browser tests (GeoJSON and tile modes).

/**
 * An account drawn on top at its own point in the open part of the planner's map (not under
 * the tool bar or the controls): of `territoryId` when given, other than the ids in
 * `exclude`. Returns its id and the page coordinates to click, or null.
 */
export function clickableAccount(page, { territoryId = null, exclude = [] } = {}) {
  return page.evaluate(({ territory, skip }) => {
    const map = window.terraneTerritoryMap;
    const canvas = map.getCanvas();
    const box = canvas.getBoundingClientRect();
    const features = map.queryRenderedFeatures({ layers: ['plan-accounts'] })
      .filter((f) => (territory === null || f.properties.territory_id === territory) && !skip.includes(String(f.id)));
    for (const f of features) {
      const at = map.project(f.geometry.coordinates);
      const x = box.left + at.x;
      const y = box.top + at.y;
      if (document.elementFromPoint(x, y) !== canvas) {
        continue;
      }
      const [top] = map.queryRenderedFeatures([at.x, at.y], { layers: ['plan-accounts'] });
      if (top && String(top.id) === String(f.id)) {
        return { id: String(f.id), x, y };
      }
    }
    return null;
  }, { territory: territoryId, skip: exclude });
}
