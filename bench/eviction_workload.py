#!/usr/bin/env python3
"""Eviction workloads against one server (used by bench/eviction.sh; standard library only).

  fill   PORT POLICY MB    write MB megabytes under POLICY: alternating a persistent key (100-byte
                           value) and a key with a random TTL (1900-byte value, 1-30 days). Prints JSON:
                           peak used_memory seen (sampled every batch), OOM replies, whether any
                           persistent key was evicted, and for volatile-* policies where the TTLs of
                           surviving keys rank among all TTLs written (0.5 = TTL ignored, towards 1
                           when the soonest-expiring are evicted first).
  zipf   PORT POLICY       cache-aside Zipf(1.0) workload over 200k keys of 1000 bytes: GET, SET on
                           a miss; warm-up, then measured hit ratio. Prints JSON.
  heap   PORT KEYS         load KEYS small strings, MEMORY PURGE (compacting GC on Kvasir), print
                           used_memory, RSS and the GC heap size (Kvasir) as JSON.
"""
import bisect, json, random, socket, sys, time

class Resp:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    @staticmethod
    def encode(*args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            if not isinstance(a, bytes): a = str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        return b"".join(out)

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.s.recv(1 << 20)
            if not chunk: raise EOFError
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            chunk = self.s.recv(1 << 20)
            if not chunk: raise EOFError
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def read(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t in (b"+",): return rest.decode()
        if t == b"-": return Exception(rest.decode())
        if t == b":": return int(rest)
        if t == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise ValueError(line)

    def pipeline(self, commands):
        self.s.sendall(b"".join(commands))
        return [self.read() for _ in commands]

    def call(self, *args):
        return self.pipeline([self.encode(*args)])[0]

    def info(self, section):
        text = self.call("INFO", section).decode()
        return dict(l.split(":", 1) for l in text.split("\r\n") if ":" in l)


def fill(port, policy, mb):
    r = Resp(port)
    r.call("FLUSHALL")
    r.call("CONFIG", "RESETSTAT")
    r.call("CONFIG", "SET", "maxmemory-policy", policy)
    rnd = random.Random(42)
    small, big = b"p" * 100, b"v" * 1900
    written, batch, peak, ooms = 0, [], 0, 0
    persistent_ok, volatile_ttl = 0, {}
    i = 0
    while written < mb * 1024 * 1024:
        batch.append(r.encode("SET", "p:%d" % i, small)); written += 100
        ttl = rnd.randint(86400, 30 * 86400)
        volatile_ttl[i] = ttl
        batch.append(r.encode("SET", "v:%d" % i, big, "EX", ttl)); written += 1900
        i += 1
        if len(batch) >= 200:
            for j, rep in enumerate(r.pipeline(batch)):
                if isinstance(rep, Exception):
                    if not str(rep).startswith("OOM"): raise rep
                    ooms += 1
                elif j % 2 == 0:
                    persistent_ok += 1
            batch = []
            peak = max(peak, int(r.info("memory")["used_memory"]))
    if batch:
        for j, rep in enumerate(r.pipeline(batch)):
            if isinstance(rep, Exception): ooms += 1
            elif j % 2 == 0: persistent_ok += 1
    peak = max(peak, int(r.info("memory")["used_memory"]))
    # Which keys survived (EXISTS in batches).
    n = i
    alive_p = sum(x for x in r.pipeline([r.encode("EXISTS", "p:%d" % k) for k in range(n)]))
    alive_v = r.pipeline([r.encode("EXISTS", "v:%d" % k) for k in range(n)])
    result = {"policy": policy, "written_mb": mb, "peak_used": peak, "oom_replies": ooms,
              "persistent_written": persistent_ok, "persistent_alive": alive_p,
              "volatile_alive": sum(alive_v), "evicted_keys": int(r.info("stats")["evicted_keys"])}
    if policy.startswith("volatile") and sum(alive_v):
        # Where the surviving keys' TTLs rank among all TTLs written (0 = soonest, 1 = latest): about
        # 0.5 when victims are chosen regardless of TTL, towards 1 when the soonest go first.
        ranked = sorted(volatile_ttl.values())
        ranks = [bisect.bisect_left(ranked, volatile_ttl[k]) / len(ranked) for k in range(n) if alive_v[k]]
        result["survivor_ttl_rank"] = round(sum(ranks) / len(ranks), 4)
    mem = r.info("memory")
    for f in ("used_memory", "used_memory_rss", "gc_heap_size", "gc_committed"):
        if f in mem: result[f] = int(mem[f])
    print(json.dumps(result))


def zipf(port, policy, keys=200_000, warm=150_000, ops=300_000, s=1.0):
    r = Resp(port)
    r.call("FLUSHALL")
    r.call("CONFIG", "RESETSTAT")
    r.call("CONFIG", "SET", "maxmemory-policy", policy)
    weights = [1.0 / (k + 1) ** s for k in range(keys)]
    cum, t = [], 0.0
    for w in weights:
        t += w; cum.append(t)
    rnd = random.Random(7)
    perm = list(range(keys)); rnd.shuffle(perm)  # hot keys spread over the key space
    value = b"z" * 1000

    def run(n):
        hits = gets = 0
        done = 0
        while done < n:
            ks = [perm[bisect.bisect_left(cum, rnd.random() * t)] for _ in range(100)]
            reps = r.pipeline([r.encode("GET", "z:%d" % k) for k in ks])
            misses = [k for k, v in zip(ks, reps) if v is None]
            gets += len(ks); hits += len(ks) - len(misses)
            if misses: r.pipeline([r.encode("SET", "z:%d" % k, value) for k in misses])
            done += len(ks)
        return hits, gets

    run(warm)
    t0 = time.time()
    hits, gets = run(ops)
    print(json.dumps({"policy": policy, "hit_ratio": round(hits / gets, 4), "ops": gets, "seconds": round(time.time() - t0, 1),
                      "used_memory": int(r.info("memory")["used_memory"]), "evicted_keys": int(r.info("stats")["evicted_keys"])}))


def heap(port, keys):
    r = Resp(port)
    r.call("FLUSHALL")
    r.call("CONFIG", "SET", "maxmemory", "0")
    for start in range(0, keys, 1000):
        r.pipeline([r.encode("SET", "key:%012d" % k, "val:%d" % k) for k in range(start, min(keys, start + 1000))])
    r.call("MEMORY", "PURGE")
    time.sleep(0.5)
    mem = r.info("memory")
    out = {"keys": keys}
    for f in ("used_memory", "used_memory_rss", "gc_heap_size", "gc_committed"):
        if f in mem: out[f] = int(mem[f])
    print(json.dumps(out))


if __name__ == "__main__":
    cmd, port = sys.argv[1], int(sys.argv[2])
    if cmd == "fill": fill(port, sys.argv[3], int(sys.argv[4]))
    elif cmd == "zipf": zipf(port, sys.argv[3])
    elif cmd == "heap": heap(port, int(sys.argv[3]))
    else: sys.exit(__doc__)
