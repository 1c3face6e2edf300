import { Logger } from '@nestjs/common';
import { ThrottlerStorage, ThrottlerStorageService } from '@nestjs/throttler';
import type Redis from 'ioredis';

interface ThrottlerStorageRecord {
  totalHits: number;
  timeToExpire: number;
  isBlocked: boolean;
  timeToBlockExpire: number;
}

/**
 * Counts hits in Redis so every API process shares one budget per key. One Lua call does
 * the increment, the window expiry and the block, atomically.
 */
const SCRIPT = `
local hits_key = KEYS[1]
local block_key = KEYS[2]
local ttl = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local block = tonumber(ARGV[3])
local block_ttl = redis.call('PTTL', block_key)
if block_ttl > 0 then
  return { tonumber(redis.call('GET', hits_key) or limit + 1), redis.call('PTTL', hits_key), 1, block_ttl }
end
local hits = redis.call('INCR', hits_key)
if hits == 1 then redis.call('PEXPIRE', hits_key, ttl) end
local hits_ttl = redis.call('PTTL', hits_key)
if hits > limit then
  redis.call('SET', block_key, 1, 'PX', block)
  return { hits, hits_ttl, 1, block }
end
return { hits, hits_ttl, 0, 0 }
`;

/**
 * While Redis does not answer, hits are counted in this process instead: signing in keeps
 * working, still throttled, and the shared budget resumes once Redis is back.
 */
export class RedisThrottlerStorage implements ThrottlerStorage {
  private readonly logger = new Logger('Throttler');
  private readonly local = new ThrottlerStorageService();
  private redisAway = false;

  constructor(private readonly redis: Redis) {}

  async increment(key: string, ttl: number, limit: number, blockDuration: number, throttlerName: string): Promise<ThrottlerStorageRecord> {
    const prefix = `throttle:${throttlerName}:${key}`;
    let answer: number[];
    try {
      answer = (await this.redis.eval(SCRIPT, 2, `${prefix}:hits`, `${prefix}:block`, ttl, limit, blockDuration || ttl)) as number[];
    } catch (error) {
      if (!this.redisAway) this.logger.warn(`Redis does not answer (${(error as Error).message}); throttling in this process until it does`);
      this.redisAway = true;
      return this.local.increment(key, ttl, limit, blockDuration, throttlerName);
    }
    if (this.redisAway) this.logger.log('Redis answers again; throttling is shared again');
    this.redisAway = false;
    const [totalHits, hitsTtl, blocked, blockTtl] = answer;
    return {
      totalHits: totalHits!,
      timeToExpire: Math.ceil(Math.max(hitsTtl!, 0) / 1000),
      isBlocked: blocked === 1,
      timeToBlockExpire: Math.ceil(Math.max(blockTtl!, 0) / 1000),
    };
  }
}
