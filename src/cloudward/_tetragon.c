/*
 * cloudward._tetragon: a block of Tetragon JSON lines decoded in C (cloudward/parsers/tetragon.py, issue 10).
 *
 * setup(exec_type, exec_slots, lazy_type, lazy_slots, no_event_prefixes, kprobe_prefix, privileged_caps)
 *     -> bool: remembers the event types and where their slots are (member descriptors, in the order of
 *        EXEC_FIELDS and LAZY_FIELDS); False when a slot is not a plain object slot.
 * decode_block(buf, pos, size, lineno, display, limit, host) -> (pos, lineno, skipped, events)
 *
 * decode_block reads the lines of buf[pos:size] one after another: a line the raw-bytes filter skips
 * (`tetragon._may_have_event` is False) is counted in `skipped`; an ordinary process_exec line becomes a
 * ProcessExec built slot by slot. It stops at the first line it cannot decide exactly as the Python path
 * would (a blank line, a line over `limit`, a kprobe that may be a connect, invalid or unusual JSON, a
 * duplicate key it reads, an escaped key, a value of a type it does not read, a time not in the common RFC
 * 3339 UTC form...) and returns where that line starts: the caller reads that one line the usual way, then
 * calls again. So a decline only costs speed, never changes a result.
 *
 * The JSON is checked in full (RFC 8259 grammar, UTF-8, escapes, surrogate pairs) as orjson checks it; numbers
 * orjson might refuse (a double overflowing), integers of 18 digits or more in the fields read, and nesting
 * over MAX_DEPTH decline.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define MAX_DEPTH 200
#define DECLINE 0
#define OK 1
#define FAIL (-1) /* a Python exception is set */

/* ---- state given by setup() ------------------------------------------------------------------------- */
static const char *EXEC_FIELDS[] = {
    "event_id", "time", "raw", "origin", "host", "pid", "ppid", "executable", "argv", "command_line", "cwd",
    "user", "uid", "euid", "auid", "parent_executable", "parent_command_line", "ancestors", "os",
    "container_id", "container_name", "image", "pod", "namespace", "privileged", "capabilities", "cgroup",
    "intel",
};
enum {
    F_EVENT_ID, F_TIME, F_RAW, F_ORIGIN, F_HOST, F_PID, F_PPID, F_EXECUTABLE, F_ARGV, F_COMMAND_LINE, F_CWD,
    F_USER, F_UID, F_EUID, F_AUID, F_PARENT_EXECUTABLE, F_PARENT_COMMAND_LINE, F_ANCESTORS, F_OS,
    F_CONTAINER_ID, F_CONTAINER_NAME, F_IMAGE, F_POD, F_NAMESPACE, F_PRIVILEGED, F_CAPABILITIES, F_CGROUP,
    F_INTEL, N_EXEC_FIELDS
};
static const char *NET_FIELDS[] = {
    "event_id", "time", "raw", "origin", "host", "pid", "executable", "command_line", "container_id",
    "container_name", "image", "pod", "namespace", "destination_ip", "destination_port", "destination_host",
    "intel", "user", "uid", "ppid", "cgroup", "os",
};
enum {
    N_EVENT_ID, N_TIME, N_RAW, N_ORIGIN, N_HOST, N_PID, N_EXECUTABLE, N_COMMAND_LINE, N_CONTAINER_ID,
    N_CONTAINER_NAME, N_IMAGE, N_POD, N_NAMESPACE, N_DESTINATION_IP, N_DESTINATION_PORT, N_DESTINATION_HOST,
    N_INTEL, N_USER, N_UID, N_PPID, N_CGROUP, N_OS, N_NET_FIELDS
};
static const char *LAZY_FIELDS[] = {"data", "value", "done"};
enum { L_DATA, L_VALUE, L_DONE, N_LAZY_FIELDS };

static PyTypeObject *exec_type = NULL, *net_type = NULL, *lazy_type = NULL;
static Py_ssize_t exec_off[N_EXEC_FIELDS], net_off[N_NET_FIELDS], lazy_off[N_LAZY_FIELDS];
#define MAX_PREFIXES 32
static PyObject *no_event_prefixes = NULL; /* tuple of bytes */
static PyObject *kprobe_prefix = NULL;     /* bytes */
#define N_PRIV 5
static PyObject *privileged_caps = NULL; /* tuple of str: together they make `privileged` True */
static PyObject *s_linux = NULL, *s_empty = NULL, *s_root = NULL;

/* ---- JSON cursor ------------------------------------------------------------------------------------ */
typedef struct {
    const unsigned char *p, *end;
} Cur;

/* a string's raw bytes between its quotes */
typedef struct {
    const unsigned char *s;
    Py_ssize_t n;
    int esc;   /* holds a backslash escape */
    int ascii; /* every byte < 0x80 */
} Str;

enum { V_NONE, V_STR, V_INT, V_FLOAT, V_TRUE, V_FALSE, V_NULL, V_OBJ, V_ARR };

static inline void skip_ws(Cur *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\r' || *c->p == '\n'))
        c->p++;
}

static inline int hexval(unsigned char h)
{
    if (h >= '0' && h <= '9')
        return h - '0';
    if (h >= 'a' && h <= 'f')
        return h - 'a' + 10;
    if (h >= 'A' && h <= 'F')
        return h - 'A' + 10;
    return -1;
}

static int read_u4(const unsigned char *q, const unsigned char *end, unsigned *out)
{
    if (end - q < 4)
        return DECLINE;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(q[i]);
        if (h < 0)
            return DECLINE;
        v = (v << 4) | (unsigned)h;
    }
    *out = v;
    return OK;
}

/* one UTF-8 sequence starting at q (q[0] >= 0x80), as strict as Python's and orjson's decoders: no overlong
 * forms, no surrogates, nothing past U+10FFFF. Returns its length, 0 when invalid. */
static int utf8_len(const unsigned char *q, const unsigned char *end)
{
    unsigned char b0 = q[0];
    Py_ssize_t left = end - q;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        return (left >= 2 && (q[1] & 0xC0) == 0x80) ? 2 : 0;
    }
    if (b0 >= 0xE0 && b0 <= 0xEF) {
        if (left < 3 || (q[1] & 0xC0) != 0x80 || (q[2] & 0xC0) != 0x80)
            return 0;
        if (b0 == 0xE0 && q[1] < 0xA0)
            return 0; /* overlong */
        if (b0 == 0xED && q[1] >= 0xA0)
            return 0; /* a surrogate */
        return 3;
    }
    if (b0 >= 0xF0 && b0 <= 0xF4) {
        if (left < 4 || (q[1] & 0xC0) != 0x80 || (q[2] & 0xC0) != 0x80 || (q[3] & 0xC0) != 0x80)
            return 0;
        if (b0 == 0xF0 && q[1] < 0x90)
            return 0;
        if (b0 == 0xF4 && q[1] >= 0x90)
            return 0;
        return 4;
    }
    return 0;
}

/* bytes a string's scan stops at: the quote, a backslash, control characters, bytes past ASCII */
static unsigned char STR_STOP[256];

static void init_tables(void)
{
    for (int b = 0; b < 256; b++)
        STR_STOP[b] = b < 0x20 || b >= 0x80 || b == '"' || b == '\\';
}

/* at '"': the string, checked whole (control characters, escapes, surrogate pairs, UTF-8) */
static int read_string(Cur *c, Str *out)
{
    const unsigned char *q = c->p + 1, *end = c->end;
    out->s = q;
    out->esc = 0;
    out->ascii = 1;
    while (q < end) {
#ifdef __SSE2__
        /* sixteen bytes at a time: a signed compare below 0x20 also catches every byte past ASCII */
        while (end - q >= 16) {
            __m128i v = _mm_loadu_si128((const __m128i *)q);
            __m128i stop = _mm_or_si128(_mm_cmplt_epi8(v, _mm_set1_epi8(0x20)),
                                        _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                                                     _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))));
            int mask = _mm_movemask_epi8(stop);
            if (mask) {
                q += __builtin_ctz((unsigned)mask);
                break;
            }
            q += 16;
        }
#endif
        while (q < end && !STR_STOP[*q])
            q++;
        if (q >= end)
            break;
        unsigned char b = *q;
        if (b == '"') {
            out->n = q - out->s;
            c->p = q + 1;
            return OK;
        }
        if (b < 0x20)
            return DECLINE;
        if (b == '\\') {
            out->esc = 1;
            if (q + 1 >= end)
                return DECLINE;
            unsigned char e = q[1];
            if (e == 'u') {
                unsigned u;
                if (!read_u4(q + 2, end, &u))
                    return DECLINE;
                q += 6;
                if (u >= 0xDC00 && u <= 0xDFFF)
                    return DECLINE; /* a low surrogate alone: orjson refuses it */
                if (u >= 0xD800 && u <= 0xDBFF) {
                    unsigned lo;
                    if (end - q < 2 || q[0] != '\\' || q[1] != 'u' || !read_u4(q + 2, end, &lo)
                        || lo < 0xDC00 || lo > 0xDFFF)
                        return DECLINE;
                    q += 6;
                }
                continue;
            }
            if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' || e == 'r' || e == 't') {
                q += 2;
                continue;
            }
            return DECLINE;
        }
        if (b >= 0x80) {
            int n = utf8_len(q, end);
            if (n == 0)
                return DECLINE;
            out->ascii = 0;
            q += n;
            continue;
        }
        q++;
    }
    return DECLINE;
}

/* a checked string's value as UTF-8 bytes: the raw bytes themselves, or its escapes decoded into `tmp`
 * (at most as long as the raw text). `tmp` must hold out->n bytes. */
static Py_ssize_t unescape(const Str *s, unsigned char *tmp)
{
    const unsigned char *q = s->s, *end = s->s + s->n;
    unsigned char *w = tmp;
    while (q < end) {
        if (*q != '\\') {
            *w++ = *q++;
            continue;
        }
        unsigned char e = q[1];
        if (e != 'u') {
            *w++ = e == 'b' ? '\b' : e == 'f' ? '\f' : e == 'n' ? '\n' : e == 'r' ? '\r' : e == 't' ? '\t' : e;
            q += 2;
            continue;
        }
        unsigned u = 0, lo = 0;
        read_u4(q + 2, end, &u);
        q += 6;
        if (u >= 0xD800 && u <= 0xDBFF) { /* checked by read_string: a low surrogate follows */
            read_u4(q + 2, end, &lo);
            q += 6;
            u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
        }
        if (u < 0x80) {
            *w++ = (unsigned char)u;
        } else if (u < 0x800) {
            *w++ = (unsigned char)(0xC0 | (u >> 6));
            *w++ = (unsigned char)(0x80 | (u & 0x3F));
        } else if (u < 0x10000) {
            *w++ = (unsigned char)(0xE0 | (u >> 12));
            *w++ = (unsigned char)(0x80 | ((u >> 6) & 0x3F));
            *w++ = (unsigned char)(0x80 | (u & 0x3F));
        } else {
            *w++ = (unsigned char)(0xF0 | (u >> 18));
            *w++ = (unsigned char)(0x80 | ((u >> 12) & 0x3F));
            *w++ = (unsigned char)(0x80 | ((u >> 6) & 0x3F));
            *w++ = (unsigned char)(0x80 | (u & 0x3F));
        }
    }
    return w - tmp;
}

/* a number: JSON's grammar; `*is_int` when it has neither fraction nor exponent, `*v` its value when it has
 * fewer than 18 digits (else `*big`: no integer field reads it). Declines where orjson could refuse it (a double
 * overflowing to infinity): an exponent of three digits or more, or integer digits and exponent together
 * reaching 300. */
static int read_number(Cur *c, int *is_int, long long *v, int *big)
{
    const unsigned char *q = c->p, *end = c->end;
    int neg = 0, digits = 0, frac = 0, exp = 0, exp_value = 0, exp_neg = 0;
    long long acc = 0;
    if (q < end && *q == '-') {
        neg = 1;
        q++;
    }
    if (q >= end || *q < '0' || *q > '9')
        return DECLINE;
    if (*q == '0') {
        q++;
        digits = 1;
    } else {
        while (q < end && *q >= '0' && *q <= '9') {
            if (++digits < 18)
                acc = acc * 10 + (*q - '0');
            q++;
        }
    }
    if (q < end && *q == '.') {
        q++;
        if (q >= end || *q < '0' || *q > '9')
            return DECLINE;
        while (q < end && *q >= '0' && *q <= '9')
            q++;
        frac = 1;
    }
    if (q < end && (*q == 'e' || *q == 'E')) {
        q++;
        if (q < end && (*q == '+' || *q == '-'))
            exp_neg = *q++ == '-';
        if (q >= end || *q < '0' || *q > '9')
            return DECLINE;
        int n = 0;
        while (q < end && *q >= '0' && *q <= '9') {
            if (++n >= 3)
                return DECLINE;
            exp_value = exp_value * 10 + (*q - '0');
            q++;
        }
        exp = 1;
    }
    if (digits + (exp_neg ? 0 : exp_value) >= 300)
        return DECLINE;
    c->p = q;
    *is_int = !frac && !exp;
    *big = digits >= 18;
    *v = neg ? -acc : acc;
    return OK;
}

static int skip_value(Cur *c, int depth, int *type);

static int lit(Cur *c, const char *word, size_t n)
{
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0)
        return DECLINE;
    c->p += n;
    return OK;
}

/* after '{' (consumed): the next member's key, the cursor then at its value. 1: a key; 0: the object ended
 * ('}' consumed); -1: not valid JSON. */
static int next_key(Cur *c, int *first, Str *key)
{
    skip_ws(c);
    if (c->p >= c->end)
        return -1;
    if (*c->p == '}') {
        c->p++;
        return 0;
    }
    if (!*first) {
        if (*c->p != ',')
            return -1;
        c->p++;
        skip_ws(c);
        if (c->p >= c->end)
            return -1;
    }
    *first = 0;
    if (*c->p != '"' || !read_string(c, key))
        return -1;
    skip_ws(c);
    if (c->p >= c->end || *c->p != ':')
        return -1;
    c->p++;
    skip_ws(c);
    return 1;
}

/* after '[' (consumed): whether another item follows, the cursor then at it (the twin of `next_key`).
 * 1: an item; 0: the array ended (']' consumed); -1: not valid JSON (as a ']' right after a ','). */
static int next_item(Cur *c, int *first)
{
    skip_ws(c);
    if (c->p >= c->end)
        return -1;
    if (*c->p == ']') {
        c->p++;
        return 0;
    }
    if (!*first) {
        if (*c->p != ',')
            return -1;
        c->p++;
        skip_ws(c);
        if (c->p >= c->end || *c->p == ']')
            return -1;
    }
    *first = 0;
    return 1;
}

/* any value at the cursor, checked and passed over; `*type` says what it was */
static int skip_value(Cur *c, int depth, int *type)
{
    skip_ws(c);
    if (c->p >= c->end)
        return DECLINE;
    unsigned char b = *c->p;
    if (b == '"') {
        Str s;
        *type = V_STR;
        return read_string(c, &s);
    }
    if (b == '{' || b == '[') {
        if (depth >= MAX_DEPTH)
            return DECLINE;
        c->p++;
        if (b == '{') {
            *type = V_OBJ;
            int first = 1, r, t;
            Str key;
            while ((r = next_key(c, &first, &key)) == 1) {
                if (!skip_value(c, depth + 1, &t))
                    return DECLINE;
            }
            return r == 0 ? OK : DECLINE;
        }
        *type = V_ARR;
        int first = 1, r, t;
        while ((r = next_item(c, &first)) == 1) {
            if (!skip_value(c, depth + 1, &t))
                return DECLINE;
        }
        return r == 0 ? OK : DECLINE;
    }
    if (b == 't') {
        *type = V_TRUE;
        return lit(c, "true", 4);
    }
    if (b == 'f') {
        *type = V_FALSE;
        return lit(c, "false", 5);
    }
    if (b == 'n') {
        *type = V_NULL;
        return lit(c, "null", 4);
    }
    int is_int, big;
    long long v;
    if (!read_number(c, &is_int, &v, &big))
        return DECLINE;
    *type = is_int ? V_INT : V_FLOAT;
    return OK;
}

/* what kind of value is at the cursor (after whitespace), without reading it */
static int peek(Cur *c)
{
    skip_ws(c);
    if (c->p >= c->end)
        return V_NONE;
    switch (*c->p) {
    case '"': return V_STR;
    case '{': return V_OBJ;
    case '[': return V_ARR;
    case 'n': return V_NULL;
    case 't': return V_TRUE;
    case 'f': return V_FALSE;
    default: return V_INT; /* a number (or junk): read_number tells */
    }
}

/* a string field read as the dict path's `_s` reads it: a string, else "" (any other value passed over) */
static int text_field(Cur *c, int depth, Str *out, int *is_str)
{
    int t;
    if (peek(c) == V_STR) {
        *is_str = 1;
        return read_string(c, out);
    }
    *is_str = 0;
    return skip_value(c, depth, &t);
}

/* a number field: `*type` V_INT with `*v`, or the type of whatever else was there */
static int number_field(Cur *c, int depth, int *type, long long *v)
{
    if (peek(c) == V_INT) {
        int is_int, big;
        if (!read_number(c, &is_int, v, &big) || (is_int && big))
            return DECLINE; /* an integer past int64 (or near it): not worth reading here */
        *type = is_int ? V_INT : V_FLOAT;
        return OK;
    }
    return skip_value(c, depth, type);
}

#define KEY(k, lit_) ((k).n == (Py_ssize_t)(sizeof(lit_) - 1) && memcmp((k).s, lit_, sizeof(lit_) - 1) == 0)
/* a key read twice: the dict path keeps the last value, where the first was; not worth following */
#define ONCE(bit)             \
    do {                      \
        if (seen & (bit))     \
            return DECLINE;   \
        seen |= (bit);        \
    } while (0)

/* ---- what a process_exec record holds ---------------------------------------------------------------- */
#define MAX_CAPS 64
typedef struct {
    Str binary, arguments, cwd, user_name, docker, start_time, time, node_name;
    int has_binary, has_arguments, has_cwd, has_user_name, has_docker, has_start_time, has_node_name;
    int time_set; /* a non-empty time string */
    int start_time_state; /* 0 absent or null, 1 a string */
    long long pid, ppid, uid, auid;
    int uid_set, auid_set;
    Str parent_binary, parent_arguments;
    int has_parent_binary, has_parent_arguments;
    int has_pod; /* process.pod is an object */
    Str cid, cname, image, pod_name, ns;
    int has_cid, has_cname, has_image, has_pod_name, has_ns;
    Str caps[MAX_CAPS];
    int n_caps;
    int connect; /* a process_kprobe record: `Tetragon._connection` reads the process, every field with `_s` */
    Str function_name, daddr;
    int has_function_name, has_daddr;
    long long dport;
} Exec;

static int read_image(Cur *c, int depth, Exec *x)
{
    int first = 1, r;
    unsigned seen = 0;
    Str key;
    c->p++;
    while ((r = next_key(c, &first, &key)) == 1) {
        if (key.esc)
            return DECLINE;
        int t;
        if (KEY(key, "name")) {
            ONCE(1);
            if (!text_field(c, depth, &x->image, &x->has_image))
                return DECLINE;
        } else if (!skip_value(c, depth, &t)) {
            return DECLINE;
        }
    }
    return r == 0;
}

static int read_container(Cur *c, int depth, Exec *x)
{
    int first = 1, r;
    unsigned seen = 0;
    Str key;
    c->p++;
    while ((r = next_key(c, &first, &key)) == 1) {
        if (key.esc)
            return DECLINE;
        int t;
        if (KEY(key, "id")) {
            ONCE(1);
            if (!text_field(c, depth, &x->cid, &x->has_cid))
                return DECLINE;
        } else if (KEY(key, "name")) {
            ONCE(2);
            if (!text_field(c, depth, &x->cname, &x->has_cname))
                return DECLINE;
        } else if (KEY(key, "image")) {
            ONCE(4);
            if (peek(c) == V_OBJ) {
                if (depth >= MAX_DEPTH || !read_image(c, depth + 1, x))
                    return DECLINE;
            } else if (!skip_value(c, depth, &t)) {
                return DECLINE;
            }
        } else if (!skip_value(c, depth, &t)) {
            return DECLINE;
        }
    }
    return r == 0;
}

static int read_pod(Cur *c, int depth, Exec *x)
{
    int first = 1, r;
    unsigned seen = 0;
    Str key;
    c->p++;
    while ((r = next_key(c, &first, &key)) == 1) {
        if (key.esc)
            return DECLINE;
        int t;
        if (KEY(key, "container")) {
            ONCE(1);
            if (peek(c) == V_OBJ) {
                if (depth >= MAX_DEPTH || !read_container(c, depth + 1, x))
                    return DECLINE;
            } else if (!skip_value(c, depth, &t)) {
                return DECLINE;
            }
        } else if (KEY(key, "name")) {
            ONCE(2);
            if (!text_field(c, depth, &x->pod_name, &x->has_pod_name))
                return DECLINE;
        } else if (KEY(key, "namespace")) {
            ONCE(4);
            if (!text_field(c, depth, &x->ns, &x->has_ns))
                return DECLINE;
        } else if (!skip_value(c, depth, &t)) {
            return DECLINE;
        }
    }
    return r == 0;
}

/* process.cap: its `effective` list's strings (other items are dropped, as `_caps` drops them) */
static int read_cap(Cur *c, int depth, Exec *x)
{
    int first = 1, r;
    unsigned seen = 0;
    Str key;
    c->p++;
    while ((r = next_key(c, &first, &key)) == 1) {
        if (key.esc)
            return DECLINE;
        int t;
        if (KEY(key, "effective")) {
            ONCE(1);
            if (peek(c) != V_ARR) {
                if (!skip_value(c, depth, &t))
                    return DECLINE;
                continue;
            }
            c->p++;
            int item = 1, ri;
            while ((ri = next_item(c, &item)) == 1) {
                if (peek(c) == V_STR) {
                    if (x->n_caps >= MAX_CAPS || !read_string(c, &x->caps[x->n_caps]))
                        return DECLINE;
                    x->n_caps++;
                } else if (depth >= MAX_DEPTH || !skip_value(c, depth + 1, &t)) {
                    return DECLINE;
                }
            }
            if (ri < 0)
                return DECLINE;
        } else if (!skip_value(c, depth, &t)) {
            return DECLINE;
        }
    }
    return r == 0;
}

static int read_user(Cur *c, int depth, Exec *x)
{
    int first = 1, r;
    unsigned seen = 0;
    Str key;
    c->p++;
    while ((r = next_key(c, &first, &key)) == 1) {
        if (key.esc)
            return DECLINE;
        int t;
        if (KEY(key, "name")) {
            ONCE(1);
            if (!text_field(c, depth, &x->user_name, &x->has_user_name))
                return DECLINE;
        } else if (!skip_value(c, depth, &t)) {
            return DECLINE;
        }
    }
    return r == 0;
}

/* `_int`: an integer, else 0; a string (digits would count) declines */
static int pid_field(Cur *c, int depth, long long *v)
{
    int t;
    if (!number_field(c, depth, &t, v))
        return DECLINE;
    if (t == V_STR)
        return DECLINE;
    if (t != V_INT)
        *v = 0;
    return OK;
}

static int read_process(Cur *c, int depth, Exec *x)
{
    int first = 1, r;
    unsigned seen = 0;
    Str key;
    c->p++;
    while ((r = next_key(c, &first, &key)) == 1) {
        if (key.esc)
            return DECLINE;
        int t;
        long long v = 0;
        switch (key.n) {
        case 3:
            if (KEY(key, "pid")) {
                ONCE(1);
                if (!pid_field(c, depth, &x->pid))
                    return DECLINE;
                continue;
            }
            if (KEY(key, "uid")) {
                ONCE(2);
                if (!number_field(c, depth, &t, &v))
                    return DECLINE;
                x->uid_set = t == V_INT; /* a boolean, a float, a string...: no uid */
                x->uid = v;
                continue;
            }
            if (KEY(key, "cwd")) {
                ONCE(4);
                if (!text_field(c, depth, &x->cwd, &x->has_cwd))
                    return DECLINE;
                continue;
            }
            if (KEY(key, "cap")) {
                ONCE(8);
                if (peek(c) == V_OBJ) {
                    if (depth >= MAX_DEPTH || !read_cap(c, depth + 1, x))
                        return DECLINE;
                } else if (!skip_value(c, depth, &t)) {
                    return DECLINE;
                }
                continue;
            }
            if (KEY(key, "pod")) {
                ONCE(16);
                if (peek(c) == V_OBJ) {
                    x->has_pod = 1;
                    if (depth >= MAX_DEPTH || !read_pod(c, depth + 1, x))
                        return DECLINE;
                } else if (!skip_value(c, depth, &t)) {
                    return DECLINE;
                }
                continue;
            }
            break;
        case 4:
            if (KEY(key, "auid")) {
                ONCE(32);
                if (!number_field(c, depth, &t, &v))
                    return DECLINE;
                if ((t == V_TRUE || t == V_FALSE) && !x->connect)
                    return DECLINE; /* isinstance(True, int): kept as a boolean by the dict path */
                x->auid_set = t == V_INT && v != 4294967295LL;
                x->auid = v;
                continue;
            }
            if (KEY(key, "user")) {
                ONCE(64);
                if (peek(c) == V_OBJ) {
                    if (depth >= MAX_DEPTH || !read_user(c, depth + 1, x))
                        return DECLINE;
                } else if (!skip_value(c, depth, &t)) {
                    return DECLINE;
                }
                continue;
            }
            break;
        case 6:
            if (KEY(key, "binary")) {
                ONCE(128);
                if (x->connect) {
                    if (!text_field(c, depth, &x->binary, &x->has_binary))
                        return DECLINE;
                    continue;
                }
                if (peek(c) != V_STR || !read_string(c, &x->binary))
                    return DECLINE; /* no binary: the dict path's rejection */
                x->has_binary = 1;
                continue;
            }
            if (KEY(key, "docker")) {
                ONCE(256);
                if (!text_field(c, depth, &x->docker, &x->has_docker))
                    return DECLINE;
                continue;
            }
            break;
        case 9:
            if (KEY(key, "arguments")) {
                ONCE(512);
                if (x->connect) {
                    if (!text_field(c, depth, &x->arguments, &x->has_arguments))
                        return DECLINE;
                    continue;
                }
                t = peek(c);
                if (t == V_STR) {
                    if (!read_string(c, &x->arguments))
                        return DECLINE;
                    x->has_arguments = 1;
                } else if (t == V_NULL) {
                    if (!skip_value(c, depth, &t))
                        return DECLINE;
                } else {
                    return DECLINE; /* `" " + 5`: the dict path's TypeError */
                }
                continue;
            }
            break;
        case 10:
            if (KEY(key, "start_time")) {
                ONCE(1024);
                if (x->connect)
                    break; /* not read */
                t = peek(c);
                if (t == V_STR) {
                    if (!read_string(c, &x->start_time))
                        return DECLINE;
                    x->start_time_state = 1;
                } else if (t == V_NULL) {
                    if (!skip_value(c, depth, &t))
                        return DECLINE;
                } else {
                    return DECLINE; /* a number would be read as epoch seconds */
                }
                continue;
            }
            break;
        }
        if (!skip_value(c, depth, &t))
            return DECLINE;
    }
    return r == 0;
}

static int read_parent(Cur *c, int depth, Exec *x)
{
    int first = 1, r;
    unsigned seen = 0;
    Str key;
    c->p++;
    while ((r = next_key(c, &first, &key)) == 1) {
        if (key.esc)
            return DECLINE;
        int t;
        if (KEY(key, "pid")) {
            ONCE(1);
            if (!pid_field(c, depth, &x->ppid))
                return DECLINE;
        } else if (KEY(key, "binary")) {
            ONCE(2);
            if (!text_field(c, depth, &x->parent_binary, &x->has_parent_binary))
                return DECLINE;
        } else if (KEY(key, "arguments")) {
            ONCE(4);
            if (!text_field(c, depth, &x->parent_arguments, &x->has_parent_arguments))
                return DECLINE;
        } else if (!skip_value(c, depth, &t)) {
            return DECLINE;
        }
    }
    return r == 0;
}

/* a kprobe argument: its sock_arg's daddr and dport, else its sockaddr_arg's addr and port
 * (`Tetragon._kprobe_destination`); only the first argument that names an address counts */
static int read_sock(Cur *c, int depth, Exec *x, const char *addr_key, const char *port_key, int *found)
{
    int first = 1, r;
    unsigned seen = 0;
    Str key, addr = {0};
    int has_addr = 0, t;
    long long port = 0;
    c->p++;
    while ((r = next_key(c, &first, &key)) == 1) {
        if (key.esc)
            return DECLINE;
        if ((size_t)key.n == strlen(addr_key) && memcmp(key.s, addr_key, (size_t)key.n) == 0) {
            ONCE(1);
            if (!text_field(c, depth, &addr, &has_addr))
                return DECLINE;
        } else if ((size_t)key.n == strlen(port_key) && memcmp(key.s, port_key, (size_t)key.n) == 0) {
            ONCE(2);
            if (!pid_field(c, depth, &port))
                return DECLINE;
        } else if (!skip_value(c, depth, &t)) {
            return DECLINE;
        }
    }
    if (r != 0)
        return DECLINE;
    *found = has_addr && addr.n > 0;
    if (*found && !x->has_daddr) {
        x->daddr = addr;
        x->has_daddr = 1;
        x->dport = port;
    }
    return OK;
}

static int read_arg(Cur *c, int depth, Exec *x)
{
    int first = 1, r, t, sock_found = 0, addr_found = 0, had = x->has_daddr;
    unsigned seen = 0;
    Str key;
    Exec sockaddr; /* the sockaddr_arg's answer, which only counts when the sock_arg gives none */
    memset(&sockaddr, 0, sizeof(sockaddr));
    c->p++;
    while ((r = next_key(c, &first, &key)) == 1) {
        if (key.esc)
            return DECLINE;
        if (KEY(key, "sock_arg")) {
            ONCE(1);
            if (peek(c) == V_OBJ) {
                if (depth >= MAX_DEPTH || !read_sock(c, depth + 1, x, "daddr", "dport", &sock_found))
                    return DECLINE;
            } else if (!skip_value(c, depth, &t)) {
                return DECLINE;
            }
        } else if (KEY(key, "sockaddr_arg")) {
            ONCE(2);
            if (peek(c) == V_OBJ) {
                if (depth >= MAX_DEPTH || !read_sock(c, depth + 1, &sockaddr, "addr", "port", &addr_found))
                    return DECLINE;
            } else if (!skip_value(c, depth, &t)) {
                return DECLINE;
            }
        } else if (!skip_value(c, depth, &t)) {
            return DECLINE;
        }
    }
    if (r != 0)
        return DECLINE;
    if (!had && !sock_found && addr_found) {
        x->daddr = sockaddr.daddr;
        x->has_daddr = 1;
        x->dport = sockaddr.dport;
    }
    return OK;
}

static int read_args(Cur *c, int depth, Exec *x)
{
    int t, first = 1, r;
    c->p++;
    while ((r = next_item(c, &first)) == 1) {
        if (peek(c) == V_OBJ) {
            if (depth >= MAX_DEPTH || !read_arg(c, depth + 1, x))
                return DECLINE;
        } else if (!skip_value(c, depth, &t)) {
            return DECLINE;
        }
    }
    return r == 0 ? OK : DECLINE;
}

static int read_body(Cur *c, int depth, Exec *x)
{
    int first = 1, r, has_process = 0;
    unsigned seen = 0;
    Str key;
    c->p++;
    while ((r = next_key(c, &first, &key)) == 1) {
        if (key.esc)
            return DECLINE;
        int t;
        if (KEY(key, "process")) {
            ONCE(1);
            if (peek(c) == V_OBJ) {
                if (depth >= MAX_DEPTH || !read_process(c, depth + 1, x))
                    return DECLINE;
                has_process = 1;
            } else if (!x->connect || !skip_value(c, depth, &t)) {
                return DECLINE; /* an exec without a process object is rejected; a connect reads it as {} */
            }
        } else if (KEY(key, "parent")) {
            ONCE(2);
            if (peek(c) == V_OBJ) {
                if (depth >= MAX_DEPTH || !read_parent(c, depth + 1, x))
                    return DECLINE;
            } else if (!skip_value(c, depth, &t)) {
                return DECLINE;
            }
        } else if (x->connect && KEY(key, "function_name")) {
            ONCE(4);
            if (!text_field(c, depth, &x->function_name, &x->has_function_name))
                return DECLINE;
        } else if (x->connect && KEY(key, "args")) {
            ONCE(8);
            if (peek(c) == V_ARR) {
                if (depth >= MAX_DEPTH || !read_args(c, depth + 1, x))
                    return DECLINE;
            } else if (!skip_value(c, depth, &t)) {
                return DECLINE;
            }
        } else if (!skip_value(c, depth, &t)) {
            return DECLINE;
        }
    }
    if (r != 0)
        return DECLINE;
    if (x->connect) {
        /* a connect function (all of `_CONNECT_FUNCTIONS` end in "connect") with an address: else no event,
         * which the general path counts */
        const Str *f = &x->function_name;
        return x->has_function_name && !f->esc && f->n >= 7 && memcmp(f->s + f->n - 7, "connect", 7) == 0 && x->has_daddr;
    }
    return has_process && x->has_binary;
}

/* is `key` one of the record types, or "records" (a wrapper): the general path then decides */
static int other_top_key(const Str *key)
{
    static const char *names[] = {"process_exit", "process_exec", "process_kprobe", "process_tracepoint", "process_uprobe",
                                  "process_lsm", "process_loader", "process_throttle", "process_connect",
                                  "process_close", "process_listen", "records", NULL};
    for (int i = 0; names[i]; i++) {
        size_t n = strlen(names[i]);
        if ((size_t)key->n == n && memcmp(key->s, names[i], n) == 0)
            return 1;
    }
    return 0;
}

static int read_record(Cur *c, Exec *x)
{
    int first = 1, r, has_exec = 0;
    unsigned seen = 0;
    Str key;
    skip_ws(c);
    if (c->p >= c->end || *c->p != '{')
        return DECLINE;
    c->p++;
    while ((r = next_key(c, &first, &key)) == 1) {
        if (key.esc)
            return DECLINE;
        int t;
        if (KEY(key, "process_exec") || KEY(key, "process_kprobe")) {
            ONCE(1); /* one record type: a second is declined below */
            x->connect = key.n == 14;
            if (peek(c) != V_OBJ || !read_body(c, 1, x))
                return DECLINE;
            has_exec = 1;
        } else if (KEY(key, "time")) {
            ONCE(2);
            t = peek(c);
            if (t == V_STR) {
                if (!read_string(c, &x->time))
                    return DECLINE;
                x->time_set = x->time.n > 0;
            } else if (t == V_NULL || t == V_FALSE) { /* falsy: the process's start_time is read (0.0 for a connect) */
                if (!skip_value(c, 1, &t))
                    return DECLINE;
            } else {
                return DECLINE;
            }
        } else if (KEY(key, "node_name")) {
            ONCE(4);
            if (!text_field(c, 1, &x->node_name, &x->has_node_name))
                return DECLINE;
        } else if (other_top_key(&key)) {
            return DECLINE;
        } else if (!skip_value(c, 1, &t)) {
            return DECLINE;
        }
    }
    if (r != 0 || !has_exec)
        return DECLINE;
    skip_ws(c);
    return c->p == c->end; /* nothing after the object */
}

/* ---- values ------------------------------------------------------------------------------------------ */
/* a str of the checked string `s` (NULL with an exception set) */
/* ---- remembered values ------------------------------------------------------------------------------
 * An export repeats the same few pods, images, binaries and command lines: short ASCII strings are handed out
 * from a small direct-mapped table (the same str object again, its hash computed once for every dict the
 * cards and the process tree look it up in), and the words and command line of an arguments string are
 * remembered per str object (the table holds its key, so the key's address cannot be reused while it is
 * there). Only costs: a hash of at most CACHE_CHARS bytes and a comparison. */
#define CACHE_CHARS 128
#define STR_SLOTS 4096
#define PAIR_SLOTS 2048
typedef struct {
    PyObject *s;
    uint64_t h;
} StrSlot;
static StrSlot str_cache[STR_SLOTS];
typedef struct {
    PyObject *a, *b, *value;
} PairSlot;
static PairSlot words_cache[PAIR_SLOTS], line_cache[PAIR_SLOTS];

/* a slot number from the length and the first and last eight bytes (the full comparison follows anyway; values
 * differing only in the middle merely share a slot) */
static inline uint64_t short_hash(const unsigned char *p, Py_ssize_t n)
{
    uint64_t a = 0, b = 0;
    if (n >= 8) {
        memcpy(&a, p, 8);
        memcpy(&b, p + n - 8, 8);
    } else {
        memcpy(&a, p, (size_t)n);
    }
    uint64_t h = (a * 0x9E3779B97F4A7C15ULL) ^ (b * 0xC2B2AE3D27D4EB4FULL) ^ ((uint64_t)n * 0x165667B19E3779F9ULL);
    return h ^ (h >> 31);
}

static PyObject *cached_ascii(const unsigned char *p, Py_ssize_t n)
{
    uint64_t h = short_hash(p, n);
    StrSlot *e = &str_cache[(h ^ (h >> 29)) & (STR_SLOTS - 1)];
    if (e->s != NULL && e->h == h && PyUnicode_GET_LENGTH(e->s) == n && memcmp(PyUnicode_1BYTE_DATA(e->s), p, (size_t)n) == 0) {
        Py_INCREF(e->s);
        return e->s;
    }
    PyObject *out = PyUnicode_FromKindAndData(PyUnicode_1BYTE_KIND, p, n);
    if (out == NULL)
        return NULL;
    Py_INCREF(out);
    Py_XSETREF(e->s, out);
    e->h = h;
    return out;
}

static inline PairSlot *pair_slot(PairSlot *table, PyObject *a, PyObject *b)
{
    uintptr_t k = ((uintptr_t)a >> 4) * 31 + ((uintptr_t)b >> 4);
    return &table[(k ^ (k >> 11)) & (PAIR_SLOTS - 1)];
}

/* `value` (a new reference) remembered for the pair (a, b), if both are short */
static void remember_pair(PairSlot *e, PyObject *a, PyObject *b, PyObject *value)
{
    if (PyUnicode_GET_LENGTH(a) > CACHE_CHARS || (b != NULL && PyUnicode_GET_LENGTH(b) > CACHE_CHARS))
        return;
    Py_INCREF(a);
    Py_XINCREF(b);
    Py_INCREF(value);
    Py_XSETREF(e->a, a);
    Py_XSETREF(e->b, b);
    Py_XSETREF(e->value, value);
}

static PyObject *str_of(const Str *s)
{
    if (s->n == 0) {
        Py_INCREF(s_empty);
        return s_empty;
    }
    if (!s->esc) {
        if (s->ascii && s->n <= CACHE_CHARS)
            return cached_ascii(s->s, s->n);
        return PyUnicode_DecodeUTF8((const char *)s->s, s->n, "strict");
    }
    unsigned char small[256] = {0};
    unsigned char *tmp = s->n <= (Py_ssize_t)sizeof(small) ? small : PyMem_Malloc((size_t)s->n);
    if (tmp == NULL)
        return PyErr_NoMemory();
    Py_ssize_t n = unescape(s, tmp);
    PyObject *out = PyUnicode_DecodeUTF8((const char *)tmp, n, "strict");
    if (tmp != small)
        PyMem_Free(tmp);
    return out;
}

static PyObject *joined_new(PyObject *a, PyObject *b);

/* `a + " " + b` if b else a (remembered for short a and b) */
static PyObject *joined(PyObject *a, PyObject *b)
{
    if (PyUnicode_GET_LENGTH(b) == 0) {
        Py_INCREF(a);
        return a;
    }
    PairSlot *e = pair_slot(line_cache, a, b);
    if (e->a == a && e->b == b) {
        Py_INCREF(e->value);
        return e->value;
    }
    PyObject *out = joined_new(a, b);
    if (out != NULL)
        remember_pair(e, a, b, out);
    return out;
}

static PyObject *joined_new(PyObject *a, PyObject *b)
{
    Py_ssize_t na = PyUnicode_GET_LENGTH(a), nb = PyUnicode_GET_LENGTH(b);
    Py_UCS4 ma = PyUnicode_MAX_CHAR_VALUE(a), mb = PyUnicode_MAX_CHAR_VALUE(b);
    PyObject *out = PyUnicode_New(na + 1 + nb, ma > mb ? ma : mb);
    if (out == NULL)
        return NULL;
    if (PyUnicode_CopyCharacters(out, 0, a, 0, na) < 0 || PyUnicode_WriteChar(out, na, ' ') < 0
        || PyUnicode_CopyCharacters(out, na + 1, b, 0, nb) < 0) {
        Py_DECREF(out);
        return NULL;
    }
    return out;
}

/* days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil) */
static long long days_from_civil(long long y, unsigned m, unsigned d)
{
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (long long)doe - 719468;
}

static int digits_at(const unsigned char *s, int n, int *v)
{
    int acc = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        acc = acc * 10 + (s[i] - '0');
    }
    *v = acc;
    return 1;
}

/* `timeutil.parse_time` of "YYYY-MM-DDTHH:MM:SS[.fff...]Z" (its `_fast_utc` step: the minute's epoch seconds
 * plus float(seconds)); DECLINE for anything else, which parse_time itself then reads */
static int utc_time(const Str *s, double *out)
{
    if (s->esc || !s->ascii || s->n < 20)
        return DECLINE;
    const unsigned char *v = s->s;
    Py_ssize_t n = s->n;
    int y, mo, d, h, mi;
    if (v[n - 1] != 'Z' || v[4] != '-' || v[7] != '-' || v[10] != 'T' || v[13] != ':' || v[16] != ':')
        return DECLINE;
    if (!digits_at(v, 4, &y) || !digits_at(v + 5, 2, &mo) || !digits_at(v + 8, 2, &d) || !digits_at(v + 11, 2, &h)
        || !digits_at(v + 14, 2, &mi))
        return DECLINE;
    static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59)
        return DECLINE;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d > dim[mo - 1] + (mo == 2 && leap))
        return DECLINE;
    /* the seconds: two digits, then maybe a fraction; float() of that is PyOS_string_to_double's answer */
    const unsigned char *sec = v + 17, *zend = v + n - 1;
    if (zend - sec < 2 || sec[0] < '0' || sec[0] > '9' || sec[1] < '0' || sec[1] > '9')
        return DECLINE;
    if (zend - sec > 2) {
        if (sec[2] != '.' || zend - sec < 4 || zend - sec > 60)
            return DECLINE;
        for (const unsigned char *q = sec + 3; q < zend; q++)
            if (*q < '0' || *q > '9')
                return DECLINE;
    }
    char buf[64];
    memcpy(buf, sec, (size_t)(zend - sec));
    buf[zend - sec] = 0;
    double seconds = PyOS_string_to_double(buf, NULL, NULL);
    if (seconds == -1.0 && PyErr_Occurred()) {
        PyErr_Clear();
        return DECLINE;
    }
    if (!(seconds >= 0.0 && seconds < 61.0))
        return DECLINE;
    double base = (double)(days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400LL + h * 3600LL + mi * 60LL);
    double t = base + seconds;
    *out = t > 0 ? t : 0.0;
    return OK;
}

/* `tetragon.split_arguments`: str.split() when there is no quote; else words split on spaces and tabs
 * outside quotes, a quote joining what touches it (a new list, or NULL with an exception set). The
 * separators and quotes are ASCII, never inside a UTF-8 sequence, so the words are cut on the bytes. */
static PyObject *split_words(PyObject *args)
{
    if (PyUnicode_FindChar(args, '"', 0, PyUnicode_GET_LENGTH(args), 1) == -1)
        return PyUnicode_Split(args, NULL, -1);
    Py_ssize_t n;
    const char *s = PyUnicode_AsUTF8AndSize(args, &n);
    if (s == NULL)
        return NULL;
    PyObject *out = PyList_New(0);
    if (out == NULL)
        return NULL;
    char small[512];
    char *word = n <= (Py_ssize_t)sizeof(small) ? small : PyMem_Malloc((size_t)n);
    if (word == NULL) {
        Py_DECREF(out);
        return PyErr_NoMemory();
    }
    Py_ssize_t w = 0;
    int quoted = 0, has_word = 0;
    for (Py_ssize_t i = 0; i <= n; i++) {
        char ch = i < n ? s[i] : ' ';
        if (i < n && ch == '"') {
            quoted = !quoted;
            has_word = 1;
        } else if ((ch == ' ' || ch == '\t') && (!quoted || i == n)) {
            if (has_word) {
                PyObject *item = PyUnicode_DecodeUTF8(word, w, "strict");
                if (item == NULL || PyList_Append(out, item) < 0) {
                    Py_XDECREF(item);
                    Py_DECREF(out);
                    out = NULL;
                    break;
                }
                Py_DECREF(item);
                w = 0;
                has_word = 0;
            }
        } else {
            word[w++] = ch;
            has_word = 1;
        }
    }
    if (word != small)
        PyMem_Free(word);
    return out;
}

static PyObject *str_or_empty(const Str *s, int is_str)
{
    if (!is_str) {
        Py_INCREF(s_empty);
        return s_empty;
    }
    return str_of(s);
}

static int starts_with(const unsigned char *s, Py_ssize_t n, const char *p, Py_ssize_t pn)
{
    return n >= pn && memcmp(s, p, (size_t)pn) == 0;
}

static int contains(const unsigned char *s, Py_ssize_t n, const char *needle, Py_ssize_t k)
{
    return memmem(s, (size_t)n, needle, (size_t)k) != NULL; /* glibc's: much faster than memchr on '"' */
}

/* `tetragon._may_have_event` of one line */
static int may_have_event(const unsigned char *s, Py_ssize_t n)
{
    Py_ssize_t count = PyTuple_GET_SIZE(no_event_prefixes);
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *pre = PyTuple_GET_ITEM(no_event_prefixes, i);
        if (starts_with(s, n, PyBytes_AS_STRING(pre), PyBytes_GET_SIZE(pre)))
            return contains(s, n, "\"records\"", 9);
    }
    if (starts_with(s, n, PyBytes_AS_STRING(kprobe_prefix), PyBytes_GET_SIZE(kprobe_prefix)))
        return contains(s, n, "connect", 7) || contains(s, n, "\\u", 2) || contains(s, n, "\"records\"", 9);
    return 1;
}

/* container id, container name, image, pod and namespace of the process (`Tetragon._context`); 0, or -1 with
 * an exception set (then every one is NULL) */
static int fill_context(Exec *x, PyObject **cid_out, PyObject **cname, PyObject **image, PyObject **pod,
                        PyObject **ns)
{
    *cid_out = *cname = *image = *pod = *ns = NULL;
    PyObject *docker = str_or_empty(&x->docker, x->has_docker);
    if (docker == NULL)
        return -1;
    if (!x->has_pod) {
        *cid_out = docker;
        PyObject **rest[] = {cname, image, pod, ns};
        for (int f = 0; f < 4; f++) {
            Py_INCREF(s_empty);
            *rest[f] = s_empty;
        }
        return 0;
    }
    PyObject *cid = str_or_empty(&x->cid, x->has_cid);
    if (cid == NULL) {
        Py_DECREF(docker);
        return -1;
    }
    Py_ssize_t len = PyUnicode_GET_LENGTH(cid), at = -1;
    if (len >= 3) {
        PyObject *sep = PyUnicode_FromStringAndSize("://", 3);
        at = sep == NULL ? -2 : PyUnicode_Find(cid, sep, 0, len, 1);
        Py_XDECREF(sep);
        if (at == -2) {
            Py_DECREF(cid);
            Py_DECREF(docker);
            return -1;
        }
    }
    if (at >= 0) { /* strip_runtime_prefix: what follows the first "://" */
        PyObject *rest = PyUnicode_Substring(cid, at + 3, len);
        Py_DECREF(cid);
        if ((cid = rest) == NULL) {
            Py_DECREF(docker);
            return -1;
        }
    }
    if (PyUnicode_GET_LENGTH(cid) == 0) {
        Py_DECREF(cid);
        cid = docker;
    } else {
        Py_DECREF(docker);
    }
    *cid_out = cid;
    if ((*cname = str_or_empty(&x->cname, x->has_cname)) == NULL || (*image = str_or_empty(&x->image, x->has_image)) == NULL
        || (*pod = str_or_empty(&x->pod_name, x->has_pod_name)) == NULL || (*ns = str_or_empty(&x->ns, x->has_ns)) == NULL) {
        Py_CLEAR(*cid_out);
        Py_CLEAR(*cname);
        Py_CLEAR(*image);
        Py_CLEAR(*pod);
        return -1;
    }
    return 0;
}

/* the user's name, else "root" or the uid's digits, and the uid (None when not an integer): `Tetragon._user` */
static int fill_user(Exec *x, PyObject **user, PyObject **uid)
{
    *uid = NULL;
    if ((*user = str_or_empty(&x->user_name, x->has_user_name)) == NULL)
        return -1;
    if (!x->uid_set) {
        Py_INCREF(Py_None);
        *uid = Py_None;
        return 0;
    }
    if ((*uid = PyLong_FromLongLong(x->uid)) == NULL)
        goto fail;
    if (PyUnicode_GET_LENGTH(*user) == 0) {
        Py_DECREF(*user);
        *user = x->uid == 0 ? (Py_INCREF(s_root), s_root) : PyObject_Str(*uid);
        if (*user == NULL)
            goto fail;
    }
    return 0;
fail:
    Py_CLEAR(*user);
    Py_CLEAR(*uid);
    return -1;
}

static PyObject *lazy_json(PyObject *line)
{
    PyObject *raw = lazy_type->tp_alloc(lazy_type, 0);
    if (raw == NULL)
        return NULL;
    Py_INCREF(line);
    *(PyObject **)((char *)raw + lazy_off[L_DATA]) = line;
    Py_INCREF(Py_None);
    *(PyObject **)((char *)raw + lazy_off[L_VALUE]) = Py_None;
    Py_INCREF(Py_False);
    *(PyObject **)((char *)raw + lazy_off[L_DONE]) = Py_False;
    return raw;
}

/* the ProcessExec of a read record (NULL with an exception set) */
static PyObject *build_exec(Exec *x, PyObject *line, PyObject *where, PyObject *host)
{
    PyObject *v[N_EXEC_FIELDS] = {NULL};
    PyObject *binary = NULL, *args = NULL, *words = NULL, *ev = NULL, *raw = NULL;
    double when = 0.0;
    if (x->time_set) {
        if (!utc_time(&x->time, &when))
            return Py_None; /* not the common form: parse_time's to read (caller declines) */
    } else if (x->start_time_state && x->start_time.n > 0) {
        if (!utc_time(&x->start_time, &when))
            return Py_None;
    }
    if ((binary = str_of(&x->binary)) == NULL)
        goto fail;
    args = x->has_arguments ? str_of(&x->arguments) : (Py_INCREF(s_empty), s_empty);
    if (args == NULL)
        goto fail;
    PairSlot *ws = pair_slot(words_cache, args, NULL);
    if (ws->a == args) {
        words = ws->value;
        Py_INCREF(words);
    } else {
        PyObject *list = split_words(args);
        if (list == NULL)
            goto fail;
        words = PyList_AsTuple(list); /* remembered: a tuple nobody can change; each event gets its own argv */
        Py_DECREF(list);
        if (words == NULL)
            goto fail;
        remember_pair(ws, args, NULL, words);
    }
    Py_ssize_t nw = PyTuple_GET_SIZE(words);
    if ((v[F_ARGV] = PyList_New(nw + 1)) == NULL)
        goto fail;
    Py_INCREF(binary);
    PyList_SET_ITEM(v[F_ARGV], 0, binary);
    for (Py_ssize_t i = 0; i < nw; i++) {
        PyObject *w = PyTuple_GET_ITEM(words, i);
        Py_INCREF(w);
        PyList_SET_ITEM(v[F_ARGV], i + 1, w);
    }
    if ((v[F_COMMAND_LINE] = joined(binary, args)) == NULL)
        goto fail;
    v[F_EXECUTABLE] = binary;
    binary = NULL;

    Py_INCREF(where);
    v[F_EVENT_ID] = where;
    Py_INCREF(where);
    v[F_ORIGIN] = where;
    if ((v[F_TIME] = PyFloat_FromDouble(when)) == NULL)
        goto fail;
    if (PyUnicode_GET_LENGTH(host)) {
        Py_INCREF(host);
        v[F_HOST] = host;
    } else if ((v[F_HOST] = str_or_empty(&x->node_name, x->has_node_name)) == NULL) {
        goto fail;
    }
    if ((v[F_PID] = PyLong_FromLongLong(x->pid)) == NULL || (v[F_PPID] = PyLong_FromLongLong(x->ppid)) == NULL)
        goto fail;
    if ((v[F_CWD] = str_or_empty(&x->cwd, x->has_cwd)) == NULL)
        goto fail;
    if (fill_user(x, v + F_USER, v + F_UID) < 0)
        goto fail;
    Py_INCREF(Py_None);
    v[F_EUID] = Py_None;
    if (x->auid_set) {
        if ((v[F_AUID] = PyLong_FromLongLong(x->auid)) == NULL)
            goto fail;
    } else {
        Py_INCREF(Py_None);
        v[F_AUID] = Py_None;
    }
    PyObject *pb = str_or_empty(&x->parent_binary, x->has_parent_binary);
    if (pb == NULL)
        goto fail;
    v[F_PARENT_EXECUTABLE] = pb;
    PyObject *pa = str_or_empty(&x->parent_arguments, x->has_parent_arguments);
    if (pa == NULL)
        goto fail;
    v[F_PARENT_COMMAND_LINE] = joined(pb, pa);
    Py_DECREF(pa);
    if (v[F_PARENT_COMMAND_LINE] == NULL)
        goto fail;
    if ((v[F_ANCESTORS] = PyList_New(0)) == NULL || (v[F_INTEL] = PyList_New(0)) == NULL)
        goto fail;
    Py_INCREF(s_linux);
    v[F_OS] = s_linux;
    Py_INCREF(s_empty);
    v[F_CGROUP] = s_empty;

    if (fill_context(x, v + F_CONTAINER_ID, v + F_CONTAINER_NAME, v + F_IMAGE, v + F_POD, v + F_NAMESPACE) < 0)
        goto fail;

    /* capabilities: 2022 sensors wrote them without the CAP_ prefix; privileged when all of the set are there */
    if ((v[F_CAPABILITIES] = PyList_New(x->n_caps)) == NULL)
        goto fail;
    for (int i = 0; i < x->n_caps; i++) {
        PyObject *cap = str_of(&x->caps[i]);
        if (cap == NULL)
            goto fail;
        if (PyUnicode_GET_LENGTH(cap) < 4 || PyUnicode_Tailmatch(cap, PyTuple_GET_ITEM(privileged_caps, N_PRIV), 0, 4, -1) != 1) {
            PyObject *full = PyUnicode_Concat(PyTuple_GET_ITEM(privileged_caps, N_PRIV), cap);
            Py_DECREF(cap);
            if ((cap = full) == NULL)
                goto fail;
        }
        PyList_SET_ITEM(v[F_CAPABILITIES], i, cap);
    }
    int privileged = 1;
    for (int i = 0; i < N_PRIV && privileged; i++) {
        int has = PySequence_Contains(v[F_CAPABILITIES], PyTuple_GET_ITEM(privileged_caps, i));
        if (has < 0)
            goto fail;
        privileged = has;
    }
    v[F_PRIVILEGED] = privileged ? Py_True : Py_None;
    Py_INCREF(v[F_PRIVILEGED]);

    /* the raw record: the line's bytes, decoded when evidence reads it (events.LazyJson) */
    if ((raw = lazy_json(line)) == NULL)
        goto fail;
    v[F_RAW] = raw;
    raw = NULL;

    if ((ev = exec_type->tp_alloc(exec_type, 0)) == NULL)
        goto fail;
    for (int f = 0; f < N_EXEC_FIELDS; f++)
        *(PyObject **)((char *)ev + exec_off[f]) = v[f];
    Py_DECREF(args);
    Py_DECREF(words);
    return ev;

fail:
    for (int f = 0; f < N_EXEC_FIELDS; f++)
        Py_XDECREF(v[f]);
    Py_XDECREF(binary);
    Py_XDECREF(args);
    Py_XDECREF(words);
    Py_XDECREF(raw);
    return NULL;
}

/* the NetConnection of a read process_kprobe connect record (`Tetragon._connection`; NULL with an exception
 * set, Py_None, not a new reference, for a time parse_time reads itself) */
static PyObject *build_conn(Exec *x, PyObject *line, PyObject *where, PyObject *host)
{
    PyObject *v[N_NET_FIELDS] = {NULL};
    double when = 0.0;
    if (x->time_set && !utc_time(&x->time, &when))
        return Py_None;
    if ((v[N_EXECUTABLE] = str_or_empty(&x->binary, x->has_binary)) == NULL)
        goto fail;
    PyObject *args = str_or_empty(&x->arguments, x->has_arguments);
    if (args == NULL)
        goto fail;
    v[N_COMMAND_LINE] = joined(v[N_EXECUTABLE], args);
    Py_DECREF(args);
    if (v[N_COMMAND_LINE] == NULL)
        goto fail;
    Py_INCREF(where);
    v[N_EVENT_ID] = where;
    Py_INCREF(where);
    v[N_ORIGIN] = where;
    if ((v[N_TIME] = PyFloat_FromDouble(when)) == NULL)
        goto fail;
    if (PyUnicode_GET_LENGTH(host)) {
        Py_INCREF(host);
        v[N_HOST] = host;
    } else if ((v[N_HOST] = str_or_empty(&x->node_name, x->has_node_name)) == NULL) {
        goto fail;
    }
    if ((v[N_PID] = PyLong_FromLongLong(x->pid)) == NULL || (v[N_PPID] = PyLong_FromLongLong(x->ppid)) == NULL
        || (v[N_DESTINATION_PORT] = PyLong_FromLongLong(x->dport)) == NULL)
        goto fail;
    if ((v[N_DESTINATION_IP] = str_of(&x->daddr)) == NULL)
        goto fail;
    if (fill_user(x, v + N_USER, v + N_UID) < 0)
        goto fail;
    if (fill_context(x, v + N_CONTAINER_ID, v + N_CONTAINER_NAME, v + N_IMAGE, v + N_POD, v + N_NAMESPACE) < 0)
        goto fail;
    if ((v[N_INTEL] = PyList_New(0)) == NULL)
        goto fail;
    Py_INCREF(s_empty);
    v[N_DESTINATION_HOST] = s_empty;
    Py_INCREF(s_empty);
    v[N_CGROUP] = s_empty;
    Py_INCREF(s_linux);
    v[N_OS] = s_linux;
    if ((v[N_RAW] = lazy_json(line)) == NULL)
        goto fail;
    PyObject *ev = net_type->tp_alloc(net_type, 0);
    if (ev == NULL)
        goto fail;
    for (int f = 0; f < N_NET_FIELDS; f++)
        *(PyObject **)((char *)ev + net_off[f]) = v[f];
    return ev;

fail:
    for (int f = 0; f < N_NET_FIELDS; f++)
        Py_XDECREF(v[f]);
    return NULL;
}

static PyObject *decode_block(PyObject *self, PyObject *const *argv, Py_ssize_t nargs)
{
    if (nargs != 7) {
        PyErr_SetString(PyExc_TypeError, "decode_block(host, buf, pos, size, lineno, display, limit)");
        return NULL;
    }
    if (exec_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "_tetragon.setup() was not called");
        return NULL;
    }
    PyObject *host = argv[0], *display = argv[5];
    if (!PyUnicode_Check(host) || !PyUnicode_Check(display)) {
        PyErr_SetString(PyExc_TypeError, "host and display must be str");
        return NULL;
    }
    Py_ssize_t pos = PyLong_AsSsize_t(argv[2]), size = PyLong_AsSsize_t(argv[3]);
    Py_ssize_t lineno = PyLong_AsSsize_t(argv[4]), limit = PyLong_AsSsize_t(argv[6]);
    if (PyErr_Occurred())
        return NULL;
    Py_buffer view;
    if (PyObject_GetBuffer(argv[1], &view, PyBUF_SIMPLE) < 0)
        return NULL;
    if (size > view.len)
        size = view.len;
    if (pos < 0)
        pos = 0;
    const unsigned char *buf = (const unsigned char *)view.buf;
    Py_ssize_t skipped = 0;
    PyObject *events = PyList_New(0);
    if (events == NULL)
        goto fail;
    while (pos < size) {
        const unsigned char *s = buf + pos;
        if (*s == '\n' || *s == '\r')
            break; /* blank lines: the caller passes a run of them at once */
        const unsigned char *q = memchr(s, '\n', (size_t)(size - pos));
        Py_ssize_t nl = q == NULL ? size : q - buf, n = nl - pos;
        if (!may_have_event(s, n)) {
            skipped++;
            lineno++;
            pos = nl + 1;
            continue;
        }
        if (n > limit)
            break;
        Exec x;
        memset(&x, 0, sizeof(x));
        Cur c = {s, s + n};
        if (!read_record(&c, &x))
            break;
        PyObject *line = PyBytes_FromStringAndSize((const char *)s, n);
        if (line == NULL)
            goto fail;
        PyObject *where = PyUnicode_FromFormat("%U:%zd", display, lineno + 1);
        if (where == NULL) {
            Py_DECREF(line);
            goto fail;
        }
        PyObject *ev = x.connect ? build_conn(&x, line, where, host) : build_exec(&x, line, where, host);
        Py_DECREF(line);
        Py_DECREF(where);
        if (ev == NULL)
            goto fail;
        if (ev == Py_None)
            break; /* a time parse_time reads itself */
        int r = PyList_Append(events, ev);
        Py_DECREF(ev);
        if (r < 0)
            goto fail;
        lineno++;
        pos = nl + 1;
    }
    PyBuffer_Release(&view);
    return Py_BuildValue("(nnnN)", pos < size ? pos : size, lineno, skipped, events);

fail:
    PyBuffer_Release(&view);
    Py_XDECREF(events);
    return NULL;
}

static int slot_offsets(PyTypeObject *type, PyObject *slots, Py_ssize_t n, Py_ssize_t *off)
{
    if (!PyTuple_Check(slots) || PyTuple_GET_SIZE(slots) != n)
        return 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *d = PyTuple_GET_ITEM(slots, i);
        if (!Py_IS_TYPE(d, &PyMemberDescr_Type))
            return 0;
        PyMemberDescrObject *m = (PyMemberDescrObject *)d;
        if (m->d_member->type != T_OBJECT_EX || (m->d_member->flags & READONLY)
            || !PyType_IsSubtype(type, m->d_common.d_type)
            || m->d_member->offset + (Py_ssize_t)sizeof(PyObject *) > type->tp_basicsize)
            return 0;
        off[i] = m->d_member->offset;
    }
    return 1;
}

static PyObject *setup(PyObject *self, PyObject *args)
{
    PyObject *et, *es, *nt, *ns, *lt, *ls, *prefixes, *kprobe, *caps;
    if (!PyArg_ParseTuple(args, "O!OO!OO!OO!SO!", &PyType_Type, &et, &es, &PyType_Type, &nt, &ns, &PyType_Type, &lt,
                          &ls, &PyTuple_Type, &prefixes, &kprobe, &PyTuple_Type, &caps))
        return NULL;
    Py_ssize_t eo[N_EXEC_FIELDS], no[N_NET_FIELDS], lo[N_LAZY_FIELDS];
    if (PyTuple_GET_SIZE(caps) != N_PRIV + 1 || PyTuple_GET_SIZE(prefixes) > MAX_PREFIXES)
        Py_RETURN_FALSE;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(caps); i++)
        if (!PyUnicode_CheckExact(PyTuple_GET_ITEM(caps, i)))
            Py_RETURN_FALSE;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(prefixes); i++)
        if (!PyBytes_CheckExact(PyTuple_GET_ITEM(prefixes, i)))
            Py_RETURN_FALSE;
    if (!slot_offsets((PyTypeObject *)et, es, N_EXEC_FIELDS, eo) || !slot_offsets((PyTypeObject *)nt, ns, N_NET_FIELDS, no)
        || !slot_offsets((PyTypeObject *)lt, ls, N_LAZY_FIELDS, lo))
        Py_RETURN_FALSE;
    Py_INCREF(et);
    Py_INCREF(nt);
    Py_XSETREF(net_type, (PyTypeObject *)nt);
    memcpy(net_off, no, sizeof(no));
    Py_INCREF(lt);
    Py_INCREF(prefixes);
    Py_INCREF(kprobe);
    Py_INCREF(caps);
    Py_XSETREF(exec_type, (PyTypeObject *)et);
    Py_XSETREF(lazy_type, (PyTypeObject *)lt);
    Py_XSETREF(no_event_prefixes, prefixes);
    Py_XSETREF(kprobe_prefix, kprobe);
    Py_XSETREF(privileged_caps, caps);
    memcpy(exec_off, eo, sizeof(eo));
    memcpy(lazy_off, lo, sizeof(lo));
    Py_RETURN_TRUE;
}

static PyMethodDef methods[] = {
    {"setup", setup, METH_VARARGS,
     "setup(exec_type, exec_slots, net_type, net_slots, lazy_type, lazy_slots, no_event_prefixes, kprobe_prefix, "
     "caps) -> bool"},
    {"decode_block", (PyCFunction)(void (*)(void))decode_block, METH_FASTCALL,
     "decode_block(host, buf, pos, size, lineno, display, limit) -> (pos, lineno, skipped, events)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_tetragon", "Tetragon JSON lines decoded in C", -1,
                                    methods};

PyMODINIT_FUNC PyInit__tetragon(void)
{
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    init_tables();
    s_linux = PyUnicode_InternFromString("linux");
    s_empty = PyUnicode_FromStringAndSize("", 0);
    s_root = PyUnicode_InternFromString("root");
    PyObject *fields = PyTuple_New(N_EXEC_FIELDS), *lazy = PyTuple_New(N_LAZY_FIELDS);
    PyObject *net = PyTuple_New(N_NET_FIELDS);
    if (s_linux == NULL || s_empty == NULL || s_root == NULL || fields == NULL || lazy == NULL || net == NULL) {
        Py_XDECREF(net);
        Py_XDECREF(fields);
        Py_XDECREF(lazy);
        Py_DECREF(m);
        return NULL;
    }
    for (int i = 0; i < N_EXEC_FIELDS; i++)
        PyTuple_SET_ITEM(fields, i, PyUnicode_InternFromString(EXEC_FIELDS[i]));
    for (int i = 0; i < N_NET_FIELDS; i++)
        PyTuple_SET_ITEM(net, i, PyUnicode_InternFromString(NET_FIELDS[i]));
    for (int i = 0; i < N_LAZY_FIELDS; i++)
        PyTuple_SET_ITEM(lazy, i, PyUnicode_InternFromString(LAZY_FIELDS[i]));
    if (PyModule_AddObject(m, "EXEC_FIELDS", fields) < 0 || PyModule_AddObject(m, "LAZY_FIELDS", lazy) < 0
        || PyModule_AddObject(m, "NET_FIELDS", net) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
