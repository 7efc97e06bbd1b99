#!/usr/bin/env python3
"""Derives Kvasir's command catalog (facts only) from a real Valkey's COMMAND INFO and COMMAND DOCS
output kept in ../shared/reference/valkey-8.1-dev/.

Only interface facts are kept: arity, flags (and the hidden ones COMMAND INFO omits), key positions and key specs, ACL categories, tips,
group, since, deprecation and the argument structure (names, types, tokens, flags) that clients
such as valkey-cli read for hints. Prose (summaries, complexity, history) is not copied: Kvasir's
own summaries live in src/Kvasir/Commands/Catalog/CommandSummaries.cs.

Commands newer than the reference server (Valkey 9's hash field expiry: HEXPIRE, HSETEX, ...) are
not in its output: their facts are kept in tools/command-catalog-extra.json, already in the catalog's
own entry format (transcribed from Valkey 9's src/commands/*.json: arity, flags, key specs, ACL
categories with the implicit ones COMMAND INFO adds, arguments), and merged here, replacing any
reference entry of the same name. To add one, append an entry there and re-run this script.

Usage: tools/gen-command-catalog.py [reference-dir]  (writes src/Kvasir/Commands/Catalog/commands.json)
"""
import json, os, sys

here = os.path.dirname(os.path.abspath(__file__))
ref = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, '..', '..', 'shared', 'reference', 'valkey-8.1-dev')
info = json.load(open(os.path.join(ref, 'command-info.json')))
docs = json.load(open(os.path.join(ref, 'command-docs.json')))

def args_of(a_list):
    out = []
    for a in a_list:
        o = {'name': a['name'], 'type': a['type']}
        for k in ('display_text', 'key_spec_index', 'token', 'flags', 'since', 'deprecated_since'):
            if k in a:
                o[k] = a[k]
        if 'arguments' in a:
            o['arguments'] = args_of(a['arguments'])
        out.append(o)
    return out

defs_dir = os.path.join(ref, 'command-defs')

def hidden_flags(name, shown):
    """Flags the command definition has but COMMAND INFO does not show (protected, may_replicate,
    touches_arbitrary_keys): the dispatcher and propagation need them."""
    path = os.path.join(defs_dir, name.replace('|', '-') + '.json')
    if not os.path.exists(path):
        return []
    d = json.load(open(path))
    body = next(iter(d.values()))
    flags = [f.lower() for f in body.get('command_flags', [])]
    return [f for f in flags if f not in shown]

def convert(entry, doc):
    name, arity, flags, first, last, step, acl, tips, specs, subs = entry
    c = {'name': name, 'arity': arity, 'flags': flags, 'first': first, 'last': last, 'step': step,
         'acl': acl, 'tips': tips, 'keySpecs': specs}
    hidden = hidden_flags(name, flags)
    if hidden:
        c['hiddenFlags'] = hidden
    if doc:
        for k in ('group', 'since', 'deprecated_since', 'doc_flags'):
            if k in doc:
                c[k] = doc[k]
        if 'arguments' in doc:
            c['arguments'] = args_of(doc['arguments'])
    if subs:
        subdocs = (doc or {}).get('subcommands', {})
        c['subcommands'] = [convert(s, subdocs.get(s[0])) for s in sorted(subs, key=lambda s: s[0])]
    return c

catalog = [convert(e, docs.get(e[0])) for e in sorted(info, key=lambda e: e[0])]

# Sentinel-only commands (the SENTINEL container) are absent from a data node's COMMAND output; their
# facts come from the command definitions, converted the way Valkey's populateCommandStructure and
# COMMAND DOCS present them: implicit ACL categories (admin -> @admin @dangerous, not fast -> @slow),
# the sentinel/only_sentinel flags hidden, display_text on every argument that is not a block or oneof.
DEF_FLAG_ORDER = ['optional', 'multiple', 'multiple_token']
# The order in which COMMAND INFO lists ACL categories (Valkey's ACLCommandCategories table).
ACL_CATEGORY_ORDER = ['@keyspace', '@read', '@write', '@set', '@sortedset', '@list', '@hash', '@string', '@bitmap',
                      '@hyperloglog', '@geo', '@stream', '@pubsub', '@admin', '@fast', '@slow', '@blocking',
                      '@dangerous', '@connection', '@transaction', '@scripting']

def def_args(a_list):
    out = []
    for a in a_list:
        o = {'name': a['name'], 'type': a['type']}
        if a['type'] not in ('block', 'oneof'):
            o['display_text'] = a.get('display', a['name'])
        if 'token' in a:
            o['token'] = a['token']
        flags = [f for f in DEF_FLAG_ORDER if a.get(f)]
        if flags:
            o['flags'] = flags
        for k in ('since', 'deprecated_since'):
            if k in a:
                o[k] = a[k]
        if 'arguments' in a:
            o['arguments'] = def_args(a['arguments'])
        out.append(o)
    return out

def from_def(name, body, parent=None):
    flags = [f.lower() for f in body.get('command_flags', [])]
    shown = [f for f in flags if f not in ('sentinel', 'only_sentinel')]
    acl = {'@' + c.lower() for c in body.get('acl_categories', [])}
    if 'admin' in flags:
        acl |= {'@admin', '@dangerous'}
    if 'fast' in flags:
        acl.add('@fast')
    if '@fast' not in acl:
        acl.add('@slow')
    acl = [c for c in ACL_CATEGORY_ORDER if c in acl]
    c = {'name': name, 'arity': body['arity'], 'flags': shown, 'first': 0, 'last': 0, 'step': 0,
         'acl': acl, 'tips': [t.lower() for t in body.get('command_tips', [])], 'keySpecs': [],
         'hiddenFlags': [f for f in flags if f in ('sentinel', 'only_sentinel')],
         'group': body.get('group', 'generic'), 'since': body['since']}
    if 'deprecated_since' in body:
        c['deprecated_since'] = body['deprecated_since']
    if 'doc_flags' in body:
        c['doc_flags'] = [f.lower() for f in body['doc_flags']]
    if 'arguments' in body:
        c['arguments'] = def_args(body['arguments'])
    return c

def sentinel_only_commands():
    containers, subs = {}, {}
    for fn in sorted(os.listdir(defs_dir)):
        if not fn.endswith('.json'):
            continue
        d = json.load(open(os.path.join(defs_dir, fn)))
        (cmd, body), = d.items()
        if 'ONLY_SENTINEL' not in body.get('command_flags', []):
            continue
        if 'container' in body:
            subs.setdefault(body['container'].lower(), []).append((cmd.lower(), body))
        else:
            containers[cmd.lower()] = body
    out = []
    for name, body in containers.items():
        c = from_def(name, body)
        if name in subs:
            c['subcommands'] = [from_def(name + '|' + s, b) for s, b in sorted(subs[name])]
        out.append(c)
    return out

if os.path.isdir(defs_dir):
    known = {c['name'] for c in catalog}
    catalog += [c for c in sentinel_only_commands() if c['name'] not in known]
    catalog.sort(key=lambda c: c['name'])
extra_path = os.path.join(here, 'command-catalog-extra.json')
if os.path.exists(extra_path):
    extra = {c['name']: c for c in json.load(open(extra_path))}
    catalog = [c for c in catalog if c['name'] not in extra] + list(extra.values())
    catalog.sort(key=lambda c: c['name'])
out = os.path.join(here, '..', 'src', 'Kvasir', 'Commands', 'Catalog', 'commands.json')
with open(out, 'w') as f:
    json.dump(catalog, f, separators=(',', ':'), sort_keys=False)
    f.write('\n')
print(f'{len(catalog)} commands -> {os.path.relpath(out)}')
