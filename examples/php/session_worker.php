<?php
// One "request" that uses a PHP session stored in Kvasir by php-redis's session handler.
// Configured like a php.ini would (the test passes these as -d options):
//   session.save_handler = redis
//   session.save_path = "tcp://127.0.0.1:6379?prefix=shop:phpsess:"   (quoted: the value holds a "=")
//   redis.session.locking_enabled = 1
// Usage: php session_worker.php <session id> <key> <value> <hold ms>
// Starts the session (waiting for its lock), appends <value> to the list under <key>, keeps the
// session open <hold ms>, closes it, and prints what it saw as JSON.
declare(strict_types=1);

[, $sid, $key, $value, $holdMs] = $argv;
session_id($sid);
$asked = microtime(true);
if (!session_start()) {
    fwrite(STDERR, "session_start failed\n");
    exit(1);
}
$started = microtime(true);
$before = $_SESSION[$key] ?? [];
$_SESSION[$key] = [...$before, $value];
usleep((int)$holdMs * 1000);
session_write_close();
echo json_encode(['asked' => $asked, 'started' => $started, 'released' => microtime(true), 'before' => $before]), "\n";
