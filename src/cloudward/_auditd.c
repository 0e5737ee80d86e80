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
 * exec_setup(exec_type, fields, well_known_uids, exes, cwds, names, memo_bytes, memo_limit) -> None: the event class `exec_event` builds (a slotted
 *                            dataclass: `fields` is its (name, slot descriptor, default, default is a list factory)
 *                            per field; a property over a slot is written as its setter would, to the slot), the
 *                            uid -> name table of RAW logs, and auditd.py's memos of executables, working
 *                            directories and ENRICHED names with their key length and size limits;
 * exec_event(stamp, where, syscall, enriched, execve, cwd, buf, pos, stop, host) -> the `ProcessExec` that
 *                            `Auditd._event` builds from one whole event's records (as `whole_event` found them;
 *                            the evidence text is buf[pos:stop] without its last line break), or None for anything
 *                            unusual (no or several EXECVE records, chunked arguments, a failed call, a missing
 *                            pid, ids that are not plain digits, an empty argv): the caller then takes the Python
 *                            path, which decides, counts and rejects as before.
 * exec_run(buf, pos, end, display, lineno, host, limit, poisoned, out) -> (pos, lineno): from `pos`, every whole
 *                            event in a row that `exec_event` builds (one EXECVE record, at most `limit` bytes, its
 *                            stamp not in `poisoned`), appended to `out` with its origin `display:line`; stops at
 *                            the first one it does not build (the caller reads that one as before) and gives where
 *                            it stopped and the line number of the last line read. Only for a decoder that holds
 *                            no open event (the caller checks).
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
#include <structmember.h>

static const char *const SYSCALL_KEYS[] = {"arch", "syscall", "success", "pid", "ppid", "uid", "euid", "auid",
                                           "exe", "comm"};
#define N_SYSCALL_KEYS 10
static const Py_ssize_t SYSCALL_KEY_LENS[N_SYSCALL_KEYS] = {4, 7, 7, 3, 4, 3, 4, 4, 3, 4};
static PyObject *syscall_key_objects[N_SYSCALL_KEYS];

/* the index of the SYSCALL key `k` (klen bytes) among SYSCALL_KEYS, else -1 (most keys of a record are others) */
static int syscall_key(const char *k, Py_ssize_t klen)
{
    if (klen < 3 || klen > 7)
        return -1;
    for (int i = 0; i < N_SYSCALL_KEYS; i++)
        if (SYSCALL_KEY_LENS[i] == klen && SYSCALL_KEYS[i][0] == k[0] && memcmp(k, SYSCALL_KEYS[i], (size_t)klen) == 0)
            return i;
    return -1;
}

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
            int k = syscall_key(b + pos, klen);
            if (k >= 0 && PyDict_GetItemWithError(out, syscall_key_objects[k]) == NULL) {
                if (PyErr_Occurred())
                    goto fail;
                PyObject *val = PyBytes_FromStringAndSize(eq + 1, end - (eq - b) - 1);
                if (val == NULL || PyDict_SetItem(out, syscall_key_objects[k], val) < 0) {
                    Py_XDECREF(val);
                    goto fail;
                }
                Py_DECREF(val);
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

static PyObject *execve_args_of(const char *b, Py_ssize_t n);

static PyObject *execve_args(PyObject *self, PyObject *arg)
{
    if (!PyBytes_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "execve_args needs bytes");
        return NULL;
    }
    return execve_args_of(PyBytes_AS_STRING(arg), PyBytes_GET_SIZE(arg));
}

static PyObject *execve_args_of(const char *b, Py_ssize_t n)
{
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

/* what `whole_event` matches at `pos`: the record boundaries of one whole event */
struct whole {
    Py_ssize_t stamp0, slen, sys0, sys1, cwd0, cwd1, sa0, sa1, title0, title1, stop;
    Py_ssize_t n_execve, ex0, ex1; /* how many EXECVE records, and the first one's body */
};

/* 1 and `*w` when one whole event starts at `pos` (its EXECVE bodies appended to `execve` unless NULL), 0 when
   none does, -1 on error */
static int find_whole(const char *b, Py_ssize_t pos, Py_ssize_t end, PyObject *execve, struct whole *w)
{
    static const char head[] = "type=SYSCALL msg=audit(";
    Py_ssize_t hlen = (Py_ssize_t)sizeof(head) - 1;
    if (end - pos < hlen || memcmp(b + pos, head, (size_t)hlen) != 0)
        return 0;
    Py_ssize_t s0 = pos + hlen, p = s0;
    while (p < end && ((b[p] >= '0' && b[p] <= '9') || b[p] == '.' || b[p] == ':'))
        p++;
    Py_ssize_t slen = p - s0;
    if (slen == 0 || end - p < 3 || memcmp(b + p, "): ", 3) != 0)
        return 0;
    const char *stamp = b + s0;
    Py_ssize_t sys0 = p + 3, sys1 = body_end(b, sys0, end);
    if (sys1 < 0 || sys1 >= end) /* the SYSCALL line must end with a line break */
        return 0;
    p = sys1 + 1;
    w->stamp0 = s0;
    w->slen = slen;
    w->sys0 = sys0;
    w->sys1 = sys1;
    w->cwd0 = w->cwd1 = w->sa0 = w->sa1 = w->title0 = w->title1 = w->ex0 = w->ex1 = -1;
    w->n_execve = 0;
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
                return 0;
            if (kind == 0) {
                if (w->n_execve++ == 0) {
                    w->ex0 = q;
                    w->ex1 = e;
                }
                if (execve != NULL) {
                    PyObject *body = PyBytes_FromStringAndSize(b + q, e - q);
                    if (body == NULL || PyList_Append(execve, body) < 0) {
                        Py_XDECREF(body);
                        return -1;
                    }
                    Py_DECREF(body);
                }
            } else if (kind == 1) {
                w->cwd0 = q;
                w->cwd1 = e;
            } else if (kind == 3) {
                w->sa0 = q;
                w->sa1 = e;
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
            return 0;
        Py_ssize_t e = body_end(b, q, end);
        if (e < 0)
            return 0;
        if (title) {
            w->title0 = q;
            w->title1 = e;
        }
        w->stop = e < end ? e + 1 : end;
        return 1;
    }
}

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
    PyObject *list = PyList_New(0); /* the EXECVE bodies */
    if (list == NULL)
        return NULL;
    struct whole w;
    int found = find_whole(b, pos, end, list, &w);
    if (found <= 0) {
        Py_DECREF(list);
        if (found < 0)
            return NULL;
        Py_RETURN_NONE;
    }
#define PART(a, z) ((a) < 0 ? (Py_INCREF(Py_None), Py_None) : PyBytes_FromStringAndSize(b + (a), (z) - (a)))
    PyObject *parts[6] = {PyBytes_FromStringAndSize(b + w.stamp0, w.slen), PyLong_FromSsize_t(w.stop),
                          PyBytes_FromStringAndSize(b + w.sys0, w.sys1 - w.sys0), PART(w.cwd0, w.cwd1),
                          PART(w.sa0, w.sa1), PART(w.title0, w.title1)};
#undef PART
    PyObject *out = NULL;
    if (parts[0] && parts[1] && parts[2] && parts[3] && parts[4] && parts[5])
        out = PyTuple_Pack(7, parts[0], parts[1], parts[2], list, parts[3], parts[4], parts[5]);
    for (int i = 0; i < 6; i++)
        Py_XDECREF(parts[i]);
    Py_DECREF(list);
    return out;
}


/* -- one whole exec event built here (`exec_event`) --------------------------------------------------------- */

/* the fields `exec_event` fills; every other field of the class gets its default */
enum { F_EVENT_ID, F_TIME, F_RAW, F_ORIGIN, F_HOST, F_PID, F_PPID, F_EXECUTABLE, F_ARGV, F_COMMAND_LINE, F_CWD,
       F_USER, F_UID, F_EUID, F_AUID, N_BUILT };
static const char *const BUILT_NAMES[N_BUILT] = {"event_id", "time", "raw", "origin", "host", "pid", "ppid",
    "executable", "argv", "command_line", "cwd", "user", "uid", "euid", "auid"};
#define MAX_FIELDS 64
static PyTypeObject *exec_type;
static Py_ssize_t n_fields;
static Py_ssize_t field_offset[MAX_FIELDS];
static PyObject *field_default[MAX_FIELDS]; /* NULL: a fresh empty list */
static Py_ssize_t built_index[N_BUILT];
static PyObject *well_known_uids; /* {uid: name} */
/* auditd.py's memos (`_EXES`, `_CWDS`, `_NAMES`), shared: one string object per distinct executable, working
   directory and user name, as the Python path gives (held events then share them, and their hashes) */
static PyObject *memo_exes, *memo_cwds, *memo_names;
static Py_ssize_t memo_bytes, memo_limit;
static PyObject *records_key, *newline, *space, *empty_str, *empty_bytes;

static PyObject *exec_setup(PyObject *self, PyObject *args)
{
    PyObject *type, *fields, *uids, *exes, *cwds, *names;
    Py_ssize_t mbytes, mlimit;
    if (!PyArg_ParseTuple(args, "O!O!O!O!O!O!nn", &PyType_Type, &type, &PyTuple_Type, &fields, &PyDict_Type, &uids,
                          &PyDict_Type, &exes, &PyDict_Type, &cwds, &PyDict_Type, &names, &mbytes, &mlimit))
        return NULL;
    Py_ssize_t n = PyTuple_GET_SIZE(fields);
    if (n > MAX_FIELDS) {
        PyErr_SetString(PyExc_ValueError, "exec_setup: too many fields");
        return NULL;
    }
    Py_ssize_t offsets[MAX_FIELDS], built[N_BUILT];
    PyObject *defaults[MAX_FIELDS];
    for (int k = 0; k < N_BUILT; k++)
        built[k] = -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *row = PyTuple_GET_ITEM(fields, i), *name, *descr, *dflt;
        int factory;
        if (!PyTuple_Check(row) || !PyArg_ParseTuple(row, "UOOp", &name, &descr, &dflt, &factory))
            goto bad;
        /* only a writable object slot (of the class or a base: a property may wrap it) is written directly */
        if (Py_TYPE(descr) != &PyMemberDescr_Type || !PyType_IsSubtype((PyTypeObject *)type, PyDescr_TYPE(descr)))
            goto bad;
        PyMemberDef *m = ((PyMemberDescrObject *)descr)->d_member;
        if (m->type != T_OBJECT_EX || (m->flags & READONLY))
            goto bad;
        offsets[i] = m->offset;
        defaults[i] = factory ? NULL : dflt;
        const char *cname = PyUnicode_AsUTF8(name);
        if (cname == NULL)
            return NULL;
        for (int k = 0; k < N_BUILT; k++)
            if (strcmp(cname, BUILT_NAMES[k]) == 0)
                built[k] = i;
    }
    for (int k = 0; k < N_BUILT; k++)
        if (built[k] < 0)
            goto bad;
    for (Py_ssize_t i = 0; i < n_fields; i++)
        Py_XDECREF(field_default[i]);
    for (Py_ssize_t i = 0; i < n; i++) {
        field_offset[i] = offsets[i];
        field_default[i] = defaults[i];
        Py_XINCREF(defaults[i]);
    }
    memcpy(built_index, built, sizeof(built));
    n_fields = n;
    Py_INCREF(type);
    Py_XSETREF(exec_type, (PyTypeObject *)type);
    Py_XSETREF(well_known_uids, Py_NewRef(uids));
    Py_XSETREF(memo_exes, Py_NewRef(exes));
    Py_XSETREF(memo_cwds, Py_NewRef(cwds));
    Py_XSETREF(memo_names, Py_NewRef(names));
    memo_bytes = mbytes;
    memo_limit = mlimit;
    Py_RETURN_NONE;
bad:
    if (!PyErr_Occurred())
        PyErr_SetString(PyExc_TypeError, "exec_setup: not a slotted class with these fields");
    return NULL;
}

/* a plain decimal id as `_int` reads it: 1 and *out (the unset id 4294967295 -> *none = 1), or 0 when the value is
   not only ASCII digits (the caller then takes the Python path, whose `int()` reads more shapes) */
static int plain_id(const char *v, Py_ssize_t n, long long *out, int *none)
{
    if (n < 1 || n > 18)
        return 0;
    long long x = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return 0;
        x = x * 10 + (v[i] - '0');
    }
    *out = x;
    *none = x == 4294967295LL;
    return 1;
}

/* the value of the first `needle` (" key=") in " " + body, as `_field(b" " + body, needle)`: 1 and [*v0, *v1),
   or 0 when absent */
static int first_field(const char *b, Py_ssize_t n, const char *needle, Py_ssize_t *v0, Py_ssize_t *v1)
{
    Py_ssize_t klen = (Py_ssize_t)strlen(needle) - 1; /* without the leading space */
    for (Py_ssize_t p = 0; p + klen <= n; p++) {
        if ((p == 0 || b[p - 1] == ' ') && memcmp(b + p, needle + 1, (size_t)klen) == 0) {
            Py_ssize_t s = p + klen;
            const char *sp = memchr(b + s, ' ', (size_t)(n - s));
            *v0 = s;
            *v1 = sp ? sp - b : n;
            return 1;
        }
    }
    return 0;
}

/* the user ids last built, by value (a host has few): one int object each, as the Python path's `_IDS` memo
   shares them, so held events do not each carry their own */
#define ID_SLOTS 256
static PyObject *id_cache[ID_SLOTS];

static PyObject *id_int(long long x)
{
    PyObject **slot = &id_cache[(unsigned long long)x % ID_SLOTS];
    if (*slot != NULL && PyLong_AsLongLong(*slot) == x)
        return Py_NewRef(*slot);
    PyObject *v = PyLong_FromLongLong(x);
    if (v != NULL)
        Py_XSETREF(*slot, Py_NewRef(v));
    return v;
}

/* an id field: Py_None when absent or unset, an int, or NULL with *unusual set */
static PyObject *id_object(const char *b, Py_ssize_t a, Py_ssize_t z, int *unusual)
{
    if (a < 0)
        Py_RETURN_NONE;
    long long x;
    int none;
    if (!plain_id(b + a, z - a, &x, &none)) {
        *unusual = 1;
        return NULL;
    }
    if (none)
        Py_RETURN_NONE;
    return id_int(x);
}

/* `_remember(memo, key, value)`: keys up to memo_bytes long; a full memo starts over */
static int remember(PyObject *memo, PyObject *key, PyObject *value)
{
    if (PyBytes_GET_SIZE(key) > memo_bytes)
        return 0;
    if (PyDict_GET_SIZE(memo) >= memo_limit)
        PyDict_Clear(memo);
    return PyDict_SetItem(memo, key, value);
}

/* `memo.get(key)` or else `value_text` of bytes [a, z) of `b` (a field found in `key` itself when key is not
   NULL: the CWD record), remembered: a new reference or NULL */
static PyObject *memo_text(PyObject *memo, PyObject *key, const char *b, Py_ssize_t a, Py_ssize_t z)
{
    PyObject *own = NULL;
    if (key == NULL && (key = own = PyBytes_FromStringAndSize(b + a, z - a)) == NULL)
        return NULL;
    PyObject *text = PyDict_GetItemWithError(memo, key);
    if (text != NULL) {
        Py_INCREF(text);
    } else if (!PyErr_Occurred()) {
        text = a < 0 ? Py_NewRef(empty_str) : value_text_of(b + a, z - a);
        if (text != NULL && remember(memo, key, text) < 0)
            Py_CLEAR(text);
    }
    Py_XDECREF(own);
    return text;
}

/* `_enriched_names(enriched)`, remembered in `_NAMES`: the UID= name as a new reference, or Py_None (absent or
   empty); NULL on error */
static PyObject *enriched_user(PyObject *enriched)
{
    PyObject *names = PyDict_GetItemWithError(memo_names, enriched);
    if (names == NULL) {
        if (PyErr_Occurred())
            return NULL;
        const char *e = PyBytes_AS_STRING(enriched);
        Py_ssize_t n = PyBytes_GET_SIZE(enriched), a, z;
        PyObject *sys = first_field(e, n, " SYSCALL=", &a, &z) ? PyBytes_FromStringAndSize(e + a, z - a)
                                                                 : Py_NewRef(Py_None);
        PyObject *user = first_field(e, n, " UID=", &a, &z) && z > a ? value_text_of(e + a, z - a)
                                                                     : Py_NewRef(Py_None);
        if (sys != NULL && user != NULL)
            names = PyTuple_Pack(2, sys, user);
        Py_XDECREF(sys);
        Py_XDECREF(user);
        if (names == NULL)
            return NULL;
        int failed = remember(memo_names, enriched, names) < 0;
        Py_DECREF(names); /* (the memo keeps it, or it is read once more below before it goes) */
        if (failed)
            return NULL;
        names = PyDict_GetItemWithError(memo_names, enriched);
        if (names == NULL) { /* not kept (a long part): answer without the memo */
            if (PyErr_Occurred())
                return NULL;
            if (!first_field(e, n, " UID=", &a, &z) || z <= a)
                Py_RETURN_NONE;
            return value_text_of(e + a, z - a);
        }
    }
    if (!PyTuple_Check(names) || PyTuple_GET_SIZE(names) != 2) {
        PyErr_SetString(PyExc_TypeError, "exec_event: a _NAMES entry is not a pair");
        return NULL;
    }
    return Py_NewRef(PyTuple_GET_ITEM(names, 1));
}

static PyObject *build_exec(const char *st, Py_ssize_t slen, PyObject *where, PyObject *display, Py_ssize_t first_line,
                            const char *b, Py_ssize_t n, PyObject *enriched, const char *av, Py_ssize_t avlen,
                            PyObject *cwd, const char *tx, Py_ssize_t txlen, PyObject *host);

static PyObject *exec_event(PyObject *self, PyObject *args)
{
    PyObject *stamp, *where, *syscall, *enriched, *execve, *cwd, *buf, *host;
    Py_ssize_t pos, stop;
    if (!PyArg_ParseTuple(args, "SUSSO!OSnnO", &stamp, &where, &syscall, &enriched, &PyList_Type, &execve, &cwd,
                          &buf, &pos, &stop, &host))
        return NULL;
    if (exec_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "exec_event before exec_setup");
        return NULL;
    }
    if (PyList_GET_SIZE(execve) != 1 || (cwd != Py_None && !PyBytes_Check(cwd)))
        Py_RETURN_NONE;
    PyObject *argv_body = PyList_GET_ITEM(execve, 0);
    if (!PyBytes_Check(argv_body))
        Py_RETURN_NONE;
    Py_ssize_t blen = PyBytes_GET_SIZE(buf);
    if (pos < 0 || stop > blen || stop <= pos)
        Py_RETURN_NONE;
    return build_exec(PyBytes_AS_STRING(stamp), PyBytes_GET_SIZE(stamp), where, NULL, 0, PyBytes_AS_STRING(syscall),
                      PyBytes_GET_SIZE(syscall), enriched, PyBytes_AS_STRING(argv_body), PyBytes_GET_SIZE(argv_body),
                      cwd, PyBytes_AS_STRING(buf) + pos, stop - pos, host);
}

/* the event of `exec_event` from the parts' bytes: the stamp, the origin (`where`, else display:first_line), the
   SYSCALL body before its ENRICHED part, the ENRICHED part (bytes), the one EXECVE body, the CWD body (bytes or
   None), the records' text (with its last line break, if any) and the host */
static PyObject *build_exec(const char *st, Py_ssize_t slen, PyObject *where, PyObject *display, Py_ssize_t first_line,
                            const char *b, Py_ssize_t n, PyObject *enriched, const char *av, Py_ssize_t avlen,
                            PyObject *cwd, const char *tx, Py_ssize_t txlen, PyObject *host)
{
    if (memchr(av, '[', (size_t)avlen))
        Py_RETURN_NONE; /* chunked arguments: `_argv`'s general loop */
    /* the SYSCALL fields, first occurrence of each key (as `syscall_fields`) */
    Py_ssize_t v0[N_SYSCALL_KEYS], v1[N_SYSCALL_KEYS];
    for (int k = 0; k < N_SYSCALL_KEYS; k++)
        v0[k] = v1[k] = -1;
    Py_ssize_t p = 0;
    while (p <= n) {
        const char *sp = memchr(b + p, ' ', (size_t)(n - p));
        Py_ssize_t e = sp ? sp - b : n;
        const char *eq = memchr(b + p, '=', (size_t)(e - p));
        if (eq != NULL) {
            int k = syscall_key(b + p, eq - (b + p));
            if (k >= 0) {
                if (v0[k] < 0) { /* the first occurrence wins */
                    v0[k] = eq - b + 1;
                    v1[k] = e;
                }
            }
        }
        p = e + 1;
    }
    enum { K_ARCH, K_SYSCALL, K_SUCCESS, K_PID, K_PPID, K_UID, K_EUID, K_AUID, K_EXE, K_COMM };
    if (v0[K_SUCCESS] >= 0 && v1[K_SUCCESS] - v0[K_SUCCESS] == 2 && memcmp(b + v0[K_SUCCESS], "no", 2) == 0)
        Py_RETURN_NONE; /* a failed exec: skipped and counted by the Python path */
    long long pid, ppid = 0;
    int none;
    if (v0[K_PID] < 0 || !plain_id(b + v0[K_PID], v1[K_PID] - v0[K_PID], &pid, &none) || none)
        Py_RETURN_NONE;
    if (v0[K_PPID] >= 0) {
        if (!plain_id(b + v0[K_PPID], v1[K_PPID] - v0[K_PPID], &ppid, &none))
            Py_RETURN_NONE;
        if (none)
            ppid = 0;
    }
    /* the event time: float() of the stamp before its ':' (0.0 when it is no number) */
    for (Py_ssize_t i = 0; i < slen; i++)
        if (!((st[i] >= '0' && st[i] <= '9') || st[i] == '.' || st[i] == ':'))
            Py_RETURN_NONE; /* not what `whole_event` gives */
    const char *colon = memchr(st, ':', (size_t)slen);
    Py_ssize_t tlen = colon ? colon - st : slen;
    double when = 0.0;
    if (tlen > 0 && tlen < 64) {
        char tbuf[64];
        memcpy(tbuf, st, (size_t)tlen);
        tbuf[tlen] = 0;
        char *tend;
        double d = PyOS_string_to_double(tbuf, &tend, NULL);
        if (d == -1.0 && PyErr_Occurred())
            PyErr_Clear();
        else if (*tend == 0)
            when = d;
    } else if (tlen >= 64)
        Py_RETURN_NONE;

    PyObject *vals[N_BUILT] = {NULL};
    PyObject *obj = NULL, *text = NULL, *lines = NULL, *uname = NULL;
    int unusual = 0;
    vals[F_UID] = id_object(b, v0[K_UID], v1[K_UID], &unusual);
    if (vals[F_UID] == NULL)
        goto done;
    vals[F_EUID] = id_object(b, v0[K_EUID], v1[K_EUID], &unusual);
    if (vals[F_EUID] == NULL)
        goto done;
    vals[F_AUID] = id_object(b, v0[K_AUID], v1[K_AUID], &unusual);
    if (vals[F_AUID] == NULL)
        goto done;
    /* the user: the ENRICHED UID= name (when there and not empty), else the RAW uid's well-known name or number */
    PyObject *named = PyBytes_GET_SIZE(enriched) ? enriched_user(enriched) : Py_NewRef(Py_None);
    if (named == NULL)
        goto done;
    if (named != Py_None) {
        vals[F_USER] = named;
    } else if (Py_DECREF(named), vals[F_UID] == Py_None) {
        vals[F_USER] = Py_NewRef(empty_str);
    } else {
        uname = PyDict_GetItemWithError(well_known_uids, vals[F_UID]);
        vals[F_USER] = uname ? Py_NewRef(uname) : (PyErr_Occurred() ? NULL : PyObject_Str(vals[F_UID]));
    }
    if (vals[F_USER] == NULL)
        goto done;
    vals[F_ARGV] = execve_args_of(av, avlen);
    if (vals[F_ARGV] == NULL)
        goto done;
    if (PyList_GET_SIZE(vals[F_ARGV]) == 0) {
        unusual = 1; /* no arguments: the comm= fallback of the Python path */
        goto done;
    }
    vals[F_EXECUTABLE] = v0[K_EXE] < 0 ? memo_text(memo_exes, NULL, "", 0, 0)
                                       : memo_text(memo_exes, NULL, b, v0[K_EXE], v1[K_EXE]);
    if (vals[F_EXECUTABLE] == NULL)
        goto done;
    if (PyUnicode_GET_LENGTH(vals[F_EXECUTABLE]) == 0)
        Py_SETREF(vals[F_EXECUTABLE], Py_NewRef(PyList_GET_ITEM(vals[F_ARGV], 0)));
    vals[F_COMMAND_LINE] = PyUnicode_Join(space, vals[F_ARGV]);
    if (vals[F_COMMAND_LINE] == NULL)
        goto done;
    if (cwd == Py_None) {
        vals[F_CWD] = Py_NewRef(empty_str);
    } else {
        Py_ssize_t c0 = -1, c1 = -1;
        const char *cb = PyBytes_AS_STRING(cwd);
        PyObject *known = PyDict_GetItemWithError(memo_cwds, cwd);
        if (known != NULL)
            vals[F_CWD] = Py_NewRef(known);
        else if (!PyErr_Occurred()) {
            if (!first_field(cb, PyBytes_GET_SIZE(cwd), " cwd=", &c0, &c1))
                c0 = -1;
            vals[F_CWD] = memo_text(memo_cwds, cwd, cb, c0, c1);
        }
    }
    if (vals[F_CWD] == NULL)
        goto done;
    /* the evidence: the records as text, one string a line */
    /* `text.decode("utf-8", "replace").split("\n")` a line at a time: a line break is never inside a UTF-8
       sequence, and ends a broken one as the end of the line does (one U+FFFD either way) */
    {
        Py_ssize_t len = txlen - (tx[txlen - 1] == '\n'), count = 1;
        for (const char *q = tx, *z = tx + len; (q = memchr(q, '\n', (size_t)(z - q))) != NULL; q++)
            count++;
        if ((lines = PyList_New(count)) == NULL)
            goto done;
        const char *q = tx, *z = tx + len;
        for (Py_ssize_t i = 0; i < count; i++) {
            const char *nl = i + 1 < count ? memchr(q, '\n', (size_t)(z - q)) : z;
            PyObject *line = PyUnicode_DecodeUTF8(q, nl - q, "replace");
            if (line == NULL)
                goto done;
            PyList_SET_ITEM(lines, i, line);
            q = nl + 1;
        }
    }
    vals[F_RAW] = PyDict_New();
    if (vals[F_RAW] == NULL || PyDict_SetItem(vals[F_RAW], records_key, lines) < 0)
        goto done;
    vals[F_EVENT_ID] = PyUnicode_DecodeASCII(st, slen, "replace");
    vals[F_TIME] = PyFloat_FromDouble(when);
    vals[F_PID] = PyLong_FromLongLong(pid);
    vals[F_PPID] = PyLong_FromLongLong(ppid);
    if (!vals[F_EVENT_ID] || !vals[F_TIME] || !vals[F_PID] || !vals[F_PPID])
        goto done;
    vals[F_ORIGIN] = where ? Py_NewRef(where) : PyUnicode_FromFormat("%U:%zd", display, first_line);
    if (vals[F_ORIGIN] == NULL)
        goto done;
    vals[F_HOST] = Py_NewRef(host);
    obj = exec_type->tp_alloc(exec_type, 0);
    if (obj == NULL)
        goto done;
    for (Py_ssize_t i = 0; i < n_fields; i++) {
        PyObject *v = field_default[i] ? Py_NewRef(field_default[i]) : PyList_New(0);
        if (v == NULL) {
            Py_CLEAR(obj);
            goto done;
        }
        *(PyObject **)((char *)obj + field_offset[i]) = v;
    }
    for (int k = 0; k < N_BUILT; k++) {
        PyObject **slot = (PyObject **)((char *)obj + field_offset[built_index[k]]);
        Py_SETREF(*slot, vals[k]);
        vals[k] = NULL;
    }
done:
    for (int k = 0; k < N_BUILT; k++)
        Py_XDECREF(vals[k]);
    Py_XDECREF(text);
    Py_XDECREF(lines);
    if (obj == NULL && unusual && !PyErr_Occurred())
        Py_RETURN_NONE;
    return obj;
}

/* exec_run: see the header */
static PyObject *exec_run(PyObject *self, PyObject *args)
{
    PyObject *buf, *display, *host, *poisoned, *out;
    Py_ssize_t pos, end, lineno, limit;
    if (!PyArg_ParseTuple(args, "SnnUnOnO!O!", &buf, &pos, &end, &display, &lineno, &host, &limit, &PySet_Type,
                          &poisoned, &PyList_Type, &out))
        return NULL;
    if (exec_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "exec_run before exec_setup");
        return NULL;
    }
    const char *b = PyBytes_AS_STRING(buf);
    if (end > PyBytes_GET_SIZE(buf))
        end = PyBytes_GET_SIZE(buf);
    if (pos < 0)
        pos = 0;
    while (pos < end) {
        struct whole w;
        if (find_whole(b, pos, end, NULL, &w) <= 0 || w.stop - pos > limit || w.n_execve != 1)
            break;
        if (PySet_GET_SIZE(poisoned) > 0) { /* the rest of an event rejected as ambiguous: the Python path */
            PyObject *stamp = PyBytes_FromStringAndSize(b + w.stamp0, w.slen);
            int known = stamp ? PySet_Contains(poisoned, stamp) : -1;
            Py_XDECREF(stamp);
            if (known < 0)
                return NULL;
            if (known)
                break;
        }
        /* `raw, _, enriched = syscall.partition(b"\x1d")` */
        const char *gs = memchr(b + w.sys0, 0x1d, (size_t)(w.sys1 - w.sys0));
        Py_ssize_t raw1 = gs ? gs - b : w.sys1;
        PyObject *enriched = gs ? PyBytes_FromStringAndSize(gs + 1, w.sys1 - raw1 - 1) : Py_NewRef(empty_bytes);
        PyObject *cwd = w.cwd0 < 0 ? Py_NewRef(Py_None) : PyBytes_FromStringAndSize(b + w.cwd0, w.cwd1 - w.cwd0);
        PyObject *ev = NULL;
        if (enriched != NULL && cwd != NULL)
            ev = build_exec(b + w.stamp0, w.slen, NULL, display, lineno + 1, b + w.sys0, raw1 - w.sys0, enriched,
                            b + w.ex0, w.ex1 - w.ex0, cwd, b + pos, w.stop - pos, host);
        Py_XDECREF(enriched);
        Py_XDECREF(cwd);
        if (ev == NULL)
            return NULL;
        if (ev == Py_None) { /* declined: the caller takes this event the Python way */
            Py_DECREF(ev);
            break;
        }
        int failed = PyList_Append(out, ev) < 0;
        Py_DECREF(ev);
        if (failed)
            return NULL;
        Py_ssize_t records = b[w.stop - 1] != '\n';
        for (const char *q = b + pos, *z = b + w.stop; (q = memchr(q, '\n', (size_t)(z - q))) != NULL; q++)
            records++;
        lineno += records;
        pos = w.stop;
    }
    return Py_BuildValue("(nn)", pos, lineno);
}

static PyMethodDef methods[] = {
    {"syscall_fields", syscall_fields, METH_O,
     "syscall_fields(record) -> {key: value} of the SYSCALL keys the auditd decoder reads (first wins)"},
    {"value_text", value_text, METH_O, "value_text(value) -> an audit string field decoded to text"},
    {"execve_args", execve_args, METH_O, "execve_args(body) -> argv of one EXECVE record without chunks"},
    {"whole_event", whole_event, METH_VARARGS,
     "whole_event(buf, pos, end) -> (stamp, stop, syscall body, execve bodies, cwd, sockaddr, proctitle) or None"},
    {"exec_setup", exec_setup, METH_VARARGS,
     "exec_setup(exec_type, fields, well_known_uids, exes, cwds, names, memo_bytes, memo_limit) -> None"},
    {"exec_event", exec_event, METH_VARARGS,
     "exec_event(stamp, where, syscall, enriched, execve, cwd, buf, pos, stop, host) -> ProcessExec or None"},
    {"exec_run", exec_run, METH_VARARGS,
     "exec_run(buf, pos, end, display, lineno, host, limit, poisoned, out) -> (pos, lineno) after the exec events "
     "built"},
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
    records_key = PyUnicode_InternFromString("records");
    newline = PyUnicode_FromString("\n");
    space = PyUnicode_FromString(" ");
    empty_str = PyUnicode_FromString("");
    empty_bytes = PyBytes_FromStringAndSize("", 0);
    if (!records_key || !newline || !space || !empty_str || !empty_bytes)
        return NULL;
    return PyModule_Create(&module);
}
