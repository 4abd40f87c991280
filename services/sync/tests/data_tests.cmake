# Unit tests of roster-sync's data plane that need no database: the
# nickname suffix rule and array literals (services/sync/src/apply_support.c).
pkg_check_modules(CMOCKA REQUIRED IMPORTED_TARGET cmocka)

add_executable(sync_test_data ${CMAKE_CURRENT_SOURCE_DIR}/test_data.c
               ${CMAKE_CURRENT_SOURCE_DIR}/../src/apply_support.c)
target_include_directories(sync_test_data PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/../src)
target_link_libraries(sync_test_data PRIVATE rs_sync_dingtalk rs_service rs_rpc rs_db rs_core
                      rs_proto PkgConfig::CMOCKA Threads::Threads)
rs_target_warnings(sync_test_data)
add_test(NAME sync_test_data COMMAND sync_test_data)
