import type { QuarantinedDelivery, QuarantineFilter, Store } from '../store/types';

const PAGE = 1000;

/** Every quarantine row the filter selects, page by page (ids sort by receive time), at most `max`. */
export async function* allQuarantined(
  store: Store,
  filter: QuarantineFilter,
  max = Infinity,
): AsyncGenerator<QuarantinedDelivery> {
  let afterId: string | undefined;
  let seen = 0;
  for (;;) {
    const page = await store.listQuarantine({
      ...filter,
      limit: Math.min(PAGE, max - seen),
      ...(afterId !== undefined ? { afterId } : {}),
    });
    for (const row of page) yield row;
    seen += page.length;
    if (page.length < PAGE || seen >= max) return;
    afterId = page[page.length - 1]!.id;
  }
}
