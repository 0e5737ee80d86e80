/*
 * Optional accelerator for the Kubernetes audit fast path (see cloudward/parsers/_k8s.py).
 *
 * audit_lines(buf, start, end, wanted_verbs, wanted_resources=None) walks the newline-separated lines of buf[start:end] and
 * returns (lines, count): `lines` lists (index, line_start, line_end) for every line that is NOT provably an
 * event with an unwanted verb; `count` is the number of lines seen. The rule is the one the pure-Python
 * filter applies, and the Python side applies its full test to the lines returned, so this module only
 * makes skipping faster; it never decides alone that a line is needed.
 *
 * A line is skippable when it is blank (empty or a lone "\r"), or when: it starts with '{' and ends with '}'
 * (or "}\r"); `,"verb":"` occurs in it with no '{' between the opening brace and it; the verb value up to the
 * next '"' has no backslash and is not one of wanted_verbs; `"verb"` occurs nowhere else on the line (a
 * parser keeps the last of duplicate keys, so a decoy must not decide); and no `\u004x`-`\u007x` escape,
 * which could spell a letter of a key (`"\u0076erb"`), is on the line. With wanted_resources, a line with a
 * wanted verb is skippable too when the resource rule of the Python filter proves its resource unwanted
 * (`resource_skippable`): verb and resource are decided in one pass over the block.
 *
 * Optional pair_verbs, pair_resources and codes (Sigma rules, `cloudward.sigma.prefilter`) keep more lines in
 * the same pass: a line whose verb equals one of pair_verbs ASCII case-insensitively (any byte past ASCII
 * keeps the line) and whose resource is one of that verb's pair_resources (None: any), or a line with a
 * `"code":` followed by one of codes (or by whitespace). Every skip still needs the `plain` proof.
 *
 * An optional content tuple (the pod-spec cards' content interest, `parsers._k8s._content_args`) skips, in the
 * same pass, the lines `audit_content` (below) proves no card needs for what they say.
 */
#define _GNU_SOURCE /* memmem */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

static const char VERB_KEY[] = ",\"verb\":\"";
#define VERB_KEY_LEN 9

static const char *find_bytes(const char *hay, Py_ssize_t hay_len, const char *needle, Py_ssize_t n_len)
{
    /* memmem (glibc, BSD libc): a vectorized search; a memchr loop on the first byte would stop at every
       '"' of a JSON line */
    if (hay_len < n_len)
        return NULL;
    return (const char *)memmem(hay, (size_t)hay_len, needle, (size_t)n_len);
}

static const char VERB_TOKEN[] = "\"verb\"";
#define VERB_TOKEN_LEN 6

/* `"verb"` anywhere in hay[0:len]: memchr for 'v' (far rarer in audit JSON than '"'), then compare */
static int has_verb_token(const char *hay, Py_ssize_t len)
{
    const char *p = hay + 1, *end = hay + len - (VERB_TOKEN_LEN - 2); /* p: the token's "v" */
    while (p < end) {
        p = memchr(p, 'v', (size_t)(end - p));
        if (p == NULL)
            return 0;
        if (p[-1] == '"' && memcmp(p, VERB_TOKEN + 1, VERB_TOKEN_LEN - 1) == 0)
            return 1;
        p++;
    }
    return 0;
}

/* `"verb"` at k+1 is the line's only one and no escape on it can spell a letter */
static int plain(const char *b, Py_ssize_t s, Py_ssize_t e, Py_ssize_t k)
{
    if (has_verb_token(b + s, k + 1 - s) || (e - (k + 2) > 0 && has_verb_token(b + k + 2, e - (k + 2))))
        return 0;
    /* backslashes are rare outside escaped `&` (\u0026) in request URIs: memchr from one to the next */
    const char *p = b + s, *end = b + e;
    while (p < end) {
        const char *u = memchr(p, '\\', (size_t)(end - p));
        if (u == NULL)
            break;
        if (end - u > 4 && u[1] == 'u' && u[2] == '0' && u[3] == '0' && u[4] >= '4' && u[4] <= '7')
            return 0;
        p = u + 1;
    }
    return 1;
}

static const char REF_KEY[] = ",\"objectRef\":{\"resource\":\"";
#define REF_KEY_LEN 26

/* occurrences of needle in hay[0:len], counting no further than `most` */
static int count_bytes(const char *hay, Py_ssize_t len, const char *needle, Py_ssize_t n_len, int most)
{
    int n = 0;
    const char *p = hay, *end = hay + len;
    while (n < most) {
        const char *q = find_bytes(p, end - p, needle, n_len);
        if (q == NULL)
            break;
        n++;
        p = q + n_len;
    }
    return n;
}

static int in_tuple(PyObject *tuple, const char *v, Py_ssize_t vlen)
{
    Py_ssize_t n = PyTuple_GET_SIZE(tuple);
    for (Py_ssize_t w = 0; w < n; w++) {
        PyObject *item = PyTuple_GET_ITEM(tuple, w);
        if (PyBytes_GET_SIZE(item) == vlen && memcmp(PyBytes_AS_STRING(item), v, (size_t)vlen) == 0)
            return 1;
    }
    return 0;
}

/* Where v[0:n] stands in `tuple` compared ASCII case-insensitively: its index, -1 when nowhere, -2 when v holds
   a byte past ASCII (Unicode case folding could make it equal: the Kelvin sign folds to 'k') */
static Py_ssize_t ci_index(PyObject *tuple, const char *v, Py_ssize_t n)
{
    for (Py_ssize_t c = 0; c < n; c++)
        if ((unsigned char)v[c] >= 0x80)
            return -2;
    Py_ssize_t count = PyTuple_GET_SIZE(tuple);
    for (Py_ssize_t w = 0; w < count; w++) {
        PyObject *item = PyTuple_GET_ITEM(tuple, w);
        if (PyBytes_GET_SIZE(item) != n)
            continue;
        const char *t = PyBytes_AS_STRING(item);
        Py_ssize_t c = 0;
        while (c < n) {
            char x = v[c];
            if (x >= 'A' && x <= 'Z')
                x = (char)(x - 'A' + 'a');
            if (x != t[c])
                break;
            c++;
        }
        if (c == n)
            return w;
    }
    return -1;
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\r'; }

/* A `"code"` key on the line whose number may be one of `codes` (digit strings): a value written as one of
   them, or anything with whitespace around the colon (not the compact form, so not proven) */
static int may_have_code(const char *b, Py_ssize_t s, Py_ssize_t e, PyObject *codes)
{
    const char *p = b + s, *end = b + e;
    Py_ssize_t n = PyTuple_GET_SIZE(codes);
    while (p < end) {
        const char *q = find_bytes(p, end - p, "\"code\"", 6);
        if (q == NULL)
            return 0;
        const char *c = q + 6;
        p = c;
        if (c < end && is_space(*c))
            return 1;
        if (c >= end || *c != ':')
            continue;
        c++;
        if (c < end && is_space(*c))
            return 1;
        for (Py_ssize_t w = 0; w < n; w++) {
            PyObject *item = PyTuple_GET_ITEM(codes, w);
            Py_ssize_t len = PyBytes_GET_SIZE(item);
            if (end - c >= len && memcmp(c, PyBytes_AS_STRING(item), (size_t)len) == 0)
                return 1;
        }
    }
    return 0;
}

/* The extra interest of audit_lines' optional arguments (Sigma rules): verbs (lowercase) each with the
   resources (lowercase; None: any) it is wanted with, matched case-insensitively, and `"code"` values */
typedef struct {
    PyObject *verbs, *resources, *codes; /* NULL when not given */
} Pairs;

/* What `plain`, the `"objectRef"` and `"resource"` counts and `may_have_code` read off a line, found in ONE pass
   (the line's bytes are read once instead of four or five times): `"verb"` tokens, `"objectRef"` and `"resource"`
   tokens (each counted up to 2, every occurrence wholly inside the line, as `has_verb_token` and `count_bytes`
   count them), whether a backslash starts a `\u004x`-`\u007x` escape (the test of `plain`), and whether a
   `"code"` token is followed by what `may_have_code` keeps a line for. Candidates are a '"' followed by one of
   v, o, r, c, or a backslash: found 32 (AVX2) or 16 (SSE2) bytes at a time, each checked as the scalar tests do. */
typedef struct {
    int verbs, refs, resources, escape, code;
} Facts;

static void candidate(const char *b, Py_ssize_t h, Py_ssize_t e, PyObject *codes, Facts *f)
{
    const char *p = b + h, *end = b + e;
    if (*p == '\\') {
        if (end - p > 4 && p[1] == 'u' && p[2] == '0' && p[3] == '0' && p[4] >= '4' && p[4] <= '7')
            f->escape = 1;
        return;
    }
    if (end - p < 6)
        return;
    switch (p[1]) {
    case 'v':
        if (memcmp(p, VERB_TOKEN, VERB_TOKEN_LEN) == 0 && f->verbs < 2)
            f->verbs++;
        return;
    case 'o':
        if (end - p >= 11 && memcmp(p, "\"objectRef\"", 11) == 0 && f->refs < 2)
            f->refs++;
        return;
    case 'r':
        if (end - p >= 10 && memcmp(p, "\"resource\"", 10) == 0 && f->resources < 2)
            f->resources++;
        return;
    case 'c':
        if (codes != NULL && !f->code && memcmp(p, "\"code\"", 6) == 0) {
            /* `may_have_code` for this one token */
            const char *c = p + 6;
            if (c < end && is_space(*c)) {
                f->code = 1;
                return;
            }
            if (c >= end || *c != ':')
                return;
            c++;
            if (c < end && is_space(*c)) {
                f->code = 1;
                return;
            }
            Py_ssize_t n = PyTuple_GET_SIZE(codes);
            for (Py_ssize_t w = 0; w < n; w++) {
                PyObject *item = PyTuple_GET_ITEM(codes, w);
                Py_ssize_t len = PyBytes_GET_SIZE(item);
                if (end - c >= len && memcmp(c, PyBytes_AS_STRING(item), (size_t)len) == 0) {
                    f->code = 1;
                    return;
                }
            }
        }
        return;
    default:
        return;
    }
}

static inline int candidate_byte(char c) { return c == 'v' || c == 'o' || c == 'r' || c == 'c'; }

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define FACTS_SIMD 1

__attribute__((target("avx2"))) static Py_ssize_t facts_avx2(const char *b, Py_ssize_t s, Py_ssize_t e,
                                                              PyObject *codes, Facts *f)
{
    const __m256i q = _mm256_set1_epi8('"'), bs = _mm256_set1_epi8('\\'), v = _mm256_set1_epi8('v'),
                  o = _mm256_set1_epi8('o'), r = _mm256_set1_epi8('r'), c = _mm256_set1_epi8('c');
    Py_ssize_t i = s;
    for (; i + 33 <= e; i += 32) {
        __m256i x = _mm256_loadu_si256((const __m256i *)(b + i));
        __m256i y = _mm256_loadu_si256((const __m256i *)(b + i + 1));
        __m256i next = _mm256_or_si256(_mm256_or_si256(_mm256_cmpeq_epi8(y, v), _mm256_cmpeq_epi8(y, o)),
                                       _mm256_or_si256(_mm256_cmpeq_epi8(y, r), _mm256_cmpeq_epi8(y, c)));
        __m256i hit = _mm256_or_si256(_mm256_and_si256(_mm256_cmpeq_epi8(x, q), next), _mm256_cmpeq_epi8(x, bs));
        unsigned mask = (unsigned)_mm256_movemask_epi8(hit);
        while (mask) {
            candidate(b, i + __builtin_ctz(mask), e, codes, f);
            mask &= mask - 1;
        }
    }
    return i;
}

static Py_ssize_t facts_sse2(const char *b, Py_ssize_t s, Py_ssize_t e, PyObject *codes, Facts *f)
{
    const __m128i q = _mm_set1_epi8('"'), bs = _mm_set1_epi8('\\'), v = _mm_set1_epi8('v'), o = _mm_set1_epi8('o'),
                  r = _mm_set1_epi8('r'), c = _mm_set1_epi8('c');
    Py_ssize_t i = s;
    for (; i + 17 <= e; i += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(b + i));
        __m128i y = _mm_loadu_si128((const __m128i *)(b + i + 1));
        __m128i next = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(y, v), _mm_cmpeq_epi8(y, o)),
                                    _mm_or_si128(_mm_cmpeq_epi8(y, r), _mm_cmpeq_epi8(y, c)));
        __m128i hit = _mm_or_si128(_mm_and_si128(_mm_cmpeq_epi8(x, q), next), _mm_cmpeq_epi8(x, bs));
        unsigned mask = (unsigned)_mm_movemask_epi8(hit);
        while (mask) {
            candidate(b, i + __builtin_ctz(mask), e, codes, f);
            mask &= mask - 1;
        }
    }
    return i;
}

static int have_avx2 = -1;
#endif

/* 0: the vector loops; 1: the byte-by-byte loop; 2: the separate scans the one pass replaced (the tests
   compare the three: `_set_facts_mode`) */
static int facts_mode = 0;

static void line_facts(const char *b, Py_ssize_t s, Py_ssize_t e, PyObject *codes, Facts *f)
{
    f->verbs = f->refs = f->resources = f->escape = f->code = 0;
    Py_ssize_t i = s;
#ifdef FACTS_SIMD
    if (facts_mode == 0) {
        if (have_avx2 < 0)
            have_avx2 = __builtin_cpu_supports("avx2") ? 1 : 0;
        i = have_avx2 ? facts_avx2(b, s, e, codes, f) : facts_sse2(b, s, e, codes, f);
    }
#endif
    for (; i < e; i++) {
        char ch = b[i];
        if (ch == '\\' || (ch == '"' && i + 1 < e && candidate_byte(b[i + 1])))
            candidate(b, i, e, codes, f);
    }
}

/* `plain(b, s, e, k)` from the facts: the verb key at k is the line's only `"verb"` and no letter escape */
static inline int facts_plain(const Facts *f) { return f->verbs == 1 && !f->escape; }

/* The facts of line b[s:e] whose verb key is at i: from the one-pass scan, or (`facts_mode` 2, for the tests)
   from the separate scans the pass replaced */
static void facts_of(const char *b, Py_ssize_t s, Py_ssize_t e, Py_ssize_t i, PyObject *codes, Facts *f)
{
    if (facts_mode != 2) {
        line_facts(b, s, e, codes, f);
        return;
    }
    f->verbs = plain(b, s, e, i) ? 1 : 2; /* (`facts_plain` reads verbs == 1 with no escape) */
    f->escape = 0;
    f->refs = count_bytes(b + s, e - s, "\"objectRef\"", 11, 2);
    f->resources = count_bytes(b + s, e - s, "\"resource\"", 10, 2);
    f->code = codes != NULL && may_have_code(b, s, e, codes);
}

static int skippable(const char *b, Py_ssize_t s, Py_ssize_t e, PyObject *wanted, PyObject *resources,
                     const Pairs *pairs)
{
    if (e <= s || (e - s == 1 && b[s] == '\r'))
        return 1; /* blank */
    if (b[s] != '{')
        return 0;
    Py_ssize_t last = e - 1;
    if (b[last] == '\r') {
        if (last - 1 <= s)
            return 0;
        last--;
    }
    if (b[last] != '}')
        return 0;
    const char *k = find_bytes(b + s, e - s, VERB_KEY, VERB_KEY_LEN);
    if (k == NULL)
        return 0;
    Py_ssize_t i = k - b;
    if (i - (s + 1) > 0 && memchr(b + s + 1, '{', (size_t)(i - (s + 1))) != NULL)
        return 0;
    Py_ssize_t v = i + VERB_KEY_LEN;
    if (v >= e)
        return 0;
    const char *q = memchr(b + v, '"', (size_t)(e - v));
    if (q == NULL)
        return 0;
    Py_ssize_t vlen = q - (b + v);
    if (vlen > 0 && memchr(b + v, '\\', (size_t)vlen) != NULL)
        return 0;
    int card = in_tuple(wanted, b + v, vlen);
    Facts f;
    if (pairs->verbs == NULL && pairs->codes == NULL) { /* the cards' rule alone, as before */
        if (card) {
            /* `resource_skippable`: the single objectRef's single resource, right after the verb, not wanted */
            if (resources == NULL)
                return 0;
            const char *rk = find_bytes(b + i, e - i, REF_KEY, REF_KEY_LEN);
            if (rk == NULL)
                return 0;
            Py_ssize_t r = (rk - b) + REF_KEY_LEN;
            if (r >= e)
                return 0;
            const char *m = memchr(b + r, '"', (size_t)(e - r));
            if (m == NULL || in_tuple(resources, b + r, m - (b + r)))
                return 0;
            facts_of(b, s, e, i, NULL, &f);
            return f.refs == 1 && f.resources == 1 && facts_plain(&f);
        }
        facts_of(b, s, e, i, NULL, &f);
        return facts_plain(&f);
    }
    if (card && resources == NULL)
        return 0;
    Py_ssize_t pair = -1;
    if (pairs->verbs != NULL) {
        pair = ci_index(pairs->verbs, b + v, vlen);
        if (pair == -2 || (pair >= 0 && PyTuple_GET_ITEM(pairs->resources, pair) == Py_None))
            return 0;
    }
    int facts_read = 0;
    if (card || pair >= 0) { /* the resource decides: the line's single objectRef's single resource */
        const char *rk = find_bytes(b + i, e - i, REF_KEY, REF_KEY_LEN);
        if (rk == NULL)
            return 0;
        Py_ssize_t r = (rk - b) + REF_KEY_LEN;
        if (r >= e)
            return 0;
        const char *m = memchr(b + r, '"', (size_t)(e - r));
        if (m == NULL || memchr(b + r, '\\', (size_t)(m - (b + r))) != NULL)
            return 0;
        if (card && in_tuple(resources, b + r, m - (b + r)))
            return 0;
        if (pair >= 0 && ci_index(PyTuple_GET_ITEM(pairs->resources, pair), b + r, m - (b + r)) != -1)
            return 0;
        facts_of(b, s, e, i, pairs->codes, &f);
        facts_read = 1;
        if (f.refs != 1 || f.resources != 1)
            return 0;
    }
    if (!facts_read)
        facts_of(b, s, e, i, pairs->codes, &f);
    if (pairs->codes != NULL && f.code)
        return 0;
    return facts_plain(&f);
}

static int bytes_tuple(PyObject *tuple, int none_items)
{
    if (!PyTuple_Check(tuple))
        return 0;
    for (Py_ssize_t w = 0; w < PyTuple_GET_SIZE(tuple); w++) {
        PyObject *item = PyTuple_GET_ITEM(tuple, w);
        if (!(PyBytes_Check(item) || (none_items && (item == Py_None || bytes_tuple(item, 0)))))
            return 0;
    }
    return 1;
}

static int content_unneeded(PyObject *content, const char *line, Py_ssize_t n);
static const char CONTENT_CAPSULE[];

static PyObject *audit_lines(PyObject *self, PyObject *args)
{
    Py_buffer view;
    Py_ssize_t start, end;
    PyObject *wanted, *resources = Py_None, *pair_verbs = Py_None, *pair_resources = Py_None, *codes = Py_None;
    PyObject *content = Py_None;
    if (!PyArg_ParseTuple(args, "y*nnO!|OOOOO", &view, &start, &end, &PyTuple_Type, &wanted, &resources,
                          &pair_verbs, &pair_resources, &codes, &content))
        return NULL;
    if (content != Py_None
        && !(PyTuple_Check(content) && PyTuple_GET_SIZE(content) == 5
             && PyCapsule_IsValid(PyTuple_GET_ITEM(content, 0), CONTENT_CAPSULE)
             && bytes_tuple(PyTuple_GET_ITEM(content, 1), 0)
             && (PyTuple_GET_ITEM(content, 2) == Py_None || bytes_tuple(PyTuple_GET_ITEM(content, 2), 0))
             && bytes_tuple(PyTuple_GET_ITEM(content, 3), 0))) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_TypeError, "content must be (matcher, resources, subresources or None, kinds, "
                                         "judge_all) or None");
        return NULL;
    }
    Pairs pairs = {NULL, NULL, NULL};
    if (pair_verbs != Py_None || pair_resources != Py_None) {
        if (!bytes_tuple(pair_verbs, 0) || !bytes_tuple(pair_resources, 1)
            || PyTuple_GET_SIZE(pair_verbs) != PyTuple_GET_SIZE(pair_resources)) {
            PyBuffer_Release(&view);
            PyErr_SetString(PyExc_TypeError, "pair_verbs must be a tuple of bytes, pair_resources a tuple as long "
                                             "of tuples of bytes or None");
            return NULL;
        }
        pairs.verbs = pair_verbs;
        pairs.resources = pair_resources;
    }
    if (codes != Py_None) {
        if (!bytes_tuple(codes, 0)) {
            PyBuffer_Release(&view);
            PyErr_SetString(PyExc_TypeError, "codes must be a tuple of bytes or None");
            return NULL;
        }
        pairs.codes = codes;
    }
    if (resources == Py_None)
        resources = NULL;
    else if (!PyTuple_Check(resources)) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_TypeError, "wanted_resources must be a tuple of bytes or None");
        return NULL;
    }
    for (int t = 0; t < 2; t++) {
        PyObject *tuple = t == 0 ? wanted : resources;
        for (Py_ssize_t w = 0; tuple != NULL && w < PyTuple_GET_SIZE(tuple); w++) {
            if (!PyBytes_Check(PyTuple_GET_ITEM(tuple, w))) {
                PyBuffer_Release(&view);
                PyErr_SetString(PyExc_TypeError, "wanted verbs and resources must be tuples of bytes");
                return NULL;
            }
        }
    }
    if (start < 0)
        start = 0;
    if (end > view.len)
        end = view.len;
    const char *b = (const char *)view.buf;
    PyObject *out = PyList_New(0);
    if (out == NULL) {
        PyBuffer_Release(&view);
        return NULL;
    }
    Py_ssize_t index = 0, pos = start;
    while (pos < end) {
        const char *nlp = memchr(b + pos, '\n', (size_t)(end - pos));
        Py_ssize_t nl = nlp ? nlp - b : end;
        if (!skippable(b, pos, nl, wanted, resources, &pairs)
            && !(content != Py_None && content_unneeded(content, b + pos, nl - pos))) {
            PyObject *item = Py_BuildValue("(nnn)", index, pos, nl);
            if (item == NULL || PyList_Append(out, item) < 0) {
                Py_XDECREF(item);
                Py_DECREF(out);
                PyBuffer_Release(&view);
                return NULL;
            }
            Py_DECREF(item);
        }
        index++;
        pos = nl + 1;
    }
    PyBuffer_Release(&view);
    return Py_BuildValue("(Nn)", out, index);
}


/*
 * plain_json(line) -> bool: True when no number literal on the line could decode differently in orjson and
 * msgspec (an exponent of three or more digits, which may overflow a double, which orjson refuses; 20 or more
 * digits and dots, past the 64-bit integers orjson reads as floats where msgspec keeps ints) and the line
 * nests less than 1000 deep (orjson's limit is 1024). Strings are
 * skipped whole, so a UID like "...-e123-..." does not count. False only costs speed: such a line is decoded
 * by the general path. The caller has already checked that the line is valid JSON (msgspec decoded it).
 */
static PyObject *plain_json(PyObject *self, PyObject *arg)
{
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    const unsigned char *p = (const unsigned char *)view.buf, *end = p + view.len;
    Py_ssize_t depth = 0;
    int ok = 1;
    while (p < end && ok) {
        unsigned char c = *p;
        if (c == '"') {
            p++;
            for (;;) { /* to the closing quote: memchr, then count the backslashes before it */
                const unsigned char *q = memchr(p, '"', (size_t)(end - p));
                if (q == NULL) {
                    p = end;
                    break;
                }
                const unsigned char *b = q;
                while (b > p && b[-1] == '\\')
                    b--;
                p = q + 1;
                if (((q - b) & 1) == 0)
                    break;
            }
        } else if (c == '{' || c == '[') {
            if (++depth >= 1000)
                ok = 0;
            p++;
        } else if (c == '}' || c == ']') {
            depth--;
            p++;
        } else if ((c >= '0' && c <= '9') || c == '-') {
            Py_ssize_t digits = 0;
            p++;
            while (p < end && ((*p >= '0' && *p <= '9') || *p == '.')) {
                digits++;
                p++;
            }
            if (digits >= 19) /* 20 characters or more: past 64-bit integers, which orjson reads as floats */
                ok = 0;
            if (p < end && (*p == 'e' || *p == 'E')) {
                p++;
                if (p < end && (*p == '+' || *p == '-'))
                    p++;
                Py_ssize_t exp = 0;
                while (p < end && *p >= '0' && *p <= '9') {
                    exp++;
                    p++;
                }
                if (exp >= 3)
                    ok = 0;
            }
        } else {
            p++;
        }
    }
    PyBuffer_Release(&view);
    return PyBool_FromLong(ok);
}


/* ==== audit_content: declarative content interest of the pod-spec cards (k8sreal, issue 10) ==============
 *
 * audit_content_matcher(exact, folded, base58_run) -> matcher (a capsule holding the needle tables)
 * audit_content(matcher, buf, start, end) -> None | (hit, resource, subresource, body, kinds)
 *
 * One pass over the audit line buf[start:end]. `hit` is True when one of `exact` (bytes, compared as they
 * are) or `folded` (lowercase ASCII bytes, at least 2 long, compared ASCII case-insensitively) occurs anywhere
 * on it, or a run of `base58_run` (0: no such test) base58 characters does. None means the line is something
 * the proofs cannot read: a byte past ASCII, an escape other than \" \\ \b \f \n \r \t, \u003c \u003e \u0026
 * \u2028 \u2029 (the only ones an API server writes; any other could spell a needle's character), a control
 * character in a string, unbalanced or over-deep nesting, anything after the object. With those escapes
 * excluded a decoded string holding a needle holds it on the raw line too (the needles have none of the
 * characters the allowed escapes spell), so "no hit" is exact.
 *
 * `resource` is the value of the top-level objectRef's `resource` (bytes) when the line has exactly one
 * top-level "objectRef" key, its value is an object holding exactly one "resource" key whose value is a
 * string without escapes; else None. `subresource`, in that objectRef likewise: b"" when it has no
 * "subresource" key, None when it has several or one that is not a plain string. `body` is True when the
 * line has exactly one top-level "requestObject" key and its value is an object (a request body the parsers
 * read as an object). `kinds` lists the "kind" values of the top-level requestObject and responseObject
 * (None when one is not a plain string or there are more than four).
 */
#define CONTENT_MAX_DEPTH 63

typedef struct {
    PyObject *exact;  /* tuple of bytes */
    PyObject *folded; /* tuple of bytes */
    Py_ssize_t base58_run;
    unsigned char first_exact[256]; /* an exact needle starts with this byte */
    unsigned char folds[256];          /* ASCII lowercase of each byte */
    unsigned char base58[256];         /* 1 for a base58 character */
    unsigned char string_special[256]; /* 1 for what ends or escapes a string, or makes it unreadable */
    /* by raw byte pairs (a << 8 | b), any letter case: pair0, a needle may start with a, b; pair1, a needle's
     * second byte is a and its third b (or it is two bytes long): it may start one byte before */
    unsigned char pair0[8192], pair1[8192], pair_any[8192];
    /* the folded needles sorted by first byte: folded_order[first_start[c] .. first_start[c] + first_count[c]] */
    Py_ssize_t first_start[256], first_count[256];
    Py_ssize_t *folded_order;
} ContentMatcher;

static const char CONTENT_CAPSULE[] = "cloudward._speedups.ContentMatcher";

static void content_matcher_free(PyObject *capsule)
{
    ContentMatcher *m = PyCapsule_GetPointer(capsule, CONTENT_CAPSULE);
    if (m != NULL) {
        Py_XDECREF(m->exact);
        Py_XDECREF(m->folded);
        PyMem_Free(m->folded_order);
        PyMem_Free(m);
    }
}

static int content_tuple_ok(PyObject *t, int min_len)
{
    if (!PyTuple_Check(t))
        return 0;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(t); i++) {
        PyObject *item = PyTuple_GET_ITEM(t, i);
        if (!PyBytes_Check(item) || PyBytes_GET_SIZE(item) < min_len)
            return 0;
    }
    return 1;
}

static inline unsigned char fold(unsigned char c) { return (c >= 'A' && c <= 'Z') ? (unsigned char)(c | 0x20) : c; }

static inline int base58_char(unsigned char c)
{
    return (c >= '1' && c <= '9') || (c >= 'A' && c <= 'H') || (c >= 'J' && c <= 'N') || (c >= 'P' && c <= 'Z')
           || (c >= 'a' && c <= 'k') || (c >= 'm' && c <= 'z');
}

static PyObject *audit_content_matcher(PyObject *self, PyObject *args)
{
    PyObject *exact, *folded;
    Py_ssize_t base58_run;
    if (!PyArg_ParseTuple(args, "OOn", &exact, &folded, &base58_run))
        return NULL;
    if (!content_tuple_ok(exact, 2) || !content_tuple_ok(folded, 2)) {
        PyErr_SetString(PyExc_TypeError, "exact and folded must be tuples of bytes of at least 2");
        return NULL;
    }
    ContentMatcher *m = PyMem_Calloc(1, sizeof *m);
    if (m == NULL)
        return PyErr_NoMemory();
    m->exact = Py_NewRef(exact);
    m->folded = Py_NewRef(folded);
    m->base58_run = base58_run;
    for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(exact); k++)
        m->first_exact[(unsigned char)PyBytes_AS_STRING(PyTuple_GET_ITEM(exact, k))[0]] = 1;
    for (int c = 0; c < 256; c++) {
        m->folds[c] = fold((unsigned char)c);
        m->base58[c] = (unsigned char)base58_char((unsigned char)c);
        m->string_special[c] = (unsigned char)(c == '"' || c == '\\' || c < 0x20 || c >= 0x80);
    }
    for (int t = 0; t < 2; t++) {
        PyObject *tuple = t ? folded : exact;
        for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(tuple); k++) {
            PyObject *nd = PyTuple_GET_ITEM(tuple, k);
            const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(nd);
            Py_ssize_t len = PyBytes_GET_SIZE(nd);
            /* the byte values each needle byte stands for: itself, and for a folded needle its other case */
            unsigned char v[3][2];
            int nv[3] = {0, 0, 0};
            for (int q = 0; q < 3 && q < len; q++) {
                v[q][0] = p[q];
                nv[q] = 1;
                if (t && p[q] >= 'a' && p[q] <= 'z')
                    v[q][nv[q]++] = (unsigned char)(p[q] - 0x20);
            }
            for (int x = 0; x < nv[0]; x++)
                for (int y = 0; y < nv[1]; y++) {
                    unsigned int pr = ((unsigned int)v[0][x] << 8) | v[1][y];
                    m->pair0[pr >> 3] |= (unsigned char)(1u << (pr & 7));
                }
            for (int x = 0; x < nv[1]; x++) {
                for (int y = 0; y < (len == 2 ? 256 : nv[2]); y++) {
                    unsigned int pr = ((unsigned int)v[1][x] << 8) | (unsigned int)(len == 2 ? y : v[2][y]);
                    m->pair1[pr >> 3] |= (unsigned char)(1u << (pr & 7));
                }
            }
        }
    }
    for (int g = 0; g < 8192; g++)
        m->pair_any[g] = m->pair0[g] | m->pair1[g];
    Py_ssize_t nf = PyTuple_GET_SIZE(folded);
    m->folded_order = PyMem_Calloc((size_t)(nf ? nf : 1), sizeof(Py_ssize_t));
    if (m->folded_order == NULL) {
        Py_DECREF(m->exact);
        Py_DECREF(m->folded);
        PyMem_Free(m);
        return PyErr_NoMemory();
    }
    Py_ssize_t at = 0;
    for (int c = 0; c < 256; c++) {
        m->first_start[c] = at;
        for (Py_ssize_t k = 0; k < nf; k++)
            if (fold((unsigned char)PyBytes_AS_STRING(PyTuple_GET_ITEM(folded, k))[0]) == c)
                m->folded_order[at++] = k;
        m->first_count[c] = at - m->first_start[c];
    }
    PyObject *capsule = PyCapsule_New(m, CONTENT_CAPSULE, content_matcher_free);
    if (capsule == NULL) {
        Py_DECREF(m->exact);
        Py_DECREF(m->folded);
        PyMem_Free(m->folded_order);
        PyMem_Free(m);
    }
    return capsule;
}

static int is_hex(unsigned char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

/* the \u escape at b[i] (b[i] == '\\', b[i+1] == 'u') is one an API server writes */
static int allowed_u_escape(const unsigned char *b, Py_ssize_t i, Py_ssize_t n)
{
    if (i + 5 >= n || !is_hex(b[i + 2]) || !is_hex(b[i + 3]) || !is_hex(b[i + 4]) || !is_hex(b[i + 5]))
        return 0;
    char h[5] = {(char)fold(b[i + 2]), (char)fold(b[i + 3]), (char)fold(b[i + 4]), (char)fold(b[i + 5]), 0};
    return !strcmp(h, "003c") || !strcmp(h, "003e") || !strcmp(h, "0026") || !strcmp(h, "2028")
           || !strcmp(h, "2029");
}


static int needle_at(const ContentMatcher *m, const unsigned char *b, Py_ssize_t i, Py_ssize_t n)
{
    unsigned char c = b[i];
    if (m->first_exact[c]) {
        for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(m->exact); k++) {
            PyObject *nd = PyTuple_GET_ITEM(m->exact, k);
            Py_ssize_t len = PyBytes_GET_SIZE(nd);
            if (len <= n - i && !memcmp(b + i, PyBytes_AS_STRING(nd), (size_t)len))
                return 1;
        }
    }
    unsigned char f0 = m->folds[c];
    Py_ssize_t first = m->first_start[f0], count = m->first_count[f0];
    for (Py_ssize_t q = 0; q < count; q++) {
        PyObject *nd = PyTuple_GET_ITEM(m->folded, m->folded_order[first + q]);
        Py_ssize_t len = PyBytes_GET_SIZE(nd);
        const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(nd);
        if (len > n - i)
            continue;
        Py_ssize_t j = 1;
        while (j < len && m->folds[b[i + j]] == p[j])
            j++;
        if (j == len)
            return 1;
    }
    return 0;
}

/* the needle and base58 tests at b[t]: one bigram lookup for most bytes */

typedef struct {
    int bad, hit, body;
    int resource_ok; /* one plain resource in one top-level objectRef */
    int sub_state;   /* 0: unreadable, 1: absent, 2: one plain string */
    int kinds_ok, kind_count;
    Py_ssize_t res_start, res_len, sub_start, sub_len, kind_start[4], kind_len[4];
} ContentScan;

static void content_scan(const ContentMatcher *m, const unsigned char *b, Py_ssize_t n, ContentScan *r)
{
    const unsigned char *base58 = m->base58, *pair0 = m->pair0, *pair1 = m->pair1;
    const unsigned char *string_special = m->string_special;
    int bad = 0, hit = 0, depth = 0, done = 0;
    unsigned long long objects = 0; /* bit d: the container at depth d is an object */
    int expect_key = 0;             /* the next string in this object is a key */
    int key_id = 0;                 /* key just read: 1 objectRef, 2 requestObject (top level), 3 resource, 4 subresource */
    int in_ref = 0;                 /* 2: objectRef's value is about to open; 1: inside it (depth 2) */
    int in_body = 0;                /* the same for the top-level requestObject and responseObject */
    int kind_count = 0, kind_bad = 0;
    Py_ssize_t kind_start[4] = {0}, kind_len[4] = {0};
    int ref_count = 0, ref_bad = 0, req_count = 0, req_object = 0;
    int res_count = 0, res_bad = 0, sub_count = 0, sub_bad = 0;
    Py_ssize_t res_start = 0, res_len = 0, sub_start = 0, sub_len = 0;
    /* the needles (2 bytes or more), looked for at even offsets only: one starting at an odd offset t - 1 shows
     * at t as its second and third bytes (pair1), or, two bytes long, as its last byte; at the line's last byte
     * both starts are tried outright */
    const unsigned char *pair_any = m->pair_any;
    Py_ssize_t t = 0;
    for (; t + 1 < n; t += 2) {
        unsigned int pr = ((unsigned int)b[t] << 8) | b[t + 1];
        if (!((pair_any[pr >> 3] >> (pr & 7)) & 1))
            continue;
        if ((((pair0[pr >> 3] >> (pr & 7)) & 1) && needle_at(m, b, t, n))
            || (t > 0 && ((pair1[pr >> 3] >> (pr & 7)) & 1) && needle_at(m, b, t - 1, n))) {
            hit = 1;
            break;
        }
    }
    if (!hit && t == n - 1 && (needle_at(m, b, t, n) || (t > 0 && needle_at(m, b, t - 1, n))))
        hit = 1;
    /* base58_run base58 bytes in a row are a hit. Such a run covers a multiple of `step` (at most base58_run, a
     * power of two): only runs through those offsets are measured, each byte at most once. */
    if (m->base58_run > 0) {
        Py_ssize_t step = 1;
        while (step * 2 <= m->base58_run)
            step *= 2;
        Py_ssize_t measured = 0; /* bytes before this offset belong to runs already measured */
        for (Py_ssize_t p = 0; p < n && !hit; p += step) {
            if (p < measured || !base58[b[p]])
                continue;
            Py_ssize_t lo = p, hi = p + 1;
            while (lo > measured && base58[b[lo - 1]])
                lo--;
            while (hi < n && base58[b[hi]])
                hi++;
            if (hi - lo >= m->base58_run)
                hit = 1;
            measured = hi;
        }
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = b[i];
        if (c >= 0x80) {
            bad = 1;
            break;
        }
        if (done) {
            if (!(c == ' ' || c == '\t' || c == '\r' || c == '\n')) {
                bad = 1;
                break;
            }
            continue;
        }
        if (c == '"') {
            Py_ssize_t s = i + 1, j = s;
            int escaped = 0;
            for (; j < n; j++) {
                while (j < n && !string_special[b[j]])
                    j++;
                if (j >= n)
                    break;
                unsigned char d = b[j];
                if (d == '"')
                    break;
                if (d >= 0x80 || d < 0x20) {
                    bad = 1;
                    break;
                }
                if (d == '\\') {
                    unsigned char e = j + 1 < n ? b[j + 1] : 0;
                    if (e == 'u') {
                        if (!allowed_u_escape(b, j, n)) {
                            bad = 1;
                            break;
                        }
                    } else if (!(e == '"' || e == '\\' || e == 'b' || e == 'f' || e == 'n' || e == 'r' || e == 't')) {
                        bad = 1;
                        break;
                    }
                    escaped = 1;
                    j++;
                }
            }
            if (bad || j >= n) {
                bad = 1;
                break;
            }
            Py_ssize_t len = j - s;
            if (expect_key) {
                key_id = 0;
                if (depth == 1) {
                    if (len == 9 && !memcmp(b + s, "objectRef", 9))
                        key_id = 1;
                    else if (len == 13 && !memcmp(b + s, "requestObject", 13))
                        key_id = 2;
                    else if (len == 14 && !memcmp(b + s, "responseObject", 14))
                        key_id = 6;
                } else if (depth == 2 && in_ref == 1) {
                    if (len == 8 && !memcmp(b + s, "resource", 8))
                        key_id = 3;
                    else if (len == 11 && !memcmp(b + s, "subresource", 11))
                        key_id = 4;
                } else if (depth == 2 && in_body == 1 && len == 4 && !memcmp(b + s, "kind", 4)) {
                    key_id = 5;
                }
                expect_key = 0;
            } else if (key_id == 5) {
                if (kind_count < 4 && !escaped) {
                    kind_start[kind_count] = s;
                    kind_len[kind_count] = len;
                    kind_count++;
                } else {
                    kind_bad = 1;
                }
                key_id = 0;
            } else if (key_id == 3 || key_id == 4) {
                if (key_id == 3) {
                    res_count++;
                    res_bad |= escaped;
                    res_start = s;
                    res_len = len;
                } else {
                    sub_count++;
                    sub_bad |= escaped;
                    sub_start = s;
                    sub_len = len;
                }
                key_id = 0;
            }
            i = j;
            continue;
        }
        if (c == ':') {
            /* the value of the key just read starts at the next byte that is not white space */
            Py_ssize_t v = i + 1;
            while (v < n && (b[v] == ' ' || b[v] == '\t' || b[v] == '\r' || b[v] == '\n'))
                v++;
            unsigned char first = v < n ? b[v] : 0;
            if (key_id == 1) {
                ref_count++;
                if (first == '{')
                    in_ref = 2;
                else
                    ref_bad = 1;
                key_id = 0;
            } else if (key_id == 2 || key_id == 6) {
                if (key_id == 2) {
                    req_count++;
                    req_object = first == '{';
                }
                if (first == '{')
                    in_body = 2;
                key_id = 0;
            } else if (key_id == 5 && first != '"') {
                kind_bad = 1; /* a kind that is not a string: let the full parse judge it */
                key_id = 0;
            } else if ((key_id == 3 || key_id == 4) && first != '"') {
                if (key_id == 3) {
                    res_count++;
                    res_bad = 1;
                } else {
                    sub_count++;
                    sub_bad = 1;
                }
                key_id = 0;
            }
            continue;
        }
        if (c == '{' || c == '[') {
            if (depth >= CONTENT_MAX_DEPTH) {
                bad = 1;
                break;
            }
            depth++;
            if (c == '{')
                objects |= 1ull << depth;
            else
                objects &= ~(1ull << depth);
            expect_key = c == '{';
            if (in_ref == 2)
                in_ref = (c == '{' && depth == 2) ? 1 : 0;
            if (in_body == 2)
                in_body = (c == '{' && depth == 2) ? 1 : 0;
            key_id = 0;
            continue;
        }
        if (c == '}' || c == ']') {
            int is_object = (int)((objects >> depth) & 1);
            if (depth == 0 || is_object != (c == '}')) {
                bad = 1;
                break;
            }
            if (depth == 2 && in_ref == 1)
                in_ref = 0;
            if (depth == 2 && in_body == 1)
                in_body = 0;
            depth--;
            expect_key = 0;
            key_id = 0;
            if (depth == 0)
                done = 1;
            continue;
        }
        if (c == ',') {
            expect_key = (int)((objects >> depth) & 1);
            key_id = 0;
            continue;
        }
        if (depth == 0 && !(c == ' ' || c == '\t' || c == '\r' || c == '\n')) {
            bad = 1; /* not a JSON object */
            break;
        }
    }
    r->bad = bad || !done;
    r->hit = hit;
    r->body = req_count == 1 && req_object;
    r->resource_ok = ref_count == 1 && !ref_bad && res_count == 1 && !res_bad;
    r->res_start = res_start;
    r->res_len = res_len;
    r->sub_state = !r->resource_ok ? 0 : sub_count == 0 ? 1 : (sub_count == 1 && !sub_bad) ? 2 : 0;
    r->sub_start = sub_start;
    r->sub_len = sub_len;
    r->kinds_ok = !kind_bad;
    r->kind_count = kind_count;
    for (int k = 0; k < kind_count; k++) {
        r->kind_start[k] = kind_start[k];
        r->kind_len[k] = kind_len[k];
    }
}

static PyObject *audit_content(PyObject *self, PyObject *args)
{
    PyObject *capsule;
    Py_buffer view;
    Py_ssize_t start, end;
    if (!PyArg_ParseTuple(args, "Oy*nn", &capsule, &view, &start, &end))
        return NULL;
    ContentMatcher *m = PyCapsule_GetPointer(capsule, CONTENT_CAPSULE);
    if (m == NULL) {
        PyBuffer_Release(&view);
        return NULL;
    }
    if (start < 0)
        start = 0;
    if (end > view.len)
        end = view.len;
    const unsigned char *b = (const unsigned char *)view.buf + start;
    ContentScan r;
    content_scan(m, b, end > start ? end - start : 0, &r);
    PyObject *result = NULL;
    if (r.bad) {
        result = Py_NewRef(Py_None);
    } else {
        PyObject *body = r.body ? Py_True : Py_False;
        PyObject *h = r.hit ? Py_True : Py_False;
        PyObject *resource = NULL, *subresource = NULL, *kinds = NULL;
        if (r.resource_ok) {
            resource = PyBytes_FromStringAndSize((const char *)b + r.res_start, r.res_len);
            if (r.sub_state == 1)
                subresource = PyBytes_FromStringAndSize("", 0);
            else if (r.sub_state == 2)
                subresource = PyBytes_FromStringAndSize((const char *)b + r.sub_start, r.sub_len);
            else
                subresource = Py_NewRef(Py_None);
        } else {
            resource = Py_NewRef(Py_None);
            subresource = Py_NewRef(Py_None);
        }
        if (!r.kinds_ok) {
            kinds = Py_NewRef(Py_None);
        } else {
            kinds = PyTuple_New(r.kind_count);
            for (int k = 0; kinds != NULL && k < r.kind_count; k++) {
                PyObject *kb = PyBytes_FromStringAndSize((const char *)b + r.kind_start[k], r.kind_len[k]);
                if (kb == NULL) {
                    Py_CLEAR(kinds);
                    break;
                }
                PyTuple_SET_ITEM(kinds, k, kb);
            }
        }
        if (resource != NULL && subresource != NULL && kinds != NULL)
            result = PyTuple_Pack(5, h, resource, subresource, body, kinds);
        Py_XDECREF(resource);
        Py_XDECREF(subresource);
        Py_XDECREF(kinds);
    }
    PyBuffer_Release(&view);
    return result;
}

/* in_bytes_tuple: v[0:n] equals one of the bytes in `tuple` */
static int content_in(PyObject *tuple, const unsigned char *v, Py_ssize_t n)
{
    for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(tuple); k++) {
        PyObject *item = PyTuple_GET_ITEM(tuple, k);
        if (PyBytes_GET_SIZE(item) == n && !memcmp(PyBytes_AS_STRING(item), v, (size_t)n))
            return 1;
    }
    return 0;
}

/* The content rule of `parsers._k8s._content_test` for one line: 1 when no card needs it. `content` is
 * (matcher, resources, subresources or None, kinds, judge_all) */
static int content_unneeded(PyObject *content, const char *line, Py_ssize_t n)
{
    PyObject *resources = PyTuple_GET_ITEM(content, 1), *subs = PyTuple_GET_ITEM(content, 2);
    PyObject *kinds = PyTuple_GET_ITEM(content, 3);
    int judge_all = PyObject_IsTrue(PyTuple_GET_ITEM(content, 4));
    /* cheap first: the API server's layout names the resource right after objectRef's brace */
    const char *k = find_bytes(line, n, REF_KEY, REF_KEY_LEN);
    if (k == NULL)
        return 0;
    const char *v = k + REF_KEY_LEN;
    const char *q = memchr(v, '"', (size_t)(line + n - v));
    if (q == NULL || !content_in(resources, (const unsigned char *)v, q - v))
        return 0;
    ContentMatcher *m = PyCapsule_GetPointer(PyTuple_GET_ITEM(content, 0), CONTENT_CAPSULE);
    if (m == NULL) {
        PyErr_Clear();
        return 0;
    }
    const unsigned char *b = (const unsigned char *)line;
    ContentScan r;
    content_scan(m, b, n, &r);
    if (r.bad || !r.resource_ok || r.sub_state == 0 || !content_in(resources, b + r.res_start, r.res_len))
        return 0;
    if (subs != Py_None) {
        int in_subs = r.sub_state == 1 ? content_in(subs, (const unsigned char *)"", 0)
                                       : content_in(subs, b + r.sub_start, r.sub_len);
        if (!in_subs)
            return 1; /* no card judges this subresource */
    }
    if (judge_all || r.hit || !r.body || !r.kinds_ok)
        return 0;
    for (int j = 0; j < r.kind_count; j++)
        if (!content_in(kinds, b + r.kind_start[j], r.kind_len[j]))
            return 0;
    return 1;
}
/* ==== end of audit_content ==================================================================================== */

static PyObject *set_facts_mode(PyObject *self, PyObject *arg)
{
    long mode = PyLong_AsLong(arg);
    if (mode == -1 && PyErr_Occurred())
        return NULL;
    if (mode < 0 || mode > 2) {
        PyErr_SetString(PyExc_ValueError, "mode must be 0 (vector), 1 (byte by byte) or 2 (separate scans)");
        return NULL;
    }
    int old = facts_mode;
    facts_mode = (int)mode;
    return PyLong_FromLong(old);
}

/* count_newlines(buf, start, end) -> the b'\n' bytes in buf[start:end] (a bytes-like object, e.g. an mmap of a
 * file: `runners.workers.count_newlines` numbers a byte range's lines without copying the bytes before it).
 * memchr from one newline to the next: vectorized in libc, and audit records are KBs long. */
static PyObject *count_newlines(PyObject *self, PyObject *args) {
    Py_buffer view;
    Py_ssize_t start, end;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*nn", &view, &start, &end))
        return NULL;
    if (start < 0)
        start = 0;
    if (end > view.len)
        end = view.len;
    Py_ssize_t n = 0;
    if (start < end) {
        const char *p = (const char *)view.buf + start, *e = (const char *)view.buf + end;
        Py_BEGIN_ALLOW_THREADS
        while (p < e) {
            const char *q = memchr(p, '\n', (size_t)(e - p));
            if (q == NULL)
                break;
            n++;
            p = q + 1;
        }
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&view);
    return PyLong_FromSsize_t(n);
}

static PyMethodDef methods[] = {
    {"count_newlines", count_newlines, METH_VARARGS,
     "count_newlines(buf, start, end) -> how many b'\\n' bytes buf[start:end] holds (buf: any bytes-like object)"},
    {"audit_lines", audit_lines, METH_VARARGS,
     "audit_lines(buf, start, end, wanted_verbs, wanted_resources=None) -> (list of (index, start, end) not "
     "skippable, line count); optional pair_verbs, pair_resources, codes: lines with one of those verbs and "
     "its resources (case-insensitively), or a \"code\" of one of codes, are kept too; optional content "
     "(matcher, resources, subresources, kinds, judge_all): lines audit_content proves no card needs are skipped"},
    {"_set_facts_mode", set_facts_mode, METH_O,
     "_set_facts_mode(mode) -> the previous mode: how audit_lines reads a line's tokens (0 vector, 1 byte by byte, "
     "2 the separate scans; for tests)"},
    {"plain_json", plain_json, METH_O,
     "plain_json(line) -> whether no number could overflow a double and nesting stays under 1000"},
    {"audit_content_matcher", audit_content_matcher, METH_VARARGS,
     "audit_content_matcher(exact, folded, base58_run) -> a matcher for audit_content"},
    {"audit_content", audit_content, METH_VARARGS,
     "audit_content(matcher, buf, start, end) -> None when the line cannot be read exactly, else (needle hit, "
     "top-level objectRef.resource or None, its subresource (b'' when absent) or None, single object "
     "requestObject, the bodies' kinds)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_speedups", NULL, -1, methods};

PyMODINIT_FUNC PyInit__speedups(void) { return PyModule_Create(&module); }
