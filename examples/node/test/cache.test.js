import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import Redis from "ioredis";
import { TaggedCache } from "../cache.js";

const url = process.env.KVASIR_URL ?? "redis://127.0.0.1:6379";
const prefix = `t${process.pid}:cache:`;
let redis, cache, loads;

const catalog = {
  1: { value: { id: 1, name: "laptop" }, tags: ["electronics", "sale"] },
  2: { value: { id: 2, name: "phone" }, tags: ["electronics"] },
  3: { value: { id: 3, name: "novel" }, tags: ["books", "sale"] },
};

async function load(id) {
  loads.push(id);
  return catalog[id];
}

before(() => {
  redis = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 2 });
  cache = new TaggedCache(redis, { prefix, ttlSeconds: 120 });
  loads = [];
});

after(async () => { await redis.quit(); });

test("cache-aside: a miss loads and caches with a TTL, a hit does not load", async () => {
  const first = await cache.getOrLoad("product", 1, load);
  assert.deepEqual(first, { value: { id: 1, name: "laptop" }, hit: false });
  const second = await cache.getOrLoad("product", 1, load);
  assert.deepEqual(second, { value: { id: 1, name: "laptop" }, hit: true });
  assert.deepEqual(loads, [1]);
  const ttl = await redis.ttl(`${prefix}product:1`);
  assert.ok(ttl > 100 && ttl <= 120, `ttl ${ttl}`);
  assert.deepEqual((await redis.smembers(`${prefix}tag:sale`)).sort(), [`${prefix}product:1`]);
});

test("invalidating a tag deletes exactly its entries, the next read reloads", async () => {
  for (const id of [2, 3]) await cache.getOrLoad("product", id, load);
  assert.equal(await redis.exists(`${prefix}product:1`, `${prefix}product:2`, `${prefix}product:3`), 3);

  assert.equal(await cache.invalidateTag("electronics"), 2);
  assert.equal(await redis.exists(`${prefix}product:1`), 0);
  assert.equal(await redis.exists(`${prefix}product:2`), 0);
  assert.equal(await redis.exists(`${prefix}product:3`), 1);
  assert.equal(await redis.exists(`${prefix}tag:electronics`), 0);

  loads.length = 0;
  assert.equal((await cache.getOrLoad("product", 1, load)).hit, false);
  assert.equal((await cache.getOrLoad("product", 3, load)).hit, true);
  assert.deepEqual(loads, [1]);
});

test("a pipeline error is reported per command", async () => {
  await redis.set(`${prefix}plain`, "x");
  const results = await redis.pipeline().incr(`${prefix}counter`).lpush(`${prefix}plain`, "y").incr(`${prefix}counter`).exec();
  assert.equal(results[0][1], 1);
  assert.match(results[1][0].message, /^WRONGTYPE Operation against a key holding the wrong kind of value/);
  assert.equal(results[2][1], 2);
});
