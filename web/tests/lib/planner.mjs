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

/**
 * Makes a draft from the planner's "new plan" form: named `name` (made unique with the
 * time), made by `method`; `before` may fill further fields of the form. Waits until the
 * page shows the draft (`#terr` with `state`, an attribute selector, beside its status) and
 * returns its id.
 */
export async function createDraft(page, { name, method, before = async () => {}, state = '[data-state="ready"]' }) {
  await page.click('#terr-new summary');
  await page.fill('#terr-new-name', `${name} ${Date.now()}`);
  await page.selectOption('#terr-new-method', method);
  await before();
  await page.click('#terr-new-create');
  await page.locator(`#terr${state}[data-plan-status="draft"]`).waitFor({ timeout: 60_000 });
  return page.locator('#terr').getAttribute('data-plan-id');
}

/** Deletes the draft on show (a second press confirms) and waits for the published plan. */
export async function deleteDraft(page) {
  await page.click('#terr-delete');
  await page.click('#terr-delete');
  await page.locator('#terr[data-state="ready"][data-plan-status="published"]').waitFor({ timeout: 30_000 });
}
