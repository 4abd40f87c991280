# Compiler warnings for Roster's own code (generated protobuf-c code is exempt).
set(RS_WARNING_FLAGS
    -Wall
    -Wextra
    -Wmissing-prototypes          # every non-static function has a header
    -Wstrict-prototypes           # no K&R "f()" declarations
    -Wold-style-definition
    -Wdeclaration-after-statement # so "goto out" never skips an initialisation
    -Wpointer-arith
    -Wshadow
    -Wformat=2
    -Wundef
    -Wvla
    -Wimplicit-fallthrough
    -Wno-format-nonliteral        # the logger forwards caller format strings
)

function(rs_target_warnings target)
    target_compile_options(${target} PRIVATE ${RS_WARNING_FLAGS})
    if(RS_WERROR)
        target_compile_options(${target} PRIVATE -Werror)
    endif()
    target_compile_definitions(${target} PRIVATE _POSIX_C_SOURCE=200809L _DEFAULT_SOURCE)
endfunction()
