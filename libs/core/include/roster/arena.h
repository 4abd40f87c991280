/*
 * libs/core/include/roster/arena.h
 *    Region allocator for one RPC: everything allocated from it, and every
 *    registered cleanup, is released by one rs_arena_destroy.
 */
#ifndef RS_ARENA_H
#define RS_ARENA_H

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

#include "roster/status.h"

typedef struct rs_arena rs_arena;

/* Returns a new arena owned by the caller (free with rs_arena_destroy), or NULL. */
rs_arena *rs_arena_create(void);

/* Runs the cleanups in reverse order, then frees all memory. NULL is a no-op. */
void rs_arena_destroy(rs_arena *arena);

/* Returns zeroed, max-aligned memory owned by the arena, or NULL. */
void *rs_arena_alloc(rs_arena *arena, size_t size);

/* Returns a copy of s (or of its first n bytes) owned by the arena, or NULL. */
char *rs_arena_strdup(rs_arena *arena, const char *s);
char *rs_arena_strndup(rs_arena *arena, const char *s, size_t n);

/* Returns a printf-formatted string owned by the arena, or NULL. */
char *rs_arena_printf(rs_arena *arena, const char *fmt, ...) RS_PRINTF(2, 3);

/*
 * Registers fn(ptr) to run at destroy time (used for PGresult, json_t ...).
 * Returns RS_OK or RS_ENOMEM; on RS_ENOMEM fn(ptr) has already been called.
 */
RS_MUSTCHECK rs_status rs_arena_defer(rs_arena *arena, void (*fn)(void *), void *ptr);

/*
 * Returns a protobuf-c allocator that draws from the arena and never frees,
 * for protobuf_c_message_unpack. Borrowed: valid while the arena lives.
 */
ProtobufCAllocator *rs_arena_pb_allocator(rs_arena *arena);

#endif /* RS_ARENA_H */
