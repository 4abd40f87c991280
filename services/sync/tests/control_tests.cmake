# Unit tests of roster-sync's control plane that need no database: the
# secret keyring (services/sync/src/secrets.c).
pkg_check_modules(CMOCKA REQUIRED IMPORTED_TARGET cmocka)

add_executable(sync_test_secrets ${CMAKE_CURRENT_SOURCE_DIR}/test_secrets.c
               ${CMAKE_CURRENT_SOURCE_DIR}/../src/secrets.c
               ${CMAKE_CURRENT_SOURCE_DIR}/../src/actor.c)
target_include_directories(sync_test_secrets PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/../src)
target_link_libraries(sync_test_secrets PRIVATE rs_sync_dingtalk rs_service rs_rpc rs_db rs_core
                      rs_proto PkgConfig::CRYPTO PkgConfig::CMOCKA Threads::Threads)
rs_target_warnings(sync_test_secrets)
add_test(NAME sync_test_secrets COMMAND sync_test_secrets)
