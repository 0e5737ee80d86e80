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

/* A wanted verb at key position i: the line is still skippable when its single objectRef's single resource,
   right after `,"verb":"...",` in the API server's layout, is not wanted (kubelet lease renewals). The same
   proof as the Python filter: one `"objectRef"` and one `"resource"` on the line, and `plain`. */
static int resource_skippable(const char *b, Py_ssize_t s, Py_ssize_t e, Py_ssize_t i, PyObject *resources)
{
    const char *k = find_bytes(b + i, e - i, REF_KEY, REF_KEY_LEN);
    if (k == NULL)
        return 0;
    Py_ssize_t r = (k - b) + REF_KEY_LEN;
    if (r >= e)
        return 0;
    const char *m = memchr(b + r, '"', (size_t)(e - r));
    if (m == NULL || in_tuple(resources, b + r, m - (b + r)))
        return 0;
    return count_bytes(b + s, e - s, "\"objectRef\"", 11, 2) == 1
           && count_bytes(b + s, e - s, "\"resource\"", 10, 2) == 1 && plain(b, s, e, i);
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
    if (pairs->verbs == NULL && pairs->codes == NULL) { /* the cards' rule alone, as before */
        if (card)
            return resources != NULL && resource_skippable(b, s, e, i, resources);
        return plain(b, s, e, i);
    }
    if (card && resources == NULL)
        return 0;
    Py_ssize_t pair = -1;
    if (pairs->verbs != NULL) {
        pair = ci_index(pairs->verbs, b + v, vlen);
        if (pair == -2 || (pair >= 0 && PyTuple_GET_ITEM(pairs->resources, pair) == Py_None))
            return 0;
    }
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
        if (count_bytes(b + s, e - s, "\"objectRef\"", 11, 2) != 1
            || count_bytes(b + s, e - s, "\"resource\"", 10, 2) != 1)
            return 0;
    }
    if (pairs->codes != NULL && may_have_code(b, s, e, pairs->codes))
        return 0;
    return plain(b, s, e, i);
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

static PyObject *audit_lines(PyObject *self, PyObject *args)
{
    Py_buffer view;
    Py_ssize_t start, end;
    PyObject *wanted, *resources = Py_None, *pair_verbs = Py_None, *pair_resources = Py_None, *codes = Py_None;
    if (!PyArg_ParseTuple(args, "y*nnO!|OOOO", &view, &start, &end, &PyTuple_Type, &wanted, &resources,
                          &pair_verbs, &pair_resources, &codes))
        return NULL;
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
        if (!skippable(b, pos, nl, wanted, resources, &pairs)) {
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

static PyMethodDef methods[] = {
    {"audit_lines", audit_lines, METH_VARARGS,
     "audit_lines(buf, start, end, wanted_verbs, wanted_resources=None) -> (list of (index, start, end) not "
     "skippable, line count); optional pair_verbs, pair_resources, codes: lines with one of those verbs and "
     "its resources (case-insensitively), or a \"code\" of one of codes, are kept too"},
    {"plain_json", plain_json, METH_O,
     "plain_json(line) -> whether no number could overflow a double and nesting stays under 1000"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_speedups", NULL, -1, methods};

PyMODINIT_FUNC PyInit__speedups(void) { return PyModule_Create(&module); }
