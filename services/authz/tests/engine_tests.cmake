# Decision engine tests: evaluation against in-memory snapshots and the
# revision token (no database); snapshot loading with change notifications,
# and the question RPCs over gRPC on an in-process server (both need
# ROSTER_TEST_DATABASE_URL and are skipped with 77 without it).
set(RS_AUTHZ_ENGINE_SRC ${CMAKE_CURRENT_LIST_DIR}/../src)

add_library(authz_engine_for_tests STATIC
    ${RS_AUTHZ_ENGINE_SRC}/model.c
    ${RS_AUTHZ_ENGINE_SRC}/revision.c
    ${RS_AUTHZ_ENGINE_SRC}/check.c
    ${RS_AUTHZ_ENGINE_SRC}/check_handlers.c
    ${RS_AUTHZ_ENGINE_SRC}/snapshot.c
    ${RS_AUTHZ_ENGINE_SRC}/snapshot_build.c
    ${RS_AUTHZ_ENGINE_SRC}/snapshot_index.c
    ${RS_AUTHZ_ENGINE_SRC}/engine.c
    ${RS_AUTHZ_ENGINE_SRC}/engine_listen.c)
target_include_directories(authz_engine_for_tests PUBLIC ${RS_AUTHZ_ENGINE_SRC})
target_link_libraries(authz_engine_for_tests PUBLIC rs_service rs_rpc rs_db rs_core rs_proto Threads::Threads)
rs_target_warnings(authz_engine_for_tests)

foreach(t test_check test_revision)
    add_executable(authz_${t} ${CMAKE_CURRENT_LIST_DIR}/${t}.c)
    target_link_libraries(authz_${t} PRIVATE authz_engine_for_tests PkgConfig::CMOCKA)
    rs_target_warnings(authz_${t})
    add_test(NAME authz_${t} COMMAND authz_${t})
endforeach()

add_library(authz_engine_test_db STATIC ${CMAKE_CURRENT_LIST_DIR}/engine_test_db.c)
target_link_libraries(authz_engine_test_db PUBLIC rs_db rs_core PkgConfig::CMOCKA)
target_compile_definitions(authz_engine_test_db PRIVATE
    IDENTITY_MIGRATIONS_DIR="${CMAKE_CURRENT_LIST_DIR}/../../identity/migrations"
    AUTHZ_MIGRATIONS_DIR="${CMAKE_CURRENT_LIST_DIR}/../migrations")
rs_target_warnings(authz_engine_test_db)

foreach(t test_engine_db test_check_rpc)
    add_executable(authz_${t} ${CMAKE_CURRENT_LIST_DIR}/${t}.c)
    target_link_libraries(authz_${t} PRIVATE authz_engine_for_tests authz_engine_test_db)
    rs_target_warnings(authz_${t})
    add_test(NAME authz_${t} COMMAND authz_${t})
    set_tests_properties(authz_${t} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 120)
endforeach()
