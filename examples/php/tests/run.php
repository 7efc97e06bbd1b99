<?php
// Tests of the PHP examples against a running Kvasir: KVASIR_PORT=6379 php tests/run.php
// Prints one line per test and exits non-zero when one fails.
declare(strict_types=1);
require __DIR__ . '/../ratelimit.php';

$port = (int)(getenv('KVASIR_PORT') ?: 6379);
$prefix = 'shop:phpsess:' . getmypid() . ':';
$redis = new Redis();
$redis->connect('127.0.0.1', $port);
$failures = 0;

function check(bool $ok, string $what): void
{
    if (!$ok) throw new RuntimeException($what);
}

function test(string $name, callable $body): void
{
    global $failures;
    try {
        $body();
        echo "ok - $name\n";
    } catch (Throwable $e) {
        $failures++;
        echo "not ok - $name: {$e->getMessage()}\n";
    }
}

/** Starts session_worker.php as a separate PHP process configured for redis sessions. */
function worker(string $sid, string $key, string $value, int $holdMs)
{
    global $port, $prefix;
    $cmd = [PHP_BINARY,
        '-d', 'session.save_handler=redis',
        // Quoted: an unquoted ini value may not contain '='.
        '-d', "session.save_path=\"tcp://127.0.0.1:{$port}?prefix={$prefix}\"",
        '-d', 'session.use_cookies=0',
        '-d', 'redis.session.locking_enabled=1',
        '-d', 'redis.session.lock_retries=-1',     // wait as long as it takes
        '-d', 'redis.session.lock_wait_time=20000', // retry every 20 ms
        '-d', 'redis.session.lock_expire=30',
        __DIR__ . '/../session_worker.php', $sid, $key, $value, (string)$holdMs];
    $proc = proc_open($cmd, [1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes);
    return [$proc, $pipes];
}

function finish(array $w): array
{
    [$proc, $pipes] = $w;
    $out = stream_get_contents($pipes[1]);
    $err = stream_get_contents($pipes[2]);
    $code = proc_close($proc);
    check($code === 0, "worker exited with $code: $out $err");
    return json_decode($out, true, flags: JSON_THROW_ON_ERROR);
}

test('rate limiter: 10 per window allowed, then 429, the window has a TTL', function () use ($redis) {
    $client = 'client-' . getmypid();
    $redis->del("ratelimit:$client");
    $allowed = 0;
    for ($i = 0; $i < 12; $i++) {
        $r = rate_limit($redis, $client, 10, 60);
        if ($r['allowed']) $allowed++;
    }
    check($allowed === 10, "allowed $allowed of 12");
    check($r['count'] === 12 && $r['remaining'] === 0, 'count ' . $r['count']);
    check($r['reset_in'] > 55 && $r['reset_in'] <= 60, 'reset_in ' . $r['reset_in']);
    check($redis->ttl("ratelimit:$client") > 55, 'ttl');
});

test('rate limiter: a new window starts when the counter expires', function () use ($redis) {
    $client = 'short-' . getmypid();
    $redis->del("ratelimit:$client");
    for ($i = 0; $i < 3; $i++) rate_limit($redis, $client, 2, 1);
    check(!rate_limit($redis, $client, 2, 1)['allowed'], 'still limited');
    usleep(1_200_000);
    $r = rate_limit($redis, $client, 2, 1);
    check($r['allowed'] && $r['count'] === 1, 'not reset: count ' . $r['count']);
});

test('rate limiter: a counter left without TTL gets one', function () use ($redis) {
    $client = 'orphan-' . getmypid();
    $redis->set("ratelimit:$client", '5');
    $r = rate_limit($redis, $client, 10, 30);
    check($r['count'] === 6 && $redis->ttl("ratelimit:$client") > 25, 'ttl ' . $redis->ttl("ratelimit:$client"));
});

test('sessions: stored under the prefix with the session lifetime as TTL, read back by the next request', function () use ($redis, $prefix) {
    $sid = 'a' . bin2hex(random_bytes(12));
    finish(worker($sid, 'cart', 'book', 0));
    $second = finish(worker($sid, 'cart', 'pen', 0));
    check($second['before'] === ['book'], 'second request saw ' . json_encode($second['before']));
    $raw = $redis->get($prefix . $sid);
    check(is_string($raw) && str_contains($raw, 'book') && str_contains($raw, 'pen'), "stored: $raw");
    $ttl = $redis->ttl($prefix . $sid);
    $lifetime = (int)ini_get('session.gc_maxlifetime');
    check($ttl > $lifetime - 10 && $ttl <= $lifetime, "ttl $ttl, lifetime $lifetime");
    check($redis->exists($prefix . $sid . '_LOCK') === 0, 'lock left behind');
});

test('sessions: locking serialises two requests of the same session', function () use ($redis, $prefix) {
    $sid = 'b' . bin2hex(random_bytes(12));
    $first = worker($sid, 'steps', 'first', 800);
    // Wait until the first request holds the lock, then start the second.
    $deadline = microtime(true) + 20;
    while ($redis->exists($prefix . $sid . '_LOCK') === 0) {
        check(microtime(true) < $deadline, 'the first request never took the lock');
        usleep(5000);
    }
    $second = worker($sid, 'steps', 'second', 0);
    $a = finish($first);
    $b = finish($second);
    check($b['started'] >= $a['released'] - 0.005, sprintf('second started %.3f s before the first released', $a['released'] - $b['started']));
    check($b['before'] === ['first'], 'second saw ' . json_encode($b['before']));
    check($redis->exists($prefix . $sid . '_LOCK') === 0, 'lock left behind');
});

$keys = $redis->keys($prefix . '*');
if ($keys) $redis->del($keys);
echo $failures === 0 ? "all passed\n" : "$failures failed\n";
exit($failures === 0 ? 0 : 1);
