# Code generation for .proto contracts with protoc-c, and descriptor sets for
# server reflection.
find_program(PROTOC protoc REQUIRED)
find_program(PROTOC_C protoc-c REQUIRED)

set(RS_PROTO_OUT "${CMAKE_BINARY_DIR}/proto")
# Import roots: the project's protos, protobuf's well-known types, gRPC's
# health and reflection contracts, and google.rpc (status, error details).
get_filename_component(RS_PROTO_ROOT_ROSTER "${CMAKE_CURRENT_LIST_DIR}/../proto" ABSOLUTE)
set(RS_PROTO_ROOT_WKT "/usr/include")
set(RS_PROTO_ROOT_GRPC "/usr/share/grpc-proto")
set(RS_PROTO_ROOT_GOOGLEAPIS "/usr/share/gocode/src/github.com/gogo/googleapis")
set(RS_PROTO_IMPORT_FLAGS
    -I${RS_PROTO_ROOT_ROSTER} -I${RS_PROTO_ROOT_GRPC}
    -I${RS_PROTO_ROOT_GOOGLEAPIS} -I${RS_PROTO_ROOT_WKT})

# rs_protobuf_c(SRCS_VAR ROOT RELPATH): generate RELPATH (relative to ROOT)
# into RS_PROTO_OUT and append the generated .c file to SRCS_VAR.
function(rs_protobuf_c srcs_var root relpath)
    string(REGEX REPLACE "\\.proto$" "" stem "${relpath}")
    set(out_c "${RS_PROTO_OUT}/${stem}.pb-c.c")
    set(out_h "${RS_PROTO_OUT}/${stem}.pb-c.h")
    if(NOT EXISTS "${root}/${relpath}")
        message(FATAL_ERROR "missing ${root}/${relpath}: run scripts/bootstrap")
    endif()
    add_custom_command(
        OUTPUT ${out_c} ${out_h}
        COMMAND ${CMAKE_COMMAND} -E make_directory ${RS_PROTO_OUT}
        COMMAND ${PROTOC_C} ${RS_PROTO_IMPORT_FLAGS} --c_out=${RS_PROTO_OUT}
                ${root}/${relpath}
        DEPENDS ${root}/${relpath}
        COMMENT "protoc-c ${relpath}"
        VERBATIM)
    set(${srcs_var} ${${srcs_var}} ${out_c} PARENT_SCOPE)
endfunction()

# rs_descriptor_set(OUT_PB PROTO...): a FileDescriptorSet with all imports,
# embedded in a service binary for server reflection.
function(rs_descriptor_set out_pb)
    set(paths)
    set(deps)
    foreach(p IN LISTS ARGN)
        list(APPEND paths ${p})
        if(EXISTS "${RS_PROTO_ROOT_ROSTER}/${p}")
            list(APPEND deps "${RS_PROTO_ROOT_ROSTER}/${p}")
        endif()
    endforeach()
    add_custom_command(
        OUTPUT ${out_pb}
        COMMAND ${PROTOC} ${RS_PROTO_IMPORT_FLAGS} --include_imports
                --descriptor_set_out=${out_pb} ${paths}
        DEPENDS ${deps}
        COMMENT "descriptor set ${out_pb}"
        VERBATIM)
endfunction()
