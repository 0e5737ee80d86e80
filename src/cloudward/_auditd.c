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
 *                            whose key starts with 'a' and does not end in "_len";
 * whole_event(buf, pos, end) -> what `_WHOLE_EVENT.match(buf, pos, end)` finds (one whole event: its SYSCALL
 *                            record, EXECVE/CWD/PATH/SOCKADDR records, then PROCTITLE or EOE, one stamp, no
 *                            CR or NUL) as (stamp, stop, syscall body, [EXECVE bodies], last CWD body, last
 *                            SOCKADDR body, PROCTITLE body) — None for absent ones — or None when it does not
 *                            match: `_whole_event` in auditd.py;
 * recv_records(fd, types, max_records) -> (records, ran_dry, overruns): the kernel audit netlink socket `fd`
 *                            (non-blocking) drained with recvmmsg, many datagrams a system call, each turned
 *                            into an auditd RAW line `type=NAME msg=<payload>` as
 *                            `cloudward.agent.audit_netlink.AuditStream.batches` does in Python (types: {number:
 *                            name}, other types dropped; the payload cut at its first NUL, trailing newlines
 *                            stripped); ENOBUFS (the kernel dropped records) is counted and reading goes on;
 *                            another error ends the call with what was read (ran_dry true), or raises OSError
 *                            when nothing was.
 */
#define _GNU_SOURCE /* recvmmsg */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

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


/* -- the audit socket ------------------------------------------------------------------------------------ */
#define RECV_SLOTS 32
#define RECV_SLOT_BYTES 65536
static char *recv_buffer; /* RECV_SLOTS x RECV_SLOT_BYTES, allocated on first use */

static PyObject *recv_records(PyObject *self, PyObject *args)
{
    int fd;
    PyObject *types;
    Py_ssize_t max_records;
    if (!PyArg_ParseTuple(args, "iO!n", &fd, &PyDict_Type, &types, &max_records))
        return NULL;
    if (recv_buffer == NULL) {
        recv_buffer = PyMem_RawMalloc((size_t)RECV_SLOTS * RECV_SLOT_BYTES);
        if (recv_buffer == NULL)
            return PyErr_NoMemory();
    }
    struct mmsghdr msgs[RECV_SLOTS];
    struct iovec iov[RECV_SLOTS];
    PyObject *out = PyList_New(0);
    if (out == NULL)
        return NULL;
    int dry = 0;
    long overruns = 0;
    while (PyList_GET_SIZE(out) < max_records) {
        memset(msgs, 0, sizeof(msgs));
        for (int i = 0; i < RECV_SLOTS; i++) {
            iov[i].iov_base = recv_buffer + (size_t)i * RECV_SLOT_BYTES;
            iov[i].iov_len = RECV_SLOT_BYTES;
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        Py_ssize_t room = max_records - PyList_GET_SIZE(out);
        int want = room < RECV_SLOTS ? (int)room : RECV_SLOTS;
        int got;
        Py_BEGIN_ALLOW_THREADS
        got = recvmmsg(fd, msgs, (unsigned int)want, MSG_DONTWAIT, NULL);
        Py_END_ALLOW_THREADS
        if (got < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                dry = 1;
                break;
            }
            if (errno == ENOBUFS) {
                overruns++;
                continue;
            }
            if (errno == EINTR) {
                if (PyErr_CheckSignals() < 0)
                    goto fail;
                continue;
            }
            if (PyList_GET_SIZE(out) > 0) { /* hand on what was read; the error comes again on the next call */
                dry = 1;
                break;
            }
            PyErr_SetFromErrno(PyExc_OSError);
            goto fail;
        }
        for (int i = 0; i < got; i++) {
            const char *d = iov[i].iov_base;
            Py_ssize_t n = msgs[i].msg_len;
            if (n < 16)
                continue;
            unsigned int mtype = (unsigned char)d[4] | ((unsigned char)d[5] << 8);
            PyObject *key = PyLong_FromUnsignedLong(mtype);
            if (key == NULL)
                goto fail;
            PyObject *name = PyDict_GetItemWithError(types, key); /* borrowed */
            Py_DECREF(key);
            if (name == NULL) {
                if (PyErr_Occurred())
                    goto fail;
                continue;
            }
            if (!PyBytes_Check(name)) {
                PyErr_SetString(PyExc_TypeError, "recv_records: type names must be bytes");
                goto fail;
            }
            const char *payload = d + 16;
            Py_ssize_t plen = n - 16;
            const char *nul = memchr(payload, 0, (size_t)plen);
            if (nul != NULL)
                plen = nul - payload;
            while (plen > 0 && payload[plen - 1] == '\n')
                plen--;
            Py_ssize_t nlen = PyBytes_GET_SIZE(name);
            PyObject *rec = PyBytes_FromStringAndSize(NULL, 5 + nlen + 5 + plen);
            if (rec == NULL)
                goto fail;
            char *w = PyBytes_AS_STRING(rec);
            memcpy(w, "type=", 5);
            memcpy(w + 5, PyBytes_AS_STRING(name), (size_t)nlen);
            memcpy(w + 5 + nlen, " msg=", 5);
            memcpy(w + 10 + nlen, payload, (size_t)plen);
            if (PyList_Append(out, rec) < 0) {
                Py_DECREF(rec);
                goto fail;
            }
            Py_DECREF(rec);
        }
    }
    return Py_BuildValue("(Nil)", out, dry, overruns);
fail:
    Py_DECREF(out);
    return NULL;
}

/* -- one whole event (`whole_event`) ----------------------------------------------------------------------- */

/* from `p`: the end of a line body ([^\n\r\0]* then '\n' or `end`): the index of the '\n' (or `end`), or -1 when
   a CR or NUL comes first */
static Py_ssize_t body_end(const char *b, Py_ssize_t p, Py_ssize_t end)
{
    for (; p < end; p++) {
        char c = b[p];
        if (c == '\n')
            return p;
        if (c == '\r' || c == '\0')
            return -1;
    }
    return end;
}

/* `type=<name> msg=audit(<stamp>): ` at `p`: the index after it, else -1 */
static Py_ssize_t record_head(const char *b, Py_ssize_t p, Py_ssize_t end, const char *name, const char *stamp,
                              Py_ssize_t slen)
{
    Py_ssize_t nlen = (Py_ssize_t)strlen(name);
    if (end - p < 5 + nlen + 11 + slen + 3 || memcmp(b + p, "type=", 5) != 0 || memcmp(b + p + 5, name, (size_t)nlen) != 0)
        return -1;
    p += 5 + nlen;
    if (memcmp(b + p, " msg=audit(", 11) != 0 || memcmp(b + p + 11, stamp, (size_t)slen) != 0
        || memcmp(b + p + 11 + slen, "): ", 3) != 0)
        return -1;
    return p + 11 + slen + 3;
}

static const char *const MIDDLE_TYPES[] = {"EXECVE", "CWD", "PATH", "SOCKADDR"};

static PyObject *whole_event(PyObject *self, PyObject *args)
{
    PyObject *buf;
    Py_ssize_t pos, end;
    if (!PyArg_ParseTuple(args, "Snn", &buf, &pos, &end))
        return NULL;
    const char *b = PyBytes_AS_STRING(buf);
    Py_ssize_t n = PyBytes_GET_SIZE(buf);
    if (end > n)
        end = n;
    if (pos < 0)
        pos = 0;
    static const char head[] = "type=SYSCALL msg=audit(";
    Py_ssize_t hlen = (Py_ssize_t)sizeof(head) - 1;
    if (end - pos < hlen || memcmp(b + pos, head, (size_t)hlen) != 0)
        Py_RETURN_NONE;
    Py_ssize_t s0 = pos + hlen, p = s0;
    while (p < end && ((b[p] >= '0' && b[p] <= '9') || b[p] == '.' || b[p] == ':'))
        p++;
    Py_ssize_t slen = p - s0;
    if (slen == 0 || end - p < 3 || memcmp(b + p, "): ", 3) != 0)
        Py_RETURN_NONE;
    const char *stamp = b + s0;
    Py_ssize_t sys0 = p + 3, sys1 = body_end(b, sys0, end);
    if (sys1 < 0 || sys1 >= end) /* the SYSCALL line must end with a line break */
        Py_RETURN_NONE;
    p = sys1 + 1;
    PyObject *list = PyList_New(0); /* the EXECVE bodies */
    if (list == NULL)
        return NULL;
    Py_ssize_t cwd0 = -1, cwd1 = -1, sa0 = -1, sa1 = -1, title0 = -1, title1 = -1, stop;
    for (;;) {
        int kind = -1;
        Py_ssize_t q = -1;
        for (int k = 0; k < 4 && q < 0; k++) {
            q = record_head(b, p, end, MIDDLE_TYPES[k], stamp, slen);
            kind = k;
        }
        if (q >= 0) { /* a record between: its body must end with a line break */
            Py_ssize_t e = body_end(b, q, end);
            if (e < 0 || e >= end)
                goto no_match;
            if (kind == 0) {
                PyObject *body = PyBytes_FromStringAndSize(b + q, e - q);
                if (body == NULL || PyList_Append(list, body) < 0) {
                    Py_XDECREF(body);
                    Py_DECREF(list);
                    return NULL;
                }
                Py_DECREF(body);
            } else if (kind == 1) {
                cwd0 = q;
                cwd1 = e;
            } else if (kind == 3) {
                sa0 = q;
                sa1 = e;
            }
            p = e + 1;
            continue;
        }
        int title = 1;
        q = record_head(b, p, end, "PROCTITLE", stamp, slen);
        if (q < 0) {
            title = 0;
            q = record_head(b, p, end, "EOE", stamp, slen);
        }
        if (q < 0)
            goto no_match;
        Py_ssize_t e = body_end(b, q, end);
        if (e < 0)
            goto no_match;
        if (title) {
            title0 = q;
            title1 = e;
        }
        stop = e < end ? e + 1 : end;
        break;
    }
#define PART(a, z) ((a) < 0 ? (Py_INCREF(Py_None), Py_None) : PyBytes_FromStringAndSize(b + (a), (z) - (a)))
    PyObject *parts[6] = {PyBytes_FromStringAndSize(stamp, slen), PyLong_FromSsize_t(stop),
                          PyBytes_FromStringAndSize(b + sys0, sys1 - sys0), PART(cwd0, cwd1), PART(sa0, sa1),
                          PART(title0, title1)};
#undef PART
    PyObject *out = NULL;
    if (parts[0] && parts[1] && parts[2] && parts[3] && parts[4] && parts[5])
        out = PyTuple_Pack(7, parts[0], parts[1], parts[2], list, parts[3], parts[4], parts[5]);
    for (int i = 0; i < 6; i++)
        Py_XDECREF(parts[i]);
    Py_DECREF(list);
    return out;
no_match:
    Py_DECREF(list);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"syscall_fields", syscall_fields, METH_O,
     "syscall_fields(record) -> {key: value} of the SYSCALL keys the auditd decoder reads (first wins)"},
    {"value_text", value_text, METH_O, "value_text(value) -> an audit string field decoded to text"},
    {"execve_args", execve_args, METH_O, "execve_args(body) -> argv of one EXECVE record without chunks"},
    {"whole_event", whole_event, METH_VARARGS,
     "whole_event(buf, pos, end) -> (stamp, stop, syscall body, execve bodies, cwd, sockaddr, proctitle) or None"},
    {"recv_records", recv_records, METH_VARARGS,
     "recv_records(fd, types, max_records) -> (records as auditd RAW lines, ran dry, overruns)"},
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
