#!/usr/bin/env python3
"""Fills one hash slot with N keys on the node serving it, then times moving that slot to another
primary the way redis-cli --cluster reshard does: SETSLOT IMPORTING/MIGRATING, GETKEYSINSLOT +
MIGRATE ... KEYS in batches, SETSLOT NODE on both. Prints the seconds the move took.

usage: cluster_migrate.py KEYS PORT... (the node serving the slot moves it to another one)
"""
import sys
import time

import redis


def main():
    keys, ports = int(sys.argv[1]), [int(p) for p in sys.argv[2:]]
    batch = 1000
    any_node = redis.Redis(port=ports[0])
    slot = any_node.execute_command('CLUSTER', 'KEYSLOT', '{bench}')
    src_port = next(r[2][1] for r in any_node.execute_command('CLUSTER', 'SLOTS') if r[0] <= slot <= r[1])
    dst_port = next(p for p in ports if p != src_port)
    src = redis.Redis(port=src_port)
    dst = redis.Redis(port=dst_port)
    value = b'x' * 32
    pipe = src.pipeline(transaction=False)
    for i in range(keys):
        pipe.set(f'{{bench}}:{i}', value)
        if i % 10000 == 9999:
            pipe.execute()
    pipe.execute()
    assert src.execute_command('CLUSTER', 'COUNTKEYSINSLOT', slot) == keys
    src_id = src.execute_command('CLUSTER', 'MYID')
    dst_id = dst.execute_command('CLUSTER', 'MYID')
    start = time.monotonic()
    dst.execute_command('CLUSTER', 'SETSLOT', slot, 'IMPORTING', src_id)
    src.execute_command('CLUSTER', 'SETSLOT', slot, 'MIGRATING', dst_id)
    while True:
        batch_keys = src.execute_command('CLUSTER', 'GETKEYSINSLOT', slot, batch)
        if not batch_keys:
            break
        src.execute_command('MIGRATE', '127.0.0.1', dst_port, '', 0, 60000, 'KEYS', *batch_keys)
    dst.execute_command('CLUSTER', 'SETSLOT', slot, 'NODE', dst_id)
    src.execute_command('CLUSTER', 'SETSLOT', slot, 'NODE', dst_id)
    elapsed = time.monotonic() - start
    assert dst.execute_command('CLUSTER', 'COUNTKEYSINSLOT', slot) == keys
    print(f'{elapsed:.3f}')


if __name__ == '__main__':
    main()
