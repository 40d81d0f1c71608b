import type { IncludeFilter } from './access-decision.js';

/**
 * Carries out the access decision's `filterIncludes` instruction on a search response: an
 * untyped `_include` (`Observation?_include=Observation:subject`) was allowed because the token
 * can read some of the types it may return, so the included resources of the other types are
 * withheld here, and the Bundle says so. Pure: the input is never modified.
 *
 * Rules, for a Bundle of type `searchset` (anything else is returned as is):
 * - entries with `search.mode` `match` or `outcome` are kept (matches were decided by the search
 *   itself; outcomes are the server's messages);
 * - entries with `search.mode` `include`, and entries whose mode is missing or not one R4 knows,
 *   are kept only when their resource's type is in `readableTypes`. A missing mode is treated as
 *   an include (fail closed): without it the gateway cannot tell what the entry is;
 * - when anything was dropped, one entry is added: an OperationOutcome (`search.mode` `outcome`)
 *   with a `warning` issue of code `suppressed` ("not returned ... because of access permission
 *   constraints", R4 issue-type) naming how many resources of which types were withheld.
 *   `Bundle.total` counts matches only, so it is left alone; so are the paging links.
 */
export interface WithheldType {
  resourceType: string;
  count: number;
}

export interface IncludeFilterResult {
  /** The Bundle to send on: the very input when nothing was withheld, else a filtered copy. */
  body: unknown;
  /** What was withheld, by type (sorted); empty when nothing was. */
  withheld: WithheldType[];
}

const KEPT_MODES: ReadonlySet<string> = new Set(['match', 'outcome']);
const UNKNOWN_TYPE = '(no resource type)';

export function withholdUnreadableIncludes(body: unknown, filter: IncludeFilter): IncludeFilterResult {
  if (!isObject(body) || body['resourceType'] !== 'Bundle' || body['type'] !== 'searchset' || !Array.isArray(body['entry'])) {
    return { body, withheld: [] };
  }
  const readable = new Set(filter.readableTypes);
  const counts = new Map<string, number>();
  const kept: unknown[] = [];
  for (const entry of body['entry'] as unknown[]) {
    if (keep(entry, readable)) {
      kept.push(entry);
      continue;
    }
    const type = resourceTypeOf(entry) ?? UNKNOWN_TYPE;
    counts.set(type, (counts.get(type) ?? 0) + 1);
  }
  if (counts.size === 0) return { body, withheld: [] };
  const withheld = [...counts].map(([resourceType, count]) => ({ resourceType, count })).sort((a, b) => a.resourceType.localeCompare(b.resourceType));
  return { body: { ...body, entry: [...kept, withheldOutcome(withheld)] }, withheld };
}

function keep(entry: unknown, readable: ReadonlySet<string>): boolean {
  const search = isObject(entry) ? entry['search'] : undefined;
  const mode = isObject(search) ? search['mode'] : undefined;
  if (typeof mode === 'string' && KEPT_MODES.has(mode)) return true;
  const type = resourceTypeOf(entry);
  return type !== undefined && readable.has(type);
}

function resourceTypeOf(entry: unknown): string | undefined {
  const resource = isObject(entry) ? entry['resource'] : undefined;
  const type = isObject(resource) ? resource['resourceType'] : undefined;
  return typeof type === 'string' ? type : undefined;
}

function withheldOutcome(withheld: WithheldType[]): Record<string, unknown> {
  const total = withheld.reduce((sum, w) => sum + w.count, 0);
  const list = withheld.map((w) => `${w.count} ${w.resourceType}`).join(', ');
  return {
    resource: {
      resourceType: 'OperationOutcome',
      issue: [
        {
          severity: 'warning',
          code: 'suppressed',
          diagnostics: `Withheld ${total} included resource${total === 1 ? '' : 's'} of a type the access token may not read: ${list}`,
        },
      ],
    },
    search: { mode: 'outcome' },
  };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
