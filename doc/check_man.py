#!/usr/bin/env python3
"""check_man.py - the man pages cover the library and are well formed.

  - every symbol libmproc.so exports (nm -D --defined-only) has a page
    <symbol>.3 among the generated ones;
  - every `.so` page points at a page that exists;
  - every real page, and the hand-written ones given as arguments, passes
    groff with all warnings (-ww) without a word on stderr, and the area
    and hand-written pages man's own check (man --warnings) too, when man
    is installed;
  - each has a NAME line of the form "name \\- what it is".

usage: check_man.py --pages DIR --lib LIBMPROC.so [PAGE...]
Exits 0 when all holds, 1 when not, 77 (skip) without nm or groff.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys


def exported(lib):
    out = subprocess.run(['nm', '-D', '--defined-only', lib], check=True,
                         capture_output=True, text=True).stdout
    syms = set()
    for ln in out.splitlines():
        parts = ln.split()
        if len(parts) == 3 and parts[1] != 'A':  # A: the version node
            syms.add(parts[2].split('@')[0])
    return syms


ENV = dict(os.environ, LC_ALL='C.UTF-8', MANWIDTH='80')


def groff(paths):
    """groff's warnings (-ww) for the pages, in one run: it names the file
    and line of each."""
    r = subprocess.run(['groff', '-man', '-ww', '-z', '-Tutf8'] + paths,
                       capture_output=True, text=True, env=ENV,
                       stdin=subprocess.DEVNULL)
    out = r.stderr.strip()
    if r.returncode and not out:
        out = 'groff: exit %d' % r.returncode
    return [out] if out else []


def lint(path, with_man):
    """man's warnings (with_man) and the NAME line's form."""
    problems = []
    if with_man:
        r = subprocess.run(['man', '--warnings', '-l', path],
                           capture_output=True, text=True, env=ENV,
                           stdin=subprocess.DEVNULL,
                           cwd=os.path.dirname(path) or '.')
        if r.returncode or r.stderr.strip():
            problems.append('man: ' + (r.stderr.strip() or 'exit %d'
                                       % r.returncode))
    with open(path, encoding='utf-8') as f:
        text = f.read()
    m = re.search(r'^\.SH NAME\n(.*)\n', text, re.M)
    if not m or not re.match(r'^[\w, ]+ \\- \S', m.group(1)):
        problems.append('no NAME line "name \\- what it is"')
    return problems


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--pages', required=True)
    ap.add_argument('--lib', required=True)
    ap.add_argument('extra', nargs='*')
    args = ap.parse_args()
    for tool in ('nm', 'groff'):
        if not shutil.which(tool):
            print('SKIP: %s is not installed' % tool)
            return 77
    pages = {f for f in os.listdir(args.pages) if f.endswith('.3')}
    failed = 0
    syms = exported(args.lib)
    if not syms:
        print('no exported symbols in %s' % args.lib)
        failed += 1
    for s in sorted(syms):
        if s + '.3' not in pages:
            print('%s: exported, but no man page %s.3 (document it in its'
                  ' header)' % (s, s))
            failed += 1
    real = []
    for p in sorted(pages):
        path = os.path.abspath(os.path.join(args.pages, p))
        with open(path, encoding='utf-8') as f:
            first = f.readline().strip()
        if first.startswith('.so '):
            target = os.path.basename(first[4:])
            if target not in pages:
                print('%s: .so to %s, which is not generated' % (p, target))
                failed += 1
        else:
            real.append(path)
    # man adds its preprocessors and encoding checks to groff's, at ~0.4 s
    # a page: the area pages and the hand-written ones, which hold every
    # construct the generated function pages use.
    has_man = shutil.which('man') is not None
    for problem in groff(real + [os.path.abspath(p) for p in args.extra]):
        print(problem)
        failed += 1
    extra = [os.path.abspath(p) for p in args.extra]
    for path in real + extra:
        base = os.path.basename(path)
        with_man = has_man and (base.startswith('mproc') or
                                path in extra)
        for problem in lint(path, with_man):
            print('%s: %s' % (path, problem))
            failed += 1
    print('%d exported symbols, %d pages (%d with text of their own): '
          '%s' % (len(syms), len(pages), len(real),
                  'FAILED, %d problems' % failed if failed else 'ok'))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
