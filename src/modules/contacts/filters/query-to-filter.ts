import type { ContactQueryDto } from '../dto/contact.dto';
import { reportAs } from './contact-filter.compiler';
import type { FilterCondition, FilterNode } from './contact-filter.types';

/**
 * The list's query parameters (and the search body's `q` and `filter`) as a rule tree, so they
 * compile through the one filter language.
 * Each part is marked with the parameter it came from, so a bad value is reported under the
 * name the caller sent (`createdFrom`, `filter.field`), not under the tree built here.
 */
export function queryToFilter(query: Partial<ContactQueryDto>, currentUserId: string): FilterNode | undefined {
  const rules: FilterNode[] = [];
  const add = (param: string, field: string, op: FilterCondition['op'], value?: unknown) =>
    rules.push(reportAs(value === undefined ? { field, op } : { field, op, value }, param, true));
  if (query.q?.trim()) add('q', 'q', 'matches', query.q.trim());
  if (query.status?.length) add('status', 'status', 'in', query.status);
  if (query.stage?.length) add('stage', 'stage', 'in', query.stage);
  if (query.tags?.length) add('tags', 'tags', query.tagsMode === 'all' ? 'hasAll' : 'hasAny', query.tags);
  if (query.services?.length) add('services', 'services', 'hasAny', query.services);
  if (query.trafficSource?.length) add('trafficSource', 'trafficSource', 'in', query.trafficSource);
  if (query.assignedTo?.length) add('assignedTo', 'assignedTo', 'in', query.assignedTo.map((id) => (id === 'me' ? currentUserId : id)));
  if (query.noStatus) add('noStatus', 'status', 'empty');
  if (query.noTags) add('noTags', 'tags', 'empty');
  if (query.noServices) add('noServices', 'services', 'empty');
  if (query.noTrafficSource) add('noTrafficSource', 'trafficSource', 'empty');
  if (query.unassigned) add('unassigned', 'assignedTo', 'empty');
  if (query.hasAccount !== undefined) add('hasAccount', 'hasAccount', 'is', query.hasAccount);
  // A date-only "to" takes in that whole day (the compiler reads a date-only bound as a day).
  if (query.createdFrom) add('createdFrom', 'createdAt', 'gte', query.createdFrom);
  if (query.createdTo) add('createdTo', 'createdAt', 'lte', query.createdTo);
  if (query.lastContactedFrom) add('lastContactedFrom', 'lastContactedAt', 'gte', query.lastContactedFrom);
  if (query.lastContactedTo) add('lastContactedTo', 'lastContactedAt', 'lte', query.lastContactedTo);
  if (query.notContactedForDays !== undefined) add('notContactedForDays', 'lastContactedAt', 'notInLastDays', query.notContactedForDays);
  if (query.filter) rules.push(reportAs(query.filter, 'filter'));
  if (rules.length === 0) return undefined;
  return rules.length === 1 ? rules[0] : { and: rules };
}
