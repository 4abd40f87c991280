# rs_embed_file(OUT_C SYMBOL INPUT): generate a C file defining
# "const unsigned char SYMBOL[]" and "const size_t SYMBOL_len" from INPUT.
function(rs_embed_file out_c symbol input)
    add_custom_command(
        OUTPUT ${out_c}
        COMMAND ${CMAKE_COMMAND} -DINPUT=${input} -DOUTPUT=${out_c} -DSYMBOL=${symbol}
                -P ${CMAKE_SOURCE_DIR}/cmake/EmbedScript.cmake
        DEPENDS ${input} ${CMAKE_SOURCE_DIR}/cmake/EmbedScript.cmake
        COMMENT "Embedding ${input} as ${symbol}"
        VERBATIM)
endfunction()
