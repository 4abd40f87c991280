/*
 * libs/rpc/src/reflection.c
 *    Server reflection, grpc.reflection.v1 and v1alpha, served from the
 *    service's embedded FileDescriptorSet plus the library's own set (health
 *    and reflection protos), so clients such as grpcurl and buf curl can list
 *    and call every service.
 *
 *    The v1alpha messages are wire-identical to v1 (same field numbers and
 *    types), so both services decode and encode with the v1 message types.
 */
#include "roster/rpc.h"

#include <stdio.h>
#include <string.h>

#include "google/protobuf/descriptor.pb-c.h"
#include "grpc/reflection/v1/reflection.pb-c.h"
#include "roster/alloc.h"
#include "rpc_int.h"

typedef Grpc__Reflection__V1__ServerReflectionRequest refl_request;
typedef Grpc__Reflection__V1__ServerReflectionResponse refl_response;

#define V1_SERVICE "grpc.reflection.v1.ServerReflection"
#define V1ALPHA_SERVICE "grpc.reflection.v1alpha.ServerReflection"
#define HEALTH_SERVICE "grpc.health.v1.Health"

rs_status
rs_rpc__reflection_register(rs_rpc_server *server, struct rs_error *err)
{
    rs_status rc;

    rc = rs_rpc__add_reg(server, NULL, "/" V1_SERVICE "/ServerReflectionInfo", server,
                         RS_RPC_STREAM_REFLECTION, err);
    if (rc != RS_OK)
        return rc;
    return rs_rpc__add_reg(server, NULL, "/" V1ALPHA_SERVICE "/ServerReflectionInfo", server,
                           RS_RPC_STREAM_REFLECTION, err);
}

static char *
join_name(const char *scope, const char *name)
{
    size_t a = strlen(scope), b = strlen(name);
    char *out = rs_malloc(a + b + 2);

    if (out == NULL)
        return NULL;
    if (a > 0) {
        memcpy(out, scope, a);
        out[a++] = '.';
    }
    memcpy(out + a, name, b + 1);
    return out;
}

/* Adds scope.name to the symbol table; takes no ownership of its inputs. */
static rs_status
add_symbol(struct rs_rpc__reflection *refl, const char *scope, const char *name, size_t file,
           bool is_message, char **full_out)
{
    struct rs_rpc__refl_symbol *sym;
    char *full;

    if (refl->n_symbols == refl->cap_symbols) {
        size_t cap = refl->cap_symbols == 0 ? 64 : refl->cap_symbols * 2;
        struct rs_rpc__refl_symbol *syms = rs_realloc(refl->symbols, cap * sizeof(*syms));

        if (syms == NULL)
            return RS_ENOMEM;
        refl->symbols = syms;
        refl->cap_symbols = cap;
    }
    full = join_name(scope, name != NULL ? name : "");
    if (full == NULL)
        return RS_ENOMEM;
    sym = &refl->symbols[refl->n_symbols++];
    sym->name = full;
    sym->file = file;
    sym->is_message = is_message;
    if (full_out != NULL)
        *full_out = full;
    return RS_OK;
}

/* Enum values live in the scope that contains the enum, as in C++. */
static rs_status
add_enum(struct rs_rpc__reflection *refl, const char *scope,
         const Google__Protobuf__EnumDescriptorProto *en, size_t file)
{
    size_t i;
    rs_status rc;

    rc = add_symbol(refl, scope, en->name, file, false, NULL);
    for (i = 0; rc == RS_OK && i < en->n_value; i++)
        rc = add_symbol(refl, scope, en->value[i]->name, file, false, NULL);
    return rc;
}

static rs_status
add_message(struct rs_rpc__reflection *refl, const char *scope,
            const Google__Protobuf__DescriptorProto *msg, size_t file)
{
    char *full = NULL;
    size_t i;
    rs_status rc;

    rc = add_symbol(refl, scope, msg->name, file, true, &full);
    for (i = 0; rc == RS_OK && i < msg->n_nested_type; i++)
        rc = add_message(refl, full, msg->nested_type[i], file);
    for (i = 0; rc == RS_OK && i < msg->n_enum_type; i++)
        rc = add_enum(refl, full, msg->enum_type[i], file);
    return rc;
}

static rs_status
add_file(struct rs_rpc__reflection *refl, const Google__Protobuf__FileDescriptorProto *fd)
{
    struct rs_rpc__refl_file *file, *files;
    const char *pkg = fd->package != NULL ? fd->package : "";
    char *svc_name;
    size_t i, j, index;
    rs_status rc = RS_OK;

    if (fd->name == NULL)
        return RS_EINVAL;
    for (i = 0; i < refl->n_files; i++) {
        if (strcmp(refl->files[i].name, fd->name) == 0)
            return RS_OK; /* the service's own copy came first and wins */
    }
    files = rs_realloc(refl->files, (refl->n_files + 1) * sizeof(*files));
    if (files == NULL)
        return RS_ENOMEM;
    refl->files = files;
    index = refl->n_files++;
    file = &files[index];
    memset(file, 0, sizeof(*file));
    file->name = rs_strdup(fd->name);
    file->len = protobuf_c_message_get_packed_size(&fd->base);
    file->bytes = rs_malloc(file->len + 1);
    file->deps = rs_calloc(fd->n_dependency + 1, sizeof(char *));
    if (file->name == NULL || file->bytes == NULL || file->deps == NULL)
        return RS_ENOMEM;
    protobuf_c_message_pack(&fd->base, file->bytes);
    for (i = 0; i < fd->n_dependency; i++) {
        file->deps[i] = rs_strdup(fd->dependency[i]);
        if (file->deps[i] == NULL)
            return RS_ENOMEM;
        file->n_deps = i + 1;
    }

    for (i = 0; rc == RS_OK && i < fd->n_service; i++) {
        svc_name = NULL;
        rc = add_symbol(refl, pkg, fd->service[i]->name, index, false, &svc_name);
        for (j = 0; rc == RS_OK && j < fd->service[i]->n_method; j++)
            rc = add_symbol(refl, svc_name, fd->service[i]->method[j]->name, index, false, NULL);
    }
    for (i = 0; rc == RS_OK && i < fd->n_message_type; i++)
        rc = add_message(refl, pkg, fd->message_type[i], index);
    for (i = 0; rc == RS_OK && i < fd->n_enum_type; i++)
        rc = add_enum(refl, pkg, fd->enum_type[i], index);
    return rc;
}

static rs_status
add_set(struct rs_rpc__reflection *refl, const unsigned char *data, size_t len,
        const char *what, struct rs_error *err)
{
    Google__Protobuf__FileDescriptorSet *set;
    size_t i;
    rs_status rc = RS_OK;

    set = google__protobuf__file_descriptor_set__unpack(NULL, len, data);
    if (set == NULL)
        return rs_error_set(err, RS_EINVAL, "DESCRIPTOR_SET_INVALID",
                            "invalid %s descriptor set: could not decode FileDescriptorSet",
                            what);
    for (i = 0; rc == RS_OK && i < set->n_file; i++)
        rc = add_file(refl, set->file[i]);
    google__protobuf__file_descriptor_set__free_unpacked(set, NULL);
    if (rc == RS_ENOMEM)
        return rs_error_set(err, RS_ENOMEM, NULL, "out of memory");
    if (rc != RS_OK)
        return rs_error_set(err, RS_EINVAL, "DESCRIPTOR_SET_INVALID",
                            "invalid %s descriptor set: file without a name", what);
    return RS_OK;
}

rs_status
rs_rpc__reflection_build(rs_rpc_server *server, struct rs_error *err)
{
    rs_status rc;

    if (server->descriptor_set != NULL && server->descriptor_set_len > 0) {
        rc = add_set(&server->refl, server->descriptor_set, server->descriptor_set_len,
                     "service", err);
        if (rc != RS_OK)
            return rc;
    }
    return add_set(&server->refl, rs_rpc__builtin_descriptors, rs_rpc__builtin_descriptors_len,
                   "built-in", err);
}

void
rs_rpc__reflection_free(struct rs_rpc__reflection *refl)
{
    size_t i, j;

    for (i = 0; i < refl->n_files; i++) {
        rs_free(refl->files[i].name);
        rs_free(refl->files[i].bytes);
        for (j = 0; j < refl->files[i].n_deps; j++)
            rs_free(refl->files[i].deps[j]);
        rs_free(refl->files[i].deps);
    }
    rs_free(refl->files);
    for (i = 0; i < refl->n_symbols; i++)
        rs_free(refl->symbols[i].name);
    rs_free(refl->symbols);
    memset(refl, 0, sizeof(*refl));
}

static long
find_file(const struct rs_rpc__reflection *refl, const char *name)
{
    size_t i;

    for (i = 0; i < refl->n_files; i++) {
        if (strcmp(refl->files[i].name, name) == 0)
            return (long)i;
    }
    return -1;
}

static const struct rs_rpc__refl_symbol *
find_symbol(const struct rs_rpc__reflection *refl, const char *name)
{
    size_t i;

    if (name[0] == '.')
        name++;
    for (i = 0; i < refl->n_symbols; i++) {
        if (strcmp(refl->symbols[i].name, name) == 0)
            return &refl->symbols[i];
    }
    return NULL;
}

static void
set_error(refl_response *resp, rs_arena *arena, int code, const char *fmt, const char *arg)
{
    Grpc__Reflection__V1__ErrorResponse *e = rs_arena_alloc(arena, sizeof(*e));

    if (e == NULL)
        return;
    grpc__reflection__v1__error_response__init(e);
    e->error_code = code;
    e->error_message = rs_arena_printf(arena, fmt, arg);
    if (e->error_message == NULL)
        e->error_message = (char *)"";
    resp->message_response_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ERROR_RESPONSE;
    resp->error_response = e;
}

/* Sets resp to the file followed by every file it depends on, transitively. */
static void
set_files(refl_response *resp, rs_arena *arena, const struct rs_rpc__reflection *refl,
          size_t root)
{
    Grpc__Reflection__V1__FileDescriptorResponse *fdr;
    size_t *order, n = 0, i, j;
    bool *seen;
    long dep;

    fdr = rs_arena_alloc(arena, sizeof(*fdr));
    order = rs_arena_alloc(arena, refl->n_files * sizeof(size_t));
    seen = rs_arena_alloc(arena, refl->n_files * sizeof(bool));
    if (fdr == NULL || order == NULL || seen == NULL)
        return;
    order[n++] = root;
    seen[root] = true;
    for (i = 0; i < n; i++) {
        const struct rs_rpc__refl_file *f = &refl->files[order[i]];

        for (j = 0; j < f->n_deps; j++) {
            dep = find_file(refl, f->deps[j]);
            if (dep >= 0 && !seen[dep]) {
                seen[dep] = true;
                order[n++] = (size_t)dep;
            }
        }
    }
    grpc__reflection__v1__file_descriptor_response__init(fdr);
    fdr->file_descriptor_proto = rs_arena_alloc(arena, n * sizeof(ProtobufCBinaryData));
    if (fdr->file_descriptor_proto == NULL)
        return;
    for (i = 0; i < n; i++) {
        fdr->file_descriptor_proto[i].data = refl->files[order[i]].bytes;
        fdr->file_descriptor_proto[i].len = refl->files[order[i]].len;
    }
    fdr->n_file_descriptor_proto = n;
    resp->message_response_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_FILE_DESCRIPTOR_RESPONSE;
    resp->file_descriptor_response = fdr;
}

static void
set_services(refl_response *resp, rs_arena *arena, const rs_rpc_server *server)
{
    static const char *const builtin[] = {HEALTH_SERVICE, V1_SERVICE, V1ALPHA_SERVICE};
    Grpc__Reflection__V1__ListServiceResponse *list;
    Grpc__Reflection__V1__ServiceResponse *items;
    size_t n = server->n_services + 3, i;

    list = rs_arena_alloc(arena, sizeof(*list));
    items = rs_arena_alloc(arena, n * sizeof(*items));
    if (list == NULL || items == NULL)
        return;
    grpc__reflection__v1__list_service_response__init(list);
    list->service = rs_arena_alloc(arena, n * sizeof(*list->service));
    if (list->service == NULL)
        return;
    for (i = 0; i < n; i++) {
        grpc__reflection__v1__service_response__init(&items[i]);
        items[i].name = (char *)(i < server->n_services ? server->service_names[i]
                                                        : builtin[i - server->n_services]);
        list->service[i] = &items[i];
    }
    list->n_service = n;
    resp->message_response_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_LIST_SERVICES_RESPONSE;
    resp->list_services_response = list;
}

static void
set_extension_numbers(refl_response *resp, rs_arena *arena, const char *type)
{
    Grpc__Reflection__V1__ExtensionNumberResponse *ext = rs_arena_alloc(arena, sizeof(*ext));

    if (ext == NULL)
        return;
    grpc__reflection__v1__extension_number_response__init(ext);
    ext->base_type_name = rs_arena_strdup(arena, type[0] == '.' ? type + 1 : type);
    if (ext->base_type_name == NULL)
        ext->base_type_name = (char *)"";
    resp->message_response_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ALL_EXTENSION_NUMBERS_RESPONSE;
    resp->all_extension_numbers_response = ext;
}

/* Fills resp for req; everything it points to lives in arena or the index. */
static void
answer(const rs_rpc_server *server, refl_request *req, refl_response *resp, rs_arena *arena)
{
    const struct rs_rpc__reflection *refl = &server->refl;
    const struct rs_rpc__refl_symbol *sym;
    long file;

    grpc__reflection__v1__server_reflection_response__init(resp);
    resp->valid_host = req->host != NULL ? req->host : (char *)"";
    resp->original_request = req;

    switch (req->message_request_case) {
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_LIST_SERVICES:
        set_services(resp, arena, server);
        break;
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_BY_FILENAME:
        file = find_file(refl, req->file_by_filename);
        if (file < 0)
            set_error(resp, arena, GRPC_STATUS_NOT_FOUND, "file \"%.200s\" not found",
                      req->file_by_filename);
        else
            set_files(resp, arena, refl, (size_t)file);
        break;
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL:
        sym = find_symbol(refl, req->file_containing_symbol);
        if (sym == NULL)
            set_error(resp, arena, GRPC_STATUS_NOT_FOUND, "symbol \"%.200s\" not found",
                      req->file_containing_symbol);
        else
            set_files(resp, arena, refl, sym->file);
        break;
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_ALL_EXTENSION_NUMBERS_OF_TYPE:
        /* No extensions are served, but known types must not fail: grpcurl aborts on errors. */
        sym = find_symbol(refl, req->all_extension_numbers_of_type);
        if (sym == NULL || !sym->is_message)
            set_error(resp, arena, GRPC_STATUS_NOT_FOUND, "message type \"%.200s\" not found",
                      req->all_extension_numbers_of_type);
        else
            set_extension_numbers(resp, arena, req->all_extension_numbers_of_type);
        break;
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_EXTENSION:
        set_error(resp, arena, GRPC_STATUS_NOT_FOUND, "extension of \"%.200s\" not found",
                  req->file_containing_extension != NULL &&
                          req->file_containing_extension->containing_type != NULL
                      ? req->file_containing_extension->containing_type
                      : "");
        break;
    default:
        set_error(resp, arena, GRPC_STATUS_INVALID_ARGUMENT, "%s",
                  "invalid reflection request: no request kind set");
        break;
    }
    if (resp->message_response_case ==
        GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE__NOT_SET)
        set_error(resp, arena, GRPC_STATUS_RESOURCE_EXHAUSTED, "%s", "out of memory");
}

/* Serves one ServerReflectionInfo stream until the client half-closes. */
void
rs_rpc__reflection_stream(struct rs_call *call)
{
    struct rs_rpc__status st = {GRPC_STATUS_OK, "", NULL, NULL};
    ProtobufCMessage *msg = NULL;
    refl_response resp;
    rs_arena *arena;
    rs_status rc;
    bool sent;

    for (;;) {
        rc = rs_rpc__stream_recv(call, &grpc__reflection__v1__server_reflection_request__descriptor,
                                 &msg);
        if (rc == RS_ECANCELLED) {
            st.code = GRPC_STATUS_CANCELLED;
            st.message = "call cancelled";
            break;
        }
        if (rc != RS_OK) {
            st.code = GRPC_STATUS_INVALID_ARGUMENT;
            st.message = "invalid reflection request: could not decode message";
            st.reason = "MALFORMED_MESSAGE";
            break;
        }
        if (msg == NULL)
            break; /* the client half-closed: end with OK */

        arena = rs_arena_create();
        if (arena == NULL) {
            protobuf_c_message_free_unpacked(msg, NULL);
            st.code = GRPC_STATUS_RESOURCE_EXHAUSTED;
            st.message = "out of memory";
            st.reason = "RESOURCE_EXHAUSTED";
            break;
        }
        answer(call->server, (refl_request *)msg, &resp, arena);
        sent = rs_rpc__stream_send(call, &resp.base);
        rs_arena_destroy(arena);
        protobuf_c_message_free_unpacked(msg, NULL);
        msg = NULL;
        if (!sent) {
            st.code = GRPC_STATUS_CANCELLED;
            st.message = "call cancelled";
            break;
        }
    }
    rs_rpc__stream_finish(call, &st);
}
