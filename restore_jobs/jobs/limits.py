"""Job-wide limits shared by every worker through Redis: OSO's ``rateLimiting`` made real.

- A token bucket per job for records/s and bytes/s. A batch takes its tokens at once and may
  drive the bucket into debt; the taker then sleeps until the debt is paid. The long-run rate
  holds for the whole job however many workers share it, and a batch larger than one second's
  worth still passes.
- Concurrency slots (``maxConcurrentPartitions``): a sorted set of unit leases. A unit that finds
  no free slot is re-queued for later instead of holding a worker; a lease that is not renewed
  (its worker died) expires and frees the slot.
"""

from __future__ import annotations

import time

import redis
from redis.client import Pipeline

# KEYS[1] bucket hash; ARGV rate, amount, now. Returns seconds to wait (string, for precision).
_TAKE = """
local rate = tonumber(ARGV[1])
local amount = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local tokens = tonumber(redis.call('HGET', KEYS[1], 'tokens') or '0')
local last = tonumber(redis.call('HGET', KEYS[1], 'last') or ARGV[3])
tokens = math.min(rate, tokens + (now - last) * rate) - amount
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'last', tostring(now))
redis.call('EXPIRE', KEYS[1], 86400)
if tokens >= 0 then return '0' end
return tostring(-tokens / rate)
"""

# KEYS[1] lease zset; ARGV member, limit, now, lease seconds. 1 when the member holds a slot.
_ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
local expiry = tonumber(ARGV[3]) + tonumber(ARGV[4])
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  redis.call('ZADD', KEYS[1], expiry, ARGV[1])
  return 1
end
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], expiry, ARGV[1])
  redis.call('EXPIRE', KEYS[1], 86400)
  return 1
end
return 0
"""


class RateLimiter:
    def __init__(self, key: str, records_per_sec: int, bytes_per_sec: int):
        self.limits = [(f"{key}:records", records_per_sec), (f"{key}:bytes", bytes_per_sec)]

    def take(self, pipe: Pipeline, records: int, nbytes: int) -> int:
        """Queue a batch's takes on ``pipe``, to share the round trip of the unit's check-in
        (``EVAL``: see ``state.check_in``). Returns how many replies they add at its end; ``wait``
        turns those into the seconds to sleep."""
        now = time.time()
        queued = 0
        for (key, rate), amount in zip(self.limits, (records, nbytes), strict=True):
            if rate > 0 and amount > 0:
                pipe.eval(_TAKE, 1, key, rate, amount, now)
                queued += 1
        return queued

    @staticmethod
    def wait(replies: list[str]) -> float:
        return max((float(r) for r in replies), default=0.0)


class ConcurrencySlots:
    def __init__(self, r: redis.Redis, key: str, limit: int, lease_seconds: float = 120.0):
        self.r, self.key, self.limit, self.lease = r, key, limit, lease_seconds
        self._acquire = r.register_script(_ACQUIRE)

    def acquire(self, member: str) -> bool:
        """Take (or renew) a slot. Always True when the limit is 0 (unlimited)."""
        if self.limit <= 0:
            return True
        return bool(self._acquire(keys=[self.key], args=[member, self.limit, time.time(), self.lease]))

    def renew(self, pipe: Pipeline, member: str) -> None:
        """Queue the renewal of a held slot's lease on ``pipe`` (``EVAL``: see ``state.check_in``).
        Nothing without a concurrency limit."""
        if self.limit > 0:
            pipe.eval(_ACQUIRE, 1, self.key, member, self.limit, time.time(), self.lease)

    def release(self, member: str) -> None:
        if self.limit > 0:
            self.r.zrem(self.key, member)
