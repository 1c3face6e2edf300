import type { DataSource } from 'typeorm';
import type { AppConfig } from '../../config/app-config';
import type { AppAbility } from '../access/app-ability';
import type { AuditService } from '../audit/audit.service';
import type { ClusterEventsService } from '../cluster/cluster-events.service';
import { FEATURE_KEYS } from './feature-catalog';
import { FeaturesService } from './features.service';

describe('FeaturesService.setEnabled after the switch has committed', () => {
  const updatedAt = new Date('2030-01-01T00:00:00Z');
  let find: jest.Mock;
  let publish: jest.Mock;
  let features: FeaturesService;

  beforeEach(async () => {
    find = jest.fn(async () => FEATURE_KEYS.map((key) => ({ key, enabled: true, updatedAt })));
    publish = jest.fn(async () => undefined);
    const dataSource = {
      getRepository: () => ({ find }),
      // The transaction has committed the switch; what it does inside is covered end to end.
      transaction: jest.fn(async () => ({ key: 'visitors', enabled: false, updatedAt })),
    } as unknown as DataSource;
    const cluster = { on: jest.fn(), publish } as unknown as ClusterEventsService;
    features = new FeaturesService(dataSource, {} as AppConfig, {} as AuditService, cluster);
    jest.spyOn(features['logger'], 'warn').mockImplementation(() => undefined);
    jest.spyOn(features['logger'], 'log').mockImplementation(() => undefined);
    await features.reload();
  });

  const ability = {} as AppAbility;

  it('answers the stored state when reloading fails, and applies it in this process', async () => {
    const changes: Array<[string, boolean]> = [];
    features.onChange((key, enabled) => changes.push([key, enabled]));
    find.mockRejectedValueOnce(new Error('connection terminated'));

    await expect(features.setEnabled(ability, 'visitors', false, null)).resolves.toEqual({ key: 'visitors', enabled: false, updatedAt });
    expect(features.isEnabled('visitors')).toBe(false);
    expect(changes).toEqual([['visitors', false]]);
    expect(publish).toHaveBeenCalledWith('features.changed', { key: 'visitors', enabled: false });
  });

  it('answers the stored state when telling the other processes fails', async () => {
    find.mockImplementation(async () => FEATURE_KEYS.map((key) => ({ key, enabled: key !== 'visitors', updatedAt })));
    publish.mockRejectedValueOnce(new Error('connection terminated'));

    await expect(features.setEnabled(ability, 'visitors', false, null)).resolves.toEqual({ key: 'visitors', enabled: false, updatedAt });
    expect(features.isEnabled('visitors')).toBe(false);
  });
});
