#!/usr/bin/env python3
"""Splits one public pgha header into declarations (the header) and definitions
(include/pgha/impl/<name>.ipp), for PGHA_SEPARATE_COMPILATION (issue 22).

What moves to the .ipp:
  - bodies of non-template functions at namespace scope (`inline` becomes PGHA_DECL on
    the declaration and the definition: `inline` header-only, nothing in the compiled
    library);
  - bodies of member functions of non-template classes (in-class definitions become
    declarations; the definition is `PGHA_DECL auto Class::f(params) -> Ret { ... }`);
  - `= default` destructors, copy/move constructors and assignments (so that a class may
    hold std::unique_ptr<detail::Incomplete>);
  - private/protected member templates (used only by the moved bodies).
What stays: templates, members of class templates, constexpr/consteval functions,
friend functions defined in a class, functions with a deduced return type, anything in an
anonymous namespace, static free functions, names given with --keep.

Includes: every `#include "pgha/detail/..."` of the header is compiled only in the
header-only mode (`#ifndef PGHA_SEPARATE_COMPILATION`) and repeated at the top of the .ipp,
except those given with --keep-include and those that define a name the remaining header
cannot forward-declare (an alias, a function, a class template, a nested name). The
classes and enums of detail/ that the remaining header names get forward declarations.

The header-only mode is unchanged in meaning: the header includes its .ipp at its end
unless PGHA_SEPARATE_COMPILATION is defined.

Idempotent: a header that already includes pgha/build_mode.hpp is left alone.
Usage: split-header.py [--keep NAME]... [--keep-include pgha/detail/x.hpp]... HEADER
"""
import argparse
import os
import re
import sys

MARK = '#include "pgha/build_mode.hpp"'

PUNCTS = ['<<=', '>>=', '->*', '...', '::', '->', '<<', '>>', '<=', '>=', '==', '!=', '&&',
          '||', '++', '--', '+=', '-=', '*=', '/=', '%=', '&=', '|=', '^=', '##']
KEYWORDS_NOT_NAMES = {'decltype', 'noexcept', 'alignas', 'sizeof', 'static_assert',
                      '__attribute__', 'alignof', 'typeid', 'throw', 'return', 'if', 'for',
                      'while', 'switch', 'catch', 'void', 'int', 'bool', 'char', 'auto'}


class Tok:
    __slots__ = ('kind', 'text', 'start', 'end')

    def __init__(self, kind, text, start, end):
        self.kind, self.text, self.start, self.end = kind, text, start, end

    def __repr__(self):
        return '%s:%r' % (self.kind, self.text)


def tokenize(src):
    toks = []
    i, n = 0, len(src)
    line_start = True
    while i < n:
        c = src[i]
        if c == '\n':
            line_start = True
            i += 1
            continue
        if c in ' \t\r\f\v':
            i += 1
            continue
        if c == '#' and line_start:
            j = i
            while True:
                k = src.find('\n', j)
                if k == -1:
                    k = n
                # comments inside directives are kept in the directive text
                if k > 0 and src[k - 1] == '\\':
                    j = k + 1
                    continue
                break
            toks.append(Tok('pp', src[i:k], i, k))
            i = k
            continue
        line_start = False
        if src.startswith('//', i):
            k = src.find('\n', i)
            i = n if k == -1 else k
            continue
        if src.startswith('/*', i):
            k = src.find('*/', i + 2)
            i = n if k == -1 else k + 2
            continue
        m = re.match(r'(?:u8|u|U|L)?R"([^()\\ ]{0,16})\(', src[i:i + 24])
        if m:
            delim = ')' + m.group(1) + '"'
            k = src.find(delim, i + m.end())
            k = n if k == -1 else k + len(delim)
            toks.append(Tok('str', src[i:k], i, k))
            i = k
            continue
        m = re.match(r'(?:u8|u|U|L)?(["\'])', src[i:i + 3])
        if m and (c in '"\'' or not (src[i - 1:i].isalnum() or src[i - 1:i] == '_')):
            q = m.group(1)
            j = i + m.end()
            while j < n and src[j] != q:
                j += 2 if src[j] == '\\' else 1
            toks.append(Tok('str', src[i:j + 1], i, j + 1))
            i = j + 1
            continue
        if c.isalpha() or c == '_':
            m = re.match(r'[A-Za-z_]\w*', src[i:])
            toks.append(Tok('id', m.group(0), i, i + m.end()))
            i += m.end()
            continue
        if c.isdigit() or (c == '.' and src[i + 1:i + 2].isdigit()):
            m = re.match(r"[0-9.][0-9A-Za-z.'_]*(?:[eEpP][+-][0-9]+[A-Za-z]*)?", src[i:])
            toks.append(Tok('num', m.group(0), i, i + m.end()))
            i += m.end()
            continue
        for p in PUNCTS:
            if src.startswith(p, i):
                toks.append(Tok('p', p, i, i + len(p)))
                i += len(p)
                break
        else:
            toks.append(Tok('p', c, i, i + 1))
            i += 1
    return toks


class SplitError(Exception):
    pass


def match_close(toks, i):
    """Index of the token closing the bracket at toks[i] ((, [, {)."""
    pairs = {'(': ')', '[': ']', '{': '}'}
    depth = 0
    for j in range(i, len(toks)):
        t = toks[j].text if toks[j].kind == 'p' else None
        if t in pairs:
            depth += 1
        elif t in (')', ']', '}'):
            depth -= 1
            if depth == 0:
                return j
    raise SplitError('unbalanced bracket at offset %d' % toks[i].start)


def match_angle(toks, i):
    """Index of the '>' closing the '<' at toks[i] (template argument lists)."""
    depth = 0
    j = i
    while j < len(toks):
        t = toks[j]
        if t.kind == 'p':
            if t.text in ('(', '[', '{'):
                j = match_close(toks, j) + 1
                continue
            if t.text == '<':
                depth += 1
            elif t.text == '>':
                depth -= 1
            elif t.text == '>>':
                depth -= 2
            if depth <= 0:
                return j
        j += 1
    raise SplitError('unbalanced template brackets at offset %d' % toks[i].start)


def split_top(toks, lo, hi, sep=','):
    """Splits toks[lo:hi] at top-level `sep` (tracking (), [], {} and template <>)."""
    parts, cur = [], lo
    j, angle = lo, 0
    while j < hi:
        t = toks[j]
        if t.kind == 'p':
            if t.text in ('(', '[', '{'):
                j = match_close(toks, j) + 1
                continue
            if t.text == '<' and j > lo and toks[j - 1].kind == 'id':
                angle += 1
            elif t.text == '>' and angle > 0:
                angle -= 1
            elif t.text == '>>' and angle > 0:
                angle = max(0, angle - 2)
            elif t.text == sep and angle == 0:
                parts.append((cur, j))
                cur = j + 1
        j += 1
    if cur < hi:
        parts.append((cur, hi))
    return parts


class Func:
    pass


def parse_function(toks, s, e_limit):
    """Tries to read a function declarator starting at toks[s]. Returns a Func with token
    indices (or None if the declaration is not a function definition)."""
    f = Func()
    j = s
    f.tparams = None
    if toks[j].text == 'template':
        if j + 1 >= e_limit or toks[j + 1].text != '<':
            return None
        k = match_angle(toks, j + 1)
        f.tparams = (j, k + 1)
        j = k + 1
    spec_start = j
    # find the parameter list: first top-level '(' preceded by a name or an operator
    angle = 0
    k = j
    name_end = None
    while k < e_limit:
        t = toks[k]
        if t.kind == 'p':
            if t.text in ('{', ';') and angle == 0:
                return None
            if t.text == '=' and angle == 0 and toks[k - 1].text != 'operator':
                return None  # a variable with an initializer
            if t.text == '[':
                if k + 1 < e_limit and toks[k + 1].text == '[':  # attribute
                    k = match_close(toks, k) + 1
                    continue
                return None
            if t.text == '(':
                prev = toks[k - 1] if k > spec_start else None
                if prev is not None and prev.kind == 'id' and prev.text == '__attribute__':
                    k = match_close(toks, k) + 1
                    continue
                if angle == 0 and prev is not None and (
                        (prev.kind == 'id' and prev.text not in KEYWORDS_NOT_NAMES) or
                        is_operator_name_end(toks, spec_start, k)):
                    name_end = k
                    break
                k = match_close(toks, k) + 1
                continue
            if t.text == '<':
                if k > spec_start and toks[k - 1].text == 'operator':
                    pass
                else:
                    angle += 1
            elif t.text == '>' and angle > 0 and toks[k - 1].text != 'operator':
                angle -= 1
            elif t.text == '>>' and angle > 0 and toks[k - 1].text != 'operator':
                angle = max(0, angle - 2)
        k += 1
    if name_end is None:
        return None
    # the name: identifier, ~identifier, operator <sym>, operator <type>
    n0 = name_end - 1
    op = None
    for q in range(spec_start, name_end):
        if toks[q].text == 'operator':
            op = q
            break
    if op is not None:
        n0 = op
    elif n0 - 1 >= spec_start and toks[n0 - 1].text == '~':
        n0 -= 1
    if n0 - 1 >= spec_start and toks[n0 - 1].text == '::':
        return None  # a qualified name (already out of line)
    f.name = (n0, name_end)
    f.name_text = ''.join(t.text if t.text != 'operator' else 'operator ' for t in toks[n0:name_end]).strip()
    f.params = (name_end, match_close(toks, name_end))
    # leading specifiers and the return type
    specs = set()
    q = spec_start
    attrs = []
    while q < n0:
        t = toks[q]
        if t.text == '[' and q + 1 < n0 and toks[q + 1].text == '[':
            c = match_close(toks, q)
            attrs.append((q, c + 1))
            q = c + 1
            continue
        if t.kind == 'id' and t.text in ('static', 'virtual', 'explicit', 'inline', 'friend',
                                         'constexpr', 'consteval', 'extern'):
            specs.add(t.text)
            q += 1
            continue
        break
    f.specs = specs
    f.ret = (q, n0)
    if f.ret[0] < f.ret[1] and toks[f.ret[0]].text == 'operator':
        f.ret = (n0, n0)
    # qualifiers after the parameters
    q = f.params[1] + 1
    quals = []
    trailing = None
    while q < e_limit:
        t = toks[q]
        if t.text in ('{', ';') or (t.text == ':' and t.kind == 'p') or t.text == '=':
            break
        if t.text == '->':
            r = q + 1
            while r < e_limit and toks[r].text not in ('{', ';', '='):
                if toks[r].text in ('(', '['):
                    r = match_close(toks, r) + 1
                    continue
                r += 1
            trailing = (q + 1, r)
            q = r
            break
        if t.text == 'noexcept' and q + 1 < e_limit and toks[q + 1].text == '(':
            c = match_close(toks, q + 1)
            quals.append((q, c + 1))
            q = c + 1
            continue
        if t.text == '__attribute__':
            c = match_close(toks, q + 1)
            q = c + 1
            continue
        quals.append((q, q + 1))
        q += 1
    f.quals = quals
    f.trailing = trailing
    f.after = q  # index of '{', ':', '=', ';'
    return f


def is_operator_name_end(toks, lo, k):
    for q in range(k - 1, max(lo, k - 4) - 1, -1):
        if toks[q].text == 'operator':
            return True
    return False


def text(src, toks, a, b):
    """Source text of toks[a:b] (with comments inside)."""
    if a >= b:
        return ''
    return src[toks[a].start:toks[b - 1].end]


def strip_defaults(src, toks, a, b):
    """Parameter list toks[a:b] (without the parentheses) with default arguments removed."""
    out = []
    for (lo, hi) in split_top(toks, a, b):
        cut = hi
        angle = 0
        j = lo
        while j < hi:
            t = toks[j]
            if t.kind == 'p':
                if t.text in ('(', '[', '{'):
                    j = match_close(toks, j) + 1
                    continue
                if t.text == '<' and j > lo and toks[j - 1].kind == 'id':
                    angle += 1
                elif t.text == '>' and angle:
                    angle -= 1
                elif t.text == '>>' and angle:
                    angle = max(0, angle - 2)
                elif t.text == '=' and angle == 0:
                    cut = j
                    break
            j += 1
        out.append(text(src, toks, lo, cut))
    return ', '.join(out)


class Splitter:
    def __init__(self, path, keep, keep_includes, detail_index, public_detail_names):
        self.path = path
        self.src = open(path).read()
        self.toks = tokenize(self.src)
        self.keep = set(keep)
        self.keep_includes = set(keep_includes)
        self.detail_index = detail_index
        self.public_detail_names = public_detail_names
        self.edits = []  # (start, end, replacement)
        self.defs = []   # (namespace path tuple, text)
        self.moved = 0

    def run(self):
        self.scope(0, len(self.toks), ns=(), cls=None)

    def scope(self, lo, hi, ns, cls):
        """Walks the declarations in toks[lo:hi] (a namespace body or a class body).
        cls: None, or dict(name=qualified name, template=bool, access=str)."""
        toks = self.toks
        i = lo
        while i < hi:
            t = toks[i]
            if t.kind == 'pp':
                d = t.text.split()
                if (ns or cls) and d and d[0] not in ('#include', '#pragma') and \
                        not (len(d) > 1 and d[0] == '#' and d[1] in ('include', 'pragma')):
                    if cls is None or not cls['template']:
                        raise SplitError('%s: preprocessor directive inside a namespace or class '
                                         '(%s); the splitter cannot tell which mode it belongs to'
                                         % (self.path, t.text.splitlines()[0]))
                i += 1
                continue
            if t.text == ';':
                i += 1
                continue
            if cls is not None and t.kind == 'id' and t.text in ('public', 'private', 'protected') \
                    and i + 1 < hi and toks[i + 1].text == ':':
                cls['access'] = t.text
                i += 2
                continue
            i = self.declaration(i, hi, ns, cls)

    def declaration(self, s, hi, ns, cls):
        toks = self.toks
        # namespace
        if toks[s].text == 'namespace' or (toks[s].text == 'inline' and toks[s + 1].text == 'namespace'):
            j = s + (2 if toks[s].text == 'inline' else 1)
            names = []
            while toks[j].text != '{':
                if toks[j].text == '=':  # namespace alias
                    return self.skip_to_semicolon(j, hi)
                if toks[j].kind == 'id':
                    names.append(toks[j].text)
                j += 1
            c = match_close(toks, j)
            if not names:  # anonymous namespace: internal linkage, keep everything
                return c + 1
            self.scope(j + 1, c, ns + tuple(names), cls=None)
            return c + 1
        if toks[s].text == 'extern' and toks[s + 1].kind == 'str' and toks[s + 2].text == '{':
            c = match_close(toks, s + 2)
            return c + 1  # extern "C" blocks stay as they are
        # find the end of the declaration head: top-level '{' or ';'
        j = s
        angle = 0
        is_template = toks[s].text == 'template'
        while j < hi:
            t = toks[j]
            if t.kind == 'p':
                if t.text == ';':
                    break
                if t.text == '{':
                    break
                if t.text in ('(', '['):
                    j = match_close(toks, j) + 1
                    continue
            j += 1
        if j >= hi:
            return j + 1
        if toks[j].text == ';':
            if j - 2 > s and toks[j - 1].text == 'default' and toks[j - 2].text == '=' and \
                    cls is not None and not cls['template']:
                f = parse_function(toks, s, hi)
                if f is not None and toks[f.after].text == '=' and not self.is_default_ctor(f, cls) \
                        and not (f.specs & {'constexpr', 'friend'}):
                    self.move(f, s, j, ns, cls, defaulted=True)
            return j + 1
        head_ids = [t.text for t in toks[s:j] if t.kind == 'id']
        # class definitions (not `struct X* f() {`, not a variable of class type)
        key = self.class_key(s, j)
        if key is not None:
            kidx, name = key
            c = match_close(toks, j)
            if name is None:
                return self.skip_to_semicolon(c + 1, hi)
            qual = (cls['name'] + '::' if cls else '') + name
            templ = is_template or (cls is not None and cls['template'])
            self.scope(j + 1, c, ns, dict(name=qual, template=templ,
                                          access='public' if toks[kidx].text in ('struct', 'union') else 'private'))
            return self.skip_to_semicolon(c + 1, hi)
        if 'enum' in head_ids[:3]:
            c = match_close(toks, j)
            return self.skip_to_semicolon(c + 1, hi)
        f = parse_function(toks, s, hi)
        if f is None:
            # a variable with a braced initializer or a lambda: skip it
            c = match_close(toks, j)
            return self.skip_to_semicolon(c + 1, hi)
        if toks[f.after].text == ';':
            return f.after + 1
        if toks[f.after].text == '=':
            # = default / = delete / = 0 (a function declaration) or a variable
            e = self.skip_to_semicolon(f.after, hi)
            what = toks[f.after + 1].text
            if what == 'default' and cls is not None and not cls['template'] and not self.is_default_ctor(f, cls):
                self.move(f, s, e - 1, ns, cls, defaulted=True)
            return e
        # body: '{' or ctor-initializer ':' ... '{'
        b = f.after
        if toks[b].text == ':':
            b += 1
            while toks[b].text != '{':
                # mem-initializer: name [<...>] ( ... ) or { ... }
                while toks[b].text not in ('(', '{'):
                    if toks[b].text == '<':
                        b = match_angle(toks, b)
                    b += 1
                b = match_close(toks, b) + 1
                if toks[b].text == '...':
                    b += 1
                if toks[b].text == ',':
                    b += 1
        end = match_close(toks, b)
        self.consider(f, s, b, end, ns, cls)
        return end + 1

    def is_default_ctor(self, f, cls):
        short = cls['name'].split('::')[-1]
        return self.src[self.toks[f.name[0]].start:self.toks[f.name[1] - 1].end] == short and \
            f.params[1] == f.params[0] + 1

    def class_key(self, s, j):
        """(index of class-key, name or None) if toks[s:j] heads a class definition."""
        toks = self.toks
        q = s
        if toks[q].text == 'template':
            q = match_angle(toks, q + 1) + 1
        while q < j and toks[q].text in ('typedef', 'alignas'):
            q += 1
        if q < j and toks[q].text in ('class', 'struct', 'union'):
            # `class X : base {`, `struct X final {`, `struct {`; a function returning
            # `struct X*` would have parentheses in the head
            if any(t.text == '(' for t in toks[q:j]):
                return None
            name = toks[q + 1].text if q + 1 < j and toks[q + 1].kind == 'id' else None
            if name in ('final', 'alignas'):
                name = None
            return q, name
        return None

    def skip_to_semicolon(self, j, hi):
        toks = self.toks
        while j < hi and toks[j].text != ';':
            if toks[j].text in ('(', '[', '{'):
                j = match_close(toks, j) + 1
                continue
            j += 1
        return j + 1

    def consider(self, f, s, b, end, ns, cls):
        name = self.toks[f.name[0]].text if self.toks[f.name[0]].text != '~' else self.toks[f.name[0] + 1].text
        if name in self.keep or f.name_text in self.keep:
            return
        if cls is not None and (cls['name'] + '::' + f.name_text) in self.keep:
            return
        if f.specs & {'constexpr', 'consteval', 'friend'}:
            return
        if cls is not None and cls['template']:
            return
        if f.tparams is not None:
            if cls is None or cls['access'] == 'public':
                return
        if cls is None and 'static' in f.specs:
            return
        ret = text(self.src, self.toks, *f.ret)
        if re.fullmatch(r'(const\s+)?(auto|decltype\s*\(\s*auto\s*\))\s*[&*]*', ret.strip()) and f.trailing is None:
            return  # deduced return type: the body must be visible
        self.move(f, s, end, ns, cls)

    def move(self, f, s, end, ns, cls, defaulted=False):
        toks, src = self.toks, self.src
        # declaration left in the header
        head_end = f.after  # '{', ':' or '='
        decl = src[toks[s].start:toks[head_end - 1].end]
        if cls is None:
            # free function: `inline` becomes PGHA_DECL (nothing in the separate mode)
            if 'inline' in f.specs:
                for q in range(s, f.name[0]):
                    if toks[q].text == 'inline':
                        decl = src[toks[s].start:toks[q].start] + 'PGHA_DECL' + src[toks[q].end:toks[head_end - 1].end]
                        break
            else:
                decl = 'PGHA_DECL ' + decl
        self.edits.append((toks[s].start, toks[end].end, decl + ';'))
        # definition for the .ipp
        params = strip_defaults(src, toks, f.params[0] + 1, f.params[1])
        quals = ' '.join(text(src, toks, a, b) for (a, b) in f.quals
                         if toks[a].text not in ('override', 'final'))
        quals = (' ' + quals) if quals else ''
        if defaulted:
            body = ' = default;'
        else:
            body = ' ' + src[toks[f.after].start:toks[end].end]
        name = text(src, toks, *f.name)
        if f.name[0] + 1 < f.name[1] and toks[f.name[0]].text == 'operator':
            # `operator bool`, `operator()`: keep the spelling, drop the space before (
            name = src[toks[f.name[0]].start:toks[f.name[1] - 1].end]
        ret = text(src, toks, *f.ret).strip()
        tparams = (text(src, toks, *f.tparams) + '\n') if f.tparams else ''
        decl_kw = '' if f.tparams else 'PGHA_DECL '
        if cls is None:
            trailing = (' -> ' + text(src, toks, *f.trailing)) if f.trailing else ''
            d = '%s%s%s %s(%s)%s%s%s' % (tparams, decl_kw, ret, name, params, quals, trailing, body)
        else:
            q = cls['name'] + '::' + name
            if f.trailing:
                d = '%s%sauto %s(%s)%s -> %s%s' % (tparams, decl_kw, q, params, quals,
                                                   text(src, toks, *f.trailing), body)
            elif not ret:
                d = '%s%s%s(%s)%s%s' % (tparams, decl_kw, q, params, quals, body)
            elif ret == 'void':
                d = '%s%svoid %s(%s)%s%s' % (tparams, decl_kw, q, params, quals, body)
            else:
                d = '%s%sauto %s(%s)%s -> %s%s' % (tparams, decl_kw, q, params, quals, ret, body)
        self.defs.append((ns, d))
        self.moved += 1


def namespace_level_text(src):
    """The text of `src` at namespace scope only: class bodies, function bodies and
    initializers are replaced by `{}` (so that their member names are not indexed)."""
    toks = tokenize(src)
    out = []
    stack = []
    i = 0
    while i < len(toks):
        t = toks[i]
        if t.kind == 'pp':
            out.append('\n')
            i += 1
            continue
        if t.text == '{':
            # a namespace body: the tokens before it are `namespace [name]` or `extern "C"`
            k = len(out) - 1
            back = []
            for x in reversed(out):
                if x.strip() in (';', '{', '}', '{}'):
                    break
                if x.strip():
                    back.append(x)
            if 'namespace' in back or (back and back[0].startswith('"')):
                stack.append('ns')
                out.append('{\n')
                i += 1
                continue
            c = match_close(toks, i)
            out.append('{}')
            i = c + 1
            continue
        if t.text == '}':
            if stack:
                stack.pop()
            out.append('}\n')
            i += 1
            continue
        out.append(t.text)
        out.append('\n' if t.text == ';' else ' ')
        i += 1
    return ''.join(out)


def detail_index(detail_dir):
    """name -> (kind, header, extra) for the names that detail/ headers define at
    namespace scope: kind in class, struct, enum (extra: underlying type), template, other."""
    idx = {}
    for fn in sorted(os.listdir(detail_dir)):
        if not fn.endswith('.hpp'):
            continue
        hdr = 'pgha/detail/' + fn
        s = namespace_level_text(open(os.path.join(detail_dir, fn)).read())
        for m in re.finditer(r'(template\s*<[^;{]*?>\s*)?\b(class|struct)\s+(\w+)\s*(?:final\s*)?[:{]', s):
            if m.group(3) not in idx:
                idx[m.group(3)] = ('template' if m.group(1) else m.group(2), hdr, None)
        for m in re.finditer(r'\benum\s+class\s+(\w+)\s*(?::\s*([\w: ]+?)\s*)?\{', s):
            idx.setdefault(m.group(1), ('enum' if m.group(2) else 'other', hdr, m.group(2)))
        for m in re.finditer(r'\busing\s+(\w+)\s*=', s):
            idx.setdefault(m.group(1), ('other', hdr, None))
        # functions and variables: a name followed by ( { = ; at namespace level
        for m in re.finditer(r'\b([A-Za-z_]\w*)\s*(?:\(|\{\}|=|;)', s):
            if m.group(1) not in ('namespace', 'return', 'sizeof', 'decltype', 'noexcept', 'alignas',
                                  'static_assert', 'operator', 'template', 'typename', 'const'):
                idx.setdefault(m.group(1), ('other', hdr, None))
    return idx


def namespace_free_comments(src):
    return re.sub(r'//[^\n]*|/\*.*?\*/', ' ', src, flags=re.S)


def public_type_index(pub_dir):
    """type name -> public header defining it at namespace scope (pgha::, not detail::)."""
    idx = {}
    for fn in sorted(os.listdir(pub_dir)):
        if not fn.endswith('.hpp') or fn in ('catch2.hpp', 'gtest.hpp', 'pgha.hpp', 'implementation.hpp'):
            continue
        t = open(os.path.join(pub_dir, fn)).read()
        t = re.sub(r'namespace detail \{.*?\n\}  // namespace detail', '', t, flags=re.S)
        for m in re.finditer(r'^(?:class|struct|enum class|enum|using)\s+(\w+)\s*(?:final\s*)?[:{=]', namespace_level_text(t).replace('\n', '\n'), flags=re.M):
            idx.setdefault(m.group(1), 'pgha/' + fn)
    return idx


def public_detail_names(pub_dir):
    """Names that public headers define in namespace detail (their own, not detail/'s)."""
    names = set()
    for fn in os.listdir(pub_dir):
        if fn.endswith('.hpp'):
            s = open(os.path.join(pub_dir, fn)).read()
            for m in re.finditer(r'\b(?:class|struct|using|enum\s+class)\s+(\w+)', s):
                names.add(m.group(1))
            for m in re.finditer(r'^inline\s[^;{()=]*?\b(\w+)\s*[({=]', s, flags=re.M):
                names.add(m.group(1))
    return names


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('header')
    ap.add_argument('--keep', action='append', default=[])
    ap.add_argument('--keep-include', action='append', default=[])
    ap.add_argument('--check', action='store_true', help='parse and report, change nothing')
    a = ap.parse_args()
    hdr = a.header
    pub_dir = os.path.dirname(os.path.abspath(hdr))
    base = os.path.basename(hdr)[:-4]
    src = open(hdr).read()
    if MARK in src:
        print('%s: already split (includes pgha/build_mode.hpp); left alone' % hdr)
        return 0
    sp = Splitter(hdr, a.keep, a.keep_include, detail_index(os.path.join(pub_dir, 'detail')),
                  public_detail_names(pub_dir))
    try:
        sp.run()
    except SplitError as e:
        print('split-header: %s' % e, file=sys.stderr)
        return 2
    if sp.moved == 0:
        print('%s: no non-template definitions; left alone' % hdr)
        return 0
    # apply edits (in reverse order)
    out = src
    for (a0, a1, rep) in sorted(sp.edits, reverse=True):
        out = out[:a0] + rep + out[a1:]
    # names of detail/ the remaining header uses
    rest = tokenize(out)
    used = set()
    nested = set()
    for k in range(len(rest) - 2):
        if rest[k].text == 'detail' and rest[k + 1].text == '::' and rest[k + 2].kind == 'id':
            if k > 0 and rest[k - 1].text == '::' and k > 1 and rest[k - 2].text != 'pgha':
                continue
            used.add(rest[k + 2].text)
            if k + 4 < len(rest) and rest[k + 3].text == '::' and rest[k + 4].kind == 'id':
                nested.add(rest[k + 2].text)
    by_value = set()
    plain = namespace_free_comments(out)
    for m in re.finditer(r'(\S{0,12})\bdetail::(\w+)((?:::\w+)?)(\s*[*&]?\s*\w*\s*[;{=\[(]?)', plain):
        before, name, after = m.group(1), m.group(2), m.group(4)
        if before.endswith(('unique_ptr<', 'shared_ptr<', 'weak_ptr<', 'class', 'struct')):
            continue
        if re.match(r'\s*[*&]', after):
            continue
        if re.match(r'\s*\w+\s*[;{=\[]', after) or before.endswith('<') or \
                re.search(r'(public|private|protected)\s*$', plain[max(0, m.start(2) - 30):m.start(2) - 8]):
            by_value.add(name)
    own = set(re.findall(r'\b(?:class|struct|using|enum\s+class)\s+(\w+)', out))
    own_types = set(own)
    own |= set(re.findall(r'\b(\w+)\s*\(', out))  # functions the header declares itself
    idx = sp.detail_index
    includes = re.findall(r'^#include "(pgha/detail/[\w.]+)"[^\n]*$', out, flags=re.M)
    needed = set(a.keep_include)
    forward = {}
    for name in sorted(used):
        if name in own and name not in idx:
            continue
        if name not in idx:
            continue
        kind, h, extra = idx[name]
        if name in nested or name in by_value or kind in ('other', 'template'):
            needed.add(h)
        elif kind in ('class', 'struct'):
            forward[name] = '%s %s;' % (kind, name)
        elif kind == 'enum':
            forward[name] = 'enum class %s : %s;' % (name, extra)
    # public types the header got through a detail/ header: include their public header
    # in the separate mode
    pub_idx = public_type_index(pub_dir)
    direct = set(re.findall(r'^#include "(pgha/\w+\.hpp)"', out, flags=re.M))
    pub_needed = set()
    closure = set()
    todo = [h for h in includes if h not in needed]
    while todo:
        h = todo.pop()
        if h in closure:
            continue
        closure.add(h)
        p = os.path.join(os.path.dirname(pub_dir), h)
        if os.path.exists(p):
            todo.extend(re.findall(r'^#include "(pgha/[\w/]+\.hpp)"', open(p).read(), flags=re.M))
    for k in range(len(rest)):
        t = rest[k]
        if t.kind == 'id' and t.text in pub_idx and not (k > 0 and rest[k - 1].text == '::'):
            h = pub_idx[t.text]
            if h != 'pgha/%s.hpp' % base and h not in direct and t.text not in own_types \
                    and h in closure:
                pub_needed.add(h)
    # a needed header that the header does not include directly: include it
    moved_incs = [i for i in includes if i not in needed]
    kept_incs = [i for i in includes if i in needed]
    extra_incs = sorted(h for h in needed if h not in includes)
    # rewrite the include lines
    lines = out.split('\n')
    res = []
    k = 0
    while k < len(lines):
        m = re.match(r'#include "(pgha/detail/[\w.]+)"', lines[k])
        if m and m.group(1) in moved_incs:
            block = []
            while k < len(lines):
                m = re.match(r'#include "(pgha/detail/[\w.]+)"', lines[k])
                if not (m and m.group(1) in moved_incs):
                    break
                block.append(lines[k])
                k += 1
            res.append('#ifndef PGHA_SEPARATE_COMPILATION  // the separate mode compiles these in the library')
            res.extend(block)
            res.append('#endif')
            continue
        res.append(lines[k])
        if lines[k].startswith('#pragma once'):
            res.append('')
            res.append(MARK)
            for h in extra_incs:
                res.append('#include "%s"  // needed by the declarations' % h)
            if pub_needed:
                res.append('#ifdef PGHA_SEPARATE_COMPILATION  // types the header-only mode gets through detail/')
                for h in sorted(pub_needed):
                    res.append('#include "%s"' % h)
                res.append('#endif')
        k += 1
    out = '\n'.join(res)
    if forward:
        decls = '\n'.join('%s' % forward[n] for n in sorted(forward))
        fw = ('// Forward declarations: the separate mode does not include detail/ here.\n'
              'namespace pgha {\nnamespace detail {\n%s\n}  // namespace detail\n}  // namespace pgha\n\n' % decls)
        m = re.search(r'^namespace ', out, flags=re.M)
        out = out[:m.start()] + fw + out[m.start():]
    out = out.rstrip('\n') + ('\n\n#ifndef PGHA_SEPARATE_COMPILATION\n#include "pgha/impl/%s.ipp"\n#endif\n' % base)
    # the .ipp
    ipp = ['// Generated by scripts/split-header.py from pgha/%s.hpp: the definitions of its' % base,
           '// non-template functions. Header-only: included at the end of the header (PGHA_DECL is',
           '// `inline`). Separate compilation: compiled once, by pgha/implementation.hpp.',
           '// Edit the definitions here; declarations and templates stay in the header.',
           '#pragma once', '', '#include "pgha/%s.hpp"' % base]
    for h in moved_incs:
        ipp.append('#include "%s"' % h)
    ipp.append('')
    cur = None
    for (ns, d) in sp.defs:
        if ns != cur:
            if cur:
                ipp.append(''.join('}  // namespace %s\n' % n for n in reversed(cur)).rstrip('\n'))
                ipp.append('')
            for n in ns:
                ipp.append('namespace %s {' % n)
            ipp.append('')
            cur = ns
        ipp.append(d)
        ipp.append('')
    if cur:
        ipp.append(''.join('}  // namespace %s\n' % n for n in reversed(cur)).rstrip('\n'))
    if a.check:
        print('%s: %d definitions would move; detail includes moved: %s; kept: %s; forward: %s'
              % (hdr, sp.moved, moved_incs, kept_incs + extra_incs, sorted(forward)))
        return 0
    impl_dir = os.path.join(pub_dir, 'impl')
    os.makedirs(impl_dir, exist_ok=True)
    open(os.path.join(impl_dir, base + '.ipp'), 'w').write('\n'.join(ipp) + '\n')
    open(hdr, 'w').write(out)
    print('%s: %d definitions -> impl/%s.ipp; detail includes moved: %d, kept: %s; forward: %s'
          % (hdr, sp.moved, base, len(moved_incs), kept_incs + extra_incs, sorted(forward)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
