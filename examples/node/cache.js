// Cache-aside with tag invalidation on ioredis.
// A product is cached as JSON under "cache:product:<id>" with a TTL; each of its tags is a set
// "cache:tag:<tag>" listing the cache keys that carry it. Invalidating a tag deletes every key in
// its set and the set itself. Writes go out as one pipeline (one round trip), and a pipeline
// result is checked entry by entry: ioredis reports each command's error separately.
export class TaggedCache {
  constructor(redis, { prefix = "cache:", ttlSeconds = 300 } = {}) {
    this.redis = redis;
    this.prefix = prefix;
    this.ttl = ttlSeconds;
  }

  key(kind, id) { return `${this.prefix}${kind}:${id}`; }
  tagKey(tag) { return `${this.prefix}tag:${tag}`; }

  /** Returns the cached value, or loads it, caches it under its tags and returns it. */
  async getOrLoad(kind, id, load) {
    const key = this.key(kind, id);
    const cached = await this.redis.get(key);
    if (cached !== null) return { value: JSON.parse(cached), hit: true };

    const { value, tags } = await load(id);
    const p = this.redis.pipeline().set(key, JSON.stringify(value), "EX", this.ttl);
    for (const tag of tags) {
      // The tag set outlives its entries a little: a stale member only costs a DEL of nothing.
      p.sadd(this.tagKey(tag), key).expire(this.tagKey(tag), this.ttl * 2);
    }
    check(await p.exec());
    return { value, hit: false };
  }

  /** Deletes every cached entry carrying the tag. Returns how many entries were removed. */
  async invalidateTag(tag) {
    const tagKey = this.tagKey(tag);
    const keys = await this.redis.smembers(tagKey);
    const results = check(await this.redis.pipeline().del(...keys, tagKey).exec());
    return Math.max(0, results[0] - 1);
  }
}

function check(results) {
  for (const [err] of results) if (err) throw err;
  return results.map(([, value]) => value);
}
