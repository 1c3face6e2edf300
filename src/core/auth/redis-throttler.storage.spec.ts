import { Logger } from '@nestjs/common';
import type Redis from 'ioredis';
import { RedisThrottlerStorage } from './redis-throttler.storage';

describe('RedisThrottlerStorage', () => {
  // The warning this case provokes is expected.
  beforeAll(() => Logger.overrideLogger(false));

  it('counts in the process while Redis does not answer, still blocking, and shares the budget again once it does', async () => {
    let down = true;
    const redis = {
      eval: jest.fn(async () => {
        if (down) throw new Error('Connection is closed.');
        return [1, 60_000, 0, 0];
      }),
    } as unknown as Redis;
    const storage = new RedisThrottlerStorage(redis);
    const hit = () => storage.increment('login:127.0.0.1', 60_000, 3, 60_000, 'default');

    const answers = [await hit(), await hit(), await hit(), await hit()];
    expect(answers.map((answer) => [answer.totalHits, answer.isBlocked])).toEqual([
      [1, false],
      [2, false],
      [3, false],
      [4, true],
    ]);

    down = false;
    expect(await hit()).toEqual({ totalHits: 1, timeToExpire: 60, isBlocked: false, timeToBlockExpire: 0 });
    expect(redis.eval).toHaveBeenCalledTimes(5);
  });
});
