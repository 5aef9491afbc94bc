#!/usr/bin/env python3
"""mpbench's reports, checked on crafted runs (no benchmark is run, so no
timing enters): --compare lists exactly the rows whose spreads part, --svg
writes well-formed SVG with one bar per row that has a ratio, --from reads
a saved run back into the same table and JSON.

usage: check.py MPBENCH DIR   (DIR holds old.json and new.json)
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

MPBENCH, DIR = sys.argv[1], sys.argv[2]
OLD, NEW = os.path.join(DIR, 'old.json'), os.path.join(DIR, 'new.json')
failures = []


def run(*args):
    p = subprocess.run([MPBENCH, *args], capture_output=True, text=True,
                       timeout=60)
    return p.returncode, p.stdout, p.stderr


def check(cond, what):
    print(('ok    ' if cond else 'FAIL  ') + what)
    if not cond:
        failures.append(what)


def moved_rows(out):
    """The row names --compare lists as moved."""
    names = []
    for line in out.splitlines():
        if ' -> ' in line:
            names.append(line.split()[0])
    return names


# --compare: two rows moved beyond their spreads (one better, one worse);
# the others overlap; one row each side has no partner.
rc, out, err = run('--compare', OLD, NEW)
check(rc == 1, f'--compare OLD NEW exits 1 when rows moved (got {rc}: {err})')
moved = moved_rows(out)
check(moved == ['lock.uncontended/glibc', 'queue.1p1c64/python'],
      f'--compare lists the two rows that moved, in order (got {moved})')
lines = {l.split()[0]: l for l in out.splitlines() if ' -> ' in l}
check('better' in lines.get('lock.uncontended/glibc', ''),
      'a time that fell is better')
check('worse' in lines.get('queue.1p1c64/python', ''),
      'a rate that fell is worse')
check(f'only in {NEW}: conn.new/pipe' in out and
      f'only in {OLD}: conn.gone/pipe' in out,
      '--compare names the rows only one run has')

rc, out, err = run('--compare', OLD, OLD)
check(rc == 0 and moved_rows(out) == [] and 'No row moved' in out,
      f'--compare OLD OLD: nothing moved, exit 0 (got {rc})')

with tempfile.TemporaryDirectory() as tmp:
    bad = os.path.join(tmp, 'bad.json')
    with open(bad, 'w') as f:
        f.write('[{"name": "x", "mproc": }]')
    rc, out, err = run('--compare', OLD, bad)
    check(rc == 2 and 'bad.json' in err,
          f'--compare on a malformed file exits 2 and names it (got {rc})')
    rc, out, err = run('--compare', OLD, os.path.join(tmp, 'missing.json'))
    check(rc == 2, f'--compare on a missing file exits 2 (got {rc})')

    # --svg from a saved run: well-formed, one bar per row with a ratio,
    # one goal mark per row with a goal, every row named.
    with open(OLD) as f:
        rows = json.load(f)
    svg = os.path.join(tmp, 'run.svg')
    rc, out, err = run('--from', OLD, '--svg', svg)
    check(rc == 0, f'--from OLD --svg exits 0 (got {rc}: {err})')
    try:
        root = ET.parse(svg).getroot()
        ok = True
    except (ET.ParseError, OSError) as e:
        root, ok = None, False
        print(e)
    check(ok, '--svg writes well-formed XML')
    if root is not None:
        ns = '{http://www.w3.org/2000/svg}'
        check(root.tag == ns + 'svg', f'its root is <svg> (got {root.tag})')
        bars = [e for e in root.iter(ns + 'rect') if e.get('class') == 'bar']
        want = sum(1 for r in rows if r['speedup'])
        check(len(bars) == want,
              f'one bar per row with a ratio ({len(bars)}, want {want})')
        goals = [e for e in root.iter(ns + 'line')
                 if e.get('class') == 'goal']
        want = sum(1 for r in rows if r['goal'])
        check(len(goals) == want,
              f'one goal mark per row with a goal ({len(goals)}, want {want})')
        texts = ''.join(''.join(e.itertext()) for e in root.iter(ns + 'text'))
        check(all(r['name'] in texts for r in rows), 'every row is named')
        check('python3 not found' in texts,
              "a row without a ratio says why")

# --from ... --json: the same rows and values back, extra keys kept.
rc, out, err = run('--from', OLD, '--json')
check(rc == 0, f'--from OLD --json exits 0 (got {rc}: {err})')
back = json.loads(out) if rc == 0 else []
check([r['name'] for r in back] == [r['name'] for r in rows],
      'the rows come back in order')
keys = ['mproc', 'mproc_min', 'mproc_max', 'baseline_value', 'baseline_min',
        'baseline_max', 'speedup', 'goal']
same = all(abs((a[k] or 0) - (b[k] or 0)) <= 1e-5 * abs(a[k] or 1)
           for a, b in zip(rows, back) for k in keys)
check(same, 'their values come back')
ev = next((r for r in back if r['name'] == 'event.pingpong/futex'), {})
check(ev.get('mproc_p99_ns') == 9000 and ev.get('baseline_samples') == 220000,
      'the tails come back')
check(next(r for r in back if r['name'].startswith('queue'))
      .get('skipped') == 'python3 not found', 'a skipped side stays skipped')

# The table: the header over its values, the legend, SI prefixes.
rc, out, err = run('--from', OLD)
check(rc == 0, f'--from OLD prints the table (got {rc})')
text = out.splitlines()
head = next((l for l in text if l.startswith('benchmark')), '')
end = head.find('speedup') + len('speedup')
names = {r['name'] for r in rows}
aligned = [l for l in text if l.split(' ')[0] in names]
check(len(aligned) == len(rows) and
      all(l[end - 1] in 'x-' for l in aligned),
      'every speedup ends under the header\'s')
check('25.0M' in out and not re.search(r'\d[eE][+-]\d', out),
      'numbers carry SI prefixes, never an exponent')
check('How to read it' in out and 'p99.9' in out, 'a legend and the tails')
check('full run' in out, 'the table says what kind of run it was')

# The registry has the tail rows.
rc, out, err = run('--list')
listed = out.split()
check('queue.rt64_p99/posix_mq' in listed and
      'event.pingpong_p99/futex' in listed, '--list has the *_p99 rows')

print(f'{len(failures)} failure(s)')
sys.exit(1 if failures else 0)
