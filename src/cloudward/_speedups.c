/*
 * Optional accelerator for the Kubernetes audit fast path (see cloudward/parsers/_k8s.py).
 *
 * audit_lines(buf, start, end, wanted_verbs) walks the newline-separated lines of buf[start:end] and
 * returns (lines, count): `lines` lists (index, line_start, line_end) for every line that is NOT provably an
 * event with an unwanted verb; `count` is the number of lines seen. The rule is the one the pure-Python
 * filter applies, and the Python side applies its full test to the lines returned, so this module only
 * makes skipping faster; it never decides alone that a line is needed.
 *
 * A line is skippable when it is blank (empty or a lone "\r"), or when: it starts with '{' and ends with '}'
 * (or "}\r"); `,"verb":"` occurs in it with no '{' between the opening brace and it; the verb value up to the
 * next '"' has no backslash and is not one of wanted_verbs; `"verb"` occurs nowhere else on the line (a
 * parser keeps the last of duplicate keys, so a decoy must not decide); and no `\u004x`-`\u007x` escape,
 * which could spell a letter of a key (`"\u0076erb"`), is on the line.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

static const char VERB_KEY[] = ",\"verb\":\"";
#define VERB_KEY_LEN 9

static const char *find_bytes(const char *hay, Py_ssize_t hay_len, const char *needle, Py_ssize_t n_len)
{
    if (hay_len < n_len)
        return NULL;
    const char *end = hay + hay_len - n_len + 1;
    const char *p = hay;
    while (p < end) {
        p = memchr(p, needle[0], (size_t)(end - p));
        if (p == NULL)
            return NULL;
        if (memcmp(p, needle, (size_t)n_len) == 0)
            return p;
        p++;
    }
    return NULL;
}

static const char VERB_TOKEN[] = "\"verb\"";
#define VERB_TOKEN_LEN 6
static const char ESCAPE_00[] = "\\u00";
#define ESCAPE_00_LEN 4

/* `"verb"` at k+1 is the line's only one and no escape on it can spell a letter */
static int plain(const char *b, Py_ssize_t s, Py_ssize_t e, Py_ssize_t k)
{
    if (find_bytes(b + s, k + 1 - s, VERB_TOKEN, VERB_TOKEN_LEN) != NULL)
        return 0;
    if (e - (k + 2) > 0 && find_bytes(b + k + 2, e - (k + 2), VERB_TOKEN, VERB_TOKEN_LEN) != NULL)
        return 0;
    Py_ssize_t p = s;
    while (p < e) {
        const char *u = find_bytes(b + p, e - p, ESCAPE_00, ESCAPE_00_LEN);
        if (u == NULL)
            break;
        Py_ssize_t at = u - b;
        if (at + 4 < e && b[at + 4] >= '4' && b[at + 4] <= '7')
            return 0;
        p = at + 4;
    }
    return 1;
}

static int skippable(const char *b, Py_ssize_t s, Py_ssize_t e, PyObject *wanted)
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
    Py_ssize_t n = PyTuple_GET_SIZE(wanted);
    for (Py_ssize_t w = 0; w < n; w++) {
        PyObject *item = PyTuple_GET_ITEM(wanted, w);
        if (PyBytes_GET_SIZE(item) == vlen && memcmp(PyBytes_AS_STRING(item), b + v, (size_t)vlen) == 0)
            return 0;
    }
    return plain(b, s, e, i);
}

static PyObject *audit_lines(PyObject *self, PyObject *args)
{
    Py_buffer view;
    Py_ssize_t start, end;
    PyObject *wanted;
    if (!PyArg_ParseTuple(args, "y*nnO!", &view, &start, &end, &PyTuple_Type, &wanted))
        return NULL;
    for (Py_ssize_t w = 0; w < PyTuple_GET_SIZE(wanted); w++) {
        if (!PyBytes_Check(PyTuple_GET_ITEM(wanted, w))) {
            PyBuffer_Release(&view);
            PyErr_SetString(PyExc_TypeError, "wanted_verbs must be a tuple of bytes");
            return NULL;
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
        if (!skippable(b, pos, nl, wanted)) {
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

static PyMethodDef methods[] = {
    {"audit_lines", audit_lines, METH_VARARGS,
     "audit_lines(buf, start, end, wanted_verbs) -> (list of (index, start, end) not skippable, line count)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_speedups", NULL, -1, methods};

PyMODINIT_FUNC PyInit__speedups(void) { return PyModule_Create(&module); }
