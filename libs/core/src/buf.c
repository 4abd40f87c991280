/*
 * libs/core/src/buf.c
 *    A growing text buffer, used to build SQL array parameters.
 */
#include "roster/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "roster/alloc.h"

void
rs_buf_add(struct rs_buf *b, const char *s, size_t n)
{
    char *p;
    size_t cap;

    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        cap = b->cap == 0 ? 256 : b->cap;
        while (cap < b->len + n + 1)
            cap *= 2;
        p = rs_realloc(b->data, cap);
        if (p == NULL) {
            b->oom = true;
            return;
        }
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void
rs_buf_str(struct rs_buf *b, const char *s)
{
    rs_buf_add(b, s, strlen(s));
}

void
rs_buf_printf(struct rs_buf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->oom = true;
        return;
    }
    if ((size_t)n < sizeof(small)) {
        rs_buf_add(b, small, (size_t)n);
        return;
    }
    {
        char *big = rs_malloc((size_t)n + 1);

        if (big == NULL) {
            b->oom = true;
            return;
        }
        va_start(ap, fmt);
        vsnprintf(big, (size_t)n + 1, fmt, ap);
        va_end(ap);
        rs_buf_add(b, big, (size_t)n);
        rs_free(big);
    }
}

void
rs_buf_elem(struct rs_buf *b, const char *s)
{
    const char *p;
    const char *run;

    if (b->len > 0 && b->data[b->len - 1] != '{')
        rs_buf_add(b, ",", 1);
    if (s == NULL) {
        rs_buf_add(b, "NULL", 4);
        return;
    }
    rs_buf_add(b, "\"", 1);
    run = s;
    for (p = s; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\') {
            rs_buf_add(b, run, (size_t)(p - run));
            rs_buf_add(b, "\\", 1);
            run = p;
        }
    }
    rs_buf_add(b, run, (size_t)(p - run));
    rs_buf_add(b, "\"", 1);
}

void
rs_buf_copy_field(struct rs_buf *b, const char *s, bool last)
{
    const char *p;
    const char *run;
    const char *esc;

    if (s == NULL) {
        rs_buf_add(b, "\\N", 2);
    } else {
        run = s;
        for (p = s; *p != '\0'; p++) {
            switch (*p) {
            case '\\': esc = "\\\\"; break;
            case '\t': esc = "\\t"; break;
            case '\n': esc = "\\n"; break;
            case '\r': esc = "\\r"; break;
            default: continue;
            }
            rs_buf_add(b, run, (size_t)(p - run));
            rs_buf_add(b, esc, 2);
            run = p + 1;
        }
        rs_buf_add(b, run, (size_t)(p - run));
    }
    rs_buf_add(b, last ? "\n" : "\t", 1);
}

void
rs_buf_free(struct rs_buf *b)
{
    RS_FREE(&b->data);
    b->len = 0;
    b->cap = 0;
    b->oom = false;
}

void
rs_buf_arrays_open(struct rs_buf *bufs, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        memset(&bufs[i], 0, sizeof(bufs[i]));
        rs_buf_str(&bufs[i], "{");
    }
}

bool
rs_buf_arrays_close(struct rs_buf *bufs, size_t n)
{
    bool ok = true;
    size_t i;

    for (i = 0; i < n; i++) {
        rs_buf_str(&bufs[i], "}");
        ok = ok && !bufs[i].oom;
    }
    return ok;
}

void
rs_buf_arrays_free(struct rs_buf *bufs, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        rs_buf_free(&bufs[i]);
}
