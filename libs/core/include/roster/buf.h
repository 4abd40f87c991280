/*
 * libs/core/include/roster/buf.h
 *    A growing text buffer, and PostgreSQL array literals and COPY rows
 *    built in it.
 */
#ifndef RS_BUF_H
#define RS_BUF_H

#include <stdbool.h>
#include <stddef.h>

#include "roster/status.h"

/*
 * A text buffer that starts zeroed and owns data, freed by rs_buf_free.
 * An allocation failure sets oom and makes later appends do nothing, so a
 * caller checks oom once when it is done.
 */
struct rs_buf {
    char *data;
    size_t len;
    size_t cap;
    bool oom;
};

void rs_buf_add(struct rs_buf *b, const char *s, size_t n);
void rs_buf_str(struct rs_buf *b, const char *s);
void rs_buf_printf(struct rs_buf *b, const char *fmt, ...) RS_PRINTF(2, 3);
/*
 * Appends s as one element of a PostgreSQL array literal (quoted, escaped),
 * with a comma first unless the array is still empty ("{"). NULL adds NULL.
 * s is copied.
 */
void rs_buf_elem(struct rs_buf *b, const char *s);
/*
 * Appends s as one field of a row in COPY's text format, escaped, followed
 * by a tab, or by a newline when last ends the row. NULL adds \N. s is
 * copied.
 */
void rs_buf_copy_field(struct rs_buf *b, const char *s, bool last);

/* Frees data and zeroes b, which can then be used again. */
void rs_buf_free(struct rs_buf *b);

/* Starts n array literals ("{") in bufs, each zeroed or freed before. */
void rs_buf_arrays_open(struct rs_buf *bufs, size_t n);
/* Ends n array literals ("}"); returns false if any of them ran out of memory. */
bool rs_buf_arrays_close(struct rs_buf *bufs, size_t n);
/* Frees n buffers, as rs_buf_free. */
void rs_buf_arrays_free(struct rs_buf *bufs, size_t n);

#endif /* RS_BUF_H */
