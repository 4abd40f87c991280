/*
 * libs/core/src/arena.c
 *    Region allocator: memory comes from a chain of blocks; cleanups run in
 *    reverse order at destroy time.
 */
#include "roster/arena.h"

#include <stdarg.h>
#include <stdalign.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "roster/alloc.h"

#define ARENA_BLOCK_SIZE 8192

struct arena_block {
    struct arena_block *next;
    size_t size;
    size_t used;
    alignas(max_align_t) unsigned char data[];
};

struct arena_cleanup {
    struct arena_cleanup *next;
    void (*fn)(void *);
    void *ptr;
};

struct rs_arena {
    struct arena_block *blocks;
    struct arena_cleanup *cleanups;
    ProtobufCAllocator pb;
};

static void *
pb_alloc(void *data, size_t size)
{
    return rs_arena_alloc(data, size);
}

static void
pb_free(void *data, void *ptr)
{
    /* Arena memory is released all at once by rs_arena_destroy. */
    RS_UNUSED(data);
    RS_UNUSED(ptr);
}

rs_arena *
rs_arena_create(void)
{
    rs_arena *arena = rs_calloc(1, sizeof(*arena));

    if (arena == NULL)
        return NULL;
    arena->pb.alloc = pb_alloc;
    arena->pb.free = pb_free;
    arena->pb.allocator_data = arena;
    return arena;
}

void
rs_arena_destroy(rs_arena *arena)
{
    struct arena_cleanup *c;
    struct arena_block *b;

    if (arena == NULL)
        return;
    /* Cleanups were pushed at the head, so this runs them newest first. */
    for (c = arena->cleanups; c != NULL; c = c->next)
        c->fn(c->ptr);
    while (arena->blocks != NULL) {
        b = arena->blocks;
        arena->blocks = b->next;
        rs_free(b);
    }
    rs_free(arena);
}

void *
rs_arena_alloc(rs_arena *arena, size_t size)
{
    const size_t align = alignof(max_align_t);
    struct arena_block *b = arena->blocks;
    size_t offset;
    size_t block_size;
    void *p;

    if (size == 0)
        size = 1;
    if (size > SIZE_MAX - align)
        return NULL;
    if (b != NULL) {
        offset = (b->used + align - 1) & ~(align - 1);
        if (offset <= b->size && b->size - offset >= size) {
            p = b->data + offset;
            b->used = offset + size;
            memset(p, 0, size);
            return p;
        }
    }
    block_size = size > ARENA_BLOCK_SIZE / 2 ? size : ARENA_BLOCK_SIZE;
    b = rs_malloc(sizeof(*b) + block_size);
    if (b == NULL)
        return NULL;
    b->size = block_size;
    b->used = size;
    if (block_size == size && arena->blocks != NULL) {
        /* A large block is full at once: keep the current block in front. */
        b->next = arena->blocks->next;
        arena->blocks->next = b;
    } else {
        b->next = arena->blocks;
        arena->blocks = b;
    }
    memset(b->data, 0, size);
    return b->data;
}

char *
rs_arena_strndup(rs_arena *arena, const char *s, size_t n)
{
    char *copy = rs_arena_alloc(arena, n + 1);

    if (copy == NULL)
        return NULL;
    memcpy(copy, s, n);
    copy[n] = '\0';
    return copy;
}

char *
rs_arena_strdup(rs_arena *arena, const char *s)
{
    return rs_arena_strndup(arena, s, strlen(s));
}

char *
rs_arena_printf(rs_arena *arena, const char *fmt, ...)
{
    va_list ap;
    int len;
    char *out;

    va_start(ap, fmt);
    len = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (len < 0)
        return NULL;
    out = rs_arena_alloc(arena, (size_t)len + 1);
    if (out == NULL)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(out, (size_t)len + 1, fmt, ap);
    va_end(ap);
    return out;
}

rs_status
rs_arena_defer(rs_arena *arena, void (*fn)(void *), void *ptr)
{
    struct arena_cleanup *c = rs_arena_alloc(arena, sizeof(*c));

    if (c == NULL) {
        fn(ptr);
        return RS_ENOMEM;
    }
    c->fn = fn;
    c->ptr = ptr;
    c->next = arena->cleanups;
    arena->cleanups = c;
    return RS_OK;
}

ProtobufCAllocator *
rs_arena_pb_allocator(rs_arena *arena)
{
    return &arena->pb;
}
