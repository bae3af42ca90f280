/* The record parser of KBAK segments in C: the hot loop of every restore.
 *
 * It parses only what it can parse exactly as restore_jobs.backup.segment._parse_records does,
 * and stops in front of anything else: a record that runs past the end of the buffer (the caller
 * refills), and every malformed or unusual record (a length field that overruns, a header key that
 * is not UTF-8). The Python parser then takes that record and raises the error that names it, so
 * error messages have one source. Every length is checked against the record's end before a byte
 * is read or copied.
 *
 * Records are instances of the record type the caller passes (BackupRecord, a slots dataclass):
 * allocated and given their six fields by attribute, as its __init__ would, without a Python call.
 * Records and their header lists are untracked by the cyclic garbage collector, as CPython untracks
 * tuples and dicts of atomic values: they hold only ints, bytes, str and None, so they cannot be
 * part of a cycle. Tracked, the records a worker holds (a transaction's, and those read ahead) were
 * traversed by every collection: 10-15% of a restore's CPU time with 8 partitions in one process.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>

/* u32 length, then i64 timestamp, i64 offset, i32 key length ... i32 value length, u16 header count */
#define MIN_RECORD (8 + 8 + 4 + 4 + 2)
/* Header keys repeat from record to record: the decoded keys of the first MAX_NAMES header
 * positions are kept in the caller's list and reused while the raw bytes match. */
#define MAX_NAMES 64

static PyObject *s_offset, *s_timestamp, *s_key, *s_value, *s_headers, *s_payload_size;

static inline uint16_t rd_u16(const unsigned char *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

static inline uint32_t rd_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static inline int32_t rd_i32(const unsigned char *p) { return (int32_t)rd_u32(p); }

static inline int64_t rd_i64(const unsigned char *p)
{
    return (int64_t)((uint64_t)rd_u32(p) | ((uint64_t)rd_u32(p + 4) << 32));
}

/* The header key at p (n bytes) as str: the cached one at this position when its bytes match,
 * else decoded (and cached). NULL without an exception set when the key is not valid UTF-8. */
static PyObject *header_name(PyObject *names, Py_ssize_t h, const unsigned char *p, Py_ssize_t n)
{
    Py_ssize_t cached = PyList_GET_SIZE(names);
    if (h < cached) {
        PyObject *name = PyList_GET_ITEM(names, h);
        Py_ssize_t len;
        const char *utf8 = PyUnicode_AsUTF8AndSize(name, &len);
        if (utf8 != NULL && len == n && memcmp(utf8, p, (size_t)n) == 0) {
            return Py_NewRef(name);
        }
        PyErr_Clear();
    }
    PyObject *name = PyUnicode_DecodeUTF8((const char *)p, n, "strict");
    if (name == NULL) {
        PyErr_Clear();
        return NULL;
    }
    if (h < cached) {
        PyList_SetItem(names, h, Py_NewRef(name));
    } else if (h == cached && h < MAX_NAMES && PyList_Append(names, name) < 0) {
        PyErr_Clear();
    }
    return name;
}

/* A nullable field of n bytes at b[*p] (None when n < 0) that must end by limit, as the Python
 * parser's _RecordParser._field: 1 with *out set, *p moved past it and *size grown by n; 0 when it
 * runs past limit; -1 with an exception set when Python failed. */
static int take_field(const unsigned char *b, int64_t *p, int32_t n, int64_t limit, int64_t *size, PyObject **out)
{
    if (n < 0) {
        *out = Py_NewRef(Py_None);
        return 1;
    }
    if (*p + n > limit) return 0;
    *out = PyBytes_FromStringAndSize((const char *)(b + *p), n);
    if (*out == NULL) return -1;
    *p += n;
    *size += n;
    return 1;
}

/* The record's headers as a list of (str, bytes | None); NULL with an exception set when Python
 * failed, without one when they do not fit the record exactly. *p moves past them; *size grows by
 * their keys' characters and values. */
static PyObject *parse_headers(const unsigned char *b, int64_t *p, int64_t end, PyObject *names, int64_t *size)
{
    uint16_t count = rd_u16(b + *p);
    int64_t q = *p + 2;
    PyObject *headers = PyList_New(count);
    if (headers == NULL) return NULL;
    for (Py_ssize_t h = 0; h < count; h++) {
        if (q + 2 > end) goto malformed;
        uint16_t name_len = rd_u16(b + q);
        int64_t name_end = q + 2 + name_len;
        if (name_end > end - 4) goto malformed;
        PyObject *name = header_name(names, h, b + q + 2, name_len);
        if (name == NULL) goto malformed;
        *size += PyUnicode_GET_LENGTH(name);
        q = name_end + 4;
        PyObject *value = NULL;
        int taken = take_field(b, &q, rd_i32(b + name_end), end, size, &value);
        if (taken <= 0) {
            Py_DECREF(name);
            if (taken == 0) goto malformed;
            Py_DECREF(headers);
            return NULL;
        }
        PyObject *pair = PyTuple_Pack(2, name, value);
        Py_DECREF(name);
        Py_DECREF(value);
        if (pair == NULL) {
            Py_DECREF(headers);
            return NULL;
        }
        PyObject_GC_UnTrack(pair); /* str and bytes cannot form cycles: what the collector does itself */
        PyList_SET_ITEM(headers, h, pair);
    }
    *p = q;
    PyObject_GC_UnTrack(headers);
    return headers;
malformed:
    Py_DECREF(headers);
    return NULL;
}

static PyObject *new_record(PyTypeObject *type, PyObject *offset, PyObject *timestamp, PyObject *key,
                            PyObject *value, PyObject *headers, PyObject *size)
{
    PyObject *record = type->tp_alloc(type, 0);
    if (record == NULL) return NULL;
    PyObject_GC_UnTrack(record);
    if (PyObject_SetAttr(record, s_offset, offset) < 0 || PyObject_SetAttr(record, s_timestamp, timestamp) < 0
        || PyObject_SetAttr(record, s_key, key) < 0 || PyObject_SetAttr(record, s_value, value) < 0
        || PyObject_SetAttr(record, s_headers, headers) < 0 || PyObject_SetAttr(record, s_payload_size, size) < 0) {
        Py_DECREF(record);
        return NULL;
    }
    return record;
}

/* One record at b[pos:end] (end = pos + 4 + its length, within the buffer), or NULL: with an
 * exception set when Python failed (memory), without one when the record is not well formed. */
static PyObject *parse_record(const unsigned char *b, int64_t pos, int64_t end, PyTypeObject *type,
                              PyObject *names)
{
    PyObject *key = NULL, *value = NULL, *headers = NULL, *offset = NULL, *timestamp = NULL, *size_obj = NULL;
    PyObject *record = NULL;
    int64_t p = pos + 4;
    int64_t ts = rd_i64(b + p), off = rd_i64(b + p + 8);
    int32_t key_len = rd_i32(b + p + 16);
    int64_t size = 0;
    p += 20;
    if (take_field(b, &p, key_len, end - 4, &size, &key) <= 0) return NULL;
    int32_t value_len = rd_i32(b + p);
    p += 4;
    if (take_field(b, &p, value_len, end - 2, &size, &value) <= 0) goto done;
    headers = parse_headers(b, &p, end, names, &size);
    if (headers == NULL || p != end) goto done;
    offset = PyLong_FromLongLong(off);
    timestamp = PyLong_FromLongLong(ts);
    size_obj = PyLong_FromLongLong(size);
    if (offset != NULL && timestamp != NULL && size_obj != NULL) {
        record = new_record(type, offset, timestamp, key, value, headers, size_obj);
    }
done:
    Py_XDECREF(key);
    Py_XDECREF(value);
    Py_XDECREF(headers);
    Py_XDECREF(offset);
    Py_XDECREF(timestamp);
    Py_XDECREF(size_obj);
    return record;
}

PyDoc_STRVAR(parse_doc,
"parse(buf, pos, limit, record_type, names) -> (records, pos)\n\n"
"Up to ``limit`` records from ``buf`` at ``pos``, stopping in front of the first record that is\n"
"incomplete or not well formed; ``pos`` is where it stopped. ``names`` caches header keys\n"
"between calls (an empty list to start a segment).");

static PyObject *parse(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "parse() takes 5 arguments");
        return NULL;
    }
    PyObject *buf = args[0], *names = args[4];
    if (!PyBytes_Check(buf) || !PyType_Check(args[3]) || !PyList_Check(names)) {
        PyErr_SetString(PyExc_TypeError, "parse(bytes, int, int, type, list)");
        return NULL;
    }
    Py_ssize_t start = PyLong_AsSsize_t(args[1]);
    if (start == -1 && PyErr_Occurred()) return NULL;
    /* The limit comes from a segment's u64 record count, which a damaged header makes huge: the
     * buffer then ends first. */
    int overflow = 0;
    long long limit = PyLong_AsLongLongAndOverflow(args[2], &overflow);
    if (limit == -1 && PyErr_Occurred()) return NULL;
    if (overflow > 0) limit = LLONG_MAX;
    PyTypeObject *type = (PyTypeObject *)args[3];
    const unsigned char *b = (const unsigned char *)PyBytes_AS_STRING(buf);
    int64_t have = PyBytes_GET_SIZE(buf);
    if (start < 0 || start > have) {
        PyErr_SetString(PyExc_ValueError, "pos outside the buffer");
        return NULL;
    }
    PyObject *records = PyList_New(0);
    if (records == NULL) return NULL;
    int64_t pos = start;
    for (long long n = 0; n < limit; n++) {
        if (pos + 4 > have) break;
        uint32_t length = rd_u32(b + pos);
        int64_t end = pos + 4 + (int64_t)length;
        if (length < MIN_RECORD || end > have) break;
        PyObject *record = parse_record(b, pos, end, type, names);
        if (record == NULL) {
            if (PyErr_Occurred()) {
                Py_DECREF(records);
                return NULL;
            }
            break;
        }
        int appended = PyList_Append(records, record);
        Py_DECREF(record);
        if (appended < 0) {
            Py_DECREF(records);
            return NULL;
        }
        pos = end;
    }
    return Py_BuildValue("(NL)", records, (long long)pos);
}

static PyMethodDef methods[] = {
    {"parse", (PyCFunction)(void (*)(void))parse, METH_FASTCALL, parse_doc},
    {NULL, NULL, 0, NULL},
};

static int exec_module(PyObject *Py_UNUSED(module))
{
    s_offset = PyUnicode_InternFromString("offset");
    s_timestamp = PyUnicode_InternFromString("timestamp");
    s_key = PyUnicode_InternFromString("key");
    s_value = PyUnicode_InternFromString("value");
    s_headers = PyUnicode_InternFromString("headers");
    s_payload_size = PyUnicode_InternFromString("payload_size");
    if (!s_offset || !s_timestamp || !s_key || !s_value || !s_headers || !s_payload_size) return -1;
    return 0;
}

static PyModuleDef_Slot slots[] = {
    {Py_mod_exec, exec_module},
    {0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "restore_jobs.backup._records",
    .m_doc = "The KBAK record parser in C; restore_jobs.backup.segment falls back to Python without it.",
    .m_size = 0,
    .m_methods = methods,
    .m_slots = slots,
};

PyMODINIT_FUNC PyInit__records(void) { return PyModuleDef_Init(&module_def); }
