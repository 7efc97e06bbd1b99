<?php
// A fixed-window rate limiter on Kvasir with php-redis: one counter per client and window,
// INCR to count, EXPIRE (set by the first request of the window) to end the window.
declare(strict_types=1);

/**
 * Counts one request of $client and says whether it is allowed: at most $limit per $windowSeconds.
 * @return array{allowed: bool, count: int, remaining: int, reset_in: int}
 */
function rate_limit(Redis $redis, string $client, int $limit, int $windowSeconds): array
{
    $key = "ratelimit:{$client}";
    $count = $redis->incr($key);
    if ($count === 1) {
        $redis->expire($key, $windowSeconds);
    }
    $ttl = $redis->ttl($key);
    if ($ttl === -1) {
        // The request that created the counter died before its EXPIRE: end the window now.
        $redis->expire($key, $windowSeconds);
        $ttl = $windowSeconds;
    }
    return [
        'allowed' => $count <= $limit,
        'count' => $count,
        'remaining' => max(0, $limit - $count),
        'reset_in' => max(0, $ttl),
    ];
}

// As a page: php -S 127.0.0.1:8080 ratelimit.php, then curl -i http://127.0.0.1:8080/
if (PHP_SAPI !== 'cli' && basename($_SERVER['SCRIPT_FILENAME'] ?? '') === 'ratelimit.php') {
    $redis = new Redis();
    $redis->connect(getenv('KVASIR_HOST') ?: '127.0.0.1', (int)(getenv('KVASIR_PORT') ?: 6379));
    $r = rate_limit($redis, $_SERVER['REMOTE_ADDR'] ?? 'cli', 10, 60);
    header('X-RateLimit-Remaining: ' . $r['remaining']);
    header('X-RateLimit-Reset: ' . $r['reset_in']);
    if (!$r['allowed']) {
        http_response_code(429);
        echo "Too many requests\n";
        return;
    }
    echo "Hello\n";
}
