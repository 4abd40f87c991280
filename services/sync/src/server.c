/*
 * services/sync/src/server.c
 *    The method table of roster.sync.v1.SyncService. Every method acts for
 *    the user named by x-roster-actor.
 */
#include "sync_int.h"

#define SYNC_PATH(m) "/" SYNC_SERVICE_NAME "/" m

#define M(name, in, out, fn)                                                          \
    { SYNC_PATH(name), &roster__sync__v1__##in##__descriptor,                         \
      &roster__sync__v1__##out##__descriptor, fn, RS_RPC_NEED_ACTOR }

static const struct rs_rpc_method methods[] = {
    M("CreateSource", create_source_request, source, sync_create_source),
    M("GetSource", get_source_request, source, sync_get_source),
    M("ListSources", list_sources_request, list_sources_response, sync_list_sources),
    M("UpdateSource", update_source_request, source, sync_update_source),
    M("DeleteSource", delete_source_request, delete_source_response, sync_delete_source),
    M("TestConnection", test_connection_request, test_connection_response,
      sync_test_connection),
    M("UpdateStructure", update_structure_request, start_run_response,
      sync_update_structure),
    M("StartSync", start_sync_request, start_run_response, sync_start_sync),
    M("GetRun", get_run_request, run, sync_get_run),
    M("ListRuns", list_runs_request, list_runs_response, sync_list_runs),
    M("ListRunItems", list_run_items_request, list_run_items_response, sync_list_run_items),
    M("ListDepartments", list_departments_request, list_departments_response,
      sync_list_departments),
    M("ListMembers", list_members_request, list_members_response, sync_list_members),
    M("SearchStructure", search_structure_request, search_structure_response,
      sync_search_structure),
    M("DeleteNode", delete_node_request, delete_node_response, sync_delete_node),
    M("ClearStructure", clear_structure_request, delete_node_response,
      sync_clear_structure),
};

const struct rs_rpc_service sync_rpc_service = {
    SYNC_SERVICE_NAME,
    methods,
    sizeof(methods) / sizeof(methods[0]),
};
