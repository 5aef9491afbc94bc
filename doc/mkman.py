#!/usr/bin/env python3
"""mkman.py - section 3 man pages from mproc's public headers.

The headers are the one source: each area header's opening comment, its
declarations and the comments above them.  For include/mproc/<area>.h this
writes
  mproc_<area>.3   the area: the opening comment, then every declaration
                   with its comment, in the header's order and sections;
  <function>.3     a page of its own for every function (exported or
                   static inline) whose declaration has a comment: its
                   prototypes and that comment; an `.so` link to the area
                   page for one declared in a group without a comment;
  <type>.3         an `.so` link to the area page for every public type.

usage: mkman.py --version V --outdir DIR [--list] HEADER...
--list prints the names of the files it would write (one a line, for
meson's outputs) and writes nothing.
"""
import argparse
import os
import re
import sys

RULER = re.compile(r'^/\*\s*-{2,}\s*(.*?)\s*-*\s*\*/$')
FUNC = re.compile(r'\b(mp_[a-z0-9][a-z0-9_]*)\s*\(')
TYPE = re.compile(r'\b(mp_[a-z0-9_]+_t)\s*;')
GUARD = re.compile(r'^#ifndef (MPROC_\w+_H)\n#define \1\n(.*)^#endif\s*\Z',
                   re.S | re.M)
CPLUS = re.compile(r'^#ifdef __cplusplus\n(extern "C" \{|\})\n#endif\n', re.M)


def esc(text):
    """Text for roff: backslashes escaped, no line read as a request."""
    text = text.replace('\\', '\\e')
    if text.startswith(('.', "'")):
        text = '\\&' + text
    return text


def comment_lines(block):
    """The text lines of a /* ... */ block, its decoration removed."""
    lines = block.split('\n')
    out = []
    for i, ln in enumerate(lines):
        s = ln.strip()
        if i == 0:
            s = s[2:]
            if s.startswith(' '):
                s = s[1:]
        if s.endswith('*/'):
            s = s[:-2]
        if i > 0 and s.startswith('*'):
            s = s[1:]
            if s.startswith(' '):
                s = s[1:]
        out.append(s.rstrip())
    while out and not out[0].strip():
        out.pop(0)
    while out and not out[-1].strip():
        out.pop()
    return out


def prose(lines):
    """Comment lines as roff: paragraphs, '- ' bullets, and lines indented
    past their paragraph (tables, lists of codes) kept as they are."""
    out = []
    bullet = None  # the indent of the open bullet's text
    verbatim = False
    for ln in lines:
        if not ln.strip():
            if verbatim:
                out.append('.fi')
                out.append('.RE')
                verbatim = False
            out.append('.PP')
            bullet = None
            continue
        ind = len(ln) - len(ln.lstrip(' '))
        body = ln.strip()
        if body.startswith('- ') and (bullet is None or ind < bullet):
            if verbatim:
                out += ['.fi', '.RE']
                verbatim = False
            out.append('.IP \\(bu 2')
            out.append(esc(body[2:]))
            bullet = ind + 2
            continue
        if bullet is not None and ind < bullet - 1:
            # Back to the paragraph's margin: the list has ended.
            if verbatim:
                out += ['.fi', '.RE']
                verbatim = False
            out.append('.PP')
            bullet = None
        base = bullet if bullet is not None else 0
        if ind > base and not verbatim:
            out += ['.RS 4', '.nf']
            verbatim = True
        elif ind <= base and verbatim:
            out += ['.fi', '.RE']
            verbatim = False
        out.append(esc(ln[base:] if verbatim else body))
    if verbatim:
        out += ['.fi', '.RE']
    while out and out[-1] == '.PP':
        out.pop()
    while out and out[0] == '.PP':
        out.pop(0)
    return out


def synopsis(lines):
    """Declarations as a reader wants them: an inline function's body
    dropped (its prototype stays), MP_API (the export attribute) too, with
    the continuation lines that were aligned after it."""
    out = []
    body = False
    shift = 0
    for ln in lines:
        if body:
            body = not ln.startswith('}')
            continue
        if ln.startswith('{') and out:
            out[-1] += ';'
            body = True
            continue
        if ln.startswith('MP_API '):
            ln = ln[len('MP_API '):]
            shift = len('MP_API ')
        elif shift and ln.startswith(' ' * shift):
            ln = ln[shift:]
        else:
            shift = 0
        out.append(ln)
        if ln.rstrip().endswith(';'):
            shift = 0
    return out


def code(lines):
    out = ['.PP', '.RS 4', '.nf', '.ft CR']
    out += [esc(ln.expandtabs(8).rstrip()) for ln in synopsis(lines)]
    out += ['.ft', '.fi', '.RE']
    return out


def items(text):
    """Split a header into ('comment', text), ('code', lines) and
    ('blank',) items.  A code item runs to a blank line outside braces."""
    lines = text.split('\n')
    res = []
    i = 0
    while i < len(lines):
        s = lines[i].strip()
        if not s:
            res.append(('blank',))
            i += 1
        elif s.startswith('/*'):
            j = i
            while '*/' not in lines[j]:
                j += 1
            res.append(('comment', '\n'.join(lines[i:j + 1])))
            i = j + 1
        else:
            depth = 0
            j = i
            chunk = []
            while j < len(lines):
                ln = lines[j]
                if not ln.strip() and depth == 0:
                    break
                if depth == 0 and chunk and ln.strip().startswith('/*'):
                    break
                chunk.append(ln)
                depth += ln.count('{') - ln.count('}')
                j += 1
            res.append(('code', chunk))
            i = j
    return res


def functions(chunk):
    """Public functions declared or defined in a code chunk."""
    s = re.sub(r'/\*.*?\*/', ' ', '\n'.join(chunk), flags=re.S)
    s = re.sub(r'^#.*$', '', s, flags=re.M)
    while True:  # bodies of inline functions (and struct members) go
        t = re.sub(r'\{[^{}]*\}', ';', s)
        if t == s:
            break
        s = t
    names = []
    for stmt in s.split(';'):
        stmt = ' '.join(stmt.split())
        if stmt.startswith(('MP_API', 'static inline')):
            m = FUNC.search(stmt)
            if m and not m.group(1).startswith('mp__'):
                names.append(m.group(1))
    return names


def internal(chunk):
    """Whether a chunk only defines mp__ helpers (not the reader's)."""
    text = '\n'.join(chunk)
    return 'mp__' in text and text.startswith('static inline') and \
        not functions(chunk)


def types(chunk):
    s = '\n'.join(chunk)
    if not s.lstrip().startswith('typedef') and not re.search(
            r'^}\s*mp_\w+_t;', s, re.M):
        return []
    return [(m.group(1), '{' in s) for m in TYPE.finditer(s)]


class Area:
    def __init__(self, path):
        self.path = path
        base = os.path.basename(path)[:-2]
        self.name = 'mproc_' + base
        text = open(path, encoding='utf-8').read()
        m = re.match(r'\s*(/\*.*?\*/)', text, re.S)
        if not m:
            sys.exit('%s: no opening comment' % path)
        head = comment_lines(m.group(1))
        first = head[0]
        # "mproc/sync.h - Lock, RLock, ..." possibly over several lines.
        k = 1
        while k < len(head) and head[k].strip():
            first += ' ' + head[k].strip()
            k += 1
        self.summary = first.split(' - ', 1)[1] if ' - ' in first else first
        self.intro = head[k:]
        self.groups = []  # (kind, payload): ruler / doc / comment / code
        rest = text[m.end():]
        g = GUARD.search(rest)
        if g:
            rest = rest[:g.start()] + g.group(2)
        rest = CPLUS.sub('', rest)
        rest = re.sub(r'^#include .*\n', '', rest, flags=re.M)
        body = items(rest)
        pending = None
        for it in body:
            if it[0] == 'blank':
                if pending is not None:
                    self.groups.append(('comment', pending))
                pending = None
            elif it[0] == 'comment':
                r = RULER.match(it[1].strip())
                if pending is not None:
                    self.groups.append(('comment', pending))
                    pending = None
                if r:
                    self.groups.append(('ruler', r.group(1)))
                else:
                    pending = comment_lines(it[1])
            else:
                lines = it[1]
                if internal(lines):
                    lines = []
                    pending = None
                if lines:
                    self.groups.append(('code', (pending, lines)))
                elif pending is not None:
                    self.groups.append(('comment', pending))
                pending = None
        if pending is not None:
            self.groups.append(('comment', pending))

    def functions(self):
        """(name, comment or None, code lines) for every public function."""
        res = []
        for kind, payload in self.groups:
            if kind == 'code':
                doc, lines = payload
                for f in functions(lines):
                    res.append((f, doc, lines))
        return res

    def types(self):
        res = []
        for kind, payload in self.groups:
            if kind == 'code':
                res += types(payload[1])
        return res


def th(name, section, version):
    return ['.\\" Generated by doc/mkman.py from the mproc headers: do not',
            '.\\" edit; edit the header comment instead.',
            '.TH %s %s "" "mproc %s" "mproc Programmer\'s Manual"'
            % (name.upper(), section, version)]


def summary_of(name, doc):
    """The NAME line's text: what follows "name - " up to the first full
    stop, or the comment's first sentence."""
    text = ' '.join(ln.strip() for ln in doc if ln.strip())
    m = re.match(r'(?:[\w/ ,*()]+?) - (.*)', text)
    if m and name in text.split(' - ', 1)[0]:
        text = m.group(1)
    s = re.split(r'(?<=[.:;])\s', text, 1)[0].rstrip('.:;')
    return s[:1].lower() + s[1:] if s[:2] != s[:2].upper() else s


def see_also(area, areas):
    refs = ['.BR mproc (7)'] + ['.BR %s (3)' % a.name for a in areas
                                if a is not area]
    return ['.SH SEE ALSO'] + [r + ',' for r in refs[:-1]] + [refs[-1]]


def area_page(area, areas, version):
    out = th(area.name, 3, version)
    out += ['.SH NAME', '%s \\- %s' % (area.name, esc(area.summary))]
    out += ['.SH SYNOPSIS', '.nf', '.B #include <mproc.h>', '.fi']
    out += ['.SH DESCRIPTION'] + prose(area.intro)
    out += ['.SH INTERFACE']
    for kind, payload in area.groups:
        if kind == 'ruler':
            out += ['.SS %s' % esc(payload)]
        elif kind == 'comment':
            out += ['.PP'] + prose(payload)
        else:
            doc, lines = payload
            out += code(lines)
            if doc:
                out += ['.PP'] + prose(doc)
    out += see_also(area, areas)
    return out


def func_page(name, doc, lines, area, version):
    group = functions(lines)
    out = th(name, 3, version)
    out += ['.SH NAME', '%s \\- %s' % (', '.join(group),
                                       esc(summary_of(name, doc)))]
    out += ['.SH SYNOPSIS', '.nf', '.B #include <mproc.h>', '.fi']
    out += code(lines)
    out += ['.SH DESCRIPTION'] + prose(doc)
    out += ['.PP', 'Conventions (errors, timeouts, signals, liveness):',
            '.BR mproc_common (3).']
    if area.name != 'mproc_common':
        out += ['The objects, their lifetimes and what a process\'s death',
                'leaves behind:', '.BR %s (3).' % area.name]
    out += ['.SH SEE ALSO', '.BR %s (3),' % area.name, '.BR mproc (7)']
    return out


def pages(paths, version):
    areas = [Area(p) for p in sorted(paths, key=os.path.basename)]
    files = {}
    for a in areas:
        files[a.name + '.3'] = area_page(a, areas, version)
    seen_types = {}
    for a in areas:
        for f, doc, lines in a.functions():
            key = f + '.3'
            if key in files:
                continue
            if doc:
                files[key] = func_page(f, doc, lines, a, version)
            else:
                files[key] = ['.so man3/%s.3' % a.name]
        for t, defined in a.types():
            # A type declared in several headers (a forward typedef) goes
            # to the area that defines it.
            if t + '.3' in files and t + '.3' not in seen_types:
                continue
            if t in seen_types and (seen_types[t] or not defined):
                continue
            seen_types[t] = defined
            files[t + '.3'] = ['.so man3/%s.3' % a.name]
    return files


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--version', required=True)
    ap.add_argument('--outdir', default='.')
    ap.add_argument('--list', action='store_true')
    ap.add_argument('headers', nargs='+')
    args = ap.parse_args()
    files = pages(args.headers, args.version)
    if args.list:
        print('\n'.join(sorted(files)))
        return
    for name, lines in files.items():
        with open(os.path.join(args.outdir, name), 'w',
                  encoding='utf-8') as f:
            f.write('\n'.join(lines) + '\n')


if __name__ == '__main__':
    main()
