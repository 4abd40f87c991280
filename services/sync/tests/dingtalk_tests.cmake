# The DingTalk client (rs_sync_dingtalk) against the real simulator over
# loopback HTTP. One ctest entry per case, so a failure names its case.
pkg_check_modules(CMOCKA REQUIRED IMPORTED_TARGET cmocka)

add_executable(sync_test_dingtalk ${CMAKE_CURRENT_SOURCE_DIR}/test_dingtalk.c)
target_link_libraries(sync_test_dingtalk PRIVATE rs_sync_dingtalk rs_core PkgConfig::CMOCKA
                      PkgConfig::CURL PkgConfig::JANSSON)
rs_target_warnings(sync_test_dingtalk)
add_dependencies(sync_test_dingtalk roster-dingtalk-sim)

set(RS_DINGTALK_TMP ${CMAKE_CURRENT_BINARY_DIR}/dingtalk-tmp)
file(MAKE_DIRECTORY ${RS_DINGTALK_TMP})
foreach(case
        small_tree_all_levels
        generated_tree_matches_fixture
        concurrent_walk_matches_one_connection
        failed_token_fetch_not_repeated
        paging_over_100_members
        scope_subtree_and_authed_user
        scope_shrink_skips_50004_branch
        progress_false_cancels
        deny_api_fails_with_permission
        configuration_errors
        token_invalidated_mid_walk
        token_rejected_twice_fails
        token_expiry_refreshes_early
        throttle_90018_recovers
        ip_ban_pauses_then_fails
        busy_and_truncated_replies
        slow_reply_times_out
        log_has_no_secret_or_token)
    add_test(NAME sync.dingtalk.${case} COMMAND sync_test_dingtalk ${case})
    set_tests_properties(sync.dingtalk.${case} PROPERTIES
        ENVIRONMENT "SIM_BIN=$<TARGET_FILE:roster-dingtalk-sim>;SIM_FIXTURES=${PROJECT_SOURCE_DIR}/tools/dingtalk-sim/fixtures;TEST_TMPDIR=${RS_DINGTALK_TMP}"
        TIMEOUT 120)
endforeach()
