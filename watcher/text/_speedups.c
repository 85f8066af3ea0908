/* The per-token and per-hit loops of matching, in C: watcher/text/kernels.py holds the
 * same functions in Python (the fallback when this module is not built) and documents them;
 * tests/test_kernels.py checks that both give the same answers. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* News repeats its words: the lower-case tokens made last are kept, one per slot of a table
 * indexed by a hash of their letters, and given again (the same str object) when a token
 * has the same letters. That spares a string per token, and the hash that dict and set
 * lookups of a new string work out. At most NORMS strings are held. */
#define NORMS 8192
static PyObject *norms_made[NORMS];

static PyObject *
norm_of(const char *letters, Py_ssize_t length)
{
    uint32_t hash = 2166136261u;  /* FNV-1a */
    for (Py_ssize_t i = 0; i < length; i++) {
        hash = (hash ^ (unsigned char)letters[i]) * 16777619u;
    }
    PyObject **slot = &norms_made[hash % NORMS];
    PyObject *known = *slot;
    if (known != NULL && PyUnicode_GET_LENGTH(known) == length
            && memcmp(PyUnicode_DATA(known), letters, length) == 0) {
        return Py_NewRef(known);
    }
    PyObject *made = PyUnicode_FromStringAndSize(letters, length);
    if (made == NULL) {
        return NULL;
    }
    Py_XSETREF(*slot, Py_NewRef(made));
    return made;
}

/* plain_tokens(text, separators) -> (spans, norms), or None: see kernels.plain_tokens. */
static PyObject *
plain_tokens(PyObject *self, PyObject *args)
{
    PyObject *text;
    Py_buffer table;
    if (!PyArg_ParseTuple(args, "Uy*", &text, &table)) {
        return NULL;
    }
    const unsigned char *bits = (const unsigned char *)table.buf;
    Py_ssize_t limit = table.len * 8;  /* code points the table covers */
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t length = PyUnicode_GET_LENGTH(text);
    PyObject *spans = NULL, *norms = NULL;
    char *lowered = PyMem_Malloc(length + 1);
    if (lowered == NULL) {
        PyBuffer_Release(&table);
        return PyErr_NoMemory();
    }
#define SEPARATOR(c) ((Py_ssize_t)(c) < limit && (bits[(c) >> 3] >> ((c) & 7)) & 1)
    /* First pass: is every character ASCII or a separator? */
    for (Py_ssize_t i = 0; i < length; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c >= 128 && !SEPARATOR(c)) {
            PyMem_Free(lowered);
            PyBuffer_Release(&table);
            Py_RETURN_NONE;
        }
    }
    spans = PyList_New(0);
    norms = PyList_New(0);
    if (spans == NULL || norms == NULL) {
        goto fail;
    }
    Py_ssize_t i = 0;
    while (i < length) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (SEPARATOR(c)) {
            i++;
            continue;
        }
        Py_ssize_t start = i;
        while (i < length) {
            c = PyUnicode_READ(kind, data, i);
            if (SEPARATOR(c)) {
                break;
            }
            lowered[i - start] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : (char)c;
            i++;
        }
        PyObject *span = Py_BuildValue("(nn)", start, i);
        if (span == NULL) {
            goto fail;
        }
        int failed = PyList_Append(spans, span);
        Py_DECREF(span);
        if (failed) {
            goto fail;
        }
        PyObject *norm = norm_of(lowered, i - start);
        if (norm == NULL) {
            goto fail;
        }
        failed = PyList_Append(norms, norm);
        Py_DECREF(norm);
        if (failed) {
            goto fail;
        }
    }
#undef SEPARATOR
    PyMem_Free(lowered);
    PyBuffer_Release(&table);
    PyObject *result = PyTuple_Pack(2, spans, norms);
    Py_DECREF(spans);
    Py_DECREF(norms);
    return result;
fail:
    PyMem_Free(lowered);
    PyBuffer_Release(&table);
    Py_XDECREF(spans);
    Py_XDECREF(norms);
    return NULL;
}

/* breaks(text, spans, table) -> list: see kernels.breaks. */
static PyObject *
breaks(PyObject *self, PyObject *args)
{
    PyObject *text, *spans;
    Py_buffer table;
    if (!PyArg_ParseTuple(args, "UO!y*", &text, &PyList_Type, &spans, &table)) {
        return NULL;
    }
    const unsigned char *bits = (const unsigned char *)table.buf;
    Py_ssize_t limit = table.len * 8;
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t length = PyUnicode_GET_LENGTH(text);
    Py_ssize_t count = PyList_GET_SIZE(spans);
    Py_ssize_t *starts = PyMem_Malloc(sizeof(Py_ssize_t) * (count + 1));
    Py_ssize_t *ends = PyMem_Malloc(sizeof(Py_ssize_t) * (count + 1));
    PyObject *found = PyList_New(0);
    if (starts == NULL || ends == NULL || found == NULL) {
        goto fail;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *span = PyList_GET_ITEM(spans, i);
        if (!PyTuple_Check(span) || PyTuple_GET_SIZE(span) != 2) {
            PyErr_SetString(PyExc_TypeError, "spans are (start, end) tuples");
            goto fail;
        }
        starts[i] = PyLong_AsSsize_t(PyTuple_GET_ITEM(span, 0));
        ends[i] = PyLong_AsSsize_t(PyTuple_GET_ITEM(span, 1));
        if ((starts[i] == -1 || ends[i] == -1) && PyErr_Occurred()) {
            goto fail;
        }
    }
    Py_ssize_t before = -1;  /* the last token starting at or before the position */
    Py_ssize_t previous = -1;  /* the last token appended */
    for (Py_ssize_t p = 0; p < length; p++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, p);
        if (!((Py_ssize_t)c < limit && (bits[c >> 3] >> (c & 7)) & 1)) {
            continue;
        }
        while (before + 1 < count && starts[before + 1] <= p) {
            before++;
        }
        if (before >= 0 && before < count - 1 && ends[before] <= p && before != previous) {
            PyObject *number = PyLong_FromSsize_t(before);
            if (number == NULL || PyList_Append(found, number) < 0) {
                Py_XDECREF(number);
                goto fail;
            }
            Py_DECREF(number);
            previous = before;
        }
    }
    PyMem_Free(starts);
    PyMem_Free(ends);
    PyBuffer_Release(&table);
    return found;
fail:
    PyMem_Free(starts);
    PyMem_Free(ends);
    PyBuffer_Release(&table);
    Py_XDECREF(found);
    return NULL;
}

/* found[term_id] gets `span` (a new set, or added to the term's set). */
static int
add_found(PyObject *found, PyObject *term_id, PyObject *span)
{
    PyObject *occurrences = PyDict_GetItemWithError(found, term_id);  /* borrowed */
    if (occurrences != NULL) {
        return PySet_Add(occurrences, span);
    }
    if (PyErr_Occurred()) {
        return -1;
    }
    occurrences = PySet_New(NULL);
    if (occurrences == NULL) {
        return -1;
    }
    if (PySet_Add(occurrences, span) < 0) {
        Py_DECREF(occurrences);
        return -1;
    }
    int failed = PyDict_SetItem(found, term_id, occurrences);
    Py_DECREF(occurrences);
    return failed;
}

/* (field_index, spans[first][0], spans[last][1]) */
static PyObject *
make_span(PyObject *field_index, PyObject *spans, Py_ssize_t first, Py_ssize_t last)
{
    if (first < 0 || last >= PyList_GET_SIZE(spans) || first > last) {
        PyErr_SetString(PyExc_IndexError, "token out of range");
        return NULL;
    }
    PyObject *opening = PyList_GET_ITEM(spans, first);
    PyObject *closing = PyList_GET_ITEM(spans, last);
    if (!PyTuple_Check(opening) || PyTuple_GET_SIZE(opening) != 2
            || !PyTuple_Check(closing) || PyTuple_GET_SIZE(closing) != 2) {
        PyErr_SetString(PyExc_TypeError, "spans are (start, end) tuples");
        return NULL;
    }
    return PyTuple_Pack(3, field_index, PyTuple_GET_ITEM(opening, 0),
                        PyTuple_GET_ITEM(closing, 1));
}

/* collect(looked_up, spans, field_index, found): for each token whose looked-up term ids
 * are not None, its span into found under each of them. */
static PyObject *
collect(PyObject *self, PyObject *args)
{
    PyObject *looked_up, *spans, *field_index, *found;
    if (!PyArg_ParseTuple(args, "O!O!OO!", &PyList_Type, &looked_up, &PyList_Type, &spans,
                          &field_index, &PyDict_Type, &found)) {
        return NULL;
    }
    Py_ssize_t count = PyList_GET_SIZE(looked_up);
    if (PyList_GET_SIZE(spans) < count) {
        PyErr_SetString(PyExc_ValueError, "fewer spans than tokens");
        return NULL;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *ids = PyList_GET_ITEM(looked_up, i);
        if (ids == Py_None) {
            continue;
        }
        if (!PyTuple_Check(ids)) {
            PyErr_SetString(PyExc_TypeError, "term ids are a tuple or None");
            return NULL;
        }
        PyObject *span = make_span(field_index, spans, i, i);
        if (span == NULL) {
            return NULL;
        }
        for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(ids); k++) {
            if (add_found(found, PyTuple_GET_ITEM(ids, k), span) < 0) {
                Py_DECREF(span);
                return NULL;
            }
        }
        Py_DECREF(span);
    }
    Py_RETURN_NONE;
}

/* scan(hits, joined, spans, field_index, found, broken, check): the hits of an automaton
 * whose keys are tokens joined by spaces with a space either side, on `joined` (the
 * stream so joined); each value is (key length, tokens, term ids, checked entries,
 * loose). See kernels.scan. */
static PyObject *
scan(PyObject *self, PyObject *args)
{
    PyObject *hits, *joined, *spans, *field_index, *found, *broken, *check;
    if (!PyArg_ParseTuple(args, "OUO!OO!OO", &hits, &joined, &PyList_Type, &spans,
                          &field_index, &PyDict_Type, &found, &broken, &check)) {
        return NULL;
    }
    int kind = PyUnicode_KIND(joined);
    const void *data = PyUnicode_DATA(joined);
    Py_ssize_t length = PyUnicode_GET_LENGTH(joined);
    Py_ssize_t cursor = 0, spaces = 0;
    PyObject *iterator = PyObject_GetIter(hits);
    if (iterator == NULL) {
        return NULL;
    }
    PyObject *hit;
    while ((hit = PyIter_Next(iterator)) != NULL) {
        PyObject *value, *ids = NULL, *checked = NULL, *loose = NULL;
        Py_ssize_t end = -1, key_length = -1, ntok = -1;
        if (PyTuple_Check(hit) && PyTuple_GET_SIZE(hit) == 2) {
            end = PyLong_AsSsize_t(PyTuple_GET_ITEM(hit, 0));
            value = PyTuple_GET_ITEM(hit, 1);
            if (end >= 0 && PyTuple_Check(value) && PyTuple_GET_SIZE(value) == 5) {
                key_length = PyLong_AsSsize_t(PyTuple_GET_ITEM(value, 0));
                ntok = PyLong_AsSsize_t(PyTuple_GET_ITEM(value, 1));
                ids = PyTuple_GET_ITEM(value, 2);
                checked = PyTuple_GET_ITEM(value, 3);
                loose = PyTuple_GET_ITEM(value, 4);
            }
        }
        if (key_length < 0 || ntok < 1 || !PyTuple_Check(ids) || !PyTuple_Check(checked)) {
            Py_DECREF(hit);
            if (!PyErr_Occurred()) {
                PyErr_SetString(PyExc_TypeError,
                                "hits are (end, (key length, tokens, ids, checked, loose))");
            }
            goto fail;
        }
        Py_ssize_t start = end - key_length + 2;
        if (start < 0 || start > length || cursor > length) {
            Py_DECREF(hit);
            PyErr_SetString(PyExc_ValueError, "hit out of the stream");
            goto fail;
        }
        if (start >= cursor) {
            for (Py_ssize_t i = cursor; i < start; i++) {
                spaces += PyUnicode_READ(kind, data, i) == ' ';
            }
        } else {
            for (Py_ssize_t i = start; i < cursor; i++) {
                spaces -= PyUnicode_READ(kind, data, i) == ' ';
            }
        }
        cursor = start;
        Py_ssize_t first = spaces - 1;
        int is_loose = PyObject_IsTrue(loose);
        if (is_loose < 0) {
            Py_DECREF(hit);
            goto fail;
        }
        if (!is_loose) {
            PyObject *answer = PyObject_CallFunction(broken, "nn", first, first + ntok - 1);
            int across = answer == NULL ? -1 : PyObject_IsTrue(answer);
            Py_XDECREF(answer);
            if (across < 0) {
                Py_DECREF(hit);
                goto fail;
            }
            if (across) {
                Py_DECREF(hit);
                continue;  /* a phrase does not run over a sentence end, comma... */
            }
        }
        PyObject *span = make_span(field_index, spans, first, first + ntok - 1);
        if (span == NULL) {
            Py_DECREF(hit);
            goto fail;
        }
        for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(ids); k++) {
            if (add_found(found, PyTuple_GET_ITEM(ids, k), span) < 0) {
                Py_DECREF(span);
                Py_DECREF(hit);
                goto fail;
            }
        }
        if (PyTuple_GET_SIZE(checked)) {
            PyObject *done = PyObject_CallFunction(check, "nnOO", first, ntok, checked, span);
            if (done == NULL) {
                Py_DECREF(span);
                Py_DECREF(hit);
                goto fail;
            }
            Py_DECREF(done);
        }
        Py_DECREF(span);
        Py_DECREF(hit);
    }
    Py_DECREF(iterator);
    if (PyErr_Occurred()) {
        return NULL;
    }
    Py_RETURN_NONE;
fail:
    Py_DECREF(iterator);
    return NULL;
}

/* term_spots(cache, labels, kinds, found, other, key): see kernels.term_spots. */
static PyObject *
term_spots(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 6 || !PyDict_Check(args[0]) || !PyList_Check(args[1])
            || !PyList_Check(args[2]) || !PyDict_Check(args[3])) {
        PyErr_SetString(PyExc_TypeError,
                        "term_spots(cache: dict, labels: list, kinds: list, found: dict, "
                        "other, key)");
        return NULL;
    }
    PyObject *cache = args[0], *labels = args[1], *kinds = args[2], *found = args[3];
    PyObject *key = args[5];
    if (!PyLong_CheckExact(key)) {
        PyObject *method = PyObject_CallNoArgs(args[4]);  /* a weakref.WeakMethod */
        if (method == NULL) {
            return NULL;
        }
        if (method == Py_None) {
            Py_DECREF(method);
            PyErr_SetString(PyExc_ReferenceError, "the explanation is gone");
            return NULL;
        }
        PyObject *answer = PyObject_CallOneArg(method, key);
        Py_DECREF(method);
        return answer;
    }
    PyObject *made = PyDict_GetItemWithError(cache, key);
    if (made != NULL) {
        return Py_NewRef(made);
    }
    if (PyErr_Occurred()) {
        return NULL;
    }
    Py_ssize_t term_id = PyLong_AsSsize_t(key);
    if (term_id == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (term_id < 0 || term_id >= PyList_GET_SIZE(labels)
            || term_id >= PyList_GET_SIZE(kinds)) {
        PyErr_SetString(PyExc_IndexError, "term id out of range");
        return NULL;
    }
    PyObject *occurrences = PyDict_GetItemWithError(found, key);
    if (occurrences == NULL) {
        if (!PyErr_Occurred()) {
            PyErr_SetObject(PyExc_KeyError, key);
        }
        return NULL;
    }
    PyObject *ordered = PySequence_List(occurrences);
    if (ordered == NULL || PyList_Sort(ordered) < 0) {
        Py_XDECREF(ordered);
        return NULL;
    }
    Py_ssize_t count = PyList_GET_SIZE(ordered);
    PyObject *places = PyList_AsTuple(ordered);
    Py_DECREF(ordered);
    PyObject *said = PyTuple_New(count);
    PyObject *sorts = PyTuple_New(count);
    if (places == NULL || said == NULL || sorts == NULL) {
        Py_XDECREF(places);
        Py_XDECREF(said);
        Py_XDECREF(sorts);
        return NULL;
    }
    PyObject *label = PyList_GET_ITEM(labels, term_id);
    PyObject *kind = PyList_GET_ITEM(kinds, term_id);
    for (Py_ssize_t i = 0; i < count; i++) {
        PyTuple_SET_ITEM(said, i, Py_NewRef(label));
        PyTuple_SET_ITEM(sorts, i, Py_NewRef(kind));
    }
    made = PyTuple_New(3);
    if (made == NULL) {
        Py_DECREF(places);
        Py_DECREF(said);
        Py_DECREF(sorts);
        return NULL;
    }
    PyTuple_SET_ITEM(made, 0, places);
    PyTuple_SET_ITEM(made, 1, said);
    PyTuple_SET_ITEM(made, 2, sorts);
    if (PyDict_SetItem(cache, key, made) < 0) {
        Py_DECREF(made);
        return NULL;
    }
    return made;
}

static PyObject *RULE, *NOTIFY, *MATCHED, *EXPLANATION, *KEY;  /* RuleHit's slots */

/* decided_hits(candidates, prepared, hit_type, explanation) -> (hits, left): see
 * kernels.decided_hits. */
static PyObject *
decided_hits(PyObject *self, PyObject *args)
{
    PyObject *candidates, *prepared, *explanation;
    PyTypeObject *hit_type;
    if (!PyArg_ParseTuple(args, "O!O!O!O", &PyList_Type, &candidates, &PyList_Type, &prepared,
                          &PyType_Type, &hit_type, &explanation)) {
        return NULL;
    }
    Py_ssize_t count = PyList_GET_SIZE(candidates);
    Py_ssize_t left = 0;
    PyObject *hits = PyList_New(count);
    if (hits == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *index = PyList_GET_ITEM(candidates, i);
        Py_ssize_t rule = PyLong_AsSsize_t(index);
        if (rule == -1 && PyErr_Occurred()) {
            goto fail;
        }
        if (rule < 0 || rule >= PyList_GET_SIZE(prepared)) {
            PyErr_SetString(PyExc_IndexError, "rule out of range");
            goto fail;
        }
        PyObject *ready = PyList_GET_ITEM(prepared, rule);
        if (ready == Py_None) {
            PyList_SET_ITEM(hits, i, Py_NewRef(index));
            left++;
            continue;
        }
        if (!PyTuple_Check(ready) || PyTuple_GET_SIZE(ready) != 3) {
            PyErr_SetString(PyExc_TypeError, "prepared hits are (rule, notify, key) or None");
            goto fail;
        }
        PyObject *hit = hit_type->tp_alloc(hit_type, 0);
        if (hit == NULL) {
            goto fail;
        }
        PyList_SET_ITEM(hits, i, hit);
        if (PyObject_SetAttr(hit, RULE, PyTuple_GET_ITEM(ready, 0)) < 0
                || PyObject_SetAttr(hit, NOTIFY, PyTuple_GET_ITEM(ready, 1)) < 0
                || PyObject_SetAttr(hit, MATCHED, Py_None) < 0
                || PyObject_SetAttr(hit, EXPLANATION, explanation) < 0
                || PyObject_SetAttr(hit, KEY, PyTuple_GET_ITEM(ready, 2)) < 0) {
            goto fail;
        }
    }
    return Py_BuildValue("(Nn)", hits, left);
fail:
    /* Items not yet set are NULL: list_dealloc skips them. */
    Py_DECREF(hits);
    return NULL;
}

static PyMethodDef methods[] = {
    {"plain_tokens", plain_tokens, METH_VARARGS, "Tokens of a text of ASCII words."},
    {"breaks", breaks, METH_VARARGS, "The tokens followed by a break."},
    {"term_spots", (PyCFunction)(void (*)(void))term_spots, METH_FASTCALL,
     "A term's spots, made once."},
    {"decided_hits", decided_hits, METH_VARARGS, "Hits of the rules decided by the index."},
    {"collect", collect, METH_VARARGS, "Spans of looked-up tokens into found."},
    {"scan", scan, METH_VARARGS, "Automaton hits on a token stream into found."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "watcher.text._speedups",
    "Matching's hot loops in C (see watcher/text/kernels.py).", -1, methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    RULE = PyUnicode_InternFromString("rule");
    NOTIFY = PyUnicode_InternFromString("notify");
    MATCHED = PyUnicode_InternFromString("_matched");
    EXPLANATION = PyUnicode_InternFromString("_explanation");
    KEY = PyUnicode_InternFromString("_key");
    if (!RULE || !NOTIFY || !MATCHED || !EXPLANATION || !KEY) {
        return NULL;
    }
    return PyModule_Create(&module);
}
