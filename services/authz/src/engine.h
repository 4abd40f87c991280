/*
 * services/authz/src/engine.h
 *    The decision engine: per-organisation snapshots kept fresh by change
 *    notifications, and the Check, BatchCheck, Explain and
 *    ListAllowedResources handlers that answer from them.
 */
#ifndef AUTHZ_ENGINE_H
#define AUTHZ_ENGINE_H

#include <protobuf-c/protobuf-c.h>

#include "roster/db.h"
#include "roster/rpc.h"
#include "roster/status.h"

struct authz_engine;

/*
 * Creates an engine that loads snapshots through pool (borrowed; must
 * outlive the engine) and starts its LISTEN thread on its own connection
 * to conninfo (copied). The thread reconnects by itself, so an unreachable
 * database is not an error here. Returns RS_OK and *out owned by the caller
 * (free with authz_engine_destroy).
 */
RS_MUSTCHECK rs_status authz_engine_create(rs_db_pool *pool, const char *conninfo,
                                           struct authz_engine **out, struct rs_error *err);

/*
 * Stops the LISTEN thread and frees every snapshot. REQUIRES: no handler
 * is running. NULL is a no-op.
 */
void authz_engine_destroy(struct authz_engine *engine);

/*
 * The four question handlers (rs_rpc_unary_fn). They find the engine
 * through rs_call_user_data(call), which must point to a struct whose FIRST
 * member is the `struct authz_engine *` (the service's context struct).
 * Register them with RS_RPC_NEED_ACTOR.
 * THREAD-SAFETY: called concurrently from worker threads.
 */
rs_status authz_check(struct rs_call *call, const ProtobufCMessage *req,
                      ProtobufCMessage **resp, struct rs_error *err);
rs_status authz_batch_check(struct rs_call *call, const ProtobufCMessage *req,
                            ProtobufCMessage **resp, struct rs_error *err);
rs_status authz_explain(struct rs_call *call, const ProtobufCMessage *req,
                        ProtobufCMessage **resp, struct rs_error *err);
rs_status authz_list_allowed_resources(struct rs_call *call, const ProtobufCMessage *req,
                                       ProtobufCMessage **resp, struct rs_error *err);

#endif /* AUTHZ_ENGINE_H */
