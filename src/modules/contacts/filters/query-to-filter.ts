import type { ContactQueryDto } from '../dto/contact.dto';
import type { FilterCondition, FilterNode } from './contact-filter.types';

/** The list's query parameters as a rule tree, so they compile through the one filter language. */
export function queryToFilter(query: ContactQueryDto, currentUserId: string): FilterNode | undefined {
  const rules: FilterNode[] = [];
  const add = (field: string, op: FilterCondition['op'], value?: unknown) => rules.push(value === undefined ? { field, op } : { field, op, value });
  if (query.q?.trim()) add('q', 'matches', query.q.trim());
  if (query.status?.length) add('status', 'in', query.status);
  if (query.stage?.length) add('stage', 'in', query.stage);
  if (query.tags?.length) add('tags', query.tagsMode === 'all' ? 'hasAll' : 'hasAny', query.tags);
  if (query.services?.length) add('services', 'hasAny', query.services);
  if (query.trafficSource?.length) add('trafficSource', 'in', query.trafficSource);
  if (query.assignedTo?.length) add('assignedTo', 'in', query.assignedTo.map((id) => (id === 'me' ? currentUserId : id)));
  if (query.noStatus) add('status', 'empty');
  if (query.noTags) add('tags', 'empty');
  if (query.noServices) add('services', 'empty');
  if (query.noTrafficSource) add('trafficSource', 'empty');
  if (query.unassigned) add('assignedTo', 'empty');
  if (query.hasAccount !== undefined) add('hasAccount', 'is', query.hasAccount);
  if (query.createdFrom) add('createdAt', 'gte', query.createdFrom);
  if (query.createdTo) add('createdAt', 'lte', query.createdTo);
  if (query.lastContactedFrom) add('lastContactedAt', 'gte', query.lastContactedFrom);
  if (query.lastContactedTo) add('lastContactedAt', 'lte', query.lastContactedTo);
  if (query.notContactedForDays !== undefined) add('lastContactedAt', 'notInLastDays', query.notContactedForDays);
  if (query.filter) rules.push(query.filter);
  if (rules.length === 0) return undefined;
  return rules.length === 1 ? rules[0] : { and: rules };
}
