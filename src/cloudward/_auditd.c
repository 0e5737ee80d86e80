/*
 * Optional accelerator for the auditd record decoder (cloudward/parsers/auditd.py), which the log-file
 * parser and the live agent (`cloudward agent`, kernel audit stream) share. Each function gives exactly
 * the answer of its pure-Python twin in auditd.py (tests/parsers/test_auditd_speedups.py compares them on
 * generated records); the Python twin is used when this module is not built.
 *
 * syscall_fields(record)  -> {key: value} for the SYSCALL keys the decoder reads (arch, syscall, success,
 *                            pid, ppid, uid, euid, auid, exe, comm): of each space-separated `key=value`
 *                            token, the first one of each key wins;
 * value_text(value)       -> an audit string field as text: "quoted" as is, unquoted hex decoded, (null)
 *                            empty, anything else as written; UTF-8 with replacement, NUL as U+FFFD;
 * execve_args(body)       -> the argv of one EXECVE record body (`argc=N a0=... a1=...`, no `a0[0]=`
 *                            chunks: the caller checks for '['): value_text of every token after the first
 *                            whose key starts with 'a' and does not end in "_len".
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

static const char *const SYSCALL_KEYS[] = {"arch", "syscall", "success", "pid", "ppid", "uid", "euid", "auid",
                                           "exe", "comm"};
#define N_SYSCALL_KEYS 10
static PyObject *syscall_key_objects[N_SYSCALL_KEYS];

static int hex_digit(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* UTF-8 with replacement, every U+0000 replaced by U+FFFD (as `_text` does) */
static PyObject *text_of(const char *s, Py_ssize_t n)
{
    PyObject *out = PyUnicode_DecodeUTF8(s, n, "replace");
    if (out == NULL || memchr(s, 0, (size_t)n) == NULL)
        return out;
    PyObject *nul = PyUnicode_FromOrdinal(0);
    PyObject *rep = PyUnicode_FromOrdinal(0xFFFD);
    PyObject *fixed = (nul && rep) ? PyUnicode_Replace(out, nul, rep, -1) : NULL;
    Py_XDECREF(nul);
    Py_XDECREF(rep);
    Py_DECREF(out);
    return fixed;
}

/* `_value_text`: see the header */
static PyObject *value_text_of(const char *v, Py_ssize_t n)
{
    if (n >= 1 && v[0] == '"') {
        if (n > 1 && v[n - 1] == '"')
            return text_of(v + 1, n - 2);
        return text_of(v + 1, n - 1);
    }
    if (n == 0 || (n == 6 && memcmp(v, "(null)", 6) == 0))
        return PyUnicode_FromStringAndSize("", 0);
    if (n % 2 == 0) {
        char small[512] = {0};
        char *buf = n / 2 <= (Py_ssize_t)sizeof(small) ? small : PyMem_Malloc((size_t)(n / 2) + 1);
        if (buf == NULL)
            return PyErr_NoMemory();
        Py_ssize_t i;
        for (i = 0; i < n; i += 2) {
            int hi = hex_digit((unsigned char)v[i]), lo = hex_digit((unsigned char)v[i + 1]);
            if (hi < 0 || lo < 0)
                break;
            buf[i / 2] = (char)(hi << 4 | lo);
        }
        PyObject *out = i >= n ? text_of(buf, n / 2) : NULL;
        if (buf != small)
            PyMem_Free(buf);
        if (i >= n)
            return out;
    }
    return text_of(v, n); /* not hex: the value as written */
}

static PyObject *syscall_fields(PyObject *self, PyObject *arg)
{
    if (!PyBytes_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "syscall_fields needs bytes");
        return NULL;
    }
    const char *b = PyBytes_AS_STRING(arg);
    Py_ssize_t n = PyBytes_GET_SIZE(arg);
    PyObject *out = PyDict_New();
    if (out == NULL)
        return NULL;
    Py_ssize_t pos = 0;
    while (pos <= n) {
        const char *sp = memchr(b + pos, ' ', (size_t)(n - pos));
        Py_ssize_t end = sp ? sp - b : n;
        const char *eq = memchr(b + pos, '=', (size_t)(end - pos));
        if (eq != NULL) {
            Py_ssize_t klen = eq - (b + pos);
            for (int k = 0; k < N_SYSCALL_KEYS; k++) {
                if ((Py_ssize_t)strlen(SYSCALL_KEYS[k]) == klen && memcmp(b + pos, SYSCALL_KEYS[k], klen) == 0) {
                    if (PyDict_GetItemWithError(out, syscall_key_objects[k]) == NULL) {
                        if (PyErr_Occurred())
                            goto fail;
                        PyObject *val = PyBytes_FromStringAndSize(eq + 1, end - (eq - b) - 1);
                        if (val == NULL || PyDict_SetItem(out, syscall_key_objects[k], val) < 0) {
                            Py_XDECREF(val);
                            goto fail;
                        }
                        Py_DECREF(val);
                    }
                    break;
                }
            }
        }
        pos = end + 1;
    }
    return out;
fail:
    Py_DECREF(out);
    return NULL;
}

static PyObject *value_text(PyObject *self, PyObject *arg)
{
    if (!PyBytes_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "value_text needs bytes");
        return NULL;
    }
    return value_text_of(PyBytes_AS_STRING(arg), PyBytes_GET_SIZE(arg));
}

static PyObject *execve_args(PyObject *self, PyObject *arg)
{
    if (!PyBytes_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "execve_args needs bytes");
        return NULL;
    }
    const char *b = PyBytes_AS_STRING(arg);
    Py_ssize_t n = PyBytes_GET_SIZE(arg);
    PyObject *out = PyList_New(0);
    if (out == NULL)
        return NULL;
    const char *first = memchr(b, ' ', (size_t)n);
    if (first == NULL)
        return out; /* one token: the one skipped */
    Py_ssize_t pos = first - b + 1;
    while (pos <= n) {
        const char *sp = memchr(b + pos, ' ', (size_t)(n - pos));
        Py_ssize_t end = sp ? sp - b : n;
        const char *eq = memchr(b + pos, '=', (size_t)(end - pos));
        if (eq != NULL && b[pos] == 'a') {
            Py_ssize_t klen = eq - (b + pos);
            if (!(klen >= 4 && memcmp(eq - 4, "_len", 4) == 0)) {
                PyObject *val = value_text_of(eq + 1, end - (eq - b) - 1);
                if (val == NULL || PyList_Append(out, val) < 0) {
                    Py_XDECREF(val);
                    Py_DECREF(out);
                    return NULL;
                }
                Py_DECREF(val);
            }
        }
        pos = end + 1;
    }
    return out;
}

static PyMethodDef methods[] = {
    {"syscall_fields", syscall_fields, METH_O,
     "syscall_fields(record) -> {key: value} of the SYSCALL keys the auditd decoder reads (first wins)"},
    {"value_text", value_text, METH_O, "value_text(value) -> an audit string field decoded to text"},
    {"execve_args", execve_args, METH_O, "execve_args(body) -> argv of one EXECVE record without chunks"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_auditd", NULL, -1, methods};

PyMODINIT_FUNC PyInit__auditd(void)
{
    for (int k = 0; k < N_SYSCALL_KEYS; k++) {
        syscall_key_objects[k] = PyBytes_FromString(SYSCALL_KEYS[k]);
        if (syscall_key_objects[k] == NULL)
            return NULL;
    }
    return PyModule_Create(&module);
}
