/*
 * Optional accelerator for the web block scan (see cloudward/parsers/_webscan.py, `CompiledScan`).
 *
 * clf_next(block, pos, end, combined, targets, agents, path_mask, flags, limit[, watch, counts, needles]) walks
 * the lines of block[pos:end] (complete lines; the stream's last line may lack its newline) and stops at the
 * first line Python must look at. It returns (kind, start, line_end, passed, ip_start, ip_end, ts_start, target_start,
 * target_end, agent_start, agent_end):
 *
 *   kind 0  no such line up to `end`; `passed` lines were passed over (start == end).
 *   kind 1  the line at block[start:line_end] goes to the format's line parser, which decides all: it is
 *           not proven valid by the grammar below, or its request target or user agent is not yet in the
 *           filter's caches, or the filter's answer for it is "an event".
 *   kind 2  the line is valid and the filter's answer is "a client error on an ordinary page" (a summary
 *           entry); the offsets locate its fields, and two more items follow them: the line's time (epoch
 *           seconds, float, what `_web.clf_time` gives for its date) and its address (str).
 *
 * With needles (see `needle_hit`), a valid line holding one of a Sigma rule group's needles is a kind-1 stop.
 *
 * With watch (a list of at most 8 address spellings, bytes) and counts (a list of as many ints), every line
 * passed over whose address is watch[k] adds one to counts[k] (`Summaries`: the ordinary requests of
 * recently active addresses).
 *
 * `passed` is the number of lines before `start` that were passed over: each is valid and the filter's
 * answer, read from its own caches, is "no card needs it". The caches are the filter's dicts (raw request
 * target -> page bits, raw user agent -> is a tool), filled by Python the first time a value is seen (a
 * kind-1 stop), so this module never decides anything the Python filter has not decided for the same bytes.
 *
 * The grammar is `clf.COMBINED_VALID` (combined != 0) or `clf.COMMON_VALID`, for lines whose address is a
 * plain IPv4 address (an IPv6 address or an X-Forwarded-For chain: kind 1, the parser reads it). It is
 * checked byte by byte, left to right, with no backtracking: every field ends at a delimiter its class
 * cannot hold. A trailing "\r" before the newline is not part of the line.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define WANT_TOOL_AGENTS 1
#define WANT_CLIENT_ERRORS 2
#define WANT_SUMMARIES 4
#define MAX_WATCH 8

typedef struct {
    Py_ssize_t ip_e, ts_s, tgt_s, tgt_e, ref_s, ag_s, ag_e;
    char status0;
} Fields;

static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

/* Python's bytes \S: not one of space, \t, \n, \r, \f, \v */
static int is_token(unsigned char c)
{
    return !(c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v');
}

/* one IPv4 octet as clf._OCTET: 25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9], no leading zero */
static Py_ssize_t octet(const unsigned char *s, Py_ssize_t i, Py_ssize_t n)
{
    Py_ssize_t k = i;
    while (k < n && k - i < 4 && is_digit(s[k]))
        k++;
    Py_ssize_t len = k - i;
    if (len == 0 || len > 3)
        return -1;
    if (len > 1 && s[i] == '0')
        return -1;
    if (len == 3) {
        int v = (s[i] - '0') * 100 + (s[i + 1] - '0') * 10 + (s[i + 2] - '0');
        if (v > 255)
            return -1;
    }
    return k;
}

static Py_ssize_t ipv4(const unsigned char *s, Py_ssize_t i, Py_ssize_t n)
{
    for (int part = 0; part < 4; part++) {
        if (part) {
            if (i >= n || s[i] != '.')
                return -1;
            i++;
        }
        i = octet(s, i, n);
        if (i < 0)
            return -1;
    }
    return i;
}

static const char *MONTHS = "JanFebMarAprMayJunJulAugSepOctNovDec";
static const int DAYS[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

/* clf.CLF_DATE: 26 bytes, a day the month has (29 February is left to the parser, which knows leap years), a
 * year other than 0 */
static int clf_date(const unsigned char *t)
{
    if (!(is_digit(t[0]) && is_digit(t[1]) && t[2] == '/' && t[6] == '/' && is_digit(t[7]) && is_digit(t[8])
          && is_digit(t[9]) && is_digit(t[10]) && t[11] == ':' && is_digit(t[12]) && is_digit(t[13])
          && t[14] == ':' && is_digit(t[15]) && is_digit(t[16]) && t[17] == ':' && is_digit(t[18])
          && is_digit(t[19]) && t[20] == ' ' && (t[21] == '+' || t[21] == '-') && is_digit(t[22])
          && is_digit(t[23]) && is_digit(t[24]) && is_digit(t[25])))
        return 0;
    int month = -1;
    for (int m = 0; m < 12; m++)
        if (memcmp(t + 3, MONTHS + 3 * m, 3) == 0) {
            month = m;
            break;
        }
    if (month < 0 || memcmp(t + 7, "0000", 4) == 0) /* year 0: `calendar.timegm` refuses it, the parser too */
        return 0;
    int day = (t[0] - '0') * 10 + (t[1] - '0');
    int max_day = DAYS[month];
    if (day < 1 || day > max_day || (month == 1 && day > 28))
        return 0;
    int hour = (t[12] - '0') * 10 + (t[13] - '0');
    if (hour > 23 || t[15] > '5' || t[18] > '5')
        return 0;
    int zone_hour = (t[22] - '0') * 10 + (t[23] - '0');
    if (zone_hour > 23 || t[24] > '5')
        return 0;
    return 1;
}

/* a quoted header as clf._PLAIN_HEADER: "[^"\\\n]*" starting at s[i] == '"'; the index after it, or -1 */
static Py_ssize_t plain_header(const unsigned char *s, Py_ssize_t i, Py_ssize_t n)
{
    if (i >= n || s[i] != '"')
        return -1;
    i++;
    const unsigned char *q = memchr(s + i, '"', (size_t)(n - i));
    if (q == NULL)
        return -1;
    Py_ssize_t close = q - s;
    if (memchr(s + i, '\\', (size_t)(close - i)) != NULL)
        return -1;
    return close + 1; /* no '\n' inside: the line holds none */
}

/* Is s[0:n] (no newline, no trailing "\r") a valid line? Fills `f` when it is. */
static int valid_line(const unsigned char *s, Py_ssize_t n, int combined, Fields *f)
{
    Py_ssize_t i = ipv4(s, 0, n);
    if (i < 0 || i >= n || s[i] != ' ')
        return 0;
    f->ip_e = i;
    for (int field = 0; field < 2; field++) { /* identity and user: _TOKEN each */
        Py_ssize_t start = ++i;
        while (i < n && is_token(s[i]))
            i++;
        if (i == start || i >= n || s[i] != ' ')
            return 0;
    }
    i++;
    if (n - i < 28 || s[i] != '[' || s[i + 27] != ']' || !clf_date(s + i + 1))
        return 0;
    f->ts_s = i + 1;
    i += 28;
    if (n - i < 3 || s[i] != ' ' || s[i + 1] != '"')
        return 0;
    i += 2;
    Py_ssize_t method = i;
    while (i < n && s[i] >= 'A' && s[i] <= 'Z')
        i++;
    if (i == method || i - method > 20 || i >= n || s[i] != ' ')
        return 0;
    f->tgt_s = ++i;
    while (i < n && s[i] != ' ' && s[i] != '"') /* [^ "\n]*: the line holds no '\n' */
        i++;
    f->tgt_e = i;
    if (n - i < 6 || memcmp(s + i, " HTTP/", 6) != 0)
        return 0;
    i += 6;
    Py_ssize_t version = i;
    while (i < n && (is_digit(s[i]) || s[i] == '.') && i - version < 4)
        i++;
    if (i == version || i - version > 3 || i >= n || s[i] != '"')
        return 0;
    i++;
    if (n - i < 5 || s[i] != ' ' || !is_digit(s[i + 1]) || !is_digit(s[i + 2]) || !is_digit(s[i + 3])
        || s[i + 4] != ' ')
        return 0;
    f->status0 = (char)s[i + 1];
    i += 5;
    if (i < n && s[i] == '-')
        i++;
    else {
        Py_ssize_t size = i;
        while (i < n && is_digit(s[i]))
            i++;
        if (i == size)
            return 0;
    }
    if (!combined) {
        f->ref_s = f->ag_s = f->ag_e = -1;
        return i == n;
    }
    /* " "referer" "agent"" then any further " "header"" */
    if (i >= n || s[i] != ' ')
        return 0;
    f->ref_s = i + 2;
    i = plain_header(s, i + 1, n);
    if (i < 0 || i >= n || s[i] != ' ')
        return 0;
    f->ag_s = i + 2;
    i = plain_header(s, i + 1, n);
    if (i < 0)
        return 0;
    f->ag_e = i - 1;
    while (i < n) {
        if (s[i] != ' ')
            return 0;
        i = plain_header(s, i + 1, n);
        if (i < 0)
            return 0;
    }
    return 1;
}

/* the cached value of block[s:e] in `cache`: a new reference, or NULL with no error set when it is missing */
static PyObject *cached(PyObject *cache, const char *block, Py_ssize_t s, Py_ssize_t e)
{
    PyObject *key = PyBytes_FromStringAndSize(block + s, e - s);
    if (key == NULL)
        return NULL;
    PyObject *value = PyDict_GetItemWithError(cache, key);
    Py_DECREF(key);
    Py_XINCREF(value);
    return value;
}

/* Answers already read from the filter's dicts, kept across calls by the exact bytes they were given for (a
 * copy, compared in full): a busy site repeats its pages and user agents, and a dict lookup needs a new
 * bytes object per line. A memo belongs to one dict object, held by a reference so that no other dict can
 * take its address; the dict's value for a key is a function of the key (`WebLineFilter` computes it from
 * the key alone and only ever drops it whole), so an answer remembered is the answer the filter gives. */
typedef struct {
    PyObject *dict;
    char *slots; /* `size` slots of `stride` bytes: a Py_ssize_t length (-1: empty), a long value, the key */
    Py_ssize_t size, key_max;
} MemoTable;

#define SLOT_HEAD ((Py_ssize_t)(sizeof(Py_ssize_t) + sizeof(long)))
/* request targets: many distinct and short; user agents: few and long (sizes keep both tables in cache) */
static MemoTable target_memo = {NULL, NULL, 8192, 48}, agent_memo = {NULL, NULL, 64, 240};

static int memo_for(MemoTable *table, PyObject *dict)
{
    if (table->dict == dict)
        return 0;
    Py_ssize_t stride = SLOT_HEAD + table->key_max;
    if (table->slots == NULL) {
        table->slots = PyMem_Malloc((size_t)(stride * table->size));
        if (table->slots == NULL) {
            PyErr_NoMemory();
            return -1;
        }
    }
    for (Py_ssize_t k = 0; k < table->size; k++) {
        Py_ssize_t empty = -1;
        memcpy(table->slots + k * stride, &empty, sizeof empty);
    }
    Py_INCREF(dict);
    Py_XSETREF(table->dict, dict);
    return 0;
}

static uint64_t memo_mix(uint64_t v)
{
    v *= 0xFF51AFD7ED558CCDull;
    return v ^ (v >> 32);
}

static size_t memo_hash(const char *s, Py_ssize_t n)
{
    /* every word of a key up to 48 bytes (a request target), the ends and the middle of a longer one (a user
       agent: FNV-1a over its hundred bytes would cost more than the dict lookup it saves); each word mixed
       so that its high bytes reach the low bits the slot is chosen by - a page differs from the next in its
       last bytes (`/post-12`, `/post-13`), and an unmixed product keeps those out of the low bits */
    uint64_t h = (uint64_t)n * 0x9E3779B97F4A7C15ull, w;
    if (n >= 8) {
        if (n <= 48) {
            Py_ssize_t i = 0;
            for (; i + 8 <= n; i += 8) {
                memcpy(&w, s + i, 8);
                h = (h ^ memo_mix(w)) * 0xC4CEB9FE1A85EC53ull;
            }
            if (i < n) { /* the tail, as the last eight bytes */
                memcpy(&w, s + n - 8, 8);
                h = (h ^ memo_mix(w)) * 0xC4CEB9FE1A85EC53ull;
            }
        } else {
            const Py_ssize_t at[5] = {0, 8, (n - 8) / 2, n - 16, n - 8};
            for (int k = 0; k < 5; k++) {
                memcpy(&w, s + at[k], 8);
                h = (h ^ memo_mix(w)) * 0xC4CEB9FE1A85EC53ull;
            }
        }
    } else
        for (Py_ssize_t i = 0; i < n; i++)
            h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return (size_t)(h ^ (h >> 29));
}

/* the filter's value for block[s:e]: 1 found (in *value), 0 not cached, -1 error. Two ways per set: a key
 * found in the second way moves to the first, a new key takes the first and pushes the first to the second -
 * so two pages that share a set both stay (one way each lost about a quarter of the lookups of a busy site's
 * three thousand pages to such pairs) */
static int answer(PyObject *cache, MemoTable *memo, const char *block, Py_ssize_t s, Py_ssize_t e, int truth,
                  long *value)
{
    Py_ssize_t n = e - s;
    size_t stride = (size_t)(SLOT_HEAD + memo->key_max);
    char *slot = NULL;
    if (n <= memo->key_max) {
        slot = memo->slots + ((memo_hash(block + s, n) % (size_t)memo->size) & ~(size_t)1) * stride;
        Py_ssize_t len;
        memcpy(&len, slot, sizeof len);
        if (len == n && memcmp(slot + SLOT_HEAD, block + s, (size_t)n) == 0) {
            memcpy(value, slot + sizeof(Py_ssize_t), sizeof(long));
            return 1;
        }
        char *second = slot + stride;
        memcpy(&len, second, sizeof len);
        if (len == n && memcmp(second + SLOT_HEAD, block + s, (size_t)n) == 0) {
            memcpy(value, second + sizeof(Py_ssize_t), sizeof(long));
            memcpy(second, slot, stride); /* swap: the key just used goes first */
            memcpy(slot, &n, sizeof n);
            memcpy(slot + sizeof(Py_ssize_t), value, sizeof(long));
            memcpy(slot + SLOT_HEAD, block + s, (size_t)n);
            return 1;
        }
    }
    PyObject *hit = cached(cache, block, s, e);
    if (hit == NULL)
        return PyErr_Occurred() ? -1 : 0;
    long v;
    if (truth) {
        int t = PyObject_IsTrue(hit);
        Py_DECREF(hit);
        if (t < 0)
            return -1;
        v = t;
    } else {
        v = PyLong_AsLong(hit);
        Py_DECREF(hit);
        if (v == -1 && PyErr_Occurred())
            return -1;
    }
    if (slot != NULL) {
        memcpy(slot + stride, slot, stride);
        memcpy(slot, &n, sizeof n);
        memcpy(slot + sizeof(Py_ssize_t), &v, sizeof v);
        memcpy(slot + SLOT_HEAD, block + s, (size_t)n);
    }
    *value = v;
    return 1;
}

/* -- Sigma's needles ---------------------------------------------------------------------------------------
 * needles = (anywhere, in_target): two tuples of bytes, each at least 2 bytes, already lower-cased (ASCII) -
 * the raw-line texts of a Sigma rule group (`sigma.prefilter.SigmaWebInterest.scan_needles`). A line holds
 * one when an `anywhere` needle occurs in it, or an `in_target` needle inside its request target, comparing
 * ASCII letters case-insensitively and every other byte exactly (the rules' case-folding specials are
 * needles of their own, so no non-ASCII folding is needed here).
 *
 * Each needle is found through one of its bigrams, the one least likely in ordinary web traffic: a bitmap
 * of 65,536 bits says whether a (lower-cased) byte pair anchors some needle, a chain per pair lists them. */
typedef struct {
    unsigned char *text;
    Py_ssize_t len, anchor;
    int next; /* next needle of the same anchor pair, or -1 */
} Needle;

typedef struct {
    uint64_t bits[1024];
    int *head; /* 65,536 chains */
    Needle *needles;
    int n;
} NeedleTable;

/* answers remembered by the exact bytes of a field (a user agent, a referer, a request target), like
 * `MemoTable`: a busy site repeats them, and a field's answer is a function of its bytes and the needles */
typedef struct {
    char *slots; /* `size` slots: a Py_ssize_t length (-1: empty), the answer (one byte), the key */
    Py_ssize_t size, key_max;
} FieldMemo;

#define FIELD_HEAD ((Py_ssize_t)sizeof(Py_ssize_t) + 1)

typedef struct {
    PyObject *key; /* the needles object these tables were built from, held */
    NeedleTable anywhere, target;
    /* no needle holds a space or a quote, so none crosses a field of a valid line: fields are tested
       one by one, the repeated ones through their memo */
    int by_field;
    /* some needle may stand inside the address / the date or zone / the protocol, status or size of a valid
       line (those fields are not tested when none can) */
    int in_address, in_date, in_middle;
    FieldMemo targets, agents, referers;
} NeedleSet;

static NeedleSet needle_set = {NULL, .targets = {NULL, 4096, 48}, .agents = {NULL, 256, 240},
                               .referers = {NULL, 1024, 112}};

static int field_memo_reset(FieldMemo *m)
{
    Py_ssize_t stride = FIELD_HEAD + m->key_max;
    if (m->slots == NULL) {
        m->slots = PyMem_Malloc((size_t)(stride * m->size));
        if (m->slots == NULL) {
            PyErr_NoMemory();
            return -1;
        }
    }
    for (Py_ssize_t k = 0; k < m->size; k++) {
        Py_ssize_t empty = -1;
        memcpy(m->slots + k * stride, &empty, sizeof empty);
    }
    return 0;
}
static unsigned char LOWER[256];

static void init_lower(void)
{
    for (int c = 0; c < 256; c++)
        LOWER[c] = (unsigned char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
}

/* how common a byte is in ordinary request lines, user agents and referers (lower is rarer) */
static int commonness(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || c == ' ' || c == '/')
        return 10;
    if (c >= '0' && c <= '9')
        return 8;
    if (c == '.' || c == '-' || c == '"')
        return 7;
    if (c == ':' || c == ';' || c == '(' || c == ')' || c == ',' || c == '=' || c == '_')
        return 4;
    if (c == '&' || c == '?' || c == '+')
        return 3;
    if (c == '%')
        return 2;
    return 1;
}

static void table_free(NeedleTable *t)
{
    for (int k = 0; k < t->n; k++)
        PyMem_Free(t->needles[k].text);
    PyMem_Free(t->needles);
    PyMem_Free(t->head);
    memset(t, 0, sizeof *t);
}

static int table_build(NeedleTable *t, PyObject *items, const uint32_t *freq)
{
    memset(t, 0, sizeof *t);
    if (!PyTuple_Check(items)) {
        PyErr_SetString(PyExc_TypeError, "needles are two tuples of bytes");
        return -1;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(items);
    t->head = PyMem_Malloc(65536 * sizeof(int));
    t->needles = PyMem_Calloc((size_t)(n ? n : 1), sizeof(Needle));
    if (t->head == NULL || t->needles == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (int k = 0; k < 65536; k++)
        t->head[k] = -1;
    for (Py_ssize_t k = 0; k < n; k++) {
        PyObject *item = PyTuple_GET_ITEM(items, k);
        if (!PyBytes_Check(item) || PyBytes_GET_SIZE(item) < 2) {
            PyErr_SetString(PyExc_ValueError, "every needle is bytes of at least 2 bytes");
            return -1;
        }
        Py_ssize_t len = PyBytes_GET_SIZE(item);
        const unsigned char *src = (const unsigned char *)PyBytes_AS_STRING(item);
        Needle *nd = &t->needles[t->n];
        nd->text = PyMem_Malloc((size_t)len);
        if (nd->text == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        for (Py_ssize_t i = 0; i < len; i++)
            nd->text[i] = LOWER[src[i]];
        nd->len = len;
        t->n++;
        Py_ssize_t best = 0;
        int best_score = 1 << 30;
        for (Py_ssize_t i = 0; i + 1 < len; i++) {
            unsigned pair = ((unsigned)nd->text[i] << 8) | nd->text[i + 1];
            /* the pair's count in a sample of the stream (scaled), then how common its bytes are in general */
            int score = (int)(freq[pair] < 100000 ? freq[pair] : 100000) * 128
                        + commonness(nd->text[i]) * commonness(nd->text[i + 1]);
            if (score < best_score) {
                best_score = score;
                best = i;
            }
        }
        nd->anchor = best;
        unsigned pair = ((unsigned)nd->text[best] << 8) | nd->text[best + 1];
        nd->next = t->head[pair];
        t->head[pair] = (int)(t->n - 1);
        t->bits[pair >> 6] |= (uint64_t)1 << (pair & 63);
    }
    return 0;
}

/* does `nd` fit in `template` somewhere, '#' standing for any digit? */
static int fits_template(const Needle *nd, const char *template)
{
    Py_ssize_t tl = (Py_ssize_t)strlen(template);
    for (Py_ssize_t at = 0; at + nd->len <= tl; at++) {
        Py_ssize_t j = 0;
        for (; j < nd->len; j++) {
            char t = template[at + j];
            unsigned char c = nd->text[j];
            if (t == '#' ? !is_digit(c) : (unsigned char)t != c)
                break;
        }
        if (j == nd->len)
            return 1;
    }
    return 0;
}

/* may `nd` (lower-cased) stand inside a field of a valid line that holds only the bytes `class`? */
static int fits_class(const Needle *nd, const char *class)
{
    for (Py_ssize_t j = 0; j < nd->len; j++)
        if (!(is_digit(nd->text[j]) || strchr(class, nd->text[j]) != NULL) || nd->text[j] == 0)
            return 0;
    return 1;
}

/* where the needles of the `anywhere` table may stand in a valid line's fixed-form fields (`NeedleSet`) */
static void fixed_fields(NeedleSet *set)
{
    static const char *const dates[] = {"[##/jan/####:##:##:##", "[##/feb/####:##:##:##", "[##/mar/####:##:##:##",
                                        "[##/apr/####:##:##:##", "[##/may/####:##:##:##", "[##/jun/####:##:##:##",
                                        "[##/jul/####:##:##:##", "[##/aug/####:##:##:##", "[##/sep/####:##:##:##",
                                        "[##/oct/####:##:##:##", "[##/nov/####:##:##:##", "[##/dec/####:##:##:##",
                                        "+####]", "-####]"};
    set->in_address = set->in_date = set->in_middle = 0;
    const NeedleTable *t = &set->anywhere;
    for (int k = 0; k < t->n; k++) {
        const Needle *nd = &t->needles[k];
        set->in_address |= fits_class(nd, ".");
        set->in_middle |= fits_class(nd, "htp/.-");
        for (size_t d = 0; d < sizeof dates / sizeof *dates; d++)
            set->in_date |= fits_template(nd, dates[d]);
    }
}

/* the tables for `needles` (rebuilt when another object is given), each needle anchored on its pair rarest
 * in `sample` (the first bytes of the stream: which pair anchors a needle changes the speed, never the answer);
 * NULL with an error set on failure */
static NeedleSet *needles_for(PyObject *needles, const unsigned char *sample, Py_ssize_t sample_len)
{
    if (needle_set.key == needles)
        return &needle_set;
    if (!PyTuple_Check(needles) || PyTuple_GET_SIZE(needles) != 2) {
        PyErr_SetString(PyExc_TypeError, "needles are (anywhere, in_target): two tuples of bytes");
        return NULL;
    }
    table_free(&needle_set.anywhere);
    table_free(&needle_set.target);
    Py_CLEAR(needle_set.key);
    if (LOWER['A'] != 'a')
        init_lower();
    uint32_t *freq = PyMem_Calloc(65536, sizeof(uint32_t));
    if (freq == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    for (Py_ssize_t i = 0; i + 1 < sample_len && i < (1 << 18); i++)
        freq[((unsigned)LOWER[sample[i]] << 8) | LOWER[sample[i + 1]]]++;
    int built = table_build(&needle_set.anywhere, PyTuple_GET_ITEM(needles, 0), freq) == 0
                && table_build(&needle_set.target, PyTuple_GET_ITEM(needles, 1), freq) == 0;
    PyMem_Free(freq);
    if (!built) {
        table_free(&needle_set.anywhere);
        table_free(&needle_set.target);
        return NULL;
    }
    needle_set.by_field = 1;
    for (int w = 0; w < 2; w++) {
        const NeedleTable *t = w ? &needle_set.target : &needle_set.anywhere;
        for (int k = 0; k < t->n; k++)
            if (memchr(t->needles[k].text, ' ', (size_t)t->needles[k].len)
                || memchr(t->needles[k].text, '"', (size_t)t->needles[k].len))
                needle_set.by_field = 0;
    }
    fixed_fields(&needle_set);
    if (field_memo_reset(&needle_set.targets) < 0 || field_memo_reset(&needle_set.agents) < 0
        || field_memo_reset(&needle_set.referers) < 0) {
        table_free(&needle_set.anywhere);
        table_free(&needle_set.target);
        return NULL;
    }
    Py_INCREF(needles);
    needle_set.key = needles;
    return &needle_set;
}

/* does some needle of `t` occur in s[0:n]? */
static int table_hit(const NeedleTable *t, const unsigned char *s, Py_ssize_t n)
{
    if (t->n == 0 || n < 2)
        return 0;
    unsigned prev = LOWER[s[0]];
    for (Py_ssize_t i = 0; i + 1 < n; i++) {
        unsigned cur = LOWER[s[i + 1]];
        unsigned pair = (prev << 8) | cur;
        prev = cur;
        if (!(t->bits[pair >> 6] & ((uint64_t)1 << (pair & 63))))
            continue;
        for (int k = t->head[pair]; k >= 0; k = t->needles[k].next) {
            const Needle *nd = &t->needles[k];
            Py_ssize_t at = i - nd->anchor;
            if (at < 0 || at + nd->len > n)
                continue;
            Py_ssize_t j = 0;
            while (j < nd->len && LOWER[s[at + j]] == nd->text[j])
                j++;
            if (j == nd->len)
                return 1;
        }
    }
    return 0;
}


/* does field s[0:n] hold a needle (an `anywhere` one, or with `in_target` a target one too)? Through `m` */
static int field_hit(const NeedleSet *set, FieldMemo *m, const unsigned char *s, Py_ssize_t n, int in_target)
{
    char *slot = NULL;
    if (n <= m->key_max) {
        slot = m->slots + (memo_hash((const char *)s, n) % (size_t)m->size) * (size_t)(FIELD_HEAD + m->key_max);
        Py_ssize_t len;
        memcpy(&len, slot, sizeof len);
        if (len == n && memcmp(slot + FIELD_HEAD, s, (size_t)n) == 0)
            return slot[sizeof(Py_ssize_t)];
    }
    int hit = table_hit(&set->anywhere, s, n) || (in_target && table_hit(&set->target, s, n));
    if (slot != NULL) {
        memcpy(slot, &n, sizeof n);
        slot[sizeof(Py_ssize_t)] = (char)hit;
        memcpy(slot + FIELD_HEAD, s, (size_t)n);
    }
    return hit;
}

/* the valid line s[0:n] (fields in `f`) holds a needle: an `anywhere` needle in it, or an `in_target` one
 * in its request target */
static int needle_hit(NeedleSet *set, const unsigned char *s, Py_ssize_t n, const Fields *f)
{
    if (!set->by_field)
        return table_hit(&set->anywhere, s, n) || table_hit(&set->target, s + f->tgt_s, f->tgt_e - f->tgt_s);
    /* a needle lies inside one field: the address, identity and user, the date and zone, the method, the
       target, the protocol, status and size, the referer, the agent, and the rest; the fixed-form ones only
       when some needle can stand in them */
    const NeedleTable *any = &set->anywhere;
    Py_ssize_t date = f->ts_s - 1, method = f->ts_s + 27; /* `[date zone]` (its `]` at ts_s + 26), then ` "METHOD ` */
    if ((set->in_address && table_hit(any, s, f->ip_e)) || table_hit(any, s + f->ip_e, date - f->ip_e)
        || (set->in_date && table_hit(any, s + date, method - date))
        || table_hit(any, s + method, f->tgt_s - method)
        || field_hit(set, &set->targets, s + f->tgt_s, f->tgt_e - f->tgt_s, 1))
        return 1;
    Py_ssize_t middle_e = f->ag_s < 0 ? n : f->ref_s; /* ` HTTP/1.1" 200 512` and ` "` */
    if (set->in_middle && table_hit(any, s + f->tgt_e, middle_e - f->tgt_e))
        return 1;
    if (f->ag_s < 0)
        return 0;
    Py_ssize_t ref_e = f->ag_s - 3; /* `ref" "agent` */
    return field_hit(set, &set->referers, s + f->ref_s, ref_e - f->ref_s, 0)
           || field_hit(set, &set->agents, s + f->ag_s, f->ag_e - f->ag_s, 0)
           || table_hit(&set->anywhere, s + f->ag_e, n - f->ag_e);
}

/* holds a needle, for a line the grammar did not check: the whole line and the given target */
static int needle_hit_line(const NeedleSet *set, const unsigned char *s, Py_ssize_t n, Py_ssize_t tgt_s,
                           Py_ssize_t tgt_e)
{
    return table_hit(&set->anywhere, s, n) || table_hit(&set->target, s + tgt_s, tgt_e - tgt_s);
}

static PyObject *stop(int kind, Py_ssize_t start, Py_ssize_t line_end, Py_ssize_t passed, const Fields *f)
{
    if (f == NULL)
        return Py_BuildValue("(innnnnnnnnn)", kind, start, line_end, passed, start, start, -1, -1, -1, -1, -1);
    return Py_BuildValue("(innnnnnnnnn)", kind, start, line_end, passed, start, start + f->ip_e,
                         start + f->ts_s, start + f->tgt_s, start + f->tgt_e,
                         f->ag_s < 0 ? -1 : start + f->ag_s, f->ag_e < 0 ? -1 : start + f->ag_e);
}

/* the epoch seconds (UTC) of a date `clf_date` accepted, as `_web.clf_time` computes them: whole seconds */
static double clf_epoch(const unsigned char *t)
{
    int month = 0;
    while (month < 12 && memcmp(t + 3, MONTHS + 3 * month, 3) != 0)
        month++;
    long long day = (t[0] - '0') * 10 + (t[1] - '0');
    long long year = (t[7] - '0') * 1000 + (t[8] - '0') * 100 + (t[9] - '0') * 10 + (t[10] - '0');
    long long m = month + 1;
    /* days since 1970-01-01 of a proleptic Gregorian date (civil-from-days inverted, years from March) */
    long long y = m <= 2 ? year - 1 : year;
    long long era = (y >= 0 ? y : y - 399) / 400;
    long long yoe = y - era * 400;
    long long doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + day - 1;
    long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    long long days = era * 146097 + doe - 719468;
    long long hour = (t[12] - '0') * 10 + (t[13] - '0'), minute = (t[15] - '0') * 10 + (t[16] - '0');
    long long second = (t[18] - '0') * 10 + (t[19] - '0');
    long long offset = ((t[22] - '0') * 10 + (t[23] - '0')) * 3600 + ((t[24] - '0') * 10 + (t[25] - '0')) * 60;
    if (t[21] == '-')
        offset = -offset;
    return (double)(days * 86400 + hour * 3600 + minute * 60 + second - offset);
}

/* a kind-2 stop (a summary entry): the offsets, then the line's time (`clf_epoch`) and its address as text
 * (a plain IPv4 address the grammar accepted is its own canonical spelling: `_web.client_ip` returns it) */
static PyObject *entry_stop(Py_ssize_t start, Py_ssize_t line_end, Py_ssize_t passed, const Fields *f,
                            const char *block)
{
    return Py_BuildValue("(innnnnnnnnndN)", 2, start, line_end, passed, start, start + f->ip_e, start + f->ts_s,
                         start + f->tgt_s, start + f->tgt_e, f->ag_s < 0 ? -1 : start + f->ag_s,
                         f->ag_e < 0 ? -1 : start + f->ag_e,
                         clf_epoch((const unsigned char *)block + start + f->ts_s),
                         PyUnicode_DecodeASCII(block + start, f->ip_e, NULL));
}

static PyObject *clf_next(PyObject *self, PyObject *args)
{
    Py_buffer buf;
    Py_ssize_t pos, end, limit;
    int combined, flags;
    long path_mask;
    PyObject *targets, *agents, *watch = NULL, *counts = NULL, *needles = Py_None;
    if (!PyArg_ParseTuple(args, "y*nnpO!O!lin|O!O!O", &buf, &pos, &end, &combined, &PyDict_Type, &targets,
                          &PyDict_Type, &agents, &path_mask, &flags, &limit, &PyList_Type, &watch,
                          &PyList_Type, &counts, &needles))
        return NULL;
    PyObject *result = NULL;
    /* the addresses whose passed lines are counted (`Summaries`: recently active ones), at most MAX_WATCH */
    const char *watched[MAX_WATCH];
    Py_ssize_t watched_len[MAX_WATCH], seen[MAX_WATCH];
    Py_ssize_t n_watch = 0;
    if (pos < 0 || end > buf.len || pos > end) {
        PyErr_SetString(PyExc_ValueError, "pos and end must lie within the block");
        goto done;
    }
    if (watch != NULL) {
        n_watch = PyList_GET_SIZE(watch);
        if (counts == NULL || PyList_GET_SIZE(counts) != n_watch || n_watch > MAX_WATCH) {
            PyErr_SetString(PyExc_ValueError, "watch and counts must be lists of the same length, at most 8");
            goto done;
        }
        for (Py_ssize_t k = 0; k < n_watch; k++) {
            PyObject *item = PyList_GET_ITEM(watch, k);
            if (!PyBytes_Check(item)) {
                PyErr_SetString(PyExc_TypeError, "watch holds bytes");
                goto done;
            }
            watched[k] = PyBytes_AS_STRING(item);
            watched_len[k] = PyBytes_GET_SIZE(item);
            seen[k] = 0;
        }
    }
    const char *block = (const char *)buf.buf;
    Py_ssize_t passed = 0;
    if (memo_for(&target_memo, targets) < 0 || memo_for(&agent_memo, agents) < 0)
        goto done;
    NeedleSet *set = NULL;
    if (needles != Py_None
        && (set = needles_for(needles, (const unsigned char *)buf.buf + pos, end - pos)) == NULL)
        goto done;
    while (pos < end) {
        const char *nl = memchr(block + pos, '\n', (size_t)(end - pos));
        Py_ssize_t line_end = nl ? nl - block : end;
        Py_ssize_t n = line_end - pos;
        if (n > 0 && block[line_end - 1] == '\r')
            n--;
        Fields f;
        if (n > limit || !valid_line((const unsigned char *)block + pos, n, combined, &f)) {
            result = stop(1, pos, line_end, passed, NULL);
            goto done;
        }
        /* the filter's own answer (`WebLineFilter.wants`), from its caches */
        long value;
        int found = answer(targets, &target_memo, block, pos + f.tgt_s, pos + f.tgt_e, 0, &value);
        if (found < 0)
            goto done;
        if (!found || (value & path_mask)) {
            result = stop(1, pos, line_end, passed, &f);
            goto done;
        }
        if (flags & WANT_TOOL_AGENTS) {
            found = combined ? answer(agents, &agent_memo, block, pos + f.ag_s, pos + f.ag_e, 1, &value)
                             : answer(agents, &agent_memo, block, pos, pos, 1, &value);
            if (found < 0)
                goto done;
            if (!found || value) {
                result = stop(1, pos, line_end, passed, &f);
                goto done;
            }
        }
        /* a line holding one of Sigma's needles is an event (`SigmaWebInterest.wants_line`) */
        if (set != NULL && needle_hit(set, (const unsigned char *)block + pos, n, &f)) {
            result = stop(1, pos, line_end, passed, &f);
            goto done;
        }
        if ((flags & WANT_CLIENT_ERRORS) && f.status0 == '4') {
            result = (flags & WANT_SUMMARIES) ? entry_stop(pos, line_end, passed, &f, block)
                                              : stop(1, pos, line_end, passed, &f);
            goto done;
        }
        passed++;
        for (Py_ssize_t k = 0; k < n_watch; k++)
            if (watched_len[k] == f.ip_e && memcmp(watched[k], block + pos, (size_t)f.ip_e) == 0) {
                seen[k]++;
                break;
            }
        pos = line_end + 1;
    }
    result = stop(0, end, end, passed, NULL);
done:
    for (Py_ssize_t k = 0; k < n_watch && result != NULL; k++) {
        if (!seen[k])
            continue;
        Py_ssize_t before = PyLong_AsSsize_t(PyList_GET_ITEM(counts, k));
        PyObject *now = before < 0 ? NULL : PyLong_FromSsize_t(before + seen[k]);
        if (now == NULL) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_ValueError, "counts holds non-negative integers");
            Py_CLEAR(result);
            break;
        }
        PyList_SetItem(counts, k, now);
    }
    PyBuffer_Release(&buf);
    return result;
}

/* -- W3C extended (IIS / App Service) ---------------------------------------------------------------------
 * w3c_next(block, pos, end, cols, targets, agents, path_mask, flags, limit, watch, counts) is `clf_next` for the
 * data lines of a W3C file under one #Fields header. cols = (count, date, time, c-ip, sc-status, cs-uri-stem,
 * cs-uri-query, cs(User-Agent), s-sitename, cs-host, scm): the header's field count and the columns (a column
 * >= count is missing: the value "-"); scm != 0 when Kudu/SCM sites need every line. count 0 (no usable
 * header yet) stops at every line.
 *
 * A line is passed over when it is valid by `w3c_http.w3c_valid_line` (exactly `count` values separated by
 * single spaces, none holding "\r", the first not empty and not a directive, a real date and time - no
 * fraction of a second here -, a plain IPv4 c-ip, a 3-digit or "-" status) and the filter's cached answers
 * for its target (the stem, "?" and the query unless it is "-") and its agent say no card needs it, it is
 * no 4xx some card wants, and its site (s-sitename, else cs-host) is not a Kudu/SCM one. A line whose stem,
 * query, agent or site holds a non-ASCII byte goes to the parser.
 *
 * It returns (kind, start, line_end, passed) for kinds 0 and 1, and for kind 2 (a summary entry) also
 * (ip_start, ip_end, stem_start, stem_end, agent_start, agent_end, sitename_start, sitename_end, host_start,
 * host_end, time, address): -1 offsets for a missing column, the time as `_web.iso_day_time` gives it, the
 * address as text.
 *
 * watch/counts: for every line passed over, counts[k] grows by the number of times b" " + watch[k] + b" "
 * occurs in it (`bytes.count`, non-overlapping): what `Summaries` counts over its spans for W3C lines. */
#define W3C_MAX_FIELDS 128
#define W3C_KEY_MAX 4096

static int w3c_date(const unsigned char *s, Py_ssize_t n)
{
    /* w3c_http.W3C_DATE: yyyy-mm-dd, a day the month has, 29 February left to the parser */
    if (n != 10 || s[4] != '-' || s[7] != '-' || memcmp(s, "0000", 4) == 0) /* year 0: the parser refuses it */
        return 0;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && !is_digit(s[i]))
            return 0;
    int month = (s[5] - '0') * 10 + (s[6] - '0'), day = (s[8] - '0') * 10 + (s[9] - '0');
    if (month < 1 || month > 12 || day < 1 || day > DAYS[month - 1] || (month == 2 && day > 28))
        return 0;
    return 1;
}

static int w3c_time(const unsigned char *s, Py_ssize_t n, int *fraction)
{
    /* w3c_http.W3C_TIME: hh:mm:ss, hours to 23, then optionally "." and 1 to 9 digits */
    if (n < 8 || s[2] != ':' || s[5] != ':' || !is_digit(s[0]) || !is_digit(s[1]) || !is_digit(s[3])
        || !is_digit(s[4]) || !is_digit(s[6]) || !is_digit(s[7]))
        return 0;
    if ((s[0] - '0') * 10 + (s[1] - '0') > 23 || s[3] > '5' || s[6] > '5')
        return 0;
    *fraction = n > 8;
    if (n == 8)
        return 1;
    if (s[8] != '.' || n < 10 || n > 18)
        return 0;
    for (Py_ssize_t i = 9; i < n; i++)
        if (!is_digit(s[i]))
            return 0;
    return 1;
}

static double w3c_epoch(const unsigned char *d, const unsigned char *t)
{
    long long year = (d[0] - '0') * 1000 + (d[1] - '0') * 100 + (d[2] - '0') * 10 + (d[3] - '0');
    long long m = (d[5] - '0') * 10 + (d[6] - '0'), day = (d[8] - '0') * 10 + (d[9] - '0');
    long long y = m <= 2 ? year - 1 : year;
    long long era = (y >= 0 ? y : y - 399) / 400;
    long long yoe = y - era * 400;
    long long doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + day - 1;
    long long days = era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
    long long secs = ((t[0] - '0') * 10 + (t[1] - '0')) * 3600 + ((t[3] - '0') * 10 + (t[4] - '0')) * 60
                     + (t[6] - '0') * 10 + (t[7] - '0');
    return (double)(days * 86400 + secs);
}

static int ascii_only(const unsigned char *s, Py_ssize_t n)
{
    Py_ssize_t i = 0;
    for (; i + 8 <= n; i += 8) { /* eight bytes at a time: any high bit */
        uint64_t w;
        memcpy(&w, s + i, 8);
        if (w & 0x8080808080808080ull)
            return 0;
    }
    for (; i < n; i++)
        if (s[i] >= 0x80)
            return 0;
    return 1;
}

/* `WebLineFilter.site_always` for a site spelled s[0:n] (ASCII): starts with "~1" or holds ".scm.", any case */
static int scm_site(const unsigned char *s, Py_ssize_t n)
{
    if (n >= 2 && s[0] == '~' && s[1] == '1')
        return 1;
    for (Py_ssize_t i = 0; i + 5 <= n; i++)
        if (s[i] == '.' && (s[i + 1] | 0x20) == 's' && (s[i + 2] | 0x20) == 'c' && (s[i + 3] | 0x20) == 'm'
            && s[i + 4] == '.')
            return 1;
    return 0;
}

static PyObject *w3c_next(PyObject *self, PyObject *args)
{
    Py_buffer buf;
    Py_ssize_t pos, end, limit;
    int flags;
    long path_mask;
    PyObject *cols, *targets, *agents, *watch, *counts;
    if (!PyArg_ParseTuple(args, "y*nnO!O!O!linO!O!", &buf, &pos, &end, &PyTuple_Type, &cols, &PyDict_Type,
                          &targets, &PyDict_Type, &agents, &path_mask, &flags, &limit, &PyList_Type, &watch,
                          &PyList_Type, &counts))
        return NULL;
    PyObject *result = NULL;
    const char *watched[MAX_WATCH];
    Py_ssize_t watched_len[MAX_WATCH], seen[MAX_WATCH];
    Py_ssize_t n_watch = PyList_GET_SIZE(watch);
    Py_ssize_t col[11];
    char *key = NULL;
    if (pos < 0 || end > buf.len || pos > end) {
        PyErr_SetString(PyExc_ValueError, "pos and end must lie within the block");
        goto done;
    }
    if (PyTuple_GET_SIZE(cols) != 11) {
        PyErr_SetString(PyExc_ValueError, "cols holds 11 integers");
        goto done;
    }
    for (int k = 0; k < 11; k++) {
        col[k] = PyLong_AsSsize_t(PyTuple_GET_ITEM(cols, k));
        if (col[k] == -1 && PyErr_Occurred())
            goto done;
    }
    if (PyList_GET_SIZE(counts) != n_watch || n_watch > MAX_WATCH) {
        PyErr_SetString(PyExc_ValueError, "watch and counts must be lists of the same length, at most 8");
        goto done;
    }
    for (Py_ssize_t k = 0; k < n_watch; k++) {
        PyObject *item = PyList_GET_ITEM(watch, k);
        if (!PyBytes_Check(item)) {
            PyErr_SetString(PyExc_TypeError, "watch holds bytes");
            goto done;
        }
        watched[k] = PyBytes_AS_STRING(item);
        watched_len[k] = PyBytes_GET_SIZE(item);
        seen[k] = 0;
    }
    Py_ssize_t count = col[0];
    if (count < 0 || count > W3C_MAX_FIELDS)
        count = 0; /* every line to the parser */
    for (int k = 1; k <= 4; k++)
        if (col[k] < 0 || col[k] >= count)
            count = 0; /* date, time, c-ip and the stem must be there (a usable header) */
    if (col[5] < 0 || col[5] >= count)
        count = 0;
    key = PyMem_Malloc(W3C_KEY_MAX);
    if (key == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    if (memo_for(&target_memo, targets) < 0 || memo_for(&agent_memo, agents) < 0)
        goto done;
    const unsigned char *block = (const unsigned char *)buf.buf;
    Py_ssize_t passed = 0;
    Py_ssize_t fs[W3C_MAX_FIELDS + 1], fe[W3C_MAX_FIELDS + 1];
    static const unsigned char DASH[] = "-";
    while (pos < end) {
        const unsigned char *nl = memchr(block + pos, '\n', (size_t)(end - pos));
        Py_ssize_t line_end = nl ? nl - block : end;
        Py_ssize_t n = line_end - pos;
        if (n > 0 && block[line_end - 1] == '\r')
            n--;
        const unsigned char *s = block + pos;
        int stop = count == 0 || n > limit || n == 0 || s[0] == '#' || s[0] == ' ';
        Py_ssize_t nf = 0;
        /* split on single spaces: exactly `count` values, none holding "\r" */
        if (!stop && memchr(s, '\r', (size_t)n) != NULL)
            stop = 1;
        if (!stop) {
            Py_ssize_t start = 0;
            for (;;) {
                const unsigned char *sp = memchr(s + start, ' ', (size_t)(n - start));
                Py_ssize_t e = sp ? sp - s : n;
                if (nf >= count) {
                    stop = 1;
                    break;
                }
                fs[nf] = start;
                fe[nf] = e;
                nf++;
                if (sp == NULL)
                    break;
                start = e + 1;
            }
            stop = stop || nf != count;
        }
        int fraction = 0;
        if (!stop) {
            Py_ssize_t d = col[1], t = col[2], ip = col[3], st = col[4];
            stop = !w3c_date(s + fs[d], fe[d] - fs[d]) || !w3c_time(s + fs[t], fe[t] - fs[t], &fraction)
                   || ipv4(s + fs[ip], 0, fe[ip] - fs[ip]) != fe[ip] - fs[ip];
            if (!stop && st < count) {
                Py_ssize_t len = fe[st] - fs[st];
                const unsigned char *v = s + fs[st];
                stop = !((len == 1 && v[0] == '-') || (len == 3 && is_digit(v[0]) && is_digit(v[1]) && is_digit(v[2])));
            }
        }
        /* the values the filter is asked about (a missing column is "-") */
        const unsigned char *stem = NULL, *query = DASH, *agent = DASH, *site = DASH, *host = DASH;
        Py_ssize_t stem_n = 0, query_n = 1, agent_n = 1, site_n = 1, host_n = 1;
        if (!stop) {
            stem = s + fs[col[5]];
            stem_n = fe[col[5]] - fs[col[5]];
            if (col[6] >= 0 && col[6] < count) {
                query = s + fs[col[6]];
                query_n = fe[col[6]] - fs[col[6]];
            }
            if (col[7] >= 0 && col[7] < count) {
                agent = s + fs[col[7]];
                agent_n = fe[col[7]] - fs[col[7]];
            }
            if (col[8] >= 0 && col[8] < count) {
                site = s + fs[col[8]];
                site_n = fe[col[8]] - fs[col[8]];
            }
            if (col[9] >= 0 && col[9] < count) {
                host = s + fs[col[9]];
                host_n = fe[col[9]] - fs[col[9]];
            }
            stop = !ascii_only(stem, stem_n) || !ascii_only(query, query_n) || !ascii_only(agent, agent_n)
                   || !ascii_only(site, site_n) || !ascii_only(host, host_n);
        }
        if (!stop && col[10]) { /* Kudu/SCM sites: every line is parsed */
            int named = !(site_n == 1 && site[0] == '-');
            stop = named ? scm_site(site, site_n) : !(host_n == 1 && host[0] == '-') && scm_site(host, host_n);
        }
        long value;
        if (!stop) {
            Py_ssize_t key_n = stem_n;
            int with_query = !(query_n == 1 && query[0] == '-');
            if (with_query)
                key_n += 1 + query_n;
            if (key_n > W3C_KEY_MAX)
                stop = 1;
            else {
                memcpy(key, stem, (size_t)stem_n);
                if (with_query) {
                    key[stem_n] = '?';
                    memcpy(key + stem_n + 1, query, (size_t)query_n);
                }
                int found = answer(targets, &target_memo, key, 0, key_n, 0, &value);
                if (found < 0)
                    goto done;
                stop = !found || (value & path_mask);
            }
        }
        if (!stop && (flags & WANT_TOOL_AGENTS)) {
            int found = answer(agents, &agent_memo, (const char *)agent, 0, agent_n, 1, &value);
            if (found < 0)
                goto done;
            stop = !found || value;
        }
        if (stop) {
            result = Py_BuildValue("(innn)", 1, pos, line_end, passed);
            goto done;
        }
        Py_ssize_t st = col[4];
        if ((flags & WANT_CLIENT_ERRORS) && st < count && s[fs[st]] == '4') {
            const unsigned char *d = s + fs[col[1]];
            if (!(flags & WANT_SUMMARIES) || fraction) {
                /* an event, or a time Python computes its own way (a fraction of a second) */
                result = Py_BuildValue("(innn)", 1, pos, line_end, passed);
                goto done;
            }
            Py_ssize_t ip = col[3];
#define W3C_AT(c, e) ((c) >= 0 && (c) < count ? pos + (e)[(c)] : -1)
            result = Py_BuildValue("(innnnnnnnnnnnndN)", 2, pos, line_end, passed, pos + fs[ip], pos + fe[ip],
                                   pos + fs[col[5]], pos + fe[col[5]], W3C_AT(col[7], fs), W3C_AT(col[7], fe),
                                   W3C_AT(col[8], fs), W3C_AT(col[8], fe), W3C_AT(col[9], fs), W3C_AT(col[9], fe),
                                   w3c_epoch(d, s + fs[col[2]]),
                                   PyUnicode_DecodeASCII((const char *)s + fs[ip], fe[ip] - fs[ip], NULL));
#undef W3C_AT
            goto done;
        }
        passed++;
        /* b" " + watched + b" " occurrences, left to right without overlap: a value equal to the address with
           a space on both sides (not the first or last value), not right after a value just counted */
        for (Py_ssize_t k = 0; k < n_watch; k++) {
            int counted = 0;
            const char *w = watched[k];
            Py_ssize_t wn = watched_len[k];
            for (Py_ssize_t v = 1; v + 1 < nf; v++) {
                if (!counted && fe[v] - fs[v] == wn && wn > 0 && s[fs[v]] == (unsigned char)w[0]
                    && s[fe[v] - 1] == (unsigned char)w[wn - 1] && memcmp(s + fs[v], w, (size_t)wn) == 0) {
                    seen[k]++;
                    counted = 1;
                } else
                    counted = 0;
            }
        }
        pos = line_end + 1;
    }
    result = Py_BuildValue("(innn)", 0, end, end, passed);
done:
    for (Py_ssize_t k = 0; k < n_watch && result != NULL; k++) {
        if (!seen[k])
            continue;
        Py_ssize_t before = PyLong_AsSsize_t(PyList_GET_ITEM(counts, k));
        PyObject *now = before < 0 ? NULL : PyLong_FromSsize_t(before + seen[k]);
        if (now == NULL) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_ValueError, "counts holds non-negative integers");
            Py_CLEAR(result);
            break;
        }
        PyList_SetItem(counts, k, now);
    }
    PyMem_Free(key);
    PyBuffer_Release(&buf);
    return result;
}

/* valid_run(block, pos, end, combined) -> the start of the first line of block[pos:end] that is not valid
 * (or `end`): the same answer as the RE2 pass `_webscan._valid_run` for plain-IPv4 lines, for tests */
static PyObject *valid_run(PyObject *self, PyObject *args)
{
    Py_buffer buf;
    Py_ssize_t pos, end;
    int combined;
    if (!PyArg_ParseTuple(args, "y*nnp", &buf, &pos, &end, &combined))
        return NULL;
    if (pos < 0 || end > buf.len || pos > end) {
        PyBuffer_Release(&buf);
        PyErr_SetString(PyExc_ValueError, "pos and end must lie within the block");
        return NULL;
    }
    const char *block = (const char *)buf.buf;
    while (pos < end) {
        const char *nl = memchr(block + pos, '\n', (size_t)(end - pos));
        Py_ssize_t line_end = nl ? nl - block : end;
        Py_ssize_t n = line_end - pos;
        if (n > 0 && block[line_end - 1] == '\r')
            n--;
        Fields f;
        if (!valid_line((const unsigned char *)block + pos, n, combined, &f))
            break;
        pos = line_end + 1;
    }
    PyBuffer_Release(&buf);
    return PyLong_FromSsize_t(pos < end ? pos : end);
}

/* holds_needle(line, target_start, target_end, needles) -> whether the line (no newline) holds one of the
 * needles as the block scan tests it (`clf_next`'s last argument), for tests */
static PyObject *holds_needle(PyObject *self, PyObject *args)
{
    Py_buffer buf;
    Py_ssize_t ts, te;
    PyObject *needles;
    if (!PyArg_ParseTuple(args, "y*nnO", &buf, &ts, &te, &needles))
        return NULL;
    PyObject *result = NULL;
    if (ts < 0 || te < ts || te > buf.len) {
        PyErr_SetString(PyExc_ValueError, "the target must lie within the line");
        goto out;
    }
    NeedleSet *set = needles_for(needles, (const unsigned char *)buf.buf, buf.len);
    if (set == NULL)
        goto out;
    /* a valid line whose target is the one given: field by field, as `clf_next` tests it; else whole */
    Fields f;
    const unsigned char *line = (const unsigned char *)buf.buf;
    for (int combined = 1; combined >= 0; combined--)
        if (valid_line(line, buf.len, combined, &f) && f.tgt_s == ts && f.tgt_e == te) {
            result = PyBool_FromLong(needle_hit(set, line, buf.len, &f));
            goto out;
        }
    result = PyBool_FromLong(needle_hit_line(set, line, buf.len, ts, te));
out:
    PyBuffer_Release(&buf);
    return result;
}

static PyMethodDef methods[] = {
    {"clf_next", clf_next, METH_VARARGS, "The next line of a combined/common block Python must look at."},
    {"w3c_next", w3c_next, METH_VARARGS, "The next line of a W3C block Python must look at."},
    {"valid_run", valid_run, METH_VARARGS, "Where the run of valid combined/common lines from pos ends."},
    {"holds_needle", holds_needle, METH_VARARGS, "Whether a line holds one of Sigma's needles (for tests)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_webscan", "Web block scan accelerator.", -1, methods};

PyMODINIT_FUNC PyInit__webscan(void) { return PyModule_Create(&module); }
